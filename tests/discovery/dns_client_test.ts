/**
 * The DNS transport against scripted servers on loopback (UDP and TCP on one port): answers,
 * response codes, truncation → TCP, replies that do not match, timeouts, cancellation, and the
 * nameserver forms. Sanitizers stay on: every socket must be closed on every path.
 *
 * @module
 */

import assert from "node:assert/strict";
import dgram from "node:dgram";
import {
  createDnsClient,
  DnsQueryError,
  nameserverText,
  parseNameserver,
  parseResolvConf,
  searchNames,
} from "../../src/discovery/dns_client.ts";
import {
  decodeMessage,
  type DnsMessage,
  type DnsRecord,
  encodeMessage,
  RCODE,
} from "../../src/discovery/dns_codec.ts";

/** What the scripted server sends for one query: messages or raw bytes, in order. */
type Reply = DnsMessage | Uint8Array | { readonly fromOtherPort: DnsMessage };

/** A scripted DNS server on 127.0.0.1: `udp` and `tcp` map each query to its replies. */
class ScriptedDns implements AsyncDisposable {
  readonly queries: { transport: "udp" | "tcp"; message: DnsMessage }[] = [];
  #udp: dgram.Socket;
  #other: dgram.Socket;
  #tcp: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();
  #serving: Promise<void>;
  port: number;

  private constructor(
    udp: dgram.Socket,
    other: dgram.Socket,
    tcp: Deno.TcpListener,
    script: {
      udp: (query: DnsMessage) => Reply[];
      tcp?: (query: DnsMessage) => Reply[];
    },
  ) {
    this.#udp = udp;
    this.#other = other;
    this.#tcp = tcp;
    this.port = udp.address().port;
    udp.on("message", (bytes: Uint8Array, from: { address: string; port: number }) => {
      const decoded = decodeMessage(bytes);
      if (!decoded.ok) return;
      this.queries.push({ transport: "udp", message: decoded.message });
      for (const reply of script.udp(decoded.message)) {
        const socket = "fromOtherPort" in reply ? this.#other : this.#udp;
        const message = "fromOtherPort" in reply ? reply.fromOtherPort : reply;
        socket.send(
          message instanceof Uint8Array ? message : encodeMessage(message),
          from.port,
          from.address,
        );
      }
    });
    this.#serving = this.#serveTcp(script.tcp ?? (() => []));
  }

