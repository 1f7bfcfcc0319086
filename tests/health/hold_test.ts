import assert from "node:assert/strict";
import { holdLimit, holdUntil, outageUnfolding } from "../../src/health/hold.ts";

Deno.test("hold: an outage unfolds while every target fails and some have no verdict", () => {
  assert.equal(outageUnfolding({ total: 3, failing: 3, unhealthy: 1 }), true);
  assert.equal(outageUnfolding({ total: 3, failing: 2, unhealthy: 1 }), false, "one passes");
  assert.equal(outageUnfolding({ total: 3, failing: 3, unhealthy: 3 }), false, "all judged");
  assert.equal(outageUnfolding({ total: 0, failing: 0, unhealthy: 0 }), false);
});

Deno.test("hold: a write waits at most one limit from the start of the hold", () => {
  const counts = { total: 3, failing: 3, unhealthy: 1 };
  assert.equal(holdUntil(counts, { now: 1000, limit: 100 }), 1100);
  assert.equal(holdUntil(counts, { now: 1050, heldSince: 1000, limit: 100 }), 1100);
  assert.equal(holdUntil(counts, { now: 1100, heldSince: 1000, limit: 100 }), undefined);
  assert.equal(holdUntil({ ...counts, failing: 2 }, { now: 1000, limit: 100 }), undefined);
});

Deno.test("hold: the bound covers verdicts spread by the outage's moment and the jitter", () => {
  assert.equal(holdLimit({ interval: 1000, jitter: 0.1, timeout: 500 }), 2100);
  assert.equal(holdLimit({ interval: 100, jitter: 0, timeout: 50 }), 150);
});

Deno.test("hold: a target not checked since the outage began may be dead too (issue 17)", () => {
  // Two failing, one passed before the outage began: unfolding until it is checked again.
  assert.equal(outageUnfolding({ total: 3, failing: 2, unhealthy: 1, unconfirmed: 1 }), true);
  assert.equal(outageUnfolding({ total: 3, failing: 2, unhealthy: 1, unconfirmed: 0 }), false);
  assert.equal(outageUnfolding({ total: 3, failing: 1, unhealthy: 1, unconfirmed: 1 }), false);
});

Deno.test("hold: fast confirmations widen the bound by their spread, timeouts included", () => {
  const probe = { interval: 1000, jitter: 0.1, timeout: 500, fall: 3 };
  // fast ≥ interval (or none): the bound of the interval alone.
  assert.equal(holdLimit({ ...probe, fastInterval: 1000 }), 2100);
  // 2 × (max(110, 500) − 90): a refused check confirms in 2 × 100 ms, a black hole in 2 × 500.
  assert.equal(holdLimit({ ...probe, fastInterval: 100 }), 2100 + 2 * 410);
  // No timeout longer than the fast step: only the jitter's spread, 2 × (220 − 180).
  assert.equal(holdLimit({ ...probe, timeout: 100, fastInterval: 200 }), 1700 + 2 * 40);
});
