/**
 * Benchmark scenario "fast" (issue 17): how soon a dead target leaves the ready endpoints at a
 * 1 s interval and fall 3, without and with `fastInterval: 100ms`. One target of a 10-target
 * Service is refused (connection refused at once) or black-holed (SYNs dropped: each check
 * ends by its timeout), then revived; the other targets stay up. Each outage is measured from
 * the moment the target died to the EndpointSlice change a watch client sees, and costs the
 * fast checks counted by `helaseid_fast_checks_total` (the confirmation of the outage and of
 * the revival). Goals: refused p99 ≤ 1.3 s (one interval + 2 × 100 ms), black-holed within one
 * interval + 3 timeouts.
 *
 * Settings: `BENCH_FAST_REPS` (outages per kind and mode and run, default 10), `BENCH_FAST_MS`
 * (the fast interval measured, default 100).
 *
 * @module
 */

import type { SimulatedTarget } from "../tests/support/targets.ts";
import { readiness, type Recorder } from "../tests/support/watch.ts";
import { delta, quantile, scrape, sleep } from "./measure.ts";

/** What the scenario needs of the bench: an agent on simulated targets, and a watch. */
export interface FastBed {
  /** Starts the agent on `count` targets of one Service, ready (every target checked). */
  agentRun(
    count: number,
    probe: Record<string, unknown>,
  ): Promise<{
    namespace: string;
    metrics: string;
    targets: SimulatedTarget[];
    stop(): Promise<void>;
  }>;
  /** Records the EndpointSlices of a namespace as a watch client sees them. */
  watchSlices(namespace: string): Promise<Recorder>;
}

/** Settings of one run. */
export interface FastSettings {
  /** Outages per kind (refused, black-holed) and mode (default 10). */
  readonly repetitions: number;
  /** Targets of the Service (default 10). */
  readonly targets: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly fall: number;
  readonly fastMs: number;
}

/** The settings from the environment. */
export function fastSettings(env: Readonly<Record<string, string | undefined>>): FastSettings {
  return {
    repetitions: Number(env.BENCH_FAST_REPS ?? 10),
    targets: 10,
    intervalMs: 1000,
    timeoutMs: 500,
    fall: 3,
    fastMs: Number(env.BENCH_FAST_MS ?? 100),
  };
}

/** One run's figures: per mode (`off`: fastInterval = interval; `on`: 100 ms), in ms. */
export interface FastResult extends Record<string, number> {
  readonly refusedOffP50Ms: number;
  readonly refusedOffP99Ms: number;
  readonly refusedOnP50Ms: number;
  readonly refusedOnP99Ms: number;
  readonly droppedOffP50Ms: number;
  readonly droppedOffP99Ms: number;
  readonly droppedOnP50Ms: number;
  readonly droppedOnP99Ms: number;
  /** Fast checks per outage (its confirmation and its revival's). */
  readonly fastChecksOffPerOutage: number;
  readonly fastChecksOnPerOutage: number;
  /** All checks of the Service per second during the run. */
  readonly probesOffPerSecond: number;
  readonly probesOnPerSecond: number;
}

/** Outages of one kind under one mode: outage start → watch (ms) for each. */
async function outages(
  run: { targets: SimulatedTarget[] },
  watch: Recorder,
  options: { mode: "refuse" | "drop"; repetitions: number; label: string },
): Promise<number[]> {
  const times: number[] = [];
  for (let rep = 0; rep < options.repetitions; rep++) {
    // A different victim each time, so no outage starts on the heels of the last one's revival.
    const victim = run.targets[rep % run.targets.length]!;
    const shows = (ready: boolean) => (event: { object: unknown }) =>
      readiness(event.object)[victim.address] === ready;
    // A random moment within the interval, so the outages sample every phase.
    await sleep(Math.random() * 1000);
    const mark = watch.events.length;
    const began = performance.timeOrigin + performance.now();
    await victim.setMode(options.mode);
    const down = await watch.waitFor(shows(false), { since: mark, timeoutMs: 30_000 });
    times.push(down.at - began);
    const revival = watch.events.length;
    await victim.setMode("accept");
    await watch.waitFor(shows(true), { since: revival, timeoutMs: 30_000 });
    await sleep(300);
  }
  console.error(`[fast] ${options.label}: ${times.map(Math.round).join(", ")} ms`);
  return times;
}

