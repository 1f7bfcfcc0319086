/**
 * The `dns` target source against a real DNS server (dnsmasq, tests/support/dns_server.ts) in
 * the private test network: records changed on the server reach the source's set at its next
 * resolution; NXDOMAIN empties it; SERVFAIL and a silent server keep the last good answer and
 * report one line naming the name, type and server; REFUSED is a failure too; SRV brings ports; A+AAAA brings 2001:db8::
 * addresses; honorTtl schedules the next resolution by the answer's TTL.
 *
 * Run: HELASEID_BUNDLE_RERUN=0 tests/netns.sh tests/run.ts tests/integration/dns_source_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";
import type { DnsSourceConfig } from "../../src/config/schema.ts";
import { createDnsSource } from "../../src/discovery/dns.ts";
import { createDnsClient, type DnsQuery } from "../../src/discovery/dns_client.ts";
import type {
  DiscoveredTarget,
  SourceClock,
  SourceUpdate,
  TargetSource,
} from "../../src/discovery/types.ts";
import { DnsServer, type DnsZone, REFUSED_DOMAIN, SERVFAIL_DOMAIN } from "../support/dns_server.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";

/** A TEST-NET address put on `lo` where nothing listens: queries to it time out. */
const SILENT = "192.0.2.154";

/** Real timers, recording every delay the source asks for. */
function recordingClock(): SourceClock & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => Date.now(),
    setTimeout(callback, ms) {
      delays.push(ms);
      return setTimeout(callback, ms);
    },
    clearTimeout: (timer) => clearTimeout(timer as number),
  };
}

/** A started source and what it emitted; disposing stops it. */
class Watched implements AsyncDisposable {
  readonly updates: SourceUpdate[] = [];
  readonly clock = recordingClock();
  readonly source: TargetSource;

  constructor(
    config: Partial<DnsSourceConfig> & Pick<DnsSourceConfig, "names">,
    query?: DnsQuery,
  ) {
    this.source = createDnsSource({
      type: "dns",
      record: "A",
      interval: 200,
      honorTtl: false,
      timeout: 5_000,
      ...config,
    }, { clock: this.clock, ...(query ? { query } : {}) });
    this.source.start((update) => this.updates.push(update));
  }

  /** Waits for an update deep-equal to `expected` (emitted since the last call or before). */
  async until(expected: SourceUpdate): Promise<void> {
    const wanted = JSON.stringify(expected);
    await untilValue(
      `the source to emit ${wanted} (last: ${JSON.stringify(this.updates.at(-1))})`,
      () => this.updates.some((u) => JSON.stringify(u) === wanted) ? true : undefined,
    );
  }

  /** Waits until the latest update is `expected` and forgets what came before. */
  async settlesOn(expected: SourceUpdate): Promise<void> {
    await this.until(expected);
    this.updates.splice(0, this.updates.length);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.source.stop();
  }
}

const v4 = (...last: number[]): DiscoveredTarget[] =>
  last.map((n) => ({ address: `192.0.2.${n}` }));

async function bed(zone: DnsZone) {
  const net = await TestNetwork.open();
  const dns = await DnsServer.start(net, zone);
  return {
    net,
    dns,
    async [Symbol.asyncDispose]() {
      await dns.close();
      await net.close();
    },
  };
}

Deno.test("dns source on dnsmasq: changed records reach the set, NXDOMAIN empties it", async () => {
  await using test = await bed({ hosts: { "kafka.test": ["192.0.2.11", "192.0.2.12"] } });
  await using watched = new Watched({
    names: ["kafka.test"],
    nameserver: test.dns.nameserver,
  });
  await watched.settlesOn({ ok: true, targets: v4(11, 12) });
  await test.dns.setHosts({ "kafka.test": ["192.0.2.12", "192.0.2.13"] });
  await watched.settlesOn({ ok: true, targets: v4(12, 13) });
  // The name is gone: dnsmasq answers NXDOMAIN (local=/test/), a successful "nothing".
  await test.dns.setHosts({});
  await watched.settlesOn({ ok: true, targets: [] });
  await test.dns.setHosts({ "kafka.test": ["192.0.2.14"] });
  await watched.settlesOn({ ok: true, targets: v4(14) });
  assert.ok(watched.clock.delays.every((ms) => ms === 200), "interval without honorTtl");
});

Deno.test("dns source on dnsmasq: SERVFAIL keeps the name's last good answer and says so", async () => {
  const failing = `kafka.${SERVFAIL_DOMAIN}`;
  const hosts = { "kafka.test": ["192.0.2.11"], [failing]: ["192.0.2.31"] };
  await using test = await bed({ hosts });
  await using watched = new Watched({
    names: ["kafka.test", failing],
    nameserver: test.dns.nameserver,
  });
  await watched.settlesOn({ ok: true, targets: v4(11, 31) });
  // Out of the hosts file, the name is forwarded to the failing upstream: SERVFAIL.
  await test.dns.setHosts({ "kafka.test": ["192.0.2.12"] });
  await watched.settlesOn({
    ok: true,
    targets: v4(12, 31),
    error: `dns ${failing} A: SERVFAIL from ${test.dns.nameserver}`,
  });
  await test.dns.setHosts(hosts);
  await watched.settlesOn({ ok: true, targets: v4(11, 31) });
});

Deno.test("dns source on dnsmasq: a silent server keeps the last good set and says so", async () => {
  await using test = await bed({ hosts: { "kafka.test": ["192.0.2.11"] } });
  await using watched = new Watched({
    names: ["kafka.test"],
    nameserver: test.dns.nameserver,
    timeout: 300,
  });
  await watched.settlesOn({ ok: true, targets: v4(11) });
  await test.dns.pause();
  await watched.settlesOn({
    ok: true,
    targets: v4(11),
    error: `dns kafka.test A: no answer within 300 ms from ${test.dns.nameserver}`,
  });
  await test.dns.resume();
  await watched.settlesOn({ ok: true, targets: v4(11) });
});

