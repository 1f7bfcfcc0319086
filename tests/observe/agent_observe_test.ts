/**
 * Metrics, Events, readiness and `/status` wired to the real Agent as main.ts wires them, on a
 * fake clock and the in-memory API (what `--dry-run` runs against).
 */

import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import type { Config } from "../../src/config/schema.ts";
import { EventRecorder } from "../../src/kube/events.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { agentReadiness, observeHandler, statusDocument } from "../../src/observe/server.ts";
import { FakeClock, kubeWithService, ScriptedProber, serviceConfig } from "../support/fakes.ts";
import { find, parsePrometheus, valueOf } from "./_prometheus.ts";

const TARGETS = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
const LABELS = { namespace: "datastream", service: "brokers" };

function wired() {
  const clock = new FakeClock();
  const service = serviceConfig(TARGETS);
  const config: Config = { format: "structured", services: [service], alerts: {} };
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const metrics = new Metrics({
    version: "0.0.0-test",
    services: config.services,
    status: () => agent.status(),
  });
  const events = new EventRecorder({
    client: kube,
    log: silentLogger(),
    clock,
    instance: "test",
    uid: () => "svc-uid",
    onWrite: (outcome) => metrics.kubeWrite(outcome),
  });
  const agent: Agent = new Agent({
    config,
    client: kube,
    log: silentLogger(),
    clock,
    prober: prober.probe,
    random: () => 0, // first checks at once
    listeners: [metrics, events],
  });
  const handler = observeHandler({
    metrics,
    status: () => statusDocument(agent.status(), { now: clock.now() }),
    ready: () => agentReadiness(agent, { dryRun: true }),
    log: silentLogger(),
  });
  const scrape = async () => parsePrometheus(await handler(new Request("http://x/metrics")).text());
  const stop = async () => {
    const stopping = agent.stop();
    await clock.advance(1000);
    await stopping;
    await events.stop();
  };
  return { clock, kube, prober, agent, metrics, events, handler, scrape, stop };
}

Deno.test("observe: metrics, status and Events follow the agent through an outage", async () => {
  const bed = wired();
  const { clock, kube, prober, agent, handler, scrape } = bed;
  assert.equal(handler(new Request("http://x/readyz")).status, 503);
  agent.start();
  await clock.advance(50);
  const ready = handler(new Request("http://x/readyz"));
  assert.equal(ready.status, 200);
  await ready.body?.cancel();

  let exposition = await scrape();
  for (const address of TARGETS) {
    assert.equal(
      find(exposition, "helaseid_target_up", { ...LABELS, address, port: "9092" })?.value,
      1,
    );
  }
  assert.equal(valueOf(exposition, "helaseid_service_endpoints", { ...LABELS, state: "ready" }), 3);
  assert.equal(valueOf(exposition, "helaseid_kube_writes_total", { result: "ok" }), 1);

  prober.set("192.0.2.1", { ok: false, error: "refused" });
  await clock.advance(1000);
  exposition = await scrape();
  assert.equal(
    find(exposition, "helaseid_target_up", { address: "192.0.2.1" })?.value,
    0,
  );
  assert.equal(
    valueOf(exposition, "helaseid_target_transitions_total", { ...LABELS, to: "unhealthy" }),
    1,
  );
  assert.ok(valueOf(exposition, "helaseid_probes_total", { ...LABELS, result: "refused" })! >= 3);
  assert.ok(valueOf(exposition, "helaseid_publish_latency_seconds_count")! >= 2);
  assert.equal(
    valueOf(exposition, "helaseid_service_endpoints", { ...LABELS, state: "not_ready" }),
    1,
  );

  const status = await handler(new Request("http://x/status")).json();
  const down = status.services[0].targets.find((t: { address: string }) =>
    t.address === "192.0.2.1"
  );
  assert.equal(down.status, "unhealthy");
  assert.equal(down.error, "refused");
  assert.match(down.since, /^2026-11-26T00:00:0\d\.\d{3}Z$/);
  assert.ok(
    status.services[0].publish.writes.some((w: { object: string; ok: boolean }) =>
      w.object === "EndpointSlice/brokers-helaseid-ipv4" && w.ok
    ),
  );

  const events = kube.writes.filter((write) => write.resource === "events");
  assert.equal(events.length, 1);
  const event = kube.get({ resource: "events", namespace: "datastream", name: events[0]!.name })!;
  assert.equal(event.reason, "TargetUnhealthy");
  assert.equal((event.regarding as { uid: string }).uid, "svc-uid");
  assert.equal(valueOf(exposition, "helaseid_kube_writes_total", { resource: "events" }), 1);
  await bed.stop();
});

Deno.test("observe: every target down engages the panic guard, seen in metrics and Events", async () => {
  const bed = wired();
  const { clock, kube, prober, agent, scrape } = bed;
  agent.start();
  await clock.advance(50);
  for (const address of TARGETS) prober.set(address, { ok: false, error: "timeout" });
  await clock.advance(1000);
  const exposition = await scrape();
  assert.equal(valueOf(exposition, "helaseid_service_panic", LABELS), 1);
  assert.equal(valueOf(exposition, "helaseid_service_panic_engaged_total", LABELS), 1);
  assert.equal(valueOf(exposition, "helaseid_service_endpoints", { ...LABELS, state: "ready" }), 3);
  const reasons = kube.writes.filter((write) => write.resource === "events")
    .map((write) => kube.get({ resource: "events", namespace: write.namespace, name: write.name }))
    .map((event) => event?.reason);
  assert.deepEqual(reasons.filter((reason) => reason === "AllTargetsDown"), ["AllTargetsDown"]);
  await bed.stop();
});