/** Runs the scenario once: both modes, both kinds of outage. */
export async function fast(bed: FastBed, settings: FastSettings): Promise<FastResult> {
  const figures: Record<string, number> = {};
  for (const [mode, fastInterval] of [["Off", settings.intervalMs], ["On", settings.fastMs]]) {
    const run = await bed.agentRun(settings.targets, {
      interval: `${settings.intervalMs}ms`,
      timeout: `${settings.timeoutMs}ms`,
      rise: 2,
      fall: settings.fall,
      fastInterval: `${fastInterval}ms`,
    });
    try {
      await using watch = await bed.watchSlices(run.namespace);
      await sleep(1500);
      const before = await scrape(run.metrics);
      const t0 = performance.now();
      const { repetitions } = settings;
      const refused = await outages(run, watch, {
        mode: "refuse",
        repetitions,
        label: `refused, fastInterval ${fastInterval} ms`,
      });
      const dropped = await outages(run, watch, {
        mode: "drop",
        repetitions,
        label: `black-holed, fastInterval ${fastInterval} ms`,
      });
      const after = await scrape(run.metrics);
      figures[`refused${mode}P50Ms`] = quantile(refused, 0.5);
      figures[`refused${mode}P99Ms`] = quantile(refused, 0.99);
      figures[`dropped${mode}P50Ms`] = quantile(dropped, 0.5);
      figures[`dropped${mode}P99Ms`] = quantile(dropped, 0.99);
      figures[`fastChecks${mode}PerOutage`] = delta(before, after, "helaseid_fast_checks_total") /
        (2 * repetitions);
      figures[`probes${mode}PerSecond`] = delta(before, after, "helaseid_probes_total") /
        ((performance.now() - t0) / 1000);
    } finally {
      await run.stop();
    }
  }
  return figures as FastResult;
}

/** The scenario's lines of the bench table, from the medians of its runs. */
export function fastTable(
  m: FastResult,
  settings: FastSettings,
  format: (value: number, digits?: number) => string,
): string[] {
  const { intervalMs, timeoutMs, fall, fastMs, targets, repetitions } = settings;
  return [
    "",
    `| fast confirmation: 1 of ${targets} dies, ${intervalMs} ms interval, fall ${fall}, ${timeoutMs} ms timeout, ${repetitions} outages per row | p50 (ms) | p99 (ms) | fast checks per outage |`,
    "|---|---|---|---|",
    `| refused → watch, no fastInterval | ${format(m.refusedOffP50Ms, 0)} | ${
      format(m.refusedOffP99Ms, 0)
    } | ${format(m.fastChecksOffPerOutage)} |`,
    `| refused → watch, fastInterval ${fastMs} ms | ${format(m.refusedOnP50Ms, 0)} | ${
      format(m.refusedOnP99Ms, 0)
    } | ${format(m.fastChecksOnPerOutage)} |`,
    `| black-holed → watch, no fastInterval | ${format(m.droppedOffP50Ms, 0)} | ${
      format(m.droppedOffP99Ms, 0)
    } | |`,
    `| black-holed → watch, fastInterval ${fastMs} ms | ${format(m.droppedOnP50Ms, 0)} | ${
      format(m.droppedOnP99Ms, 0)
    } | |`,
    "",
    `Fast confirmation: goals refused p99 ≤ 1300 ms, black-holed ≤ ${
      intervalMs + 3 * timeoutMs
    } ms; checks per second of the Service ${format(m.probesOffPerSecond)} without, ${
      format(m.probesOnPerSecond)
    } with (fast checks per outage count the outage's and its revival's confirmations).`,
  ];
}
