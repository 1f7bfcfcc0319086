import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { type AlertSettings, type Config, Secret } from "../../src/config/schema.ts";
import { createNotifier } from "../../src/notify/mod.ts";
import type { WebhookPayload } from "../../src/notify/webhook.ts";
import { MemoryKube } from "../../src/kube/memory.ts";
import { serviceObject } from "../../src/publish/objects.ts";
import type { PublishState } from "../../src/publish/reconciler.ts";
import type { WriteResult } from "../../src/publish/writer.ts";
import { FakeClock, kubeWithService, ScriptedProber, serviceConfig } from "../support/fakes.ts";
import {
  assertNoSecretLogged,
  BED_HOOK_URL,
  BED_TEAMS_URL,
  captureLog,
  cardOf,
  factsOf,
  headerOf,
  HealthSim,
  notifierBed,
  ScriptedFetch,
  WORKFLOW_PATH,
} from "./_support.ts";

const A = "192.0.2.1";
const B = "192.0.2.2";
const C = "192.0.2.3";
const TEAMS_URL = BED_TEAMS_URL;
const HOOK_URL = BED_HOOK_URL;

function setup(alerts: Partial<AlertSettings> = {}) {
  const service = serviceConfig([A, B, C]);
  const bed = notifierBed(service, { teams: { url: new Secret(TEAMS_URL) }, ...alerts });
  const sim = new HealthSim(service, bed.clock);
  const apply = (...events: ReturnType<HealthSim["set"]>[]) => {
    for (const event of events) if (event) bed.notifier.transition(event);
  };
  return { ...bed, sim, apply };
}

function failingState(since: number, failures: number, at: number): PublishState {
  const write: WriteResult = {
    service: "datastream/brokers",
    verb: "apply",
    reason: "changed",
    resource: "endpointslices",
    kind: "EndpointSlice",
    name: "brokers-helaseid-ipv4",
    ok: false,
    error: "endpointslices is forbidden",
    status: 403,
    at,
    duration: 3,
  };
  return {
    service: "datastream/brokers",
    writes: new Map([["EndpointSlice/brokers-helaseid-ipv4", write]]),
    failures,
    failingSince: since,
  };
}

Deno.test("createNotifier() is undefined when no channel is configured", () => {
  const config: Config = { format: "env", services: [serviceConfig([A])], alerts: {} };
  assert.equal(createNotifier(config, { log: captureLog().log, cluster: "x" }), undefined);
});

Deno.test("notifier: two targets dying together make one card, their return one more", async () => {
  const { clock, sim, apply, cards, results, close } = setup();
  apply(...sim.allHealthy());
  await clock.advance(10_000);
  apply(sim.set(A, "unhealthy", "connection refused"));
  await clock.advance(400);
  apply(sim.set(B, "unhealthy", "connection refused"));
  await clock.advance(1599);
  assert.equal(cards().length, 0, "the window (2s by default) is still open");
  await clock.advance(1);
  assert.equal(cards().length, 1);
  const down = cards()[0]!;
  assert.deepEqual(headerOf(down), {
    title: "2 targets of datastream/brokers are down: 1 of 3 healthy",
    style: "warning",
    color: "Warning",
  });
  assert.equal(factsOf(down).Targets, `${A}:9092, ${B}:9092`);
  assert.equal(factsOf(down).Error, "connection refused");

  await clock.advance(60_000);
  apply(sim.set(A, "healthy"), sim.set(B, "healthy"));
  await clock.advance(2000);
  assert.equal(cards().length, 2);
  const up = cards()[1]!;
  assert.equal(headerOf(up).style, "good");
  assert.equal(factsOf(up)[`${A}:9092`], "recovered after 1m 2s down");
  assert.equal(factsOf(up)[`${B}:9092`], "recovered after 1m 2s down");
  assert.deepEqual(results, [["teams", "sent"], ["teams", "sent"]]);
  await close();
});

