import assert from "node:assert/strict";
import { cadenceOf, initialHealth, nextHealth, type TargetHealth } from "../../src/health/state.ts";

const thresholds = { rise: 2, fall: 3 };

/** Feeds outcomes one per millisecond and returns the final health and the transitions. */
function feed(outcomes: string, start: TargetHealth = initialHealth(0)) {
  let health = start;
  const transitions: string[] = [];
  [...outcomes].forEach((outcome, index) => {
    const step = nextHealth(health, { ok: outcome === "+", error: "refused" }, {
      ...thresholds,
      now: index + 1,
    });
    health = step.health;
    if (step.transition) transitions.push(`${step.transition.to}@${step.transition.at}`);
  });
  return { health, transitions };
}

Deno.test("state: at startup one success makes a target healthy (Envoy)", () => {
  const { health, transitions } = feed("+");
  assert.equal(health.status, "healthy");
  assert.deepEqual(transitions, ["healthy@1"]);
});

Deno.test("state: at startup fall failures make a target unhealthy, fewer do not", () => {
  assert.equal(feed("--").health.status, "unknown");
  const { health, transitions } = feed("---");
  assert.equal(health.status, "unhealthy");
  assert.deepEqual(transitions, ["unhealthy@3"]);
});

Deno.test("state: a healthy target needs fall consecutive failures", () => {
  assert.deepEqual(feed("+--+--+").transitions, ["healthy@1"]);
  assert.deepEqual(feed("+---").transitions, ["healthy@1", "unhealthy@4"]);
});

Deno.test("state: an unhealthy target needs rise consecutive successes", () => {
  assert.deepEqual(feed("---+-+").transitions, ["unhealthy@3"]);
  assert.deepEqual(feed("---++").transitions, ["unhealthy@3", "healthy@5"]);
});

Deno.test("state: a transition says how long the previous status lasted and why", () => {
  let health = initialHealth(0);
  health = nextHealth(health, { ok: true }, { ...thresholds, now: 10 }).health;
  for (const now of [20, 30]) {
    health = nextHealth(health, { ok: false, error: "timeout" }, { ...thresholds, now }).health;
  }
  const step = nextHealth(health, { ok: false, error: "refused" }, { ...thresholds, now: 40 });
  assert.deepEqual(step.transition, {
    from: "healthy",
    to: "unhealthy",
    at: 40,
    after: 30,
    error: "refused",
  });
  assert.equal(step.health.since, 40);
  assert.equal(step.health.lastError, "refused");
});

Deno.test("state: the previous health is never modified", () => {
  const before = Object.freeze(initialHealth(0));
  nextHealth(before, { ok: false, error: "x" }, { ...thresholds, now: 1 });
  assert.deepEqual(before, initialHealth(0));
});

Deno.test("state: rise 1 and fall 1 flip on every differing result", () => {
  let health = initialHealth(0);
  const seen: string[] = [];
  for (const [now, ok] of [[1, true], [2, false], [3, true]] as const) {
    const step = nextHealth(health, { ok }, { rise: 1, fall: 1, now });
    health = step.health;
    if (step.transition) seen.push(step.transition.to);
  }
  assert.deepEqual(seen, ["healthy", "unhealthy", "healthy"]);
});

Deno.test("state: the cadence is fast only while a change is being confirmed (issue 17)", () => {
  const cadences = (outcomes: string) =>
    [...outcomes].map((_, i) => cadenceOf(feed(outcomes.slice(0, i + 1)).health)).join(" ");
  // Startup: one success is healthy; failures confirm fast toward the verdict, then down.
  assert.equal(cadences("+-+"), "normal fast normal");
  assert.equal(cadences("+---"), "normal fast fast down");
  // Unhealthy: a success is confirmed fast (rise 2); a failure in between goes back down.
  assert.equal(cadences("+---+-++"), "normal fast fast down fast down fast normal");
  assert.equal(cadenceOf(initialHealth(0)), "normal");
});