  static async start(script: {
    udp: (query: DnsMessage) => Reply[];
    tcp?: (query: DnsMessage) => Reply[];
  }): Promise<ScriptedDns> {
    const bind = async () => {
      const socket = dgram.createSocket("udp4");
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
      return socket;
    };
    const udp = await bind();
    const other = await bind();
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: udp.address().port });
    return new ScriptedDns(udp, other, tcp, script);
  }

  get nameserver(): string {
    return `127.0.0.1:${this.port}`;
  }

  async #serveTcp(script: (query: DnsMessage) => Reply[]): Promise<void> {
    for await (const conn of this.#tcp) {
      this.#conns.add(conn);
      const prefix = new Uint8Array(2);
      try {
        // One query per connection is all the client sends.
        let filled = 0;
        while (filled < 2) filled += (await conn.read(prefix.subarray(filled))) ?? 2;
        const body = new Uint8Array(new DataView(prefix.buffer).getUint16(0));
        filled = 0;
        while (filled < body.length) filled += (await conn.read(body.subarray(filled))) ?? 1e9;
        const decoded = decodeMessage(body);
        if (!decoded.ok) continue;
        this.queries.push({ transport: "tcp", message: decoded.message });
        for (const reply of script(decoded.message)) {
          const message = "fromOtherPort" in reply ? reply.fromOtherPort : reply;
          const bytes = message instanceof Uint8Array ? message : encodeMessage(message);
          const framed = new Uint8Array(2 + bytes.length);
          new DataView(framed.buffer).setUint16(0, bytes.length);
          framed.set(bytes, 2);
          await conn.write(framed);
        }
      } catch {
        // The client went away.
      } finally {
        this.#conns.delete(conn);
        conn.close();
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#tcp.close();
    for (const conn of this.#conns) conn.close();
    await this.#serving;
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
    await new Promise<void>((resolve) => this.#other.close(() => resolve()));
  }
}

const A = (address: string, ttl = 30): DnsRecord => ({
  type: "A",
  name: "kafka.test",
  ttl,
  address,
});

/** The reply to `query` with `rcode`, `answers` and header bits changed by `extra`. */
function reply(
  query: DnsMessage,
  answers: DnsRecord[] = [],
  extra: Partial<DnsMessage> = {},
): DnsMessage {
  return { ...query, qr: true, rcode: RCODE.NOERROR, answers, additional: [], ...extra };
}

Deno.test("dns client: a UDP answer comes back with its code, records and server", async () => {
  await using server = await ScriptedDns.start({
    udp: (query) => [reply(query, [A("192.0.2.11"), A("192.0.2.12")])],
  });
  const query = createDnsClient({ nameserver: server.nameserver, timeout: 10_000 });
  const response = await query("kafka.test", "A");
  assert.deepEqual(response, {
    name: "kafka.test",
    rcode: RCODE.NOERROR,
    answers: [A("192.0.2.11"), A("192.0.2.12")],
    additional: [],
    server: server.nameserver,
    tcp: false,
  });
  const sent = server.queries[0]!.message;
  assert.equal(sent.rd, true);
  assert.deepEqual(sent.questions, [{ name: "kafka.test", type: 1 }]);
});

Deno.test("dns client: SERVFAIL and NXDOMAIN are answers for the caller to judge", async () => {
  await using server = await ScriptedDns.start({
    udp: (query) => [
      reply(query, [], {
        rcode: query.questions[0]!.name === "gone.test" ? RCODE.NXDOMAIN : RCODE.SERVFAIL,
      }),
    ],
  });
  const query = createDnsClient({ nameserver: server.nameserver, timeout: 10_000 });
  assert.equal((await query("kafka.test", "A")).rcode, RCODE.SERVFAIL);
  assert.equal((await query("gone.test", "AAAA")).rcode, RCODE.NXDOMAIN);
});

Deno.test("dns client: a truncated UDP answer is asked again over TCP", async () => {
  const many = Array.from({ length: 40 }, (_, i) => A(`192.0.2.${i + 1}`));
  await using server = await ScriptedDns.start({
    udp: (query) => [reply(query, [], { tc: true })],
    tcp: (query) => [reply(query, many)],
  });
  const query = createDnsClient({ nameserver: server.nameserver, timeout: 10_000 });
  const response = await query("kafka.test", "A");
  assert.equal(response.tcp, true);
  assert.deepEqual(response.answers, many);
  assert.deepEqual(server.queries.map((q) => q.transport), ["udp", "tcp"]);
});

Deno.test("dns client: replies with another id, port or question are ignored", async () => {
  await using server = await ScriptedDns.start({
    udp: (query) => [
      reply(query, [A("192.0.2.66")], { id: (query.id + 1) & 0xffff }),
      { fromOtherPort: reply(query, [A("192.0.2.67")]) },
      reply(query, [A("192.0.2.68")], { questions: [{ name: "other.test", type: 1 }] }),
      reply(query, [A("192.0.2.11")]),
    ],
  });
  const query = createDnsClient({ nameserver: server.nameserver, timeout: 10_000 });
  assert.deepEqual((await query("kafka.test", "A")).answers, [A("192.0.2.11")]);
});

Deno.test("dns client: no answer is a DnsQueryError naming the timeout and server", async () => {
  await using server = await ScriptedDns.start({ udp: () => [] });
  const query = createDnsClient({ nameserver: server.nameserver, timeout: 50 });
  const error = await query("kafka.test", "A").then(() => undefined, (e) => e);
  assert.ok(error instanceof DnsQueryError);
  assert.equal(error.reason, "no answer within 50 ms");
  assert.equal(error.server, server.nameserver);
  assert.equal(
    error.message,
    `Cannot resolve 'kafka.test' A at '${server.nameserver}': no answer within 50 ms`,
  );
});

Deno.test("dns client: a malformed reply with the query's id is an error, not a crash", async () => {
  await using server = await ScriptedDns.start({
    udp: (query) => {
      // The right id and QR, then a question that points at itself.
      const bytes = new Uint8Array([0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1]);
      new DataView(bytes.buffer).setUint16(0, query.id);
      return [bytes];
    },
  });
  const query = createDnsClient({ nameserver: server.nameserver, timeout: 10_000 });
  await assert.rejects(
    query("kafka.test", "A"),
    (error: unknown) =>
      error instanceof DnsQueryError &&
      /^malformed response \(compression pointer at byte 12 does not point backwards\)$/
        .test(error.reason),
  );
});

Deno.test("dns client: a TCP answer with another id is an error", async () => {
  await using server = await ScriptedDns.start({
    udp: (query) => [reply(query, [], { tc: true })],
    tcp: (query) => [reply(query, [A("192.0.2.11")], { id: (query.id + 1) & 0xffff })],
  });
  const query = createDnsClient({ nameserver: server.nameserver, timeout: 10_000 });
  await assert.rejects(query("kafka.test", "A"), /response over TCP carries id/);
});

Deno.test("dns client: a cancelled query rejects at once and closes its socket", async () => {
  await using server = await ScriptedDns.start({ udp: () => [] });
  const query = createDnsClient({ nameserver: server.nameserver, timeout: 60_000 });
  const controller = new AbortController();
  const pending = query("kafka.test", "A", { signal: controller.signal });
  controller.abort();
  await assert.rejects(pending, /query cancelled/);
});

Deno.test("dns client: the default nameserver is resolv.conf's first; none is an error", async () => {
  await using server = await ScriptedDns.start({
    udp: (query) => [reply(query, [A("192.0.2.11")])],
  });
  let reads = 0;
  const query = createDnsClient({
    timeout: 10_000,
    readResolvConf: () => {
      reads++;
      return Promise.resolve(
        `# comment\nsearch example.test\nnameserver ${server.nameserver}\nnameserver 192.0.2.1\n`,
      );
    },
  });
  assert.equal((await query("kafka.test", "A")).server, server.nameserver);
  assert.equal(reads, 1);
  const none = createDnsClient({
    timeout: 10_000,
    readResolvConf: () => Promise.resolve("search example.test\n"),
  });
  await assert.rejects(
    none("kafka.test", "A"),
    (e: unknown) =>
      e instanceof DnsQueryError && e.server === undefined &&
      e.reason === "no nameserver line in /etc/resolv.conf",
  );
});

Deno.test("dns client: nameserver forms host, host:port, [v6]:port and bare IPv6", () => {
  const cases: [string, string][] = [
    ["192.0.2.53", "192.0.2.53:53"],
    ["192.0.2.53:5353", "192.0.2.53:5353"],
    ["[2001:DB8::53]:5353", "[2001:db8::53]:5353"],
    ["[2001:db8::53]", "[2001:db8::53]:53"],
    ["2001:db8:0:0::53", "[2001:db8::53]:53"],
  ];
  for (const [text, expected] of cases) {
    const parsed = parseNameserver(text);
    assert.ok(parsed.ok, text);
    assert.equal(nameserverText(parsed.nameserver), expected);
  }
  for (const bad of ["dns.example.test", "192.0.2.53:0", "192.0.2.53:99999", "[192.0.2.1]:x"]) {
    assert.equal(parseNameserver(bad).ok, false, bad);
  }
});

Deno.test("dns client: resolv.conf gives the first nameserver, the last search list, ndots", () => {
  assert.deepEqual(
    parseResolvConf(
      "# generated\nnameserver\nnameserver 10.0.0.1 # first\nnameserver 10.0.0.2\n" +
        "domain example.test\nsearch ns.svc.cluster.local svc.cluster.local\n" +
        "options edns0 ndots:5 timeout:1\n",
    ),
    {
      nameserver: "10.0.0.1",
      search: ["ns.svc.cluster.local", "svc.cluster.local"],
      ndots: 5,
    },
  );
  assert.deepEqual(parseResolvConf("options ndots:99\n"), {
    nameserver: undefined,
    search: [],
    ndots: 15,
  });
  const pod = { search: ["ns.svc.cluster.local", "cluster.local"], ndots: 5 };
  assert.deepEqual(searchNames("kafka", pod), [
    "kafka.ns.svc.cluster.local",
    "kafka.cluster.local",
    "kafka",
  ]);
  assert.deepEqual(searchNames("kafka.test.", pod), ["kafka.test"]);
  assert.deepEqual(searchNames("a.b.c.d.e.f", pod), [
    "a.b.c.d.e.f",
    "a.b.c.d.e.f.ns.svc.cluster.local",
    "a.b.c.d.e.f.cluster.local",
  ]);
});

Deno.test("dns client: the system resolver walks the search list as Prometheus does", async () => {
  const rcodes: Record<string, number> = {
    "kafka.ns.test": RCODE.NXDOMAIN,
    "kafka.svc.test": RCODE.NOERROR,
    "down.ns.test": RCODE.SERVFAIL,
  };
  await using server = await ScriptedDns.start({
    udp: (query) => {
      const name = query.questions[0]!.name;
      const rcode = rcodes[name] ?? RCODE.NXDOMAIN;
      const answers = rcode === RCODE.NOERROR ? [{ ...A("192.0.2.11"), name }] : [];
      return [reply(query, answers, { rcode })];
    },
  });
  const query = createDnsClient({
    timeout: 10_000,
    readResolvConf: () =>
      Promise.resolve(
        `nameserver ${server.nameserver}\nsearch ns.test svc.test\noptions ndots:2\n`,
      ),
  });
  const asked = () => server.queries.splice(0).map((q) => q.message.questions[0]!.name);
  // The first NOERROR wins, and says which name it answers.
  const found = await query("kafka", "A");
  assert.equal(found.name, "kafka.svc.test");
  assert.deepEqual(found.answers, [{ ...A("192.0.2.11"), name: "kafka.svc.test" }]);
  assert.deepEqual(asked(), ["kafka.ns.test", "kafka.svc.test"]);
  // NXDOMAIN for every name is NXDOMAIN; an error code for one of them is that error.
  assert.equal((await query("gone", "A")).rcode, RCODE.NXDOMAIN);
  assert.deepEqual(asked(), ["gone.ns.test", "gone.svc.test", "gone"]);
  assert.equal((await query("down", "A")).rcode, RCODE.SERVFAIL);
  asked();
  // A final dot, or a configured nameserver, asks the name as written.
  await query("kafka.", "A");
  assert.deepEqual(asked(), ["kafka"]);
  await createDnsClient({ nameserver: server.nameserver, timeout: 10_000 })("kafka", "A");
  assert.deepEqual(asked(), ["kafka"]);
});

Deno.test("dns client: truncated over UDP with no TCP listener is an error naming TCP", async () => {
  // A bare UDP server answering "truncated": nothing listens on its port over TCP.
  const socket = dgram.createSocket("udp4");
  socket.on("message", (query: Uint8Array, from: { address: string; port: number }) => {
    const decoded = decodeMessage(query);
    if (decoded.ok) {
      socket.send(encodeMessage(reply(decoded.message, [], { tc: true })), from.port, from.address);
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  try {
    const query = createDnsClient({
      nameserver: `127.0.0.1:${socket.address().port}`,
      timeout: 10_000,
    });
    await assert.rejects(
      query("kafka.test", "A"),
      (e: unknown) => e instanceof DnsQueryError && /^cannot connect over TCP: /.test(e.reason),
    );
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
});
