/**
 * Alerts on primary changes (issue 15) on a fake clock: each move with from, to and the
 * reason, a contested claim, nothing for the first choice, the Teams card and the JSON, one
 * lane per Service's primary (a newer alert supersedes a queued one), and through the real
 * agent a failover.
 */

import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import {
  type AlertSettings,
  type Config,
  type PrimarySettings,
  Secret,
} from "../../src/config/schema.ts";
import { createNotifier } from "../../src/notify/mod.ts";
import type { WebhookPayload } from "../../src/notify/webhook.ts";
import type { PrimaryChange } from "../../src/publish/primary_tracker.ts";
import { FakeClock, kubeWithService, ScriptedProber, serviceConfig } from "../support/fakes.ts";
import {
  assertNoSecretLogged,
  BED_HOOK_URL,
  BED_TEAMS_URL,
  captureLog,
  factsOf,
  headerOf,
  notifierBed,
  ScriptedFetch,
} from "./_support.ts";

const A = "192.0.2.1";
const B = "192.0.2.2";
const C = "192.0.2.3";
const TEAMS_URL = BED_TEAMS_URL;
const HOOK_URL = BED_HOOK_URL;

const DESIGNATE: PrimarySettings = {
  mode: "designate",
  service: "brokers-primary",
  prefer: [],
  failbackAfter: 0,
  noPrimary: "empty",
};

function setup(alerts: Partial<AlertSettings> = {}) {
  const service = serviceConfig([A, B, C], { primary: DESIGNATE });
  const bed = notifierBed(service, {
    webhook: { url: new Secret(HOOK_URL) },
    teams: { url: new Secret(TEAMS_URL) },
    coalesce: 0,
    ...alerts,
  });
  const change = (overrides: Omit<PrimaryChange, "service" | "at">): PrimaryChange => ({
    service,
    at: bed.clock.now(),
    ...overrides,
  });
  return { ...bed, service, change };
}

Deno.test("alerts: the first primary raises nothing; a failover is one warning with from, to and the reason", async () => {
  const { clock, notifier, change, json, cards, lines, close } = setup();
  notifier.primaryChanged(change({ to: A, reason: "initial" }));
  await clock.advance(1000);
  assert.deepEqual(json(), [], "the first choice is no change a receiver knew of");
  assert.deepEqual(cards(), []);

  const at = clock.now();
  notifier.primaryChanged(change({ from: A, to: B, reason: "failover" }));
  await clock.advance(0);
  assert.equal(json().length, 1);
  const moved = json()[0]!;
  assert.equal(moved.event, "primary-changed");
  assert.equal(moved.severity, "warning");
  assert.equal(moved.status, "firing");
  assert.equal(
    moved.title,
    `Primary of datastream/brokers moved from ${A} to ${B}: the primary fell (failover)`,
  );
  assert.deepEqual(moved.service, { namespace: "datastream", name: "brokers" });
  assert.deepEqual(moved.primary, {
    service: "brokers-primary",
    from: A,
    to: B,
    reason: "failover",
  });
  assert.equal(moved.at, new Date(at).toISOString());
  assert.deepEqual(moved.targets, []);

  const card = cards()[0]!;
  assert.deepEqual(headerOf(card), {
    title: moved.title,
    style: "warning",
    color: "Warning",
  });
  const facts = factsOf(card);
  assert.equal(facts["Service"], "datastream/brokers");
  assert.equal(facts["Primary Service"], "datastream/brokers-primary");
  assert.equal(facts["Primary"], `${A} → ${B}`);
  assert.equal(facts["Reason"], "the primary fell (failover)");
  assert.equal(facts["Since"], new Date(at).toISOString(), "a moment, not a condition");
  assert.ok(lines.some((line) => line.includes('"event":"primary-changed"')));
  await close();
});

Deno.test("alerts: a failback, a primary gone and a primary again after none each alert", async () => {
  const { clock, notifier, change, json, close } = setup();
  notifier.primaryChanged(change({ to: B, reason: "initial" }));
  await clock.advance(0);
  notifier.primaryChanged(change({ from: B, to: A, reason: "failback" }));
  await clock.advance(0);
  notifier.primaryChanged(change({ from: A, reason: "none" }));
  await clock.advance(0);
  notifier.primaryChanged(change({ to: C, reason: "initial" }));
  await clock.advance(0);
  assert.deepEqual(json().map((alert) => [alert.title, alert.primary]), [
    [
      `Primary of datastream/brokers moved from ${B} to ${A}: ` +
      "a more preferred target has been healthy for failbackAfter (failback)",
      { service: "brokers-primary", from: B, to: A, reason: "failback" },
    ],
    [
      `Primary of datastream/brokers moved from ${A} to none: no healthy target to take over`,
      { service: "brokers-primary", from: A, reason: "none" },
    ],
    [
      `Primary of datastream/brokers moved from none to ${C}: a primary again after none`,
      { service: "brokers-primary", to: C, reason: "initial" },
    ],
  ]);
  assert.ok(json().every((alert) => alert.event === "primary-changed"));
  await close();
});

Deno.test("alerts: in observe mode the first claim raises nothing, an unclaimed primary does", async () => {
  const { clock, notifier, service, json, close } = setup();
  const observe = {
    ...service,
    primary: { ...DESIGNATE, mode: "observe" as const },
  };
  notifier.primaryChanged({ service: observe, to: A, reason: "claimed", at: clock.now() });
  await clock.advance(0);
  assert.deepEqual(json(), []);
  notifier.primaryChanged({ service: observe, from: A, reason: "unclaimed", at: clock.now() });
  await clock.advance(0);
  assert.equal(json().length, 1);
  assert.equal(
    json()[0]!.title,
    `Primary of datastream/brokers moved from ${A} to none: ` +
      "no target claims to be primary (noPrimary: empty)",
  );
  await close();
});

