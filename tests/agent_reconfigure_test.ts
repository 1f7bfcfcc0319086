/**
 * The agent takes a changing set of targets and Services (issue 12) on a fake clock and the
 * in-memory API: what stays keeps its verdict and timers and writes nothing; what joins is
 * checked at once; what leaves is out of the next write with no "down" transition.
 */

import assert from "node:assert/strict";
import { Agent, type TargetsChange, type TargetTransition } from "../src/agent.ts";
import type { Config, ServiceConfig } from "../src/config/schema.ts";
import type { MemoryKube } from "../src/kube/memory.ts";
import type { EndpointSliceObject } from "../src/kube/types.ts";
import { silentLogger } from "../src/observe/log.ts";
import { FakeClock, kubeWithService, ScriptedProber, serviceConfig } from "./support/fakes.ts";

const TARGETS = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];

function start(kube: MemoryKube, service: ServiceConfig, clock: FakeClock, prober: ScriptedProber) {
  const config: Config = { format: "structured", services: [service], alerts: {} };
  const transitions: TargetTransition[] = [];
  const changes: TargetsChange[] = [];
  const checks: string[] = [];
  const agent = new Agent({
    config,
    client: kube,
    log: silentLogger(),
    clock,
    prober: prober.probe,
    random: () => 0,
    listeners: [{
      transition: (event) => transitions.push(event),
      targetsChanged: (event) => changes.push(event),
      check: (event) => checks.push(event.target.address),
    }],
  });
  agent.start();
  return { agent, transitions, changes, checks };
}

function readiness(kube: MemoryKube, namespace = "datastream", name = "brokers") {
  const slice = kube.get({
    resource: "endpointslices",
    namespace,
    name: `${name}-helaseid-ipv4`,
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

Deno.test("reconfigure: the same targets in a new configuration object write nothing and keep verdicts", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const { agent, transitions, changes } = start(kube, service, clock, prober);
  await clock.advance(50);
  const writes = kube.writes.length;
  const since = agent.status()[0]!.targets.map((t) => t.since);
  await agent.reconfigure([{ ...service, targets: TARGETS.map((address) => ({ address })) }]);
  await clock.advance(5000);
  assert.equal(kube.writes.length, writes, "no write for an unchanged reload");
  assert.deepEqual(agent.status()[0]!.targets.map((t) => t.since), since, "verdicts kept");
  assert.equal(transitions.length, 3, "only the three first verdicts");
  assert.deepEqual(changes, []);
  await stop(agent, clock);
});

Deno.test("reconfigure: an added target is checked at once and published; a removed one leaves without going down", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const { agent, transitions, changes, checks } = start(kube, service, clock, prober);
  await clock.advance(50);
  assert.deepEqual(Object.keys(readiness(kube)), TARGETS);
  // A dead target is removed while it is down: no recovery, no alert-worthy transition.
  prober.set("192.0.2.3", { ok: false, error: "refused" });
  await clock.advance(400);
  assert.equal(readiness(kube)["192.0.2.3"], false);
  const before = transitions.length;
  checks.length = 0;
  await agent.reconfigure([
    serviceConfig(["192.0.2.1", "192.0.2.2", { address: "192.0.2.4", zone: "b" }]),
  ]);
  assert.deepEqual(
    changes.map((c) => [c.added.map((t) => t.address), c.removed.map((t) => t.address)]),
    [
      [["192.0.2.4"], ["192.0.2.3"]],
    ],
  );
  await clock.advance(5);
  assert.ok(checks.includes("192.0.2.4"), "the new target is checked at once");
  assert.deepEqual(readiness(kube), { "192.0.2.1": true, "192.0.2.2": true, "192.0.2.4": true });
  assert.deepEqual(
    transitions.slice(before).map((t) => `${t.target.address} ${t.from}->${t.to}`),
    ["192.0.2.4 unknown->healthy"],
  );
  const status = agent.status()[0]!;
  assert.deepEqual(status.targets.map((t) => [t.address, t.zone]), [
    ["192.0.2.1", undefined],
    ["192.0.2.2", undefined],
    ["192.0.2.4", "b"],
  ]);
  // The removed target is no longer checked.
  checks.length = 0;
  await clock.advance(1000);
  assert.ok(!checks.includes("192.0.2.3"));
  await stop(agent, clock);
});

Deno.test("reconfigure: new probe settings restart the timers and keep the verdicts", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const { agent, checks } = start(kube, service, clock, prober);
  await clock.advance(50);
  const writes = kube.writes.length;
  await agent.reconfigure([{ ...service, probe: { ...service.probe, interval: 1000 } }]);
  checks.length = 0;
  await clock.advance(3000);
  // Three targets on a 1 s interval for 3 s: about three checks each, not thirty.
  assert.ok(checks.length <= 12, `checked ${checks.length} times`);
  assert.ok(checks.length >= 6, `checked ${checks.length} times`);
  assert.ok(agent.status()[0]!.targets.every((t) => t.status === "healthy"));
  assert.equal(kube.writes.length, writes);
  await stop(agent, clock);
});

Deno.test("reconfigure: a Service added is published; a removed one is kept or deleted as asked", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const kube = kubeWithService(service);
  const other = serviceConfig(["192.0.2.9"], { name: "other" });
  const third = serviceConfig(["192.0.2.8"], { name: "third" });
  for (const s of [other, third]) {
    kube.seed(
      kubeWithService(s).get({ resource: "services", namespace: "datastream", name: s.name })!,
    );
  }
  const prober = new ScriptedProber(clock);
  const { agent, changes } = start(kube, service, clock, prober);
  await clock.advance(50);
  await agent.reconfigure([service, other, third]);
  await clock.advance(50);
  assert.deepEqual(readiness(kube, "datastream", "other"), { "192.0.2.9": true });
  assert.deepEqual(readiness(kube, "datastream", "third"), { "192.0.2.8": true });
  await agent.reconfigure([service, third], { removed: "keep" });
  assert.deepEqual(readiness(kube, "datastream", "other"), { "192.0.2.9": true }, "kept");
  assert.ok(changes.some((c) => c.gone && c.service.name === "other"));
  await agent.reconfigure([service], { removed: "delete" });
  assert.deepEqual(readiness(kube, "datastream", "third"), {}, "deleted");
  assert.equal(
    kube.get({ resource: "endpoints", namespace: "datastream", name: "third" }),
    undefined,
  );
  assert.deepEqual(agent.status().map((s) => s.name), ["brokers"]);
  await stop(agent, clock);
});

Deno.test("setWaiting: nothing is published while a Service's sources have not answered", async () => {
  const clock = new FakeClock();
  const service = serviceConfig([]);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const { agent } = start(kube, service, clock, prober);
  agent.setWaiting("datastream/brokers", "waiting for source dns kafka.test");
  await clock.advance(200);
  assert.equal(kube.writes.length, 0);
  assert.equal(agent.status()[0]!.publish?.detail, "waiting for source dns kafka.test");
  await agent.reconfigure([serviceConfig(["192.0.2.5"])]);
  agent.setWaiting("datastream/brokers", undefined);
  await clock.advance(50);
  assert.deepEqual(readiness(kube), { "192.0.2.5": true });
  await stop(agent, clock);
});
