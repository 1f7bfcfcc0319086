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