Deno.test("alerts: two claimants are one critical alert naming them and the primary kept", async () => {
  const { clock, notifier, change, json, cards, close } = setup();
  notifier.primaryChanged(change({ to: A, reason: "claimed" }));
  notifier.primaryChanged(change({ from: A, to: A, reason: "contested", claimants: [A, B] }));
  await clock.advance(0);
  assert.equal(json().length, 1);
  const contested = json()[0]!;
  assert.equal(contested.event, "primary-contested");
  assert.equal(contested.severity, "critical");
  assert.equal(contested.status, "firing");
  assert.equal(
    contested.title,
    `More than one target of datastream/brokers claims to be primary (${A}, ${B}): ` +
      `keeping ${A} in brokers-primary`,
  );
  assert.deepEqual(contested.primary, {
    service: "brokers-primary",
    from: A,
    to: A,
    reason: "contested",
    claimants: [A, B],
  });
  assert.ok(contested.text.includes(`claimants: ${A}, ${B}`), contested.text);
  const card = cards()[0]!;
  assert.equal(headerOf(card).style, "attention");
  const facts = factsOf(card);
  assert.equal(facts["Kept"], A);
  assert.equal(facts["Claimants"], `${A}, ${B}`);
  assert.equal(facts["Primary"], undefined);
  await close();
});

Deno.test("alerts: a newer primary alert supersedes one stuck in retries; other subjects keep their lanes", async () => {
  const { clock, fake, notifier, change, json, results, close } = setup({ teams: undefined });
  notifier.primaryChanged(change({ to: A, reason: "initial" }));
  fake.answer({ status: 503 });
  notifier.primaryChanged(change({ from: A, to: B, reason: "failover" }));
  await clock.advance(100);
  assert.equal(json().length, 1, "the first alert failed and waits for its retry");
  // Another subject of the Service (a conflict is alerted at once) is not held up or folded.
  notifier.publishState({
    service: "datastream/brokers",
    writes: new Map(),
    failures: 0,
    blocked: "conflict",
    blockedSince: clock.now(),
    conflict: { writer: "helaseid-other", retryAt: clock.now() + 30_000 },
  });
  await clock.advance(0);
  assert.deepEqual(json().map((alert) => alert.event), ["primary-changed", "blocked"]);
  notifier.primaryChanged(change({ from: B, to: C, reason: "failover" }));
  await clock.advance(0);
  assert.equal(json().length, 3, "the newer one goes at once, not after the backoff");
  assert.deepEqual(json()[2]!.primary, {
    service: "brokers-primary",
    from: B,
    to: C,
    reason: "failover",
  });
  await clock.advance(120_000);
  assert.equal(json().length, 3, "the older alert is never sent again");
  assert.deepEqual(results, [
    ["webhook", "retried"],
    ["webhook", "sent"],
    ["webhook", "dropped", "superseded"],
    ["webhook", "sent"],
  ]);
  await close();
});

Deno.test("alerts: a Service removed by a reload is forgotten: its next first primary is silent", async () => {
  const { clock, notifier, service, change, json, close } = setup();
  notifier.primaryChanged(change({ to: A, reason: "initial" }));
  notifier.targetsChanged({ service, added: [], removed: service.targets, gone: true });
  notifier.primaryChanged(change({ to: B, reason: "initial" }));
  await clock.advance(0);
  assert.deepEqual(json(), []);
  await close();
});

Deno.test("alerts: with the real agent, the primary falling is one primary-changed alert", async () => {
  const clock = new FakeClock();
  const fake = new ScriptedFetch(clock);
  const { log, lines } = captureLog();
  const service = serviceConfig([A, B, C], { primary: DESIGNATE });
  const config: Config = {
    format: "structured",
    services: [service],
    alerts: { webhook: { url: new Secret(HOOK_URL) }, coalesce: 0 },
  };
  const notifier = createNotifier(config, { log, cluster: "prod-eu", fetch: fake.fetch, clock });
  assert.ok(notifier);
  const kube = kubeWithService(service);
  await kube.create({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "brokers-primary", namespace: "datastream" },
    spec: { clusterIP: "None", ports: [{ name: "", port: 9092, protocol: "TCP" }] },
  });
  const prober = new ScriptedProber(clock);
  const agent = new Agent({
    config,
    client: kube,
    log: captureLog().log,
    clock,
    prober: prober.probe,
    random: () => 0.5,
    listeners: [notifier],
  });
  agent.start();
  await clock.advance(2000);
  const primaryAlerts = () =>
    fake.requests.map((r) => r.json as WebhookPayload).filter((a) =>
      a.event.startsWith("primary-")
    );
  assert.deepEqual(primaryAlerts(), [], "the first choice raises nothing");
  prober.set(A, { ok: false, error: "connection refused" });
  await clock.advance(2000);
  assert.deepEqual(primaryAlerts().map((a) => [a.event, a.primary]), [
    ["primary-changed", { service: "brokers-primary", from: A, to: B, reason: "failover" }],
  ]);
  const stopping = agent.stop();
  await clock.advance(1000);
  await stopping;
  const closing = notifier.close(1000);
  await clock.advance(1000);
  await closing;
  assertNoSecretLogged(lines, HOOK_URL);
});
