import assert from "node:assert/strict";
import { type CheckOutcome, Scheduler } from "../../src/health/scheduler.ts";
import { FakeClock, ScriptedProber } from "../support/fakes.ts";

function setup(options: { maxInFlight?: number; random?: () => number } = {}) {
  const clock = new FakeClock(0);
  const prober = new ScriptedProber(clock);
  const outcomes: CheckOutcome[] = [];
  const scheduler = new Scheduler({
    prober: prober.probe,
    clock,
    random: options.random ?? (() => 0.5),
    maxInFlight: options.maxInFlight,
    onResult: (outcome) => outcomes.push(outcome),
  });
  const add = (address: string, interval = 100, timeout = 80, jitter = 0) =>
    scheduler.add({
      key: address,
      request: { address, port: 9092, timeout },
      interval,
      jitter,
    });
  return { clock, prober, outcomes, scheduler, add };
}

Deno.test("scheduler: each target is checked once per interval, start to start", async () => {
  const { clock, prober, scheduler, add } = setup();
  add("192.0.2.1", 100);
  add("192.0.2.2", 250);
  await clock.advance(1000);
  assert.equal(prober.count("192.0.2.1"), 11); // t = 0, 100, ..., 1000
  assert.equal(prober.count("192.0.2.2"), 5); // t = 0, 250, ..., 1000
  await scheduler.stop();
  assert.equal(clock.pending, 0);
});

Deno.test("scheduler: a black-holed target does not delay any other target", async () => {
  const { clock, prober, outcomes, scheduler, add } = setup();
  prober.set("192.0.2.66", "hang");
  add("192.0.2.66", 100, 100);
  for (let i = 1; i <= 5; i++) add(`192.0.2.${i}`, 100, 50);
  await clock.advance(1000);
  const others = outcomes.filter((o) => o.key !== "192.0.2.66");
  assert.ok(others.length >= 50);
  for (const outcome of others) assert.equal(outcome.started, outcome.planned);
  // The black hole itself is checked every interval too: each check ends by its timeout.
  assert.ok(prober.count("192.0.2.66") >= 10);
  assert.ok(outcomes.filter((o) => o.key === "192.0.2.66").every((o) => !o.result.ok));
  const stopping = scheduler.stop();
  await clock.advance(100); // the check in flight ends by its timeout
  await stopping;
});

Deno.test("scheduler: the in-flight cap queues checks instead of dropping them", async () => {
  const { clock, prober, outcomes, scheduler, add } = setup({ maxInFlight: 2 });
  for (let i = 1; i <= 4; i++) {
    prober.set(`192.0.2.${i}`, "hang");
    add(`192.0.2.${i}`, 1000, 40);
  }
  await clock.advance(0);
  assert.equal(scheduler.inFlight, 2);
  await clock.advance(40);
  assert.equal(outcomes.length, 2);
  assert.equal(scheduler.inFlight, 2);
  await clock.advance(40);
  assert.equal(outcomes.length, 4);
  const late = outcomes.slice(2);
  for (const outcome of late) assert.equal(outcome.started - outcome.planned, 40);
  await scheduler.stop();
});

Deno.test("scheduler: jitter spreads waits within ±jitter × interval", async () => {
  let turn = 0;
  const values = [0, 0, 1 - 1e-9, 0.5];
  const { clock, outcomes, scheduler, add } = setup({ random: () => values[turn++ % 4]! });
  add("192.0.2.1", 100, 50, 0.1);
  await clock.advance(400);
  const starts = outcomes.map((o) => o.started);
  for (let i = 1; i < starts.length; i++) {
    const gap = starts[i]! - starts[i - 1]!;
    assert.ok(gap >= 90 - 1e-6 && gap <= 110 + 1e-6, `gap ${gap}`);
  }
  await scheduler.stop();
});

Deno.test("scheduler: a removed target is not checked again; stop waits for checks in flight", async () => {
  const { clock, prober, scheduler, add } = setup();
  prober.set("192.0.2.9", "hang");
  add("192.0.2.1");
  add("192.0.2.9", 100, 80);
  await clock.advance(0);
  scheduler.remove("192.0.2.1");
  await clock.advance(500);
  assert.equal(prober.count("192.0.2.1"), 1);
  const stopping = scheduler.stop();
  let done = false;
  stopping.then(() => done = true);
  await clock.advance(0);
  assert.equal(done, false, "stop waits for the hanging check");
  await clock.advance(80);
  await stopping;
  assert.equal(done, true);
});
