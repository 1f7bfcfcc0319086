/**
 * The `dns` source's rules with a scripted transport and a manual clock: NOERROR gives the
 * records, NXDOMAIN and empty answers give nothing, failures keep each name's last good answer
 * and report one line, SRV brings ports and hostnames, CNAME chains are followed within the
 * answer, and the next resolution comes after the interval or the TTL.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { DnsSourceConfig } from "../../src/config/schema.ts";
import {
  createDnsSource,
  dedupeTargets,
  followAnswer,
  refreshDelay,
} from "../../src/discovery/dns.ts";
import { type DnsQuery, DnsQueryError, type DnsResponse } from "../../src/discovery/dns_client.ts";
import {
  type DnsRecord,
  type QueryType,
  RCODE,
  relativeName,
} from "../../src/discovery/dns_codec.ts";
import type { SourceUpdate } from "../../src/discovery/types.ts";
import { FakeClock, settle } from "../support/fakes.ts";

const SERVER = "192.0.2.53:53";

/** What the scripted transport does for a `name type` key. */
type Script =
  | { readonly rcode?: number; readonly answers?: DnsRecord[]; readonly additional?: DnsRecord[] }
  | { readonly throws: unknown }
  | "hang";

/** A transport answering from a table a test edits between resolutions; it counts queries. */
class ScriptedDnsQuery {
  readonly asked: string[] = [];
  readonly script = new Map<string, Script>();
  aborted = 0;

  readonly query: DnsQuery = (name, type, options) => {
    const key = `${name} ${type}`;
    this.asked.push(key);
    const script = this.script.get(key) ?? { rcode: RCODE.NXDOMAIN };
    if (script === "hang") {
      return new Promise((_, reject) => {
        options?.signal?.addEventListener("abort", () => {
          this.aborted++;
          reject(new DnsQueryError(name, type, SERVER, "query cancelled"));
        });
      });
    }
    if ("throws" in script) return Promise.reject(script.throws);
    const response: DnsResponse = {
      name: relativeName(name),
      rcode: script.rcode ?? RCODE.NOERROR,
      answers: script.answers ?? [],
      additional: script.additional ?? [],
      server: SERVER,
      tcp: false,
    };
    return Promise.resolve(response);
  };

  set(name: string, type: QueryType, script: Script): void {
    this.script.set(`${name} ${type}`, script);
  }
}

const a = (name: string, address: string, ttl = 30): DnsRecord => ({
  type: address.includes(":") ? "AAAA" : "A",
  name,
  ttl,
  address,
});

function config(overrides: Partial<DnsSourceConfig> = {}): DnsSourceConfig {
  return {
    type: "dns",
    names: ["kafka.test"],
    record: "A",
    interval: 30_000,
    honorTtl: false,
    timeout: 2_000,
    ...overrides,
  };
}

/** Starts a source of `cfg` on `dns` and a manual clock; `updates` collects what it emits. */
async function started(cfg: DnsSourceConfig, dns: ScriptedDnsQuery) {
  const clock = new FakeClock();
  const updates: SourceUpdate[] = [];
  const source = createDnsSource(cfg, { clock, query: dns.query });
  source.start((update) => updates.push(update));
  await settle();
  return { clock, updates, source, [Symbol.asyncDispose]: () => source.stop() };
}

Deno.test("dns source: NOERROR gives the addresses, deduplicated and sorted, at start", async () => {
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", {
    answers: [a("kafka.test", "192.0.2.12"), a("kafka.test", "192.0.2.11")],
  });
  dns.set("other.test", "A", {
    answers: [a("other.test", "192.0.2.11"), a("other.test", "192.0.2.13")],
  });
  await using bed = await started(config({ names: ["kafka.test", "other.test"] }), dns);
  assert.equal(bed.source.name, "dns kafka.test,other.test");
  assert.deepEqual(bed.updates, [{
    ok: true,
    targets: [{ address: "192.0.2.11" }, { address: "192.0.2.12" }, { address: "192.0.2.13" }],
  }]);
});

Deno.test("dns source: resolves again each interval and emits only a changed set", async () => {
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.11")] });
  await using bed = await started(config(), dns);
  await bed.clock.advance(29_999);
  assert.equal(dns.asked.length, 1);
  await bed.clock.advance(1);
  assert.equal(dns.asked.length, 2);
  assert.equal(bed.updates.length, 1, "an unchanged answer is not emitted again");
  dns.set("kafka.test", "A", {
    answers: [a("kafka.test", "192.0.2.11"), a("kafka.test", "192.0.2.14")],
  });
  await bed.clock.advance(30_000);
  assert.deepEqual(bed.updates.at(-1), {
    ok: true,
    targets: [{ address: "192.0.2.11" }, { address: "192.0.2.14" }],
  });
});

