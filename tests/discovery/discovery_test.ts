/**
 * The discovery runtime (src/discovery/mod.ts) with scripted sources on a fake clock: waiting
 * for first answers, keeping the last good set on failure, the shrink guard's hold, batching,
 * and a reload that keeps unchanged sources running.
 */

import assert from "node:assert/strict";
import type { ServiceConfig, SourceConfig } from "../../src/config/schema.ts";
import { Discovery, type SourceStatus } from "../../src/discovery/mod.ts";
import type { SourceUpdate, TargetSource } from "../../src/discovery/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { FakeClock, serviceConfig } from "../support/fakes.ts";

/** A source the test drives by hand. */
class ScriptedSource implements TargetSource {
  emit?: (update: SourceUpdate) => void;
  stopped = false;
  constructor(readonly name: string) {}
  start(emit: (update: SourceUpdate) => void) {
    this.emit = emit;
  }
  stop() {
    this.stopped = true;
    return Promise.resolve();
  }
  set(...addresses: string[]) {
    this.emit!({ ok: true, targets: addresses.map((address) => ({ address })) });
  }
}

const DNS: SourceConfig = {
  type: "dns",
  names: ["kafka.test"],
  record: "A",
  interval: 30_000,
  honorTtl: false,
  timeout: 2000,
};
const FILE: SourceConfig = { type: "file", path: "/t.txt", interval: 300_000 };

function service(sources: SourceConfig[], targets: string[] = []): ServiceConfig {
  return serviceConfig(targets, { sources, sourceGuard: { maxDrop: 0.5, hold: 60_000 } });
}

function harness(config: ServiceConfig) {
  const clock = new FakeClock();
  const sources = new Map<string, ScriptedSource>();
  const statuses: SourceStatus[] = [];
  const applied: string[][] = [];
  const waiting: (string | undefined)[] = [];
  const discovery = new Discovery({
    clock,
    log: silentLogger(),
    create: (source) => {
      const scripted = new ScriptedSource(source.type);
      sources.set(source.type, scripted);
      return scripted;
    },
    onStatus: (status) => statuses.push(status),
  });
  const initial = discovery.configure([config]);
  discovery.start({
    reconfigure: (services) => applied.push(services[0]!.targets.map((t) => t.address)),
    setWaiting: (_, reason) => waiting.push(reason),
  });
  return { clock, sources, statuses, applied, waiting, discovery, initial };
}

