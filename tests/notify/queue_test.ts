import assert from "node:assert/strict";
import { Secret } from "../../src/config/schema.ts";
import { postJson } from "../../src/notify/post.ts";
import {
  type Delivery,
  DeliveryQueue,
  type DeliveryQueueOptions,
  type DeliveryResult,
} from "../../src/notify/queue.ts";
import { FakeClock } from "../support/fakes.ts";
import { assertNoSecretLogged, captureLog, ScriptedFetch, WORKFLOW_PATH } from "./_support.ts";

const URL_TEXT = `https://prod-42.westeurope.logic.azure.com${WORKFLOW_PATH}`;

function setup(options: Partial<DeliveryQueueOptions> = {}) {
  const clock = new FakeClock();
  const fake = new ScriptedFetch(clock);
  const { log, lines } = captureLog();
  const results: DeliveryResult[] = [];
  const secret = new Secret(URL_TEXT);
  const queue = new DeliveryQueue({
    channel: "teams",
    clock,
    log,
    random: () => 0.5,
    send: (body, signal) => postJson(secret, body, { fetch: fake.fetch, signal, now: clock.now() }),
    onResult: (result) => results.push(result),
    ...options,
  });
  const start = clock.now();
  /** Request times relative to the start. */
  const times = () => fake.requests.map((request) => request.at - start);
  const messages = () => lines.map((line) => JSON.parse(line).msg as string);
  return { clock, fake, queue, lines, results, times, messages };
}

let serial = 0;
function delivery(key = `subject-${++serial}`, fingerprint = "same"): Delivery {
  return { key, fingerprint, body: JSON.stringify({ key, fingerprint }), label: key };
}

Deno.test("queue: at most 4 requests start in any second", async () => {
  const { clock, queue, times, lines } = setup();
  for (let i = 0; i < 10; i++) queue.push(delivery());
  await clock.advance(0);
  assert.deepEqual(times(), [0, 0, 0, 0]);
  await clock.advance(999);
  assert.equal(times().length, 4);
  await clock.advance(1);
  assert.deepEqual(times(), [0, 0, 0, 0, 1000, 1000, 1000, 1000]);
  await clock.advance(1000);
  assert.deepEqual(times().slice(8), [2000, 2000]);
  const at = times();
  for (let i = 0; i + 4 < at.length; i++) assert.ok(at[i + 4]! - at[i]! >= 1000);
  assert.deepEqual(queue.stats(), {
    sent: 10,
    failed: 0,
    retried: 0,
    dropped: 0,
    droppedBy: { superseded: 0, expired: 0, "queue-full": 0, shutdown: 0 },
    deduplicated: 0,
    pending: 0,
  });
  assertNoSecretLogged(lines, URL_TEXT);
});

Deno.test("queue: a 429 is retried no sooner than Retry-After", async () => {
  const { clock, fake, queue, times, results, messages } = setup();
  fake.answer({ status: 429, retryAfter: "3" }, { status: 429, retryAfter: "2" }, { status: 202 });
  queue.push(delivery());
  await clock.advance(2999);
  assert.deepEqual(times(), [0]);
  await clock.advance(1);
  assert.deepEqual(times(), [0, 3000]);
  await clock.advance(2000);
  assert.deepEqual(times(), [0, 3000, 5000]);
  assert.deepEqual(results, ["retried", "retried", "sent"]);
  assert.equal(messages().filter((m) => m === "webhook throttled the alert: retrying").length, 2);
});

Deno.test("queue: a Retry-After as HTTP date, and one too long is capped", async () => {
  const { clock, fake, queue, times } = setup({ maxRetryAfter: 10_000 });
  const inFive = new Date(clock.now() + 5000).toUTCString();
  fake.answer({ status: 503, retryAfter: inFive }, { status: 429, retryAfter: "3600" });
  queue.push(delivery());
  await clock.advance(60_000);
  assert.deepEqual(times(), [0, 5000, 15_000]);
});

