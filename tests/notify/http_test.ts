/**
 * The notifier against a real HTTP webhook on 127.0.0.1, with the real clock and fetch. Times
 * are measured at the receiver and only lower bounds are asserted; upper bounds only keep a
 * broken test from hanging.
 */

import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { type AlertSettings, type Config, Secret } from "../../src/config/schema.ts";
import { systemClock } from "../../src/health/scheduler.ts";
import {
  createNotifier,
  type CreateNotifierOptions,
  type DeliveryOptions,
  type Notifier,
} from "../../src/notify/mod.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { delay, until } from "../support/wait.ts";
import { kubeWithService, ScriptedProber, serviceConfig } from "../support/fakes.ts";
import {
  assertNoSecretLogged,
  captureLog,
  cardOf,
  factsOf,
  headerOf,
  HealthSim,
  type Receiver,
  startReceiver,
} from "./_support.ts";

/** The part of an EndpointSlice endpoint these tests read. */
type EndpointShape = { addresses: string[]; conditions?: { ready?: boolean } };

const A = "192.0.2.1";
const B = "192.0.2.2";
const C = "192.0.2.3";
/** Allowance for timer and clock granularity in lower bounds. */
const SLACK_MS = 5;

function setup(
  receiver: Receiver,
  options: {
    alerts?: Partial<AlertSettings>;
    services?: number;
    delivery?: DeliveryOptions;
    onResult?: CreateNotifierOptions["onResult"];
  } = {},
) {
  /** When each request started, at the client. */
  const starts: number[] = [];
  const timedFetch: typeof fetch = (input, init) => {
    starts.push(performance.now());
    return fetch(input, init);
  };
  const { log, lines } = captureLog();
  const services = Array.from(
    { length: options.services ?? 1 },
    (_, i) => serviceConfig([A, B, C], { name: i === 0 ? "brokers" : `brokers-${i}` }),
  );
  const config: Config = {
    format: "structured",
    services,
    alerts: { teams: { url: new Secret(receiver.url()) }, ...options.alerts },
  };
  const notifier = createNotifier(config, {
    log,
    cluster: "test-bed",
    fetch: timedFetch,
    ...(options.delivery ? { delivery: options.delivery } : {}),
    ...(options.onResult ? { onResult: options.onResult } : {}),
  });
  assert.ok(notifier);
  const sims = services.map((service) => new HealthSim(service, systemClock));
  const apply = (...events: ReturnType<HealthSim["set"]>[]) => {
    for (const event of events) if (event) notifier.transition(event);
  };
  return { notifier, sims, sim: sims[0]!, apply, lines, starts };
}

async function finish(notifier: Notifier, receiver: Receiver, lines: string[]): Promise<void> {
  await notifier.close(2000);
  await receiver.close();
  assertNoSecretLogged(lines, receiver.url());
}

