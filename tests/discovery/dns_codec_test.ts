import assert from "node:assert/strict";
import {
  decodeHeader,
  decodeMessage,
  DnsEncodeError,
  type DnsMessage,
  encodeMessage,
  encodeName,
  encodeQuery,
  formatIPv6,
  RCODE,
  rcodeName,
  relativeName,
  sameName,
} from "../../src/discovery/dns_codec.ts";

const hex = (text: string) =>
  Uint8Array.from(text.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0).toString(16)).join(" ");

/** `kafka.test` as a question at byte 12: 28 bytes with the header. */
const QUESTION = `05 ${ascii("kafka")} 04 ${ascii("test")} 00  00 01  00 01`;

Deno.test("dns codec: a query is the header with RD set and one IN question", () => {
  assert.deepEqual(
    encodeQuery("kafka.test", "A", 0x1234),
    hex(`12 34  01 00  00 01  00 00  00 00  00 00  ${QUESTION}`),
  );
  // A final dot is the same name; SRV and AAAA carry their type codes.
  assert.deepEqual(encodeQuery("kafka.test.", "A", 0x1234), encodeQuery("kafka.test", "A", 0x1234));
  assert.equal(encodeQuery("kafka.test", "AAAA", 1).at(-3), 28);
  assert.equal(encodeQuery("_k._tcp.kafka.test", "SRV", 1).at(-3), 33);
});

Deno.test("dns codec: decodes a compressed answer with a CNAME chain as a resolver sends it", () => {
  const bytes = hex(`
    12 34  81 80  00 01  00 02  00 00  00 00  ${QUESTION}
    c0 0c  00 05  00 01  00 00 00 3c  00 05  02 ${ascii("b1")} c0 0c
    c0 28  00 01  00 01  00 00 00 1e  00 04  c0 00 02 0b`);
  assert.deepEqual(decodeMessage(bytes), {
    ok: true,
    message: {
      id: 0x1234,
      qr: true,
      tc: false,
      rd: true,
      rcode: RCODE.NOERROR,
      questions: [{ name: "kafka.test", type: 1 }],
      answers: [
        { type: "CNAME", name: "kafka.test", ttl: 60, target: "b1.kafka.test" },
        { type: "A", name: "b1.kafka.test", ttl: 30, address: "192.0.2.11" },
      ],
      additional: [],
    },
  });
});

Deno.test("dns codec: SRV, AAAA in RFC 5952 form, other types kept raw, a huge TTL read as 0", () => {
  const message: DnsMessage = {
    id: 7,
    qr: true,
    tc: false,
    rd: true,
    rcode: RCODE.NOERROR,
    questions: [{ name: "_kafka._tcp.kafka.test", type: 33 }],
    answers: [
      {
        type: "SRV",
        name: "_kafka._tcp.kafka.test",
        ttl: 5,
        priority: 10,
        weight: 20,
        port: 9092,
        target: "b1.kafka.test",
      },
      { type: "OTHER", name: "kafka.test", ttl: 1, code: 16, data: hex("03 61 62 63") },
    ],
    additional: [{ type: "AAAA", name: "b1.kafka.test", ttl: 9, address: "2001:db8::b1" }],
  };
  assert.deepEqual(decodeMessage(encodeMessage(message)), { ok: true, message });
  assert.equal(
    formatIPv6(hex("20 01 0d b8 00 00 00 00 00 01 00 00 00 00 00 01")),
    "2001:db8::1:0:0:1",
  );
  assert.equal(formatIPv6(new Uint8Array(16)), "::");
  const topBit = encodeMessage({
    ...message,
    answers: [{ type: "A", name: "a.test", ttl: 1, address: "192.0.2.1" }],
    additional: [],
  });
  // The TTL is the 4 bytes before the 2-byte data length and the 4 address bytes.
  topBit.set([0x80, 0, 0, 1], topBit.length - 10);
  const decoded = decodeMessage(topBit);
  assert.ok(decoded.ok);
  assert.equal(decoded.message.answers[0]?.ttl, 0);
});

Deno.test("dns codec: the header gives id, QR, TC and RCODE even when the rest is cut short", () => {
  assert.deepEqual(decodeHeader(hex("ab cd  83 82  00 01  00 05  00 00  00 00")), {
    ok: true,
    header: { id: 0xabcd, qr: true, tc: true, rd: true, rcode: RCODE.SERVFAIL },
  });
  assert.deepEqual(decodeHeader(hex("ab cd 83")), {
    ok: false,
    reason: "truncated header (3 of 12 bytes)",
  });
  assert.equal(rcodeName(RCODE.NXDOMAIN), "NXDOMAIN");
  assert.equal(rcodeName(RCODE.REFUSED), "REFUSED");
  assert.equal(rcodeName(9), "RCODE 9");
});