Deno.test("queue: 5xx and network errors back off exponentially with jitter, then give up", async () => {
  const { clock, fake, queue, times, results, lines, messages } = setup({
    retry: { initial: 1000, max: 2500, attempts: 5 },
    random: () => 0.5,
  });
  fake.fallback = { status: 502 };
  queue.push(delivery("a"));
  await clock.advance(60_000);
  // Equal jitter with random 0.5: three quarters of 1s, 2s, then the 2.5s cap.
  assert.deepEqual(times(), [0, 750, 750 + 1500, 750 + 1500 + 1875, 750 + 1500 + 1875 * 2]);
  assert.deepEqual(results, ["retried", "retried", "retried", "retried", "failed"]);
  assert.equal(queue.stats().failed, 1);
  const gaveUp = lines.map((line) => JSON.parse(line)).find((line) =>
    line.msg === "gave up delivering the alert"
  );
  assert.equal(gaveUp?.level, "error");
  assert.equal(gaveUp?.attempt, 5);
  assert.equal(gaveUp?.status, 502);
  assert.ok(messages().includes("alert delivery failed: retrying"));
});

Deno.test("queue: the jitter spreads retries between half and all of the backoff", async () => {
  for (const [random, expected] of [[0, 500], [0.999, 999.5]] as const) {
    const { clock, fake, queue, times } = setup({ random: () => random });
    fake.answer({ status: 500 });
    queue.push(delivery());
    await clock.advance(5000);
    assert.deepEqual(times(), [0, expected]);
  }
});

Deno.test("queue: a refusal (4xx) is not retried", async () => {
  const { clock, fake, queue, results, messages } = setup();
  fake.answer({ status: 404 }, { status: 202 });
  queue.push(delivery());
  queue.push(delivery());
  await clock.advance(10_000);
  assert.equal(fake.requests.length, 2);
  assert.deepEqual(results, ["failed", "sent"]);
  assert.ok(
    messages().includes("webhook refused the alert: check the webhook URL and the flow behind it"),
  );
});

Deno.test("queue: a request that hangs times out and is retried", async () => {
  const { clock, fake, queue, times, results, lines } = setup({ timeout: 2000 });
  fake.answer("hang", { status: 202 });
  queue.push(delivery());
  await clock.advance(10_000);
  assert.deepEqual(times(), [0, 2000 + 750]);
  assert.deepEqual(results, ["retried", "sent"]);
  const retry = lines.map((line) => JSON.parse(line)).find((line) =>
    line.msg === "alert delivery failed: retrying"
  );
  assert.equal(retry?.error, "Webhook request timed out after 2000 ms");
});

Deno.test("queue: when full, the oldest waiting alert is dropped and counted", async () => {
  const { clock, fake, queue, results, lines } = setup({ capacity: 3, perSecond: 1 });
  fake.answer("hang");
  for (const key of ["a", "b", "c", "d", "e"]) {
    queue.push(delivery(key));
    await clock.advance(1);
  }
  // "a" is in flight at once; the others wait for the rate limit's next slot, and "b", the
  // oldest waiting, was dropped to make room for "e".
  assert.equal(queue.stats().pending, 3);
  assert.deepEqual(results, ["dropped"]);
  assert.deepEqual(queue.stats().droppedBy["queue-full"], 1);
  const dropped = lines.map((line) => JSON.parse(line)).filter((line) =>
    line.msg === "alert dropped: the queue is full"
  );
  assert.deepEqual(dropped.map((line) => [line.alert, line.reason]), [["b", "queue-full"]]);
  await clock.advance(60_000);
  assert.deepEqual(
    fake.requests.map((request) => (request.json as { key: string }).key),
    ["a", "c", "d", "e", "a"],
  );
});