Deno.test("http: Teams receives one Workflows card per outage and one per recovery", async () => {
  const receiver = startReceiver();
  receiver.answer({ status: 202 }, { status: 202 });
  const { notifier, sim, apply, lines } = setup(receiver, { alerts: { coalesce: 300 } });
  apply(...sim.allHealthy());
  apply(sim.set(A, "unhealthy", "connection refused"));
  await delay(50);
  apply(sim.set(B, "unhealthy", "connection refused"));
  const [down] = await receiver.waitFor(1);
  const card = cardOf(down!.json);
  assert.deepEqual(headerOf(card), {
    title: "2 targets of datastream/brokers are down: 1 of 3 healthy",
    style: "warning",
    color: "Warning",
  });
  const facts = factsOf(card);
  assert.equal(facts.Cluster, "test-bed");
  assert.equal(facts.Service, "datastream/brokers");
  assert.equal(facts.Targets, `${A}:9092, ${B}:9092`);
  assert.equal(facts.State, "1 of 3 targets healthy");
  assert.equal(facts.Error, "connection refused");
  assert.match(facts.Since!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(/);
  // Both targets are in this card; an extra card would arrive before the recovery's (one lane
  // per Service, in order), which is checked to be the second request.
  await until("the card acknowledged", () => notifier.stats().teams?.sent === 1);
  assert.equal(receiver.requests.length, 1, "one card for both targets");

  apply(sim.set(A, "healthy"), sim.set(B, "healthy"));
  const [, up] = await receiver.waitFor(2);
  const upCard = cardOf(up!.json);
  assert.equal(headerOf(upCard).title, "2 targets of datastream/brokers recovered: 3 of 3 healthy");
  assert.equal(headerOf(upCard).style, "good");
  assert.match(factsOf(upCard)[`${A}:9092`]!, /^recovered after \d+ms down$/);
  assert.equal(
    receiver.requests[0]?.path,
    new URL(receiver.url()).pathname + new URL(receiver.url()).search,
  );
  // close() sends what is queued and waits for it: after it, every card raised has arrived.
  await notifier.close(2000);
  assert.equal(notifier.stats().teams?.sent, 2);
  assert.equal(notifier.stats().teams?.dropped, 0);
  assert.equal(receiver.requests.length, 2, "one card for both recoveries");
  await finish(notifier, receiver, lines);
});

Deno.test("http: at most 4 requests per second reach the webhook", async () => {
  const receiver = startReceiver();
  const { notifier, sims, apply, lines, starts } = setup(receiver, {
    alerts: { coalesce: 0 },
    services: 6,
  });
  for (const sim of sims) apply(...sim.allHealthy(), sim.set(A, "unhealthy"));
  const requests = await receiver.waitFor(6);
  // Starts are what the limit governs; arrivals add the network's jitter (a loose bound).
  for (let i = 0; i + 4 < starts.length; i++) {
    assert.ok(starts[i + 4]! - starts[i]! >= 1000 - SLACK_MS, `starts ${i}, ${i + 4}: ${starts}`);
    const arrivals = [requests[i]!.at, requests[i + 4]!.at];
    assert.ok(arrivals[1]! - arrivals[0]! >= 900, `arrivals ${i}, ${i + 4}: ${arrivals}`);
  }
  await until("six alerts sent", () => notifier.stats().teams?.sent === 6);
  await finish(notifier, receiver, lines);
});

Deno.test("http: a 429 answered twice still gets the card, no sooner than Retry-After", async () => {
  const receiver = startReceiver();
  receiver.answer(
    { status: 429, retryAfter: "1", body: "throttled" },
    { status: 429, retryAfter: "1" },
    { status: 202 },
  );
  const { notifier, sim, apply, lines } = setup(receiver, { alerts: { coalesce: 0 } });
  apply(...sim.allHealthy(), sim.set(C, "unhealthy"));
  const requests = await receiver.waitFor(3);
  assert.ok(requests[1]!.at - requests[0]!.at >= 1000 - SLACK_MS);
  assert.ok(requests[2]!.at - requests[1]!.at >= 1000 - SLACK_MS);
  assert.equal(requests[2]!.body, requests[0]!.body, "the same card");
  await until("the card sent", () => notifier.stats().teams?.sent === 1);
  assert.deepEqual(notifier.stats().teams, {
    sent: 1,
    failed: 0,
    retried: 2,
    dropped: 0,
    droppedBy: { superseded: 0, expired: 0, "queue-full": 0, shutdown: 0 },
    deduplicated: 0,
    pending: 0,
  });
  await finish(notifier, receiver, lines);
});

Deno.test("http: server errors are retried with backoff, then given up and logged", async () => {
  const receiver = startReceiver();
  receiver.answer({ status: 500 }, { status: 502 }, { status: 503 });
  const { notifier, sim, apply, lines } = setup(receiver, {
    alerts: { coalesce: 0 },
    delivery: { retry: { initial: 100, max: 200, attempts: 3 } },
  });
  apply(...sim.allHealthy(), sim.set(C, "unhealthy"));
  const requests = await receiver.waitFor(3);
  // Equal jitter: at least half of 100ms, then half of 200ms.
  assert.ok(requests[1]!.at - requests[0]!.at >= 50 - SLACK_MS);
  assert.ok(requests[2]!.at - requests[1]!.at >= 100 - SLACK_MS);
  await until("the alert given up", () => notifier.stats().teams?.failed === 1);
  assert.equal(receiver.requests.length, 3);
  const gaveUp = lines.map((line) => JSON.parse(line)).find((line) =>
    line.msg === "gave up delivering the alert"
  );
  assert.equal(gaveUp?.status, 503);
  assert.equal(gaveUp?.channel, "teams");
  await finish(notifier, receiver, lines);
});

Deno.test("http: probing and publishing go on while the webhook hangs; close() is bounded", async () => {
  const receiver = startReceiver();
  receiver.answer("hang");
  const { log, lines } = captureLog();
  const service = serviceConfig([A, B, C], {
    probe: { type: "tcp", port: 9092, interval: 20, timeout: 10, rise: 1, fall: 2, jitter: 0 },
  });
  const config: Config = {
    format: "structured",
    services: [service],
    alerts: { teams: { url: new Secret(receiver.url()) }, coalesce: 0 },
  };
  const notifier = createNotifier(config, { log, cluster: "test-bed" });
  assert.ok(notifier);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(systemClock, { [A]: { ok: false, error: "refused" } });
  const agent = new Agent({
    config,
    client: kube,
    log: captureLog().log,
    prober: prober.probe,
    listeners: [notifier],
  });
  agent.start();
  try {
    await receiver.waitFor(1);
    assert.equal(receiver.hanging, 1, "the first alert hangs at the webhook");
    const probes = prober.requests.length;
    const writes = kube.writes.length;
    prober.set(B, { ok: false, error: "refused" });
    // Positive signals only: B's alert reaches the queue, probing and publishing go on.
    await until("B's alert queued", () => notifier.stats().teams?.pending === 1);
    await until("ten more probes", () => prober.requests.length - probes >= 10);
    const publishedDown = (address: string) =>
      kube.writes.slice(writes).some((write) =>
        write.resource === "endpointslices" &&
        (write.object as { endpoints?: EndpointShape[] } | undefined)?.endpoints?.some((e) =>
          e.addresses.includes(address) && e.conditions?.ready === false
        )
      );
    await until("B's verdict published", () => publishedDown(B));
    assert.equal(receiver.hanging, 1, "A's alert still hangs");
    assert.equal(receiver.requests.length, 1, "B's alert waits behind A's, in the same lane");
  } finally {
    await agent.stop();
  }
  await notifier.close(200);
  assert.equal(notifier.stats().teams?.dropped, 2, "the hanging alert and B's");
  await receiver.close();
  assertNoSecretLogged(lines, receiver.url());
});

Deno.test("http: no log line holds the URL, even when fetch fails or the body echoes it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = listener.addr.port;
  listener.close();
  const receiver = startReceiver();
  const echoed = receiver.url();
  receiver.answer({ status: 400, body: `invalid request to ${echoed}` });
  const { log, lines } = captureLog();
  const deadUrl = receiver.url().replace(/:\d+\//, `:${closedPort}/`);
  const config: Config = {
    format: "structured",
    services: [serviceConfig([A, B, C])],
    alerts: {
      teams: { url: new Secret(deadUrl) },
      webhook: { url: new Secret(receiver.url()) },
      coalesce: 0,
    },
  };
  const notifier = createNotifier(config, {
    log,
    cluster: "test-bed",
    delivery: { retry: { initial: 10, max: 20, attempts: 2 } },
  });
  assert.ok(notifier);
  const sim = new HealthSim(config.services[0]!, systemClock);
  for (const event of [...sim.allHealthy(), sim.set(A, "unhealthy")]) {
    if (event) notifier.transition(event);
  }
  await receiver.waitFor(1);
  await until(
    "both channels to fail",
    () => notifier.stats().teams!.failed + notifier.stats().webhook!.failed === 2,
  );
  await notifier.close(1000);
  await receiver.close();
  const errors = lines.map((line) => JSON.parse(line)).filter((line) => line.error !== undefined);
  // Where the URL was, the redaction marker is: exactly, in place of the URL and nothing more.
  const teams = errors.filter((line) => line.channel === "teams");
  assert.deepEqual(teams.map((line) => line.msg), [
    "alert delivery failed: retrying",
    "gave up delivering the alert",
  ]);
  for (const line of teams) {
    assert.match(
      line.error,
      /^TypeError: fetch failed: error sending request for url \(<redacted>\): client error \(Connect\): .*Connection refused/,
    );
  }
  const webhook = errors.filter((line) => line.channel === "webhook");
  assert.deepEqual(webhook.map((line) => [line.msg, line.error]), [[
    "webhook refused the alert: check the webhook URL and the flow behind it",
    "HTTP 400: invalid request to <redacted>",
  ]]);
  assertNoSecretLogged(lines, deadUrl);
  assertNoSecretLogged(lines, receiver.url());
});

/** The Service a Teams card is about. */
function serviceOf(json: unknown): string | undefined {
  return factsOf(cardOf(json)).Service;
}

Deno.test("http: one Service's cards failing with 5xx hold up no other's; its news supersedes the stale card", async () => {
  const receiver = startReceiver();
  let broken = true;
  receiver.route = (json) =>
    broken && serviceOf(json) === "datastream/brokers"
      ? { status: 503, body: "flow failed" }
      : undefined;
  const { notifier, sims, apply, lines } = setup(receiver, {
    alerts: { coalesce: 0 },
    services: 2,
    // A retry waits 30-60 s: a card that waited for it could not arrive within waitFor's 10 s.
    delivery: { retry: { initial: 60_000, max: 60_000 }, maxAge: 300_000 },
  });
  const [first, second] = sims as [HealthSim, HealthSim];
  apply(...first.allHealthy(), ...second.allHealthy());
  apply(first.set(A, "unhealthy", "connection refused"));
  await receiver.waitFor(1);
  await until("the failed card waiting to retry", () => notifier.stats().teams?.retried === 1);

  apply(second.set(A, "unhealthy", "connection refused"));
  const [, other] = await receiver.waitFor(2);
  assert.equal(serviceOf(other!.json), "datastream/brokers-1");
  assert.equal(
    headerOf(cardOf(other!.json)).title,
    "1 target of datastream/brokers-1 is down: 2 of 3 healthy",
  );

  // The flow recovers, and so does the target: one card of the current state goes out now,
  // not the stale "down" card after its backoff.
  broken = false;
  apply(first.set(A, "healthy"));
  const [, , current] = await receiver.waitFor(3);
  assert.equal(serviceOf(current!.json), "datastream/brokers");
  assert.equal(
    headerOf(cardOf(current!.json)).title,
    "datastream/brokers: 1 briefly down: 3 of 3 healthy",
  );
  assert.match(
    factsOf(cardOf(current!.json))[`${A}:9092`]!,
    /^down for [\d.]+m?s, then recovered \(connection refused\)$/,
  );
  // close() waits for everything queued: the stale card was dropped, not merely delayed.
  await notifier.close(2000);
  assert.equal(receiver.requests.length, 3);
  const stats = notifier.stats().teams!;
  assert.deepEqual([stats.sent, stats.retried, stats.failed], [2, 1, 0]);
  assert.deepEqual(stats.droppedBy, { superseded: 1, expired: 0, "queue-full": 0, shutdown: 0 });
  await receiver.close();
  assertNoSecretLogged(lines, receiver.url());
});

Deno.test("http: a card the webhook keeps failing is dropped at the maximum age and counted", async () => {
  const receiver = startReceiver();
  let broken = true;
  receiver.route = () => broken ? { status: 500 } : undefined;
  const metrics = new Metrics({ version: "test", services: [] });
  const { notifier, sim, apply, lines } = setup(receiver, {
    alerts: { coalesce: 0 },
    delivery: { retry: { initial: 50, max: 100, attempts: 1000 }, maxAge: 500 },
    onResult: (channel, result, reason) => metrics.notification(channel, result, reason),
  });
  apply(...sim.allHealthy(), sim.set(C, "unhealthy"));
  await until("the card expired", () => notifier.stats().teams?.droppedBy.expired === 1);
  const tried = receiver.requests.length;
  assert.ok(tried >= 2, `retried before it expired: ${tried}`);
  assert.ok(
    receiver.requests.every((r) => r.body === receiver.requests[0]!.body),
    "the same card each time",
  );
  const text = metrics.render();
  assert.match(
    text,
    /^helaseid_notifications_dropped_total\{channel="teams",reason="expired"\} 1$/m,
  );
  assert.match(text, /^helaseid_notifications_total\{channel="teams",result="dropped"\} 1$/m);
  const expired = lines.map((line) => JSON.parse(line)).find((line) =>
    line.msg === "alert dropped: too old to deliver"
  );
  assert.equal(expired?.maxAgeMs, 500);

  // The next change goes out on its own: the expired card is neither retried nor folded in.
  broken = false;
  apply(sim.set(C, "healthy"));
  await notifier.close(2000);
  assert.equal(receiver.requests.length, tried + 1);
  assert.equal(
    headerOf(cardOf(receiver.requests.at(-1)!.json)).title,
    "1 target of datastream/brokers recovered: 3 of 3 healthy",
  );
  await receiver.close();
  assertNoSecretLogged(lines, receiver.url());
});
