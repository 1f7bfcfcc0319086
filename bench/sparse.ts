/**
 * Benchmark scenario "sparse outages" (DESIGN §5, issue 10 item 5): production outages are
 * minutes apart, so the write that publishes one goes out after a long quiet period, on
 * connections that have gone cold. Each repetition waits `quietMs` with nothing changing
 * (no write at all), then refuses one target and measures verdict → change seen on a watch
 * for the write that follows; the revival right after it is the warm comparison.
 *
 * Settings: `BENCH_SPARSE_QUIET` (seconds of quiet before each outage, default 100) and
 * `BENCH_SPARSE_REPS` (outages per run, default 4), so a smoke check can run it shorter. The
 * default quiet is past the 90 s after which the API server (Go's IdleTimeout) and Deno's
 * fetch pool close an idle connection: after 60 s the pooled connection was still warm, and
 * the cold case this scenario is about did not happen (fetch: p99 29 ms after 60 s, 54 ms
 * after 100 s).
 *
 * @module
 */

import type { SimulatedTarget } from "../tests/support/targets.ts";
import { readiness, type Recorder, type SeenEvent } from "../tests/support/watch.ts";
import { quantile, sleep } from "./measure.ts";

const TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time";

/**
 * Verdict → watch (ms) of each EndpointSlice change among `events`: when the watch saw it,
 * minus its trigger-time annotation (when the agent saw the probe result that caused it).
 * The latency scenario of bench/run.ts measures with it too.
 */
export function verdictToWatch(events: readonly SeenEvent[]): number[] {
  return events.flatMap((event) => {
    if (event.type !== "MODIFIED") return [];
    const trigger = event.object?.metadata?.annotations?.[TRIGGER_TIME];
    return trigger ? [event.at - Date.parse(trigger)] : [];
  });
}

/** What the scenario needs of the bench: an agent on simulated targets, and a watch. */
export interface SparseBed {
  /** Starts the agent on `count` targets of one Service, ready (every target checked). */
  agentRun(
    count: number,
    probe: Record<string, unknown>,
  ): Promise<{ namespace: string; targets: SimulatedTarget[]; stop(): Promise<void> }>;
  /** Records the EndpointSlices of a namespace as a watch client sees them. */
  watchSlices(namespace: string): Promise<Recorder>;
}

/** Settings of one run. */
export interface SparseSettings {
  /** Quiet period before each outage, in ms (default 100 s). */
  readonly quietMs: number;
  /** Outages per run (default 4). */
  readonly repetitions: number;
  /** Targets of the Service (default 10). */
  readonly targets: number;
}

/** The settings from the environment. */
export function sparseSettings(
  env: Readonly<Record<string, string | undefined>>,
): SparseSettings {
  return {
    quietMs: Number(env.BENCH_SPARSE_QUIET ?? 100) * 1000,
    repetitions: Number(env.BENCH_SPARSE_REPS ?? 4),
    targets: 10,
  };
}

/** One run's figures (ms). */
export interface SparseResult extends Record<string, number> {
  readonly targets: number;
  readonly quietSeconds: number;
  readonly repetitions: number;
  /** Verdict → watch of the first write after each quiet period. */
  readonly coldP50Ms: number;
  readonly coldP99Ms: number;
  readonly coldMaxMs: number;
  /** Verdict → watch of the revival write right after each outage (warm connections). */
  readonly warmP50Ms: number;
  readonly warmP99Ms: number;
  /** Writes seen during the quiet periods (must be 0, or the quiet was not quiet). */
  readonly quietWrites: number;
}

/** Runs the scenario once. */
export async function sparse(bed: SparseBed, settings: SparseSettings): Promise<SparseResult> {
  const run = await bed.agentRun(settings.targets, {
    interval: "100ms",
    timeout: "100ms",
    rise: 2,
    fall: 3,
  });
  const cold: number[] = [];
  const warm: number[] = [];
  let quietWrites = 0;
  try {
    await using watch = await bed.watchSlices(run.namespace);
    const victim = run.targets[0]!;
    const shows = (ready: boolean) => (event: { object: unknown }) =>
      readiness(event.object)[victim.address] === ready;
    for (let rep = 0; rep < settings.repetitions; rep++) {
      const quiet = watch.events.length;
      await sleep(settings.quietMs);
      // A new watch starts with an ADDED event per existing object: count changes only.
      quietWrites += watch.events.slice(quiet).filter((e) => e.type === "MODIFIED").length;
      const outage = watch.events.length;
      await victim.setMode("refuse");
      await watch.waitFor(shows(false), { since: outage, timeoutMs: 30_000 });
      await sleep(600); // a late write of this outage would land here
      const outageMs = verdictToWatch(watch.events.slice(outage));
      cold.push(...outageMs);
      const revival = watch.events.length;
      await victim.setMode("accept");
      await watch.waitFor(shows(true), { since: revival, timeoutMs: 30_000 });
      await sleep(600);
      const revivalMs = verdictToWatch(watch.events.slice(revival));
      warm.push(...revivalMs);
      console.error(
        `[sparse] outage ${rep + 1}: verdict → watch ${outageMs.map(Math.round).join(", ")} ms ` +
          `after the quiet period, ${revivalMs.map(Math.round).join(", ")} ms for the revival`,
      );
    }
  } finally {
    await run.stop();
  }
  return {
    targets: settings.targets,
    quietSeconds: settings.quietMs / 1000,
    repetitions: settings.repetitions,
    coldP50Ms: quantile(cold, 0.5),
    coldP99Ms: quantile(cold, 0.99),
    coldMaxMs: Math.max(...cold),
    warmP50Ms: quantile(warm, 0.5),
    warmP99Ms: quantile(warm, 0.99),
    quietWrites,
  };
}

/** The scenario's lines of the bench table, from the medians of its runs. */
export function sparseTable(m: SparseResult, format: (value: number) => string): string[] {
  return [
    "",
    `| sparse outages: 1 of ${m.targets} refused after ${m.quietSeconds} s of quiet, ${m.repetitions} outages | p50 (ms) | p99 (ms) |`,
    "|---|---|---|",
    `| verdict → watch, first write after the quiet period | ${format(m.coldP50Ms)} | ${
      format(m.coldP99Ms)
    } |`,
    `| verdict → watch, revival right after (warm) | ${format(m.warmP50Ms)} | ${
      format(m.warmP99Ms)
    } |`,
    "",
    `Sparse outages: worst verdict → watch ${format(m.coldMaxMs)} ms (goal p99 ≤ 50 ms); ${
      format(m.quietWrites)
    } writes during the quiet periods.`,
  ];
}