Deno.test("queue: a repeat of the previous alert of a subject is not sent again", async () => {
  const { clock, fake, queue } = setup({ dedupeWindow: 60_000 });
  queue.push(delivery("svc", "down A"));
  queue.push(delivery("svc", "down A"));
  queue.push(delivery("other", "down A"));
  await clock.advance(1000);
  assert.equal(fake.requests.length, 2);
  assert.equal(queue.stats().deduplicated, 1);
  queue.push(delivery("svc", "up A"));
  await clock.advance(1000);
  queue.push(delivery("svc", "down A"));
  await clock.advance(1000);
  assert.equal(fake.requests.length, 4, "a change back is news");
  queue.push(delivery("svc", "down A"));
  await clock.advance(60_000);
  assert.equal(queue.stats().deduplicated, 2);
  queue.push(delivery("svc", "down A"));
  await clock.advance(1000);
  assert.equal(fake.requests.length, 5, "after the window a repeat is news again");
});

Deno.test("queue: close() delivers what is queued within the deadline", async () => {
  const { clock, fake, queue } = setup();
  for (let i = 0; i < 6; i++) queue.push(delivery());
  const closing = queue.close(5000);
  await clock.advance(5000);
  await closing;
  assert.equal(fake.requests.length, 6);
  assert.equal(queue.stats().sent, 6);
  assert.equal(clock.pending, 0, "no timer left");
});

Deno.test("queue: close() aborts a hanging webhook at the deadline and drops the rest", async () => {
  const { clock, fake, queue, results, messages } = setup();
  fake.fallback = "hang";
  for (let i = 0; i < 3; i++) queue.push(delivery());
  queue.push(delivery("svc", "first"));
  queue.push(delivery("svc", "second"));
  await clock.advance(100);
  const closing = queue.close(3000);
  await clock.advance(3000);
  await closing;
  // Four subjects hang in flight; the newer alert of "svc" waits behind its first one.
  assert.equal(fake.requests.length, 4);
  assert.deepEqual(results, Array(5).fill("dropped"));
  assert.equal(queue.stats().droppedBy.shutdown, 5);
  assert.equal(clock.pending, 0, "no timer left");
  assert.ok(messages().includes("alerts dropped at shutdown"));
  assert.ok(messages().includes("alert dropped at shutdown"));
  queue.push(delivery());
  assert.equal(queue.stats().dropped, 6, "pushed after close: dropped");
});

Deno.test("queue: close() gives up a retry that would end after the deadline", async () => {
  const { clock, fake, queue, results } = setup();
  fake.answer({ status: 429, retryAfter: "30" }, { status: 202 });
  queue.push(delivery("first"));
  queue.push(delivery("second"));
  const closing = queue.close(2000);
  await clock.advance(2000);
  await closing;
  assert.deepEqual(results, ["failed", "sent"]);
  assert.equal(clock.pending, 0);
});

Deno.test("queue: a subject whose webhook calls fail does not hold up another subject", async () => {
  const { clock, fake, queue, times } = setup({ retry: { initial: 1000, max: 60_000 } });
  // The flow behind the webhook fails for one Service's cards only (5xx), for a while.
  let failing = true;
  fake.route = (json) =>
    failing && (json as { key: string }).key === "broken" ? { status: 503 } : undefined;
  queue.push(delivery("broken"));
  await clock.advance(10);
  queue.push(delivery("healthy"));
  await clock.advance(0);
  const keyOf = (i: number) => (fake.requests[i]!.json as { key: string }).key;
  assert.deepEqual(times(), [0, 10], "the other subject goes at once, not after the retries");
  assert.equal(keyOf(1), "healthy");
  await clock.advance(5000);
  failing = false;
  await clock.advance(10_000);
  assert.deepEqual(queue.stats().sent, 2, "the broken subject got through after recovery");
  assert.equal(keyOf(fake.requests.length - 1), "broken");
});

