/**
 * Metrics, Events, alerts and `/status` wired to the real Agent while its targets change
 * (issue 12): a removed target leaves every view without a "down" alert, a new one appears
 * with its source, and a Service removed by a reload leaves no series behind.
 */

import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { type Config, Secret } from "../../src/config/schema.ts";
import { EventRecorder } from "../../src/kube/events.ts";
import { createNotifier, type WebhookPayload } from "../../src/notify/mod.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { statusDocument } from "../../src/observe/server.ts";
import { FakeClock, kubeWithService, ScriptedProber, serviceConfig } from "../support/fakes.ts";
import { ScriptedFetch } from "../notify/_support.ts";
import { findAll, parsePrometheus } from "./_prometheus.ts";

const HOOK = "https://hooks.example.com/services/T000/B000/s3cr3tt0ken";

Deno.test("observe: a removed target leaves metrics, alerts and status without a down; a gone Service leaves no series", async () => {
  const clock = new FakeClock();
  const service = serviceConfig(["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
  const config: Config = {
    format: "structured",
    services: [service],
    alerts: { webhook: { url: new Secret(HOOK) }, coalesce: 0 },
  };
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const fetch = new ScriptedFetch(clock);
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
  });
  const notifier = createNotifier(config, {
    log: silentLogger(),
    cluster: "test",
    clock,
    fetch: fetch.fetch,
    random: () => 0.5,
  })!;
  const agent: Agent = new Agent({
    config,
    client: kube,
    log: silentLogger(),
    clock,
    prober: prober.probe,
    random: () => 0,
    listeners: [metrics, events, notifier],
  });
  const alerts = () => fetch.requests.map((r) => r.json as WebhookPayload);
  const scrape = () => parsePrometheus(metrics.render());
  const upOf = () =>
    findAll(scrape(), "helaseid_target_up").map((s) => `${s.labels.address}=${s.value}`);

  agent.start();
  await clock.advance(50);
  prober.set("192.0.2.1", { ok: false, error: "refused" });
  await clock.advance(1000);
  assert.deepEqual(upOf(), ["192.0.2.1=0", "192.0.2.2=1", "192.0.2.3=1"]);
  assert.deepEqual(alerts().map((a) => a.event), ["targets-down"]);

  // A source replaces the down target with a new one.
  const next = {
    ...service,
    targets: [
      { address: "192.0.2.2" },
      { address: "192.0.2.3" },
      { address: "192.0.2.4", source: "dns kafka.test", region: "eu-west" },
    ],
  };
  await agent.reconfigure([next]);
  await clock.advance(1000);
  assert.deepEqual(upOf(), ["192.0.2.2=1", "192.0.2.3=1", "192.0.2.4=1"]);
  assert.deepEqual(
    alerts().map((a) => a.event),
    ["targets-down"],
    "no recovery and no down for the removed target",
  );
  const notes = kube.writes.filter((w) => w.resource === "events")
    .map((w) => kube.get({ resource: "events", namespace: w.namespace, name: w.name }))
    .filter((e) => e?.reason === "TargetsChanged").map((e) => e?.note);
  assert.deepEqual(notes, ["added 192.0.2.4 (dns kafka.test); removed 192.0.2.1"]);
  const document = statusDocument(agent.status(), { now: clock.now() });
  assert.deepEqual(
    document.services[0]!.targets.map((t) => [t.address, t.source, t.region]),
    [
      ["192.0.2.2", undefined, undefined],
      ["192.0.2.3", undefined, undefined],
      ["192.0.2.4", "dns kafka.test", "eu-west"],
    ],
  );

  // The next down is counted against the new set.
  prober.set("192.0.2.4", { ok: false, error: "timeout" });
  await clock.advance(1000);
  const down = alerts().at(-1)!;
  assert.deepEqual([down.event, down.healthy, down.unhealthy, down.total], [
    "targets-down",
    2,
    1,
    3,
  ]);

  // A reload removes the Service: every series of it goes.
  await agent.reconfigure([]);
  await clock.advance(1000);
  const left = scrape().samples.filter((s) => s.labels.service === "brokers");
  assert.deepEqual(left.map((s) => s.name), []);

  const stopping = agent.stop();
  await clock.advance(1000);
  await stopping;
  await events.stop();
  const closing = notifier.close(1000);
  await clock.advance(1000);
  await closing;
});
