import assert from "node:assert/strict";
import { Agent } from "../src/agent.ts";
import { type Config, PUBLISH_DEFAULTS, type ServiceConfig } from "../src/config/schema.ts";
import { MemoryKube } from "../src/kube/memory.ts";
import type { EndpointSliceObject, ServiceObject } from "../src/kube/types.ts";
import { Logger, silentLogger } from "../src/observe/log.ts";
import type { Prober, ProbeResult } from "../src/probe/mod.ts";
import {
  FakeClock,
  kubeWithService,
  ScriptedProber,
  serviceConfig,
  settle,
} from "./support/fakes.ts";

const TARGETS = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"];

function start(
  kube: MemoryKube,
  service: ServiceConfig,
  clock: FakeClock,
  prober: ScriptedProber | Prober,
  options: { random?: () => number; log?: Logger } = {},
) {
  const config: Config = { format: "structured", services: [service], alerts: {} };
  const agent = new Agent({
    config,
    client: kube,
    log: options.log ?? silentLogger(),
    clock,
    prober: typeof prober === "function" ? prober : prober.probe,
    random: options.random ?? (() => 0), // first checks at once; the services have no jitter
  });
  agent.start();
  return agent;
}

function readyOf(kube: MemoryKube): Record<string, boolean> {
  const slice = kube.get({
    resource: "endpointslices",
    namespace: "datastream",
    name: "brokers-helaseid-ipv4",
  }) as EndpointSliceObject | undefined;
  return readiness(slice);
}

/** Readiness by address of a slice. */
function readiness(slice: EndpointSliceObject | undefined): Record<string, boolean> {
  return Object.fromEntries(
    (slice?.endpoints ?? []).map((e) => [e.addresses[0], e.conditions?.ready ?? false]),
  );
}

/** Advances the fake clock 1 ms at a time until `done`; fails once `limit` ms have passed. */
async function advanceUntil(clock: FakeClock, done: () => boolean, limit: number) {
  const start = clock.now();
  while (!done()) {
    assert.ok(clock.now() - start <= limit, `not done within ${limit} ms of fake time`);
    await clock.advance(1);
  }
}

async function stop(agent: Agent, clock: FakeClock) {
  const stopping = agent.stop();
  await clock.advance(1000);
  await stopping;
}

Deno.test("agent: publishes once, then writes nothing while nothing changes", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober);
  await clock.advance(50);
  assert.deepEqual(kube.writes.map((w) => `${w.verb} ${w.resource}/${w.name}`), [
    "apply endpointslices/brokers-helaseid-ipv4",
    "apply endpoints/brokers",
  ]);
  assert.ok(Object.values(readyOf(kube)).every(Boolean));
  await clock.advance(60_000);
  assert.equal(kube.writes.length, 2, "steady state: zero writes");
  await stop(agent, clock);
});

Deno.test("agent: a simultaneous outage of several targets costs one write per object", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober);
  await clock.advance(50);
  const before = kube.writes.length;
  for (const address of TARGETS.slice(0, 3)) prober.set(address, { ok: false, error: "refused" });
  await clock.advance(1000);
  // The three verdicts arrive in one tick (no jitter): coalesced into one write per object.
  const writes = kube.writes.slice(before).map((w) => `${w.verb} ${w.resource}/${w.name}`);
  assert.deepEqual(writes, [
    "apply endpointslices/brokers-helaseid-ipv4",
    "apply endpoints/brokers",
  ]);
  assert.deepEqual(readyOf(kube), {
    "192.0.2.1": false,
    "192.0.2.2": false,
    "192.0.2.3": false,
    "192.0.2.4": true,
    "192.0.2.5": true,
  });
  await stop(agent, clock);
});