Deno.test("queue: a newer alert of a subject supersedes the one waiting for a retry", async () => {
  const { clock, fake, queue, results, times } = setup();
  fake.answer({ status: 503 });
  const combined: string[] = [];
  const alert = (fingerprint: string): Delivery => ({
    ...delivery("svc", fingerprint),
    combine: (older) => {
      combined.push(`${older.fingerprint}+${fingerprint}`);
      return delivery("svc", `${older.fingerprint}+${fingerprint}`);
    },
  });
  queue.push(alert("down A"));
  await clock.advance(100);
  assert.equal(queue.stats().pending, 1, "waiting for its retry");
  queue.push(alert("up A"));
  await clock.advance(0);
  // The stale "down A" is never sent again: one card with both, at once.
  assert.deepEqual(times(), [0, 100]);
  assert.deepEqual(
    fake.requests.map((r) => (r.json as { fingerprint: string }).fingerprint),
    ["down A", "down A+up A"],
  );
  await clock.advance(60_000);
  assert.equal(fake.requests.length, 2);
  assert.deepEqual(results, ["retried", "dropped", "sent"]);
  assert.deepEqual(queue.stats().droppedBy.superseded, 1);
  assert.deepEqual(combined, ["down A+up A"]);
});

Deno.test("queue: a newer alert during a failing request is sent instead of the retry", async () => {
  const { clock, fake, queue, results } = setup({ timeout: 2000 });
  fake.answer("hang");
  queue.push(delivery("svc", "down A"));
  await clock.advance(500);
  queue.push(delivery("svc", "up A"));
  await clock.advance(0);
  assert.equal(fake.requests.length, 1, "the request in flight is not cut short");
  await clock.advance(1500);
  // The request timed out: no retry of "down A", "up A" goes next (within the rate limit).
  await clock.advance(60_000);
  assert.deepEqual(
    fake.requests.map((r) => (r.json as { fingerprint: string }).fingerprint),
    ["down A", "up A"],
  );
  assert.deepEqual(results, ["dropped", "sent"]);
  assert.equal(queue.stats().droppedBy.superseded, 1);
});

Deno.test("queue: a newer alert waiting behind a successful request is still sent", async () => {
  const { clock, fake, queue, results } = setup();
  queue.push(delivery("svc", "down A"));
  queue.push(delivery("svc", "up A"));
  await clock.advance(60_000);
  assert.deepEqual(
    fake.requests.map((r) => (r.json as { fingerprint: string }).fingerprint),
    ["down A", "up A"],
  );
  assert.deepEqual(results, ["sent", "sent"]);
});

Deno.test("queue: retries stop at the maximum age; the drop is counted with its reason", async () => {
  const { clock, fake, queue, results, times, lines } = setup({
    maxAge: 10_000,
    retry: { initial: 1000, max: 60_000, attempts: 100 },
  });
  fake.fallback = { status: 500 };
  queue.push(delivery("svc"));
  await clock.advance(60_000);
  // Backoff with random 0.5: 750, 1500, 3000, 6000 ms; the next retry would end past 10 s.
  assert.deepEqual(times(), [0, 750, 2250, 5250]);
  assert.deepEqual(results, ["retried", "retried", "retried", "dropped"]);
  assert.deepEqual(queue.stats().droppedBy, {
    superseded: 0,
    expired: 1,
    "queue-full": 0,
    shutdown: 0,
  });
  const expired = lines.map((line) => JSON.parse(line)).find((line) =>
    line.msg === "alert dropped: too old to deliver"
  );
  assert.equal(expired?.reason, "expired");
  assert.equal(expired?.maxAgeMs, 10_000);
  assert.equal(clock.pending, 0);
});

Deno.test("queue: an alert raised long ago is not sent at all", async () => {
  const { clock, fake, queue, results } = setup({ maxAge: 60_000 });
  queue.push({ ...delivery("old"), at: clock.now() - 61_000 });
  queue.push({ ...delivery("new"), at: clock.now() - 59_000 });
  await clock.advance(1000);
  assert.deepEqual(fake.requests.map((r) => (r.json as { key: string }).key), ["new"]);
  assert.deepEqual(results.sort(), ["dropped", "sent"]);
  assert.equal(queue.stats().droppedBy.expired, 1);
});