Deno.test("dns source: NXDOMAIN and an empty NOERROR empty a name (successfully)", async () => {
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.11")] });
  await using bed = await started(config(), dns);
  dns.set("kafka.test", "A", { rcode: RCODE.NXDOMAIN });
  await bed.clock.advance(30_000);
  assert.deepEqual(bed.updates.at(-1), { ok: true, targets: [] });
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.11")] });
  await bed.clock.advance(30_000);
  dns.set("kafka.test", "A", { answers: [] });
  await bed.clock.advance(30_000);
  assert.deepEqual(bed.updates.map((u) => u.ok && u.targets.length), [1, 0, 1, 0]);
});

Deno.test("dns source: a failing name keeps its last good answer and the update says why", async () => {
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.11")] });
  dns.set("other.test", "A", { answers: [a("other.test", "192.0.2.21")] });
  await using bed = await started(config({ names: ["kafka.test", "other.test"] }), dns);
  dns.set("kafka.test", "A", { rcode: RCODE.SERVFAIL });
  dns.set("other.test", "A", { answers: [a("other.test", "192.0.2.22")] });
  await bed.clock.advance(30_000);
  assert.deepEqual(bed.updates.at(-1), {
    ok: true,
    targets: [{ address: "192.0.2.11" }, { address: "192.0.2.22" }],
    error: "dns kafka.test A: SERVFAIL from 192.0.2.53:53",
  });
  dns.set("kafka.test", "A", {
    throws: new DnsQueryError("kafka.test", "A", SERVER, "no answer within 2000 ms"),
  });
  dns.set("other.test", "A", { rcode: RCODE.REFUSED });
  await bed.clock.advance(30_000);
  assert.deepEqual(bed.updates.at(-1), {
    ok: true,
    targets: [{ address: "192.0.2.11" }, { address: "192.0.2.22" }],
    error: "dns kafka.test A: no answer within 2000 ms from 192.0.2.53:53; " +
      "dns other.test A: REFUSED from 192.0.2.53:53",
  });
});

Deno.test("dns source: failing before any answer is a failed update", async () => {
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", {
    throws: new DnsQueryError("kafka.test", "A", SERVER, "malformed response (truncated header)"),
  });
  await using bed = await started(config(), dns);
  assert.deepEqual(bed.updates, [{
    ok: false,
    error: "dns kafka.test A: malformed response (truncated header) from 192.0.2.53:53",
  }]);
  dns.set("kafka.test", "A", { throws: new TypeError("bug in a transport") });
  await bed.clock.advance(30_000);
  assert.deepEqual(bed.updates.at(-1), {
    ok: false,
    error: "dns kafka.test A: bug in a transport",
  });
});

Deno.test("dns source: A+AAAA asks both; each type keeps its own last good answer", async () => {
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.11")] });
  dns.set("kafka.test", "AAAA", { answers: [a("kafka.test", "2001:db8::11")] });
  await using bed = await started(config({ record: "A+AAAA" }), dns);
  assert.deepEqual(dns.asked.sort(), ["kafka.test A", "kafka.test AAAA"]);
  assert.deepEqual(bed.updates.at(-1), {
    ok: true,
    targets: [{ address: "192.0.2.11" }, { address: "2001:db8::11" }],
  });
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.12")] });
  dns.set("kafka.test", "AAAA", { rcode: RCODE.SERVFAIL });
  await bed.clock.advance(30_000);
  assert.deepEqual(bed.updates.at(-1), {
    ok: true,
    targets: [{ address: "192.0.2.12" }, { address: "2001:db8::11" }],
    error: "dns kafka.test AAAA: SERVFAIL from 192.0.2.53:53",
  });
});

Deno.test("dns source: SRV targets come with their port and first label as hostname", async () => {
  const dns = new ScriptedDnsQuery();
  const srv = (target: string, port: number, ttl = 30): DnsRecord => ({
    type: "SRV",
    name: "_kafka._tcp.kafka.test",
    ttl,
    priority: 0,
    weight: 0,
    port,
    target,
  });
  dns.set("_kafka._tcp.kafka.test", "SRV", {
    answers: [srv("B1.kafka.test", 9092), srv("b2.kafka.test", 9093), srv(".", 1)],
    // b1's address came along; b2's must be asked for.
    additional: [a("b1.kafka.test", "192.0.2.21")],
  });
  // Targets are asked as absolute names: no search list applies to them.
  dns.set("b2.kafka.test.", "A", { answers: [a("b2.kafka.test", "192.0.2.22")] });
  dns.set("b2.kafka.test.", "AAAA", { answers: [a("b2.kafka.test", "2001:db8::22")] });
  await using bed = await started(
    config({ names: ["_kafka._tcp.kafka.test"], record: "SRV" }),
    dns,
  );
  assert.deepEqual(bed.updates.at(-1), {
    ok: true,
    targets: [
      { address: "192.0.2.21", port: 9092, hostname: "b1" },
      { address: "192.0.2.22", port: 9093, hostname: "b2" },
      { address: "2001:db8::22", port: 9093, hostname: "b2" },
    ],
  });
  assert.deepEqual(dns.asked.filter((key) => key.startsWith("b1")), []);
  // A target's lookup failing fails the SRV name: its last good answer stays.
  dns.set("b2.kafka.test.", "A", { rcode: RCODE.SERVFAIL });
  await bed.clock.advance(30_000);
  const last = bed.updates.at(-1);
  assert.ok(last?.ok);
  assert.equal(last.targets.length, 3);
  assert.equal(
    last.error,
    "dns _kafka._tcp.kafka.test SRV: b2.kafka.test A: SERVFAIL from 192.0.2.53:53",
  );
  // A target whose first label is not a DNS label gives no hostname.
  dns.set("_kafka._tcp.kafka.test", "SRV", { answers: [srv("b_3.kafka.test", 9094)] });
  dns.set("b_3.kafka.test.", "A", { answers: [a("b_3.kafka.test", "192.0.2.23")] });
  dns.set("b_3.kafka.test.", "AAAA", { answers: [] });
  await bed.clock.advance(30_000);
  assert.deepEqual(bed.updates.at(-1), {
    ok: true,
    targets: [{ address: "192.0.2.23", port: 9094 }],
  });
});