Deno.test("notifier: targets found down at startup are an alert, healthy ones are not", async () => {
  const { clock, sim, apply, cards, close } = setup({ coalesce: 500 });
  apply(sim.set(A, "healthy"), sim.set(B, "healthy"));
  await clock.advance(1000);
  assert.equal(cards().length, 0);
  apply(sim.set(C, "unhealthy", "i/o timeout"));
  await clock.advance(500);
  assert.deepEqual(cards().map((card) => headerOf(card).title), [
    "1 target of datastream/brokers is down: 2 of 3 healthy",
  ]);
  await close();
});

Deno.test("notifier: no healthy target left is a critical card about the panic guard", async () => {
  const { clock, sim, apply, cards, close } = setup({ coalesce: 0 });
  apply(...sim.allHealthy());
  apply(sim.set(A, "unhealthy"), sim.set(B, "unhealthy"), sim.set(C, "unhealthy"));
  await clock.advance(0);
  const [card] = cards();
  assert.ok(card);
  assert.deepEqual(headerOf(card), {
    title: "All 3 targets of datastream/brokers are down",
    style: "attention",
    color: "Attention",
  });
  assert.match(factsOf(card).State!, /panic guard on/);
  await close();
});

Deno.test("notifier: both channels get each alert; the JSON one follows schema v1", async () => {
  const { clock, fake, sim, apply, results, close } = setup({
    coalesce: 100,
    webhook: { url: new Secret(HOOK_URL) },
  });
  apply(...sim.allHealthy(), sim.set(A, "unhealthy", "refused"));
  await clock.advance(100);
  assert.deepEqual(fake.requests.map((r) => r.path), [
    WORKFLOW_PATH,
    "/services/T000/B000/s3cr3tt0ken",
  ]);
  const json = fake.requests[1]!.json as WebhookPayload;
  assert.equal(json.version, 1);
  assert.equal(json.kind, "helaseid.alert");
  assert.equal(json.event, "targets-down");
  assert.equal(json.cluster, "prod-eu");
  assert.deepEqual(json.service, { namespace: "datastream", name: "brokers" });
  assert.deepEqual(json.targets.map((t) => [t.address, t.state, t.error]), [[
    A,
    "down",
    "refused",
  ]]);
  assert.deepEqual([json.healthy, json.total], [2, 3]);
  assert.deepEqual(results.sort(), [["teams", "sent"], ["webhook", "sent"]]);
  await close();
});

Deno.test("notifier: writes failing past the threshold alert once, and once more on recovery", async () => {
  const { clock, notifier, cards, close } = setup({ writeFailureThreshold: 60_000 });
  const since = clock.now();
  notifier.publishState(failingState(since, 1, since));
  for (let i = 2; i <= 6; i++) {
    await clock.advance(10_000);
    notifier.publishState(failingState(since, i, clock.now()));
  }
  await clock.advance(9_999);
  assert.equal(cards().length, 0, "not yet 60s");
  await clock.advance(1);
  assert.equal(cards().length, 1);
  const failing = cards()[0]!;
  assert.deepEqual(headerOf(failing), {
    title: "Cannot write the endpoints of datastream/brokers to the Kubernetes API for 1m: " +
      "they may be stale",
    style: "attention",
    color: "Attention",
  });
  assert.equal(
    factsOf(failing).Error,
    "apply EndpointSlice/brokers-helaseid-ipv4 (HTTP 403): endpointslices is forbidden",
  );
  await clock.advance(30_000);
  notifier.publishState(failingState(since, 9, clock.now()));
  notifier.publishState({ service: "datastream/brokers", writes: new Map(), failures: 0 });
  await clock.advance(0);
  assert.equal(cards().length, 2);
  assert.deepEqual(headerOf(cards()[1]!), {
    title: "Writes of datastream/brokers to the Kubernetes API succeed again after 1m 30s",
    style: "good",
    color: "Good",
  });
  await close();
});

Deno.test("notifier: writes that recover before the threshold raise nothing", async () => {
  const { clock, notifier, cards, close } = setup({ writeFailureThreshold: 30_000 });
  notifier.publishState(failingState(clock.now(), 1, clock.now()));
  await clock.advance(29_000);
  notifier.publishState({ service: "datastream/brokers", writes: new Map(), failures: 0 });
  await clock.advance(120_000);
  assert.equal(cards().length, 0);
  await close();
});

