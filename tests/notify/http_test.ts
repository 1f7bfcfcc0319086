/**
 * The notifier against a real HTTP webhook on 127.0.0.1, with the real clock and fetch. Times
 * are measured at the receiver and only lower bounds are asserted; upper bounds only keep a
 * broken test from hanging.
 */

import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import { type AlertSettings, type Config, Secret } from "../../src/config/schema.ts";
import { systemClock } from "../../src/health/scheduler.ts";
import { createNotifier, type DeliveryOptions, type Notifier } from "../../src/notify/mod.ts";
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

const A = "192.0.2.1";
const B = "192.0.2.2";
const C = "192.0.2.3";
/** Allowance for timer and clock granularity in lower bounds. */
const SLACK_MS = 5;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `condition` holds; fails after 10 s (only so that a broken test ends). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!condition()) {
    assert.ok(performance.now() < deadline, `timed out waiting for ${what}`);
    await delay(5);
  }
}

function setup(
  receiver: Receiver,
  options: { alerts?: Partial<AlertSettings>; services?: number; delivery?: DeliveryOptions } = {},
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
  await delay(500);
  assert.equal(receiver.requests.length, 1, "one card for both targets");

  apply(sim.set(A, "healthy"), sim.set(B, "healthy"));
  const [, up] = await receiver.waitFor(2);
  const upCard = cardOf(up!.json);
  assert.equal(headerOf(upCard).title, "2 targets of datastream/brokers recovered: 3 of 3 healthy");
  assert.equal(headerOf(upCard).style, "good");
  assert.match(factsOf(upCard)[`${A}:9092`]!, /^recovered after \d+ms down$/);
  await delay(500);
  assert.equal(receiver.requests.length, 2, "one card for both recoveries");
  assert.equal(
    receiver.requests[0]?.path,
    new URL(receiver.url()).pathname + new URL(receiver.url()).search,
  );
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
  await until(() => notifier.stats().teams?.sent === 6, "six alerts sent");
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
  await until(() => notifier.stats().teams?.sent === 1, "the card sent");
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
  await until(() => notifier.stats().teams?.failed === 1, "the alert given up");
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
    await delay(300);
    assert.equal(receiver.hanging, 1, "still hanging");
    assert.ok(prober.requests.length - probes >= 10, "probing went on");
    assert.ok(kube.writes.length > writes, "B's verdict was published meanwhile");
    assert.equal(receiver.requests.length, 1, "B's alert waits in the queue");
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
    () => notifier.stats().teams!.failed + notifier.stats().webhook!.failed === 2,
    "both channels to fail",
  );
  await notifier.close(1000);
  await receiver.close();
  const errors = lines.map((line) => JSON.parse(line)).filter((line) => line.error !== undefined);
  assert.ok(
    errors.some((line) => line.channel === "teams" && /<redacted>|refused/i.test(line.error)),
  );
  assert.ok(errors.some((line) => line.channel === "webhook" && line.error.includes("<redacted>")));
  assertNoSecretLogged(lines, deadUrl);
  assertNoSecretLogged(lines, receiver.url());
});