Deno.test("agent: a dead target is unready within interval × fall of its death", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober);
  await clock.advance(50);
  const died = clock.now();
  prober.set("192.0.2.2", { ok: false, error: "refused" });
  const { interval, fall, rise } = service.probe;
  await advanceUntil(clock, () => readyOf(kube)["192.0.2.2"] === false, interval * fall + 5);
  assert.ok(clock.now() - died <= interval * fall + 5, `took ${clock.now() - died} ms`);
  prober.set("192.0.2.2", { ok: true });
  await advanceUntil(clock, () => readyOf(kube)["192.0.2.2"] === true, interval * rise + 5);
  await stop(agent, clock);
});

Deno.test("agent: a restarted agent writes nothing (keeps what the API shows)", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  prober.set("192.0.2.4", { ok: false, error: "refused" });
  const first = start(kube, service, clock, prober);
  await clock.advance(1000);
  await stop(first, clock);
  const written = kube.writes.length;
  const second = start(kube, service, clock, prober);
  await clock.advance(5000);
  assert.equal(kube.writes.length, written, "no write after the restart");
  assert.equal(readyOf(kube)["192.0.2.4"], false);
  await stop(second, clock);
});

Deno.test("agent: the panic guard keeps every target published when all are down", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 2));
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober);
  await clock.advance(50);
  prober.set("192.0.2.1", { ok: false, error: "refused" });
  await clock.advance(1000);
  assert.deepEqual(readyOf(kube), { "192.0.2.1": false, "192.0.2.2": true });
  prober.set("192.0.2.2", { ok: false, error: "refused" });
  await clock.advance(1000);
  assert.deepEqual(readyOf(kube), { "192.0.2.1": true, "192.0.2.2": true });
  const status = agent.status()[0]!;
  assert.equal(status.publish?.view?.panic, true);
  await stop(agent, clock);
});

Deno.test("agent: a missing Service blocks publishing until it appears", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 1));
  const kube = new MemoryKube();
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober);
  await clock.advance(500);
  assert.equal(kube.writes.length, 0);
  assert.equal(agent.status()[0]!.publish?.blocked, "service-missing");
  await kube.create({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "brokers", namespace: "datastream" },
    spec: { ports: [{ port: 9092 }] },
  });
  await clock.advance(50);
  assert.deepEqual(readyOf(kube), { "192.0.2.1": true });
  await stop(agent, clock);
});

Deno.test("agent: failed writes are retried with backoff, then succeed", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 2));
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober);
  await clock.advance(50);
  const { KubeError } = await import("../src/kube/client.ts");
  kube.failure = new KubeError("connection refused", { status: 0 });
  prober.set("192.0.2.1", { ok: false, error: "refused" });
  await clock.advance(2000);
  assert.equal(readyOf(kube)["192.0.2.1"], true, "not written while the API fails");
  assert.ok((agent.status()[0]!.publish?.failures ?? 0) > 0);
  kube.failure = undefined;
  await clock.advance(20_000);
  assert.equal(readyOf(kube)["192.0.2.1"], false);
  assert.equal(agent.status()[0]!.publish?.failures, 0);
  await stop(agent, clock);
});

Deno.test("agent: with createService a missing Service is created headless, then published", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 1), {
    publish: { ...PUBLISH_DEFAULTS, createService: true },
  });
  const kube = new MemoryKube();
  const agent = start(kube, service, clock, new ScriptedProber(clock));
  await clock.advance(50);
  const created = kube.get({ resource: "services", namespace: "datastream", name: "brokers" });
  assert.equal((created as ServiceObject | undefined)?.spec?.clusterIP, "None");
  assert.equal((created as ServiceObject).spec?.selector, undefined);
  assert.deepEqual(readyOf(kube), { "192.0.2.1": true });
  await stop(agent, clock);
});

/** The slices the agent wrote from write number `from` on. */
function sliceWrites(kube: MemoryKube, from = 0): EndpointSliceObject[] {
  return kube.writes.slice(from).filter((w) => w.resource === "endpointslices")
    .map((w) => w.object as EndpointSliceObject);
}

/** Deterministic uniform numbers in [0, 1) (a linear congruential generator). */
function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