Deno.test("dns source on dnsmasq: REFUSED fails a name alone, and rides beside answering names", async () => {
  await using test = await bed({
    hosts: { "kafka.test": ["192.0.2.11"], "flip.test": ["192.0.2.21"] },
  });
  const refused = `a.${REFUSED_DOMAIN}`;
  await using alone = new Watched({ names: [refused], nameserver: test.dns.nameserver });
  await alone.until({
    ok: false,
    error: `dns ${refused} A: REFUSED from ${test.dns.nameserver}`,
  });
  await using watched = new Watched({
    names: ["kafka.test", refused, "flip.test"],
    nameserver: test.dns.nameserver,
  });
  await watched.settlesOn({
    ok: true,
    targets: v4(11, 21),
    error: `dns ${refused} A: REFUSED from ${test.dns.nameserver}`,
  });
});

Deno.test("dns source on dnsmasq: a nameserver where nothing answers times out", async () => {
  await using net = await TestNetwork.open();
  await net.addAddress(SILENT);
  await using watched = new Watched({
    names: ["kafka.test"],
    nameserver: SILENT,
    timeout: 300,
  });
  await watched.until({
    ok: false,
    error: `dns kafka.test A: no answer within 300 ms from ${SILENT}:53`,
  });
});

Deno.test("dns source on dnsmasq: SRV gives each target's addresses with the record's port", async () => {
  const hosts = {
    "b1.kafka.test": ["192.0.2.21"],
    "b2.kafka.test": ["192.0.2.22", "2001:db8::22"],
  };
  await using test = await bed({
    hosts,
    srv: [
      { name: "_kafka._tcp.kafka.test", target: "b1.kafka.test", port: 9092 },
      { name: "_kafka._tcp.kafka.test", target: "b2.kafka.test", port: 9093 },
    ],
  });
  await using watched = new Watched({
    names: ["_kafka._tcp.kafka.test"],
    record: "SRV",
    nameserver: test.dns.nameserver,
  });
  await watched.settlesOn({
    ok: true,
    targets: [
      { address: "192.0.2.21", port: 9092, hostname: "b1" },
      { address: "192.0.2.22", port: 9093, hostname: "b2" },
      { address: "2001:db8::22", port: 9093, hostname: "b2" },
    ],
  });
  await test.dns.restart({
    hosts,
    srv: [{ name: "_kafka._tcp.kafka.test", target: "b2.kafka.test", port: 9094 }],
  });
  await watched.settlesOn({
    ok: true,
    targets: [
      { address: "192.0.2.22", port: 9094, hostname: "b2" },
      { address: "2001:db8::22", port: 9094, hostname: "b2" },
    ],
  });
});

Deno.test("dns source on dnsmasq: A+AAAA gives both families", async () => {
  await using test = await bed({
    hosts: { "kafka.test": ["192.0.2.11", "2001:db8::11", "2001:db8::12"] },
  });
  await using watched = new Watched({
    names: ["kafka.test"],
    record: "A+AAAA",
    nameserver: test.dns.nameserver,
  });
  await watched.settlesOn({
    ok: true,
    targets: [{ address: "192.0.2.11" }, { address: "2001:db8::11" }, {
      address: "2001:db8::12",
    }],
  });
  // A name with only an IPv4 address: its AAAA query is NODATA, a successful nothing.
  await test.dns.setHosts({ "kafka.test": ["192.0.2.12"] });
  await watched.settlesOn({ ok: true, targets: v4(12) });
});

Deno.test("dns source on dnsmasq: an answer too big for UDP comes over TCP", async () => {
  // 60 A records (16 bytes each) overflow a 512-byte UDP answer: dnsmasq sets TC.
  const many = Array.from({ length: 60 }, (_, i) => i + 100);
  await using test = await bed({ hosts: { "big.test": many.map((n) => `192.0.2.${n}`) } });
  await using watched = new Watched({ names: ["big.test"], nameserver: test.dns.nameserver });
  await watched.settlesOn({ ok: true, targets: v4(...many) });
});

Deno.test("dns source on dnsmasq: without a nameserver, resolv.conf's search list applies", async () => {
  await using test = await bed({ hosts: { "kafka.svc.test": ["192.0.2.11"] } });
  const query = createDnsClient({
    timeout: 5_000,
    readResolvConf: () =>
      Promise.resolve(`nameserver ${test.dns.address}\nsearch ns.test svc.test\noptions ndots:2\n`),
  });
  // kafka.ns.test is NXDOMAIN, kafka.svc.test answers: as a Pod's resolver would.
  await using watched = new Watched({ names: ["kafka"] }, query);
  await watched.settlesOn({ ok: true, targets: v4(11) });
});

Deno.test("dns source on dnsmasq: honorTtl resolves again after the answer's TTL", async () => {
  await using test = await bed({ hosts: { "kafka.test": ["192.0.2.11"] }, ttl: 2 });
  await using watched = new Watched({
    names: ["kafka.test"],
    nameserver: test.dns.nameserver,
    interval: 600_000,
    honorTtl: true,
  });
  await watched.settlesOn({ ok: true, targets: v4(11) });
  assert.ok(watched.clock.delays.length > 0, "a next resolution is scheduled");
  assert.ok(watched.clock.delays.every((ms) => ms === 2_000), `${watched.clock.delays}`);
  // Within the generous poll, far below the 10-minute interval: the TTL drove the refresh.
  await test.dns.setHosts({ "kafka.test": ["192.0.2.12"] });
  await watched.settlesOn({ ok: true, targets: v4(12) });
});
