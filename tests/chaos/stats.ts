/**
 * Pure figures of the reliability runs (chaos and soak): percentiles of recovery times, the
 * least-squares slope of RSS samples, and the busiest window of a list of write times.
 *
 * @module
 */

/**
 * The q-quantile (0 < q ≤ 1) of `values` by nearest rank, or NaN when there are none. The
 * input is not changed.
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** One reading of a quantity at a time. */
export interface Sample {
  /** When, in any unit (the slope is per that unit). */
  readonly t: number;
  /** The reading. */
  readonly value: number;
}

/**
 * The slope of the least-squares line through `samples` (value per unit of `t`), or NaN with
 * fewer than two distinct times.
 */
export function leastSquaresSlope(samples: readonly Sample[]): number {
  const n = samples.length;
  if (n < 2) return NaN;
  const meanT = samples.reduce((sum, s) => sum + s.t, 0) / n;
  const meanV = samples.reduce((sum, s) => sum + s.value, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const s of samples) {
    covariance += (s.t - meanT) * (s.value - meanV);
    variance += (s.t - meanT) ** 2;
  }
  return variance === 0 ? NaN : covariance / variance;
}

/**
 * The largest number of `times` inside any window `[t, t + windowMs)`, and where the first
 * such window starts (NaN when there are no times). `times` need not be sorted.
 */
export function busiestWindow(
  times: readonly number[],
  windowMs: number,
): { count: number; start: number } {
  const sorted = [...times].sort((a, b) => a - b);
  let best = { count: 0, start: NaN };
  // Two pointers: every busiest window can be moved to start at one of the times.
  let end = 0;
  for (let begin = 0; begin < sorted.length; begin++) {
    while (end < sorted.length && sorted[end]! < sorted[begin]! + windowMs) end++;
    if (end - begin > best.count) best = { count: end - begin, start: sorted[begin]! };
  }
  return best;
}
