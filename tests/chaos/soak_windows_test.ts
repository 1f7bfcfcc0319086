import assert from "node:assert/strict";
import { type SoakSample, soakWindows } from "../../bench/soak.ts";

const sample = (t: number, rssMiB: number, heapMiB = 20): SoakSample => ({
  t,
  rssMiB,
  heapMiB,
  cpuSeconds: 0,
  fds: 30,
  threads: 6,
});

Deno.test("soak windows: medians that a fault's spikes do not move, and a real rise that shows", () => {
  // Flat at 100 MiB with a 30 MiB spike every third sample (a fault): every window says 100.
  const spiky = Array.from({ length: 36 }, (_, i) => sample(i * 10, i % 3 === 2 ? 130 : 100));
  const flat = soakWindows(spiky, 12);
  assert.equal(flat.length, 12);
  assert.deepEqual(new Set(flat.map((w) => w.rssMiB)), new Set([100]));
  assert.deepEqual(flat.map((w) => w.t), Array.from({ length: 12 }, (_, w) => w * 30 + 10));
  // A steady rise of 1 MiB per sample shows in the medians however the spikes fall.
  const rising = Array.from({ length: 36 }, (_, i) => sample(i * 10, 100 + i + (i % 3 ? 0 : 30)));
  const up = soakWindows(rising, 12);
  assert.ok(up.at(-1)!.rssMiB - up[0]!.rssMiB >= 30, JSON.stringify(up));
  // A failed heap scrape (NaN) is left out of its window's median, not propagated.
  const gaps = soakWindows([sample(0, 100, NaN), sample(10, 100, 22), sample(20, 100, 24)], 1);
  assert.equal(gaps[0]!.heapMiB, 23);
  // Fewer samples than windows: no windows rather than empty ones.
  assert.deepEqual(soakWindows([sample(0, 100)], 12), []);
});
