import assert from "node:assert/strict";
import { busiestWindow, leastSquaresSlope, percentile } from "./stats.ts";

Deno.test("percentile: nearest rank, input unchanged", () => {
  const values = [5, 1, 4, 2, 3];
  assert.equal(percentile(values, 0.5), 3);
  assert.equal(percentile(values, 0.99), 5);
  assert.equal(percentile(values, 0.2), 1);
  assert.equal(percentile(values, 1), 5);
  assert.deepEqual(values, [5, 1, 4, 2, 3]);
  assert.ok(Number.isNaN(percentile([], 0.5)));
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(hundred, 0.99), 99);
  assert.equal(percentile(hundred, 0.5), 50);
});

Deno.test("leastSquaresSlope: exact on a line, robust to noise around it", () => {
  const line = Array.from({ length: 10 }, (_, t) => ({ t, value: 3 + 2 * t }));
  assert.equal(leastSquaresSlope(line), 2);
  const flat = Array.from({ length: 10 }, (_, t) => ({ t, value: 70 + (t % 2 ? 1 : -1) }));
  assert.ok(Math.abs(leastSquaresSlope(flat)) < 0.1);
  assert.ok(Number.isNaN(leastSquaresSlope([{ t: 1, value: 1 }])));
  assert.ok(Number.isNaN(leastSquaresSlope([{ t: 1, value: 1 }, { t: 1, value: 2 }])));
  // Order does not matter.
  assert.equal(leastSquaresSlope([...line].reverse()), 2);
});

Deno.test("busiestWindow: the largest count inside any window", () => {
  assert.deepEqual(busiestWindow([], 60), { count: 0, start: NaN });
  assert.deepEqual(busiestWindow([0, 10, 59, 60, 61, 200], 60), { count: 4, start: 10 });
  assert.deepEqual(busiestWindow([100, 0, 130, 120, 110], 60), { count: 4, start: 100 });
  // A window is half-open: a time exactly one window later is in the next one.
  assert.equal(busiestWindow([0, 60, 120], 60).count, 1);
});