Deno.test("notifier: close() sends the alerts of open windows at once", async () => {
  const { clock, sim, apply, cards, notifier } = setup({ coalesce: 60_000 });
  apply(...sim.allHealthy(), sim.set(A, "unhealthy"));
  const closing = notifier.close(1000);
  await clock.advance(0);
  assert.equal(cards().length, 1);
  await closing;
  assert.equal(clock.pending, 0);
  apply(sim.set(B, "unhealthy"));
  notifier.publishState(failingState(clock.now(), 1, clock.now()));
  await clock.advance(120_000);
  assert.equal(cards().length, 1, "nothing after close");
  assert.equal(clock.pending, 0);
});

Deno.test("notifier: stats() counts per channel", async () => {
  const { clock, fake, sim, apply, notifier, close } = setup({ coalesce: 0 });
  fake.answer({ status: 429, retryAfter: "1" });
  apply(...sim.allHealthy(), sim.set(A, "unhealthy"));
  await clock.advance(5000);
  assert.deepEqual(notifier.stats(), {
    teams: {
      sent: 1,
      failed: 0,
      retried: 1,
      dropped: 0,
      droppedBy: { superseded: 0, expired: 0, "queue-full": 0, shutdown: 0 },
      deduplicated: 0,
      pending: 0,
    },
  });
  await close();
});

Deno.test("notifier: with the real agent, a startup outage is one card naming both targets", async () => {
  const clock = new FakeClock();
  const fake = new ScriptedFetch(clock);
  const { log, lines } = captureLog();
  const service = serviceConfig([A, B, C]);
  const config: Config = {
    format: "structured",
    services: [service],
    alerts: { teams: { url: new Secret(TEAMS_URL) }, coalesce: 500 },
  };
  const notifier = createNotifier(config, { log, cluster: "prod-eu", fetch: fake.fetch, clock });
  assert.ok(notifier);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock, {
    [B]: { ok: false, error: "connection refused" },
    [C]: { ok: false, error: "connection refused" },
  });
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
  const cards = fake.requests.map((request) => cardOf(request.json));
  assert.deepEqual(cards.map((card) => headerOf(card).title), [
    "2 targets of datastream/brokers are down: 1 of 3 healthy",
  ]);
  assert.equal(factsOf(cards[0]!).Targets, `${B}:9092, ${C}:9092`);
  prober.set(A, { ok: false, error: "connection refused" });
  await clock.advance(2000);
  assert.equal(fake.requests.length, 2);
  assert.equal(
    headerOf(cardOf(fake.requests[1]!.json)).title,
    "All 3 targets of datastream/brokers are down",
  );
  const stopping = agent.stop();
  await clock.advance(1000);
  await stopping;
  const closing = notifier.close(1000);
  await clock.advance(1000);
  await closing;
  assertNoSecretLogged(lines, TEAMS_URL);
});

function blockedState(
  blocked: PublishState["blocked"],
  since: number,
  detail?: string,
  writer?: string,
): PublishState {
  return {
    service: "datastream/brokers",
    writes: new Map(),
    failures: 0,
    ...(blocked === undefined ? {} : { blocked }),
    ...(blocked === undefined || blocked === "waiting-first-checks" ? {} : { blockedSince: since }),
    ...(detail === undefined ? {} : { detail }),
    ...(writer === undefined ? {} : { conflict: { writer, retryAt: since + 30_000 } }),
  };
}

const DENIED = "list endpointslices in namespace 'datastream': 403 Forbidden";