Deno.test("dns codec: each kind of malformed message is an error, not a throw or a hang", () => {
  const header = (an: number) => `12 34  81 80  00 01  00 0${an}  00 00  00 00`;
  const cases: [string, string, RegExp][] = [
    ["counts promising more", `${header(1)} ${QUESTION}`, /^truncated name at byte 28$/],
    ["a pointer to itself", `12 34 81 80 00 01 00 00 00 00 00 00  c0 0c 00 01 00 01`, /backwards/],
    ["a forward pointer", `12 34 81 80 00 01 00 00 00 00 00 00  c0 10 00 01 00 01`, /backwards/],
    [
      "a loop through a label",
      `12 34 81 80 00 01 00 00 00 00 00 00  01 61 c0 0c 00 01 00 01`,
      /backwards/,
    ],
    [
      "a pointer cut in half",
      `12 34 81 80 00 01 00 00 00 00 00 00  01 61 c0`,
      /truncated compression pointer/,
    ],
    [
      "an extended label type",
      `12 34 81 80 00 01 00 00 00 00 00 00  41 61 00 00 01 00 01`,
      /unknown label type 0x41/,
    ],
    [
      "an A record of 5 bytes",
      `${header(1)} ${QUESTION}  c0 0c 00 01 00 01 00 00 00 01 00 05 c0 00 02 01 01`,
      /A record data of 5 bytes, not 4/,
    ],
    [
      "record data past the end",
      `${header(1)} ${QUESTION}  c0 0c 00 01 00 01 00 00 00 01 00 04 c0 00`,
      /truncated record data/,
    ],
    [
      "a CNAME whose name runs past its data",
      `${header(1)} ${QUESTION}  c0 0c 00 05 00 01 00 00 00 01 00 02 01 61 00`,
      /truncated name at byte 42/,
    ],
    [
      "an SRV record too short",
      `${header(1)} ${QUESTION}  c0 0c 00 21 00 01 00 00 00 01 00 03 00 01 00`,
      /SRV record data of 3 bytes/,
    ],
  ];
  for (const [what, bytes, reason] of cases) {
    const decoded = decodeMessage(hex(bytes));
    assert.equal(decoded.ok, false, what);
    if (!decoded.ok) assert.match(decoded.reason, reason, what);
  }
});

Deno.test("dns codec: a name over 255 octets through backward pointers is refused", () => {
  // Five questions of one 63-octet label each, every name after the first pointing back to
  // the one before: the fourth is 4 * 64 + 1 > 255 octets long.
  const label = `3f ${"61 ".repeat(63)}`;
  let body = `${label} 00 00 01 00 01`;
  let previous = 12;
  for (let i = 1; i < 5; i++) {
    const at = 12 + hex(body).length;
    const pointer = 0xc000 | previous;
    body += ` ${label} ${(pointer >> 8).toString(16)} ${(pointer & 0xff).toString(16)} 00 01 00 01`;
    previous = at;
  }
  const decoded = decodeMessage(hex(`12 34 81 80 00 05 00 00 00 00 00 00 ${body}`));
  assert.deepEqual(decoded, { ok: false, reason: "name longer than 255 octets" });
});

Deno.test("dns codec: label bytes that are not printable round-trip through escapes", () => {
  const wire = hex(`03 61 2e 62  02 00 5c  04 74 65 73 74 00`);
  const message = decodeMessage(
    hex(
      `00 01 81 80 00 01 00 00 00 00 00 00 ${
        [...wire].map((b) => b.toString(16)).join(" ")
      } 00 01 00 01`,
    ),
  );
  assert.ok(message.ok);
  assert.equal(message.message.questions[0]?.name, "a\\.b.\\000\\\\.test");
  assert.deepEqual(encodeName("a\\.b.\\000\\\\.test"), wire);
  assert.deepEqual(encodeName("."), hex("00"));
  // Names compare without case and without a final dot; an escaped final dot stays.
  assert.ok(sameName("Kafka.Test.", "kafka.test"));
  assert.equal(relativeName("a\\."), "a\\.");
  assert.equal(relativeName("."), ".");
});

Deno.test("dns codec: names that cannot go on the wire are DnsEncodeErrors", () => {
  assert.throws(() => encodeName(`${"a".repeat(64)}.test`), DnsEncodeError);
  assert.throws(() => encodeName("a..test"), /empty label/);
  assert.throws(() => encodeName(Array(130).fill("a").join(".")), /longer than 255 octets/);
  assert.throws(() => encodeName("test\\"), /ends with/);
  assert.throws(() => encodeQuery("kafka.test", "A", 70000), /id/);
});
