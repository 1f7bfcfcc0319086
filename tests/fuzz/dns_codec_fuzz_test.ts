/**
 * Property-based tests of the DNS codec (src/discovery/dns_codec.ts): whatever bytes a server
 * (or a spoofer) sends, the decoder returns a message or a reason and never throws or hangs;
 * a generated message decodes to what was encoded; any label bytes survive decode → encode.
 * Each property has a fixed seed: a failure prints the seed and the shrunk counterexample.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeHeader,
  decodeMessage,
  type DnsMessage,
  type DnsRecord,
  encodeMessage,
  encodeName,
  encodeQuery,
  type QueryType,
  TYPE_CODE,
} from "../../src/discovery/dns_codec.ts";

const RUNS = { numRuns: 300 } as const;

/** Never throws; an accepted message is one whose header says what decodeHeader says. */
function decodesSafely(bytes: Uint8Array): void {
  const decoded = decodeMessage(bytes);
  if (decoded.ok) {
    const header = decodeHeader(bytes);
    assert.ok(header.ok);
    assert.equal(decoded.message.id, header.header.id);
    assert.equal(decoded.message.rcode, header.header.rcode);
  } else {
    assert.equal(typeof decoded.reason, "string");
    assert.ok(decoded.reason.length > 0);
  }
}

Deno.test("fuzz dns: random bytes never throw out of decode", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), decodesSafely),
    { ...RUNS, seed: 1641 },
  );
});

/** A header with small counts followed by bytes biased towards labels and pointers. */
const dnsishBytes = fc.tuple(
  fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 4, maxLength: 4 }),
  fc.array(
    fc.oneof(
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(0, 1, 3, 4, 0xc0, 0xc0, 12, 16, 28, 33, 5, 63, 64, 0x80),
    ),
    { maxLength: 300 },
  ),
).map(([counts, body]) => {
  const bytes = new Uint8Array(12 + body.length);
  bytes.set([0x12, 0x34, 0x81, 0x80]);
  counts.forEach((count, i) => (bytes[5 + 2 * i] = count));
  bytes.set(body, 12);
  return bytes;
});

Deno.test("fuzz dns: DNS-shaped garbage (labels, pointers, counts) never throws", () => {
  fc.assert(fc.property(dnsishBytes, decodesSafely), { ...RUNS, seed: 1642 });
});

const labelChars = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_".split(""));
const label = fc.string({ unit: labelChars, minLength: 1, maxLength: 20 });
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join("."));
const ttl = fc.integer({ min: 0, max: 0x7fffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const ipv4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
  .map((octets) => octets.join("."));
/** IPv6 in RFC 5952 form: generated as groups, formatted by the URL parser (the reference). */
const ipv6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((groups) =>
    new URL(`http://[${groups.map((g) => g.toString(16)).join(":")}]/`).hostname.slice(1, -1)
  );

const record: fc.Arbitrary<DnsRecord> = fc.oneof(
  fc.record({ type: fc.constant("A" as const), name, ttl, address: ipv4 }),
  fc.record({ type: fc.constant("AAAA" as const), name, ttl, address: ipv6 }),
  fc.record({ type: fc.constant("CNAME" as const), name, ttl, target: name }),
  fc.record({
    type: fc.constant("SRV" as const),
    name,
    ttl,
    priority: u16,
    weight: u16,
    port: u16,
    target: fc.oneof(name, fc.constant(".")),
  }),
  fc.record({
    type: fc.constant("OTHER" as const),
    name,
    ttl,
    code: fc.constantFrom(2, 6, 12, 15, 16, 41, 65),
    data: fc.uint8Array({ maxLength: 40 }),
  }),
);

const message: fc.Arbitrary<DnsMessage> = fc.record({
  id: u16,
  qr: fc.boolean(),
  tc: fc.boolean(),
  rd: fc.boolean(),
  rcode: fc.integer({ min: 0, max: 15 }),
  questions: fc.array(fc.record({ name, type: fc.constantFrom(1, 28, 33) }), { maxLength: 2 }),
  answers: fc.array(record, { maxLength: 6 }),
  additional: fc.array(record, { maxLength: 4 }),
});

Deno.test("fuzz dns: encode then decode gives back every field of a message", () => {
  fc.assert(
    fc.property(message, (sent) => {
      const bytes = encodeMessage(sent);
      // structuredClone: fast-check builds records without a prototype.
      assert.deepEqual(decodeMessage(bytes), { ok: true, message: structuredClone(sent) });
      // Cut anywhere inside the last record or question: malformed, never a shorter message.
      if (sent.questions.length + sent.answers.length + sent.additional.length > 0) {
        assert.equal(decodeMessage(bytes.subarray(0, bytes.length - 1)).ok, false);
      }
    }),
    { ...RUNS, seed: 1643 },
  );
});

Deno.test("fuzz dns: a query decodes to its id, RD and question", () => {
  fc.assert(
    fc.property(name, u16, fc.constantFrom<QueryType>("A", "AAAA", "SRV"), (n, id, type) => {
      const decoded = decodeMessage(encodeQuery(n, type, id));
      assert.ok(decoded.ok);
      assert.equal(decoded.message.id, id);
      assert.equal(decoded.message.qr, false);
      assert.equal(decoded.message.rd, true);
      assert.deepEqual(decoded.message.questions, [{ name: n, type: TYPE_CODE[type] }]);
    }),
    { ...RUNS, seed: 1644 },
  );
});

Deno.test("fuzz dns: any label bytes survive decode then encode (escapes round-trip)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 63 }), { minLength: 1, maxLength: 3 }),
      (labels) => {
        const wire = Uint8Array.from(labels.flatMap((l) => [l.length, ...l]).concat(0));
        const bytes = new Uint8Array(12 + wire.length + 4);
        bytes.set([0, 1, 0x81, 0x80, 0, 1]);
        bytes.set(wire, 12);
        bytes.set([0, 1, 0, 1], 12 + wire.length);
        const decoded = decodeMessage(bytes);
        assert.ok(decoded.ok);
        assert.deepEqual(encodeName(decoded.message.questions[0]!.name), wire);
      },
    ),
    { ...RUNS, seed: 1645 },
  );
});

Deno.test("fuzz dns: any one byte of a valid message changed never throws", () => {
  fc.assert(
    fc.property(message, fc.nat(), fc.integer({ min: 0, max: 255 }), (sent, at, value) => {
      const bytes = encodeMessage(sent);
      bytes[at % bytes.length] = value;
      decodesSafely(bytes);
    }),
    { ...RUNS, seed: 1646 },
  );
});