Deno.test("discovery: a Service waits for every source's first answer, then gets the merged list at once", async () => {
  const h = harness(service([DNS, FILE], ["192.0.2.1"]));
  assert.deepEqual(h.initial[0]!.targets.map((t) => t.address), ["192.0.2.1"]);
  assert.deepEqual(h.waiting, [
    "waiting for the first answer of source dns, file",
  ]);
  h.sources.get("dns")!.set("192.0.2.3", "192.0.2.2");
  assert.deepEqual(h.waiting.at(-1), "waiting for the first answer of source file");
  h.sources.get("file")!.set("192.0.2.4", "127.0.0.1");
  // Known at last: the list goes to the agent before the wait ends, without a batch delay.
  assert.deepEqual(h.applied, [["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]]);
  assert.deepEqual(h.waiting.at(-1), undefined);
  await h.clock.advance(10);
  assert.equal(h.applied.length, 1);
  const file = h.discovery.statuses().find((s) => s.type === "file")!;
  assert.equal(file.skipped, 1, "the loopback address is skipped");
  await h.discovery.stop();
});

Deno.test("discovery: a failing source keeps its last good set and reports until it recovers", async () => {
  const h = harness(service([DNS]));
  const dns = h.sources.get("dns")!;
  dns.set("192.0.2.2", "192.0.2.3");
  dns.emit!({ ok: false, error: "dns kafka.test A: SERVFAIL from 192.0.2.53:53" });
  await h.clock.advance(10);
  assert.deepEqual(h.applied, [["192.0.2.2", "192.0.2.3"]]);
  const failing = h.discovery.statuses()[0]!;
  assert.equal(failing.error, "dns kafka.test A: SERVFAIL from 192.0.2.53:53");
  assert.equal(failing.targets, 2);
  dns.set("192.0.2.2");
  await h.clock.advance(10);
  assert.deepEqual(h.applied.at(-1), ["192.0.2.2"]);
  assert.equal(h.discovery.statuses()[0]!.error, undefined);
  assert.deepEqual(h.statuses.map((s) => s.error ?? "ok"), [
    "ok",
    "dns kafka.test A: SERVFAIL from 192.0.2.53:53",
    "ok",
  ]);
  await h.discovery.stop();
});

Deno.test("discovery: a source emptied suddenly is held for the hold time, then applied", async () => {
  const h = harness(service([DNS]));
  const dns = h.sources.get("dns")!;
  dns.set("192.0.2.2", "192.0.2.3", "192.0.2.4");
  dns.set();
  await h.clock.advance(10);
  assert.deepEqual(h.applied, [["192.0.2.2", "192.0.2.3", "192.0.2.4"]]);
  assert.deepEqual(h.discovery.statuses()[0]!.held?.from, 3);
  await h.clock.advance(59_000);
  assert.equal(h.applied.length, 1, "still held");
  await h.clock.advance(1000);
  assert.deepEqual(h.applied.at(-1), []);
  assert.equal(h.discovery.statuses()[0]!.held, undefined);
  await h.discovery.stop();
});

Deno.test("discovery: a source that recovers within its hold never shrinks the Service", async () => {
  const h = harness(service([DNS]));
  const dns = h.sources.get("dns")!;
  dns.set("192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5");
  dns.set("192.0.2.2");
  await h.clock.advance(30_000);
  dns.set("192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.6");
  await h.clock.advance(60_000);
  assert.deepEqual(h.applied, [
    ["192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"],
    ["192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.6"],
  ]);
  await h.discovery.stop();
});

Deno.test("discovery: a reload keeps unchanged sources and their sets, replaces changed ones", async () => {
  const h = harness(service([DNS, FILE]));
  const started = h.clock.now();
  const dns = h.sources.get("dns")!;
  const file = h.sources.get("file")!;
  dns.set("192.0.2.2");
  file.set("192.0.2.3");
  await h.clock.advance(5000);
  const same = h.discovery.configure([service([DNS, FILE])]);
  assert.deepEqual(same[0]!.targets.map((t) => t.address), ["192.0.2.2", "192.0.2.3"]);
  assert.ok(!dns.stopped && !file.stopped);
  const next = h.discovery.configure([service([DNS, { ...FILE, path: "/u.txt" }])]);
  assert.ok(file.stopped, "the changed source stopped");
  assert.ok(!dns.stopped, "the unchanged source runs on");
  // Readiness' grace for a first answer counts from each source's own start.
  assert.deepEqual(h.discovery.statuses().map((s) => [s.type, s.startedAt]), [
    ["dns", started],
    ["file", started + 5000],
  ]);
  // The new file source stands on the old one's set until it answers.
  assert.deepEqual(next[0]!.targets.map((t) => t.address), ["192.0.2.2", "192.0.2.3"]);
  assert.equal(h.waiting.at(-1), undefined);
  h.sources.get("file")!.set("192.0.2.4");
  await h.clock.advance(10);
  assert.deepEqual(h.applied.at(-1), ["192.0.2.2", "192.0.2.4"]);
  await h.discovery.stop();
  assert.ok(dns.stopped);
});

Deno.test("discovery: a source a reload changes keeps its predecessor's set until it answers, guarded against it", async () => {
  const h = harness(service([DNS]));
  const first = h.sources.get("dns")!;
  first.set("192.0.2.2", "192.0.2.3");
  await h.clock.advance(10);
  const waits = h.waiting.length;
  const next = h.discovery.configure([service([{ ...DNS, names: ["other.test"] }])]);
  assert.ok(first.stopped);
  assert.deepEqual(next[0]!.targets.map((t) => t.address), ["192.0.2.2", "192.0.2.3"]);
  assert.equal(h.waiting.length, waits, "no wait: the predecessor's set stands in");
  const second = h.sources.get("dns")!;
  assert.notEqual(second, first);
  second.set(); // NXDOMAIN: empty against the inherited two, held.
  await h.clock.advance(10);
  assert.deepEqual(h.discovery.effective()[0]!.targets.map((t) => t.address), [
    "192.0.2.2",
    "192.0.2.3",
  ]);
  assert.equal(h.discovery.statuses()[0]!.held?.from, 2);
  await h.clock.advance(60_000);
  assert.deepEqual(h.discovery.effective()[0]!.targets, []);
  await h.discovery.stop();
});