Deno.test("agent: a fresh slice shows live targets ready even when their first checks failed", async () => {
  // A loaded event loop at startup can time the first connects out (issue 10.4).
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 3));
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  for (const address of TARGETS.slice(0, 3)) prober.set(address, { ok: false, error: "timeout" });
  const agent = start(kube, service, clock, prober);
  await clock.advance(1);
  for (const address of TARGETS.slice(0, 3)) prober.set(address, { ok: true });
  await clock.advance(500);
  const slices = sliceWrites(kube);
  assert.ok(slices.length > 0);
  for (const slice of slices) {
    assert.deepEqual(readiness(slice), {
      "192.0.2.1": true,
      "192.0.2.2": true,
      "192.0.2.3": true,
    });
  }
  await stop(agent, clock);
});

Deno.test("agent: a fresh Service is published once a target that fails its first check is judged", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 3));
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock, { "192.0.2.2": { ok: false, error: "refused" } });
  const agent = start(kube, service, clock, prober);
  const { interval, fall } = service.probe;
  await clock.advance(interval * (fall - 1) - 1);
  assert.equal(kube.writes.length, 0, "no guess about 192.0.2.2 is published");
  await clock.advance(5);
  assert.deepEqual(readiness(sliceWrites(kube)[0]), {
    "192.0.2.1": true,
    "192.0.2.2": false,
    "192.0.2.3": true,
  });
  assert.equal(agent.status()[0]!.targets[1]!.status, "unhealthy");
  assert.equal(agent.status()[0]!.publish?.view?.panic, false);
  await stop(agent, clock);
});

Deno.test("agent: nothing is published before every target has a verdict or a check past its timeout", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 3));
  const kube = kubeWithService(service);
  const scripted = new ScriptedProber(clock);
  // The third target's first check never answers (a prober that ignores its timeout).
  const stuck = Promise.withResolvers<ProbeResult>();
  const prober: Prober = (request) =>
    request.address === "192.0.2.3" && scripted.count("192.0.2.3") === 0
      ? (scripted.requests.push(request), stuck.promise)
      : scripted.probe(request);
  const agent = start(kube, service, clock, prober);
  const { timeout } = service.probe;
  await clock.advance(timeout - 1);
  assert.equal(kube.writes.length, 0, "a first check is still within its timeout");
  await clock.advance(5);
  assert.deepEqual(readiness(sliceWrites(kube)[0]), {
    "192.0.2.1": true,
    "192.0.2.2": true,
    "192.0.2.3": false,
  });
  stuck.resolve({ ok: true, latency: 1 });
  await clock.advance(5);
  assert.equal(readyOf(kube)["192.0.2.3"], true);
  await stop(agent, clock);
});

/** Kills every target of a 5-target Service whose checks are spread by phases and jitter. */
async function correlatedOutage(allDown: "publishAll" | "empty") {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS, {
    probe: { ...serviceConfig([]).probe, jitter: 0.1 },
    publish: { ...PUBLISH_DEFAULTS, allDown },
  });
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober, { random: seeded(7) });
  await clock.advance(500);
  assert.ok(Object.values(readyOf(kube)).every(Boolean));
  const before = kube.writes.length;
  const died = clock.now();
  // Record when each verdict came, to prove they were spread (the case the hold is for).
  const verdicts: number[] = [];
  const writtenAt: number[] = [];
  for (const address of TARGETS) prober.set(address, { ok: false, error: "refused" });
  const { interval, fall } = service.probe;
  while (clock.now() - died < interval * (fall + 2)) {
    const unhealthy = agent.status()[0]!.targets.filter((t) => t.status === "unhealthy").length;
    while (verdicts.length < unhealthy) verdicts.push(clock.now());
    while (writtenAt.length < kube.writes.length - before) writtenAt.push(clock.now());
    await clock.advance(1);
  }
  await stop(agent, clock);
  return { kube, before, died, verdicts, writtenAt, service };
}