Deno.test("notifier: access denied past the threshold is one card with reason and detail; then recovery", async () => {
  const { clock, notifier, cards, close } = setup({ writeFailureThreshold: 60_000 });
  const since = clock.now();
  notifier.publishState(blockedState("waiting-first-checks", since));
  notifier.publishState(blockedState("access-denied", since, DENIED));
  await clock.advance(30_000);
  notifier.publishState(blockedState("access-denied", since, DENIED));
  await clock.advance(29_999);
  assert.equal(cards().length, 0, "not yet 60s");
  await clock.advance(1);
  assert.equal(cards().length, 1);
  const card = cards()[0]!;
  assert.deepEqual(headerOf(card), {
    title: "Cannot publish the endpoints of datastream/brokers for 1m: " +
      "the Kubernetes API denies access: check the Role and the credentials",
    style: "attention",
    color: "Attention",
  });
  const facts = factsOf(card);
  assert.equal(facts.Service, "datastream/brokers");
  assert.equal(
    facts.Reason,
    "the Kubernetes API denies access: check the Role and the credentials",
  );
  assert.equal(facts.Detail, DENIED);
  assert.equal(facts["Other writer"], undefined);
  await clock.advance(10_000);
  notifier.publishState(blockedState("access-denied", since, DENIED));
  await clock.advance(10_000);
  assert.equal(cards().length, 1, "the same block again is no new card");
  notifier.publishState(blockedState(undefined, since));
  await clock.advance(0);
  assert.equal(cards().length, 2);
  assert.deepEqual(headerOf(cards()[1]!), {
    title: "datastream/brokers is no longer blocked (access denied) after 1m 20s",
    style: "good",
    color: "Good",
  });
  assert.equal(factsOf(cards()[1]!).Reason, facts.Reason, "the recovery says what it was");
  await close();
});

Deno.test("notifier: with several clusters, a block in one cluster is its own alert naming that cluster", async () => {
  const { clock, notifier, cards, close } = setup({ writeFailureThreshold: 5_000 });
  const since = clock.now();
  const inCluster = (cluster: string, state: PublishState): PublishState => ({ ...state, cluster });
  notifier.publishState(inCluster("east", blockedState("access-denied", since, DENIED)));
  // The same Service is fine in the other cluster: that must not end east's block.
  notifier.publishState(inCluster("local", blockedState(undefined, since)));
  await clock.advance(5_000);
  assert.equal(cards().length, 1);
  assert.equal(factsOf(cards()[0]!).Cluster, "east");
  notifier.publishState(inCluster("local", blockedState(undefined, since)));
  await clock.advance(10_000);
  assert.equal(cards().length, 1, "local's state says nothing about east");
  notifier.publishState(inCluster("east", blockedState(undefined, since)));
  await clock.advance(0);
  assert.equal(cards().length, 2);
  assert.equal(factsOf(cards()[1]!).Cluster, "east");
  await close();
});

Deno.test("notifier: each blocked reason past the threshold names itself", async () => {
  const expected = {
    "service-missing": "the Service does not exist",
    "service-has-selector":
      "the Service has a selector, so the endpoint controller owns its endpoints",
    "namespace-missing": "the namespace does not exist",
  } as const;
  for (const [reason, text] of Object.entries(expected)) {
    const { clock, notifier, cards, close } = setup({ writeFailureThreshold: 5_000 });
    const detail = `get services/brokers in namespace 'datastream': 404 Not Found (${reason})`;
    notifier.publishState(blockedState(reason as keyof typeof expected, clock.now(), detail));
    await clock.advance(5_000);
    assert.deepEqual(cards().map((card) => headerOf(card).title), [
      `Cannot publish the endpoints of datastream/brokers for 5s: ${text}`,
    ]);
    assert.equal(factsOf(cards()[0]!).Detail, detail);
    await close();
  }
});

Deno.test("notifier: a block that clears before the threshold, or waiting for checks, raises nothing", async () => {
  const { clock, notifier, cards, close } = setup({ writeFailureThreshold: 60_000 });
  notifier.publishState(blockedState("waiting-first-checks", clock.now()));
  await clock.advance(120_000);
  notifier.publishState(blockedState("service-missing", clock.now(), "Service not found"));
  await clock.advance(59_000);
  notifier.publishState(blockedState("waiting-first-checks", clock.now()));
  await clock.advance(120_000);
  notifier.publishState(blockedState(undefined, clock.now()));
  await clock.advance(120_000);
  assert.equal(cards().length, 0);
  await close();
});

