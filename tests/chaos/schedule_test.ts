import assert from "node:assert/strict";
import {
  type Action,
  chaosSchedule,
  FAULT_KINDS,
  type ScheduleShape,
  seededRandom,
} from "./schedule.ts";

const SHAPE: ScheduleShape = {
  services: [[0, 1, 2, 3], [4, 5, 6]],
  replicas: 2,
  detectMs: 4900,
  intervalMs: 300,
};

Deno.test("chaos schedule: the same seed and duration give the same schedule", () => {
  const a = chaosSchedule(42, 10 * 60_000, SHAPE);
  const b = chaosSchedule(42, 10 * 60_000, SHAPE);
  assert.deepEqual(a, b);
  assert.ok(a.episodes > 10, `${a.episodes} episodes in 10 minutes`);
});

Deno.test("chaos schedule: another seed gives another schedule", () => {
  const a = chaosSchedule(1, 10 * 60_000, SHAPE);
  const b = chaosSchedule(2, 10 * 60_000, SHAPE);
  assert.notDeepEqual(a.steps, b.steps);
});

Deno.test("chaos schedule: a longer run starts with the shorter run's episodes", () => {
  const short = chaosSchedule(9, 2 * 60_000, SHAPE);
  const long = chaosSchedule(9, 10 * 60_000, SHAPE);
  assert.deepEqual(long.faults.slice(0, short.episodes), short.faults);
  assert.deepEqual(long.steps.slice(0, short.steps.length), short.steps);
});

Deno.test("chaos schedule: the waits fill the duration without passing it", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const schedule = chaosSchedule(seed, 5 * 60_000, SHAPE);
    const waits = schedule.steps.reduce((sum, step) => sum + step.afterMs, 0);
    assert.equal(waits, schedule.plannedMs);
    assert.ok(waits <= 5 * 60_000, `seed ${seed}: ${waits} ms`);
    assert.ok(waits > 4 * 60_000, `seed ${seed}: only ${waits} ms planned`);
    assert.ok(schedule.steps.every((step) => step.afterMs >= 0));
  }
});

Deno.test("chaos schedule: a tiny duration still has one episode", () => {
  const schedule = chaosSchedule(3, 1, SHAPE);
  assert.equal(schedule.episodes, 1);
});

Deno.test("chaos schedule: every episode leaves the bed as it found it", () => {
  // Replay the actions: targets back to accept, API up, agents running, webhook ok, and a
  // recovery step after the last change of every episode.
  for (const seed of [11, 12, 13]) {
    const schedule = chaosSchedule(seed, 30 * 60_000, SHAPE);
    const modes = new Map<number, string>();
    let api = "up", webhook = "ok", interval = SHAPE.intervalMs;
    const agents = new Set([0, 1]);
    const apply = (action: Action) => {
      if (action.do === "target") modes.set(action.target, action.mode);
      if (action.do === "api") {
        api = ["stop", "hang", "cut"].includes(action.state) ? "down" : "up";
      }
      if (action.do === "webhook") webhook = action.answer;
      if (action.do === "agent-signal") agents.delete(action.replica);
      if (action.do === "agent-start") agents.add(action.replica);
      if (action.do === "reload") interval = action.intervalMs;
      if (action.do === "target") assert.ok(action.target >= 0 && action.target < 7);
    };
    for (let episode = 0; episode < schedule.episodes; episode++) {
      const steps = schedule.steps.filter((s) => s.episode === episode);
      assert.ok(steps.length > 0);
      assert.equal(steps.at(-1)!.action.do, "recover", `episode ${episode} ends with a recovery`);
      for (const { action } of steps) apply(action);
      assert.ok([...modes.values()].every((m) => m === "accept"), `episode ${episode}: targets`);
      assert.equal(api, "up");
      assert.equal(webhook, "ok");
      assert.equal(agents.size, 2);
      assert.equal(interval, SHAPE.intervalMs, `episode ${episode}: interval restored`);
    }
  }
});

Deno.test("chaos schedule: kills outlast detection and restarts do not", () => {
  const schedule = chaosSchedule(5, 60 * 60_000, SHAPE);
  for (let i = 0; i < schedule.steps.length; i++) {
    const step = schedule.steps[i]!;
    const next = schedule.steps[i + 1];
    if (step.action.do !== "target" || step.action.mode === "accept" || !next) continue;
    if (step.fault === "target-kill" || step.fault === "target-drop") {
      assert.ok(next.afterMs > SHAPE.detectMs, `kill of ${next.afterMs} ms`);
    }
    if (step.fault === "target-restart") {
      assert.ok(next.afterMs < SHAPE.intervalMs * 3, `restart of ${next.afterMs} ms`);
    }
  }
  // Over an hour every kind is drawn.
  const drawn = new Set(schedule.faults);
  for (const kind of FAULT_KINDS) assert.ok(drawn.has(kind), kind);
  const some = chaosSchedule(5, 60 * 60_000, { ...SHAPE, kinds: ["target-kill", "api-stop"] });
  assert.deepEqual(new Set(some.faults), new Set(["target-kill", "api-stop"]));
});

Deno.test("chaos schedule: the generator is seeded and spreads over [0, 1)", () => {
  const a = seededRandom(123), b = seededRandom(123);
  const values = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(values, Array.from({ length: 1000 }, () => b()));
  assert.ok(values.every((v) => v >= 0 && v < 1));
  const mean = values.reduce((x, y) => x + y, 0) / values.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
});

Deno.test("chaos schedule: a bed without targets is refused", () => {
  assert.throws(() => chaosSchedule(1, 60_000, { ...SHAPE, services: [] }), RangeError);
  assert.throws(() => chaosSchedule(1, 60_000, { ...SHAPE, replicas: 0 }), RangeError);
});
