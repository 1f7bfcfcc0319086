/**
 * Readings for the benchmarks: CPU and memory of a process from /proc, and histograms and
 * counters from a Prometheus text page. Linux only (the benchmarks run in the test bed).
 *
 * @module
 */

const TICKS = await clockTicks();

async function clockTicks(): Promise<number> {
  const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
  return Number(new TextDecoder().decode(out.stdout).trim()) || 100;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Resident set size of a process, in MiB. */
export function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** One sample of a Prometheus page: `name{labels}` → value. */
export type Samples = Map<string, number>;

/** Fetches and parses a Prometheus text page. */
export async function scrape(url: string): Promise<Samples> {
  const text = await (await fetch(url)).text();
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Sum of every series of a metric (any labels) in `after` minus `before`. */
export function delta(before: Samples, after: Samples, metric: string, filter = ""): number {
  let total = 0;
  for (const [key, value] of after) {
    if (!key.startsWith(metric) || !key.includes(filter)) continue;
    if (key.length > metric.length && key[metric.length] !== "{") continue;
    total += value - (before.get(key) ?? 0);
  }
  return total;
}

/**
 * A quantile of a histogram's increase between two scrapes, interpolated linearly inside the
 * bucket as Prometheus' histogram_quantile does (so it is an estimate bounded by buckets).
 */
export function histogramQuantile(
  before: Samples,
  after: Samples,
  metric: string,
  q: number,
): number {
  const buckets = new Map<number, number>();
  for (const [key, value] of after) {
    if (!key.startsWith(`${metric}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(key)?.[1];
    if (!le) continue;
    const bound = le === "+Inf" ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value - (before.get(key) ?? 0));
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let lowerCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return lower;
      return lower + (bound - lower) * (rank - lowerCount) / Math.max(1, count - lowerCount);
    }
    lower = bound;
    lowerCount = count;
  }
  return lower;
}

/** The q-quantile of plain numbers (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** The median of plain numbers. */
export function median(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Resolves after `ms` milliseconds (benchmarks measure real time). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An agent's figures over a steady-state window. */
export interface SteadyFigures {
  /** Agent CPU, cores. */
  readonly cpuPerSecond: number;
  /** Agent RSS at the end, MiB. */
  readonly rssMiB: number;
  /** Scheduling lag p50 (agent histogram, interpolated), ms. */
  readonly lagP50Ms: number;
  /** Scheduling lag p99, ms. */
  readonly lagP99Ms: number;
  /** Checks per second. */
  readonly probesPerSecond: number;
  /** Checks that failed in the window (should be 0). */
  readonly failedProbes: number;
}

/** A steady-state window (see {@link steadyState}): its scrapes and figures. */
export interface SteadyState {
  /** The scrapes at the window's start and end. */
  readonly before: Samples;
  readonly after: Samples;
  /** How long the end scrape (one GET /metrics) took, in ms. */
  readonly scrapeMs: number;
  readonly figures: SteadyFigures;
}

/**
 * Measures a running agent (process `pid`, metrics page `metrics`) in its steady state: waits
 * `settleMs` past what came before, then `seconds` of CPU, memory, lag and probe figures.
 */
export async function steadyState(
  pid: number,
  metrics: string,
  seconds: number,
  settleMs = 5000,
): Promise<SteadyState> {
  await sleep(settleMs);
  const before = await scrape(metrics);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const scraped = performance.now();
  const after = await scrape(metrics);
  const scrapeMs = performance.now() - scraped;
  const window = (scraped - t0) / 1000;
  const probes = delta(before, after, "helaseid_probes_total");
  return {
    before,
    after,
    scrapeMs,
    figures: {
      cpuPerSecond: (cpuSeconds(pid) - cpu0) / window,
      rssMiB: rssMiB(pid),
      lagP50Ms: histogramQuantile(before, after, "helaseid_scheduling_lag_seconds", 0.5) * 1000,
      lagP99Ms: histogramQuantile(before, after, "helaseid_scheduling_lag_seconds", 0.99) * 1000,
      probesPerSecond: probes / window,
      failedProbes: probes - delta(before, after, "helaseid_probes_total", 'result="ok"'),
    },
  };
}