Deno.test("notifier: a conflict alerts at once naming the other writer, not again while it lasts", async () => {
  const { clock, notifier, cards, close } = setup({ writeFailureThreshold: 60_000 });
  const since = clock.now();
  const writer = "helaseid@laptop (config 3f9a1c2e)";
  const detail = `EndpointSlice/brokers-helaseid-ipv4 was rewritten by ${writer}`;
  notifier.publishState(blockedState("conflict", since, detail, writer));
  await clock.advance(0);
  assert.equal(cards().length, 1, "no threshold for a conflict");
  const card = cards()[0]!;
  assert.deepEqual(headerOf(card), {
    title: `Another HELASEID writer rewrites the endpoints of datastream/brokers (${writer}): ` +
      "not writing them",
    style: "attention",
    color: "Attention",
  });
  assert.equal(factsOf(card)["Other writer"], writer);
  assert.equal(factsOf(card).Detail, detail);
  // The retry finds the same writer: nothing new to say.
  await clock.advance(30_000);
  notifier.publishState(blockedState("conflict", since, detail, writer));
  await clock.advance(30_000);
  assert.equal(cards().length, 1);
  // Another writer is news.
  notifier.publishState(blockedState("conflict", since, detail, "helaseid@ci (config 00aa)"));
  await clock.advance(0);
  assert.equal(cards().length, 2);
  assert.equal(factsOf(cards()[1]!)["Other writer"], "helaseid@ci (config 00aa)");
  notifier.publishState(blockedState(undefined, since));
  await clock.advance(0);
  assert.equal(
    headerOf(cards()[2]!).title,
    "datastream/brokers is no longer blocked (another writer) after 1m",
  );
  await close();
});

Deno.test("notifier: a blocked alert in JSON carries reason, detail and writer (schema v1)", async () => {
  const { clock, fake, notifier, close } = setup({
    writeFailureThreshold: 1000,
    webhook: { url: new Secret(HOOK_URL) },
  });
  const writer = "helaseid@laptop";
  notifier.publishState(
    blockedState("conflict", clock.now(), "rewritten by helaseid@laptop", writer),
  );
  await clock.advance(0);
  const json = fake.requests.find((r) => r.path.startsWith("/services"))!.json as WebhookPayload;
  assert.equal(json.version, 1);
  assert.equal(json.event, "blocked");
  assert.equal(json.severity, "critical");
  assert.equal(json.status, "firing");
  assert.equal(json.reason, "conflict");
  assert.equal(json.writer, writer);
  assert.equal(json.error, "rewritten by helaseid@laptop");
  await clock.advance(5000);
  notifier.publishState(blockedState(undefined, clock.now()));
  await clock.advance(0);
  const back = fake.requests.filter((r) => r.path.startsWith("/services")).at(-1)!
    .json as WebhookPayload;
  assert.equal(back.event, "blocked-recovered");
  assert.equal(back.status, "resolved");
  assert.equal(back.lastedSeconds, 5);
  assert.equal(back.reason, "conflict");
  await close();
});

Deno.test("notifier: a down card stuck in retries and the recovery go out as one card", async () => {
  const { clock, fake, sim, apply, cards, results, close } = setup({ coalesce: 0 });
  apply(...sim.allHealthy());
  await clock.advance(1000);
  fake.answer({ status: 503 });
  apply(sim.set(A, "unhealthy", "connection refused"));
  await clock.advance(100);
  assert.equal(cards().length, 1, "the down card failed once and waits for its retry");
  apply(sim.set(A, "healthy"));
  await clock.advance(0);
  assert.equal(cards().length, 2, "sent at once, not after the backoff");
  assert.deepEqual(headerOf(cards()[1]!), {
    title: "datastream/brokers: 1 briefly down: 3 of 3 healthy",
    style: "warning",
    color: "Warning",
  });
  assert.equal(
    factsOf(cards()[1]!)[`${A}:9092`],
    "down for 100ms, then recovered (connection refused)",
  );
  await clock.advance(120_000);
  assert.equal(cards().length, 2, "the stale down card is never sent again");
  assert.deepEqual(results, [
    ["teams", "retried"],
    ["teams", "dropped", "superseded"],
    ["teams", "sent"],
  ]);
  await close();
});

