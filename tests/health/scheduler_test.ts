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
    // 0: first checks at once (and no jitter unless a test sets it).
    random: options.random ?? (() => 0),
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

Deno.test("scheduler: first checks spread over the first interval", async () => {
  let turn = 0;
  const { clock, outcomes, scheduler, add } = setup({ random: () => [0.25, 0.75][turn++ % 2]! });
  add("192.0.2.1", 1000);
  add("192.0.2.2", 1000);
  await clock.advance(999);
  assert.deepEqual(outcomes.map((o) => [o.key, o.planned]), [["192.0.2.1", 250], [
    "192.0.2.2",
    750,
  ]]);
  await scheduler.stop();
});

Deno.test("scheduler: jitter moves each check around its grid point without drifting", async () => {
  // Alternate the extremes: a drifting schedule would walk away from the grid.
  let turn = 0;
  const { clock, outcomes, scheduler, add } = setup({
    random: () => turn++ === 0 ? 0 : turn % 2 ? 1 - 1e-9 : 0,
  });
  add("192.0.2.1", 100, 50, 0.1);
  await clock.advance(2000);
  assert.ok(outcomes.length >= 19);
  outcomes.forEach((outcome, k) => {
    const offset = outcome.started - k * 100;
    assert.ok(Math.abs(offset) <= 10 + 1e-6, `check ${k} is ${offset} ms off its grid point`);
  });
  await scheduler.stop();
});

Deno.test("scheduler: targets given one phase stay together", async () => {
  const clock = new FakeClock(0);
  const prober = new ScriptedProber(clock);
  const outcomes: CheckOutcome[] = [];
  const scheduler = new Scheduler({
    prober: prober.probe,
    clock,
    onResult: (outcome) => outcomes.push(outcome),
  });
  for (let i = 1; i <= 5; i++) {
    scheduler.add({
      key: `192.0.2.${i}`,
      request: { address: `192.0.2.${i}`, port: 9092, timeout: 50 },
      interval: 100,
      jitter: 0.1,
      phase: 0.5,
    });
  }
  await clock.advance(10_000);
  const round = (k: number) => outcomes.filter((o) => Math.round((o.planned - 50) / 100) === k);
  for (const k of [0, 50, 99]) {
    const starts = round(k).map((o) => o.started);
    assert.equal(starts.length, 5);
    assert.ok(Math.max(...starts) - Math.min(...starts) <= 20, `round ${k}: ${starts}`);
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

Deno.test("scheduler: a black hole with timeout = interval is checked every interval, not every other", async () => {
  let turn = 0;
  // The first check lands 50 ms after its grid point (jitter), so every timeout overruns.
  const { clock, prober, outcomes, scheduler, add } = setup({
    random: () => turn++ === 0 ? 0 : 1 - 1e-9,
  });
  prober.set("192.0.2.66", "hang");
  add("192.0.2.66", 1000, 1000, 0.05);
  await clock.advance(10_000);
  // Three failures (fall 3) within about three intervals, as the user configured.
  assert.ok(outcomes.length >= 9, `${outcomes.length} checks in 10 s`);
  assert.ok(
    outcomes[2]!.finished <= 3 * 1000 + 3 * 50 + 1,
    `third failure at ${outcomes[2]!.finished}`,
  );
  const stopping = scheduler.stop();
  await clock.advance(1000);
  await stopping;
});