Deno.test("dns source: a CNAME chain is followed within the answer only", async () => {
  const records: DnsRecord[] = [
    { type: "CNAME", name: "kafka.test", ttl: 50, target: "alias.test" },
    { type: "CNAME", name: "Alias.test", ttl: 40, target: "real.test" },
    a("real.test", "192.0.2.31", 60),
    a("unrelated.test", "192.0.2.99", 1),
  ];
  assert.deepEqual(followAnswer("kafka.test", "A", records), {
    records: [a("real.test", "192.0.2.31", 60)],
    ttl: 40,
  });
  // A loop ends; a dangling CNAME is no record (and no TTL).
  const loop: DnsRecord[] = [
    { type: "CNAME", name: "x.test", ttl: 5, target: "y.test" },
    { type: "CNAME", name: "y.test", ttl: 5, target: "x.test" },
  ];
  assert.deepEqual(followAnswer("x.test", "A", loop), { records: [], ttl: undefined });
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", { answers: records });
  await using bed = await started(config(), dns);
  assert.deepEqual(bed.updates, [{ ok: true, targets: [{ address: "192.0.2.31" }] }]);
});

Deno.test("dns source: honorTtl resolves again when the smallest TTL runs out", async () => {
  assert.equal(refreshDelay({ interval: 30_000, honorTtl: true }, 5), 5_000);
  assert.equal(refreshDelay({ interval: 30_000, honorTtl: true }, 0), 1_000);
  assert.equal(refreshDelay({ interval: 30_000, honorTtl: true }, 3600), 30_000);
  assert.equal(refreshDelay({ interval: 30_000, honorTtl: true }, undefined), 30_000);
  assert.equal(refreshDelay({ interval: 30_000, honorTtl: false }, 5), 30_000);
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.11", 9)] });
  dns.set("kafka.test", "AAAA", { answers: [a("kafka.test", "2001:db8::11", 5)] });
  await using bed = await started(config({ record: "A+AAAA", honorTtl: true }), dns);
  assert.equal(dns.asked.length, 2);
  await bed.clock.advance(4_999);
  assert.equal(dns.asked.length, 2);
  await bed.clock.advance(1);
  assert.equal(dns.asked.length, 4);
});

Deno.test("dns source: stop cancels the query in flight and emits nothing after", async () => {
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.11")] });
  const bed = await started(config(), dns);
  dns.set("kafka.test", "A", "hang");
  await bed.clock.advance(30_000);
  assert.equal(bed.clock.pending, 0, "no timer while a resolution is in flight");
  await bed.source.stop();
  assert.equal(dns.aborted, 1);
  assert.equal(bed.updates.length, 1);
  assert.equal(bed.clock.pending, 0);
  await bed.clock.advance(60_000);
  assert.equal(dns.asked.length, 2);
});

Deno.test("dns source: dedupe keeps one target per address and port, the first", () => {
  assert.deepEqual(
    dedupeTargets([
      { address: "192.0.2.2", port: 2, hostname: "x" },
      { address: "192.0.2.1" },
      { address: "192.0.2.2", port: 2, hostname: "y" },
      { address: "192.0.2.2", port: 1 },
    ]),
    [
      { address: "192.0.2.1" },
      { address: "192.0.2.2", port: 1 },
      { address: "192.0.2.2", port: 2, hostname: "x" },
    ],
  );
});

Deno.test("dns source: an emit that throws does not stop the resolutions", async () => {
  const dns = new ScriptedDnsQuery();
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.11")] });
  const clock = new FakeClock();
  const seen: SourceUpdate[] = [];
  const source = createDnsSource(config(), { clock, query: dns.query });
  source.start((update) => {
    seen.push(update);
    throw new Error("a broken consumer");
  });
  await settle();
  dns.set("kafka.test", "A", { answers: [a("kafka.test", "192.0.2.12")] });
  await clock.advance(30_000);
  await source.stop();
  assert.deepEqual(dns.asked, ["kafka.test A", "kafka.test A"]);
  assert.deepEqual(seen.at(-1), { ok: true, targets: [{ address: "192.0.2.12" }] });
});
