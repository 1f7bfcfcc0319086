import assert from "node:assert/strict";
import { Agent } from "../src/agent.ts";
import { type Config, PUBLISH_DEFAULTS, type ServiceConfig } from "../src/config/schema.ts";
import { MemoryKube } from "../src/kube/memory.ts";
import type { EndpointSliceObject, ServiceObject } from "../src/kube/types.ts";
import { silentLogger } from "../src/observe/log.ts";
import { FakeClock, kubeWithService, ScriptedProber, serviceConfig } from "./support/fakes.ts";

const TARGETS = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"];

function start(kube: MemoryKube, service: ServiceConfig, clock: FakeClock, prober: ScriptedProber) {
  const config: Config = { format: "structured", services: [service], alerts: {} };
  const agent = new Agent({
    config,
    client: kube,
    log: silentLogger(),
    clock,
    prober: prober.probe,
    random: () => 0, // first checks at once; the services have no jitter
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
  return Object.fromEntries(
    (slice?.endpoints ?? []).map((e) => [e.addresses[0], e.conditions?.ready ?? false]),
  );
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

Deno.test("agent: a simultaneous outage of several targets costs few writes per object", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const agent = start(kube, service, clock, prober);
  await clock.advance(50);
  const before = kube.writes.length;
  for (const address of TARGETS.slice(0, 3)) prober.set(address, { ok: false, error: "refused" });
  await clock.advance(1000);
  const writes = kube.writes.slice(before);
  const perObject = Object.groupBy(writes, (w) => w.name);
  for (const [name, list] of Object.entries(perObject)) {
    assert.ok(list!.length <= 3, `${name}: ${list!.length} writes`);
  }
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
  while (readyOf(kube)["192.0.2.2"]) await clock.advance(1);
  const { interval, fall } = service.probe;
  assert.ok(clock.now() - died <= interval * fall + 5, `took ${clock.now() - died} ms`);
  prober.set("192.0.2.2", { ok: true });
  while (!readyOf(kube)["192.0.2.2"]) await clock.advance(1);
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