Deno.test("agent: a correlated outage goes straight to the empty set in one write per object", async () => {
  const { kube, before, died, verdicts, writtenAt, service } = await correlatedOutage("empty");
  assert.ok(
    verdicts.at(-1)! - verdicts[0]! >= 5,
    `verdicts spread: ${verdicts.map((v) => v - died)}`,
  );
  const writes = kube.writes.slice(before);
  assert.deepEqual(writes.map((w) => `${w.verb} ${w.resource}/${w.name}`), [
    "apply endpointslices/brokers-helaseid-ipv4",
    "apply endpoints/brokers",
  ]);
  assert.ok(Object.values(readiness(sliceWrites(kube, before)[0])).every((ready) => !ready));
  const { interval, fall } = service.probe;
  const after = writtenAt[0]! - died;
  assert.ok(after <= interval * fall + 50, `wrote ${after} ms after the outage`);
});

Deno.test("agent: a correlated outage under the panic guard never shows a partial set", async () => {
  const { kube, before, verdicts } = await correlatedOutage("publishAll");
  assert.equal(verdicts.length, TARGETS.length);
  const slices = sliceWrites(kube, before);
  assert.ok(slices.length <= 1, `${slices.length} slice writes`);
  for (const slice of slices) assert.ok(Object.values(readiness(slice)).every(Boolean));
});

Deno.test("agent: a success during an unfolding outage publishes the real set at once", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 2));
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober);
  await clock.advance(50);
  // 192.0.2.1 reaches its verdict one interval before 192.0.2.2 would.
  prober.set("192.0.2.1", { ok: false, error: "refused" });
  await clock.advance(service.probe.interval);
  prober.set("192.0.2.2", { ok: false, error: "refused" });
  await clock.advance(service.probe.interval * 2);
  assert.equal(agent.status()[0]!.targets[0]!.status, "unhealthy");
  assert.equal(readyOf(kube)["192.0.2.1"], true, "held: every target is failing");
  prober.set("192.0.2.2", { ok: true });
  await clock.advance(service.probe.interval + 5);
  assert.deepEqual(readyOf(kube), { "192.0.2.1": false, "192.0.2.2": true });
  await stop(agent, clock);
});

Deno.test("agent: at LOG_LEVEL=WARN targets going down and the panic guard are logged", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 2));
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const lines: { level: string; msg: string; target?: string }[] = [];
  const log = new Logger({ level: "warn", write: (line) => lines.push(JSON.parse(line)) });
  const agent = start(kube, service, clock, prober, { log });
  await clock.advance(50);
  prober.set("192.0.2.1", { ok: false, error: "refused" });
  await clock.advance(1000);
  prober.set("192.0.2.2", { ok: false, error: "refused" });
  await clock.advance(1000);
  prober.set("192.0.2.1", { ok: true });
  await clock.advance(1000);
  await settle();
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.target]), [
    ["warn", "target unhealthy", "192.0.2.1:9092"],
    ["warn", "target unhealthy", "192.0.2.2:9092"],
    ["warn", "panic guard on: no target is healthy, publishing all of them", undefined],
  ]);
  await stop(agent, clock);
});

Deno.test("agent: a restart writes nothing when a dead target's first check answers first", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS.slice(0, 3));
  const kube = kubeWithService(service);
  const scripted = new ScriptedProber(clock, { "192.0.2.3": { ok: false, error: "refused" } });
  const first = start(kube, service, clock, scripted);
  await clock.advance(1000);
  await stop(first, clock);
  assert.deepEqual(readyOf(kube), { "192.0.2.1": true, "192.0.2.2": true, "192.0.2.3": false });
  const written = kube.writes.length;
  // After the restart the live targets answer 20 ms later than the refused one.
  const slow: Prober = (request) =>
    request.address === "192.0.2.3" ? scripted.probe(request) : new Promise((resolve) => {
      clock.setTimeout(() => resolve({ ok: true, latency: 20 }), 20);
    });
  const second = start(kube, service, clock, slow);
  await clock.advance(1000);
  assert.equal(kube.writes.length, written, "no write after the restart");
  await stop(second, clock);
});