Deno.test("notifier: two queued down cards of one Service become one naming both", async () => {
  const { clock, fake, sim, apply, cards, close } = setup({ coalesce: 0 });
  apply(...sim.allHealthy());
  await clock.advance(1000);
  fake.answer({ status: 500 });
  apply(sim.set(A, "unhealthy", "refused"));
  await clock.advance(10);
  apply(sim.set(B, "unhealthy", "refused"));
  await clock.advance(0);
  assert.equal(cards().length, 2);
  assert.equal(
    headerOf(cards()[1]!).title,
    "2 targets of datastream/brokers are down: 1 of 3 healthy",
  );
  assert.equal(factsOf(cards()[1]!).Targets, `${A}:9092, ${B}:9092`);
  await close();
});

Deno.test("notifier: writes refused with 403 while access is denied make one card, the block's", async () => {
  const { clock, notifier, cards, close } = setup({ writeFailureThreshold: 60_000 });
  const since = clock.now();
  const denied = (at: number, failures: number): PublishState => ({
    ...failingState(since, failures, at),
    blocked: "access-denied",
    blockedSince: since,
    detail: "apply endpointslices in namespace 'datastream': 403 Forbidden",
  });
  notifier.publishState(denied(since, 1));
  for (let i = 2; i <= 12; i++) {
    await clock.advance(10_000);
    notifier.publishState(denied(clock.now(), i));
  }
  assert.deepEqual(cards().map((card) => headerOf(card).title), [
    "Cannot publish the endpoints of datastream/brokers for 1m: " +
    "the Kubernetes API denies access: check the Role and the credentials",
  ]);
  // Access comes back but writes still fail (500): now they are worth their own card.
  notifier.publishState(failingState(since, 13, clock.now()));
  await clock.advance(0);
  assert.deepEqual(cards().slice(1).map((card) => headerOf(card).title), [
    "datastream/brokers is no longer blocked (access denied) after 1m 50s",
    "Cannot write the endpoints of datastream/brokers to the Kubernetes API for 1m 50s: " +
    "they may be stale",
  ]);
  await close();
});

Deno.test("notifier: with the real agent, a missing Service is one blocked card; creating it ends the block", async () => {
  const clock = new FakeClock();
  const fake = new ScriptedFetch(clock);
  const { log, lines } = captureLog();
  const service = serviceConfig([A, B, C]);
  const config: Config = {
    format: "structured",
    services: [service],
    alerts: { teams: { url: new Secret(TEAMS_URL) }, writeFailureThreshold: 10_000 },
  };
  const notifier = createNotifier(config, { log, cluster: "prod-eu", fetch: fake.fetch, clock });
  assert.ok(notifier);
  const kube = new MemoryKube();
  const agent = new Agent({
    config,
    client: kube,
    log: captureLog().log,
    clock,
    prober: new ScriptedProber(clock, {}).probe,
    random: () => 0.5,
    listeners: [notifier],
  });
  agent.start();
  const titles = () => fake.requests.map((request) => headerOf(cardOf(request.json)).title);
  await clock.advance(9_000);
  assert.deepEqual(titles(), [], "not before the threshold");
  await clock.advance(2_000);
  assert.deepEqual(titles(), [
    "Cannot publish the endpoints of datastream/brokers for 10s: the Service does not exist",
  ]);
  assert.equal(factsOf(cardOf(fake.requests[0]!.json)).Reason, "the Service does not exist");
  await kube.create(serviceObject(service, { uid: "svc-uid" }));
  await clock.advance(1_000);
  assert.equal(titles().length, 2);
  assert.match(
    titles()[1]!,
    /^datastream\/brokers is no longer blocked \(Service missing\) after /,
  );
  const stopping = agent.stop();
  await clock.advance(1000);
  await stopping;
  const closing = notifier.close(1000);
  await clock.advance(1000);
  await closing;
  assertNoSecretLogged(lines, TEAMS_URL);
});
