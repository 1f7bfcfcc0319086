/**
 * Benchmark scenario "correlated outage" (DESIGN §5, issue 10 item 6): every target of a
 * Service dies at once. Their verdicts arrive spread over part of an interval (phases and
 * jitter); what clients must see is the final state in one write per object, within
 * interval × fall + 50 ms of the outage, and nothing in between.
 *
 * Each repetition refuses every target together, records the Service's EndpointSlice and
 * Endpoints on watches until the final state has held for a while, then revives them. It runs
 * with `allDown: empty` (the final state lists every target not ready, so the time to it shows)
 * and with the default panic guard (the final state is every target ready: any write showing
 * a target not ready is an intermediate state).
 *
 * Settings: `BENCH_CORRELATED_REPS` (outages per mode and run, default 5).
 *
 * @module
 */

import type { LogLine } from "../tests/support/agent_process.ts";
import type { SimulatedTarget } from "../tests/support/targets.ts";
import { readiness, type Recorder, type SeenEvent } from "../tests/support/watch.ts";
import { median, sleep } from "./measure.ts";

/** What the scenario needs of the bench: an agent on simulated targets, and watches. */
export interface CorrelatedBed {
  /** Starts the agent on `count` targets of one Service, ready (every target checked). */
  agentRun(
    count: number,
    probe: Record<string, unknown>,
    publish: Record<string, unknown>,
  ): Promise<{
    namespace: string;
    targets: SimulatedTarget[];
    agent: { readonly lines: readonly LogLine[] };
    stop(): Promise<void>;
  }>;
  /** Records the EndpointSlices of a namespace as a watch client sees them. */
  watchSlices(namespace: string): Promise<Recorder>;
  /** Records the Endpoints of a namespace as a watch client sees them. */
  watchEndpoints(namespace: string): Promise<Recorder>;
}

/** Settings of one run. */
export interface CorrelatedSettings {
  /** Outages per mode (default 5). */
  readonly repetitions: number;
  /** Targets of the Service (default 10). */
  readonly targets: number;
  readonly intervalMs: number;
  readonly fall: number;
}

/** The settings from the environment. */
export function correlatedSettings(
  env: Readonly<Record<string, string | undefined>>,
): CorrelatedSettings {
  return {
    repetitions: Number(env.BENCH_CORRELATED_REPS ?? 5),
    targets: 10,
    intervalMs: 1000,
    fall: 3,
  };
}

/** One run's figures. */
export interface CorrelatedResult extends Record<string, number> {
  readonly targets: number;
  readonly repetitions: number;
  readonly intervalMs: number;
  readonly fall: number;
  /** allDown empty: outage → final state (all not ready) seen on the slice watch. */
  readonly emptyToFinalP50Ms: number;
  readonly emptyToFinalMaxMs: number;
  /** allDown empty: writes per object per outage (slice and Endpoints), worst. */
  readonly emptyWritesPerObjectMax: number;
  /** allDown empty: slice states other than the initial and final ones, summed. */
  readonly emptyIntermediateStates: number;
  /** Panic guard: writes per object per outage, worst (0 is ideal: nothing changes). */
  readonly panicWritesPerObjectMax: number;
  /** Panic guard: slice states showing some target not ready, summed (must be 0). */
  readonly panicIntermediateStates: number;
  /** How far apart the verdicts of one outage were (the agent's WARN lines), median. */
  readonly verdictSpreadP50Ms: number;
}

interface Outage {
  spreadMs: number;
  toFinalMs: number;
  writesPerObject: number;
  intermediates: number;
}

const now = () => performance.timeOrigin + performance.now();

/** Writes per object among watch events (MODIFIED; ADDED counts as a write too). */
function writesPerObject(events: readonly SeenEvent[]): number {
  const counts = new Map<string, number>();
  for (const event of events) {
    if (event.type === "DELETED") continue;
    const name = event.object.metadata.name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return Math.max(0, ...counts.values());
}

async function outages(
  bed: CorrelatedBed,
  settings: CorrelatedSettings,
  allDown: "empty" | "publishAll",
): Promise<Outage[]> {
  const run = await bed.agentRun(settings.targets, {
    interval: `${settings.intervalMs}ms`,
    timeout: `${settings.intervalMs / 2}ms`,
    rise: 1,
    fall: settings.fall,
  }, { allDown });
  const results: Outage[] = [];
  try {
    await using slices = await bed.watchSlices(run.namespace);
    await using endpoints = await bed.watchEndpoints(run.namespace);
    const addresses = run.targets.map((t) => t.address);
    const all = (ready: boolean) => (event: SeenEvent) =>
      event.type !== "DELETED" && addresses.every((a) => readiness(event.object)[a] === ready);
    const finalReady = allDown === "publishAll";
    // The watches list what exists first (ADDED): outages count from after that.
    await slices.waitFor((e) => e.type === "ADDED");
    await endpoints.waitFor((e) => e.type === "ADDED");
    for (let rep = 0; rep < settings.repetitions; rep++) {
      const mark = { slices: slices.events.length, endpoints: endpoints.events.length };
      const start = now();
      await Promise.all(run.targets.map((t) => t.setMode("refuse")));
      let toFinalMs: number;
      if (finalReady) {
        // Nothing should change; wait until every verdict surely came, plus the hold bound.
        await sleep(settings.intervalMs * (settings.fall + 2));
        toFinalMs = NaN;
      } else {
        const final = await slices.waitFor(all(false), { since: mark.slices, timeoutMs: 30_000 });
        toFinalMs = final.at - start;
        await sleep(settings.intervalMs * 2); // late writes of this outage would land here
      }
      const verdicts = run.agent.lines
        .filter((l) => l.msg === "target unhealthy" && Date.parse(String(l.time)) >= start - 1)
        .map((l) => Date.parse(String(l.time)));
      const seen = slices.events.slice(mark.slices);
      const states = new Set(seen.map((e) => JSON.stringify(readiness(e.object))));
      const intermediates = finalReady
        ? seen.filter((e) => !all(true)(e)).length
        : [...states].filter((s) => s !== JSON.stringify(readiness(seen.at(-1)?.object))).length;
      if (Deno.env.get("BENCH_VERBOSE") === "1") {
        console.error(
          `correlated ${allDown}: spread ${Math.max(...verdicts) - Math.min(...verdicts)} ms;`,
          seen.map((e) =>
            `${e.type} ${e.object.metadata.name} +${Math.round(e.at - start)}ms ` +
            Object.values(readiness(e.object)).map((r) => r ? "1" : "0").join("")
          ),
        );
      }
      results.push({
        spreadMs: Math.max(...verdicts) - Math.min(...verdicts),
        toFinalMs,
        writesPerObject: Math.max(
          writesPerObject(seen),
          writesPerObject(endpoints.events.slice(mark.endpoints)),
        ),
        intermediates,
      });
      const revive = slices.events.length;
      await Promise.all(run.targets.map((t) => t.setMode("accept")));
      if (!finalReady) await slices.waitFor(all(true), { since: revive, timeoutMs: 30_000 });
      await sleep(settings.intervalMs * 2);
    }
  } finally {
    await run.stop();
  }
  return results;
}

/** Runs the scenario once (both modes). */
export async function correlated(
  bed: CorrelatedBed,
  settings: CorrelatedSettings,
): Promise<CorrelatedResult> {
  const empty = await outages(bed, settings, "empty");
  const panic = await outages(bed, settings, "publishAll");
  return {
    targets: settings.targets,
    repetitions: settings.repetitions,
    intervalMs: settings.intervalMs,
    fall: settings.fall,
    emptyToFinalP50Ms: median(empty.map((o) => o.toFinalMs)),
    emptyToFinalMaxMs: Math.max(...empty.map((o) => o.toFinalMs)),
    emptyWritesPerObjectMax: Math.max(...empty.map((o) => o.writesPerObject)),
    emptyIntermediateStates: empty.reduce((n, o) => n + o.intermediates, 0),
    panicWritesPerObjectMax: Math.max(...panic.map((o) => o.writesPerObject)),
    panicIntermediateStates: panic.reduce((n, o) => n + o.intermediates, 0),
    verdictSpreadP50Ms: median([...empty, ...panic].map((o) => o.spreadMs)),
  };
}

/** The scenario's lines of the bench table, from the medians of its runs. */
export function correlatedTable(m: CorrelatedResult, format: (value: number) => string): string[] {
  const goal = m.intervalMs * m.fall + 50;
  return [
    "",
    `| correlated outage: all ${m.targets} targets of a Service refused at once (${m.intervalMs} ms × fall ${m.fall}), ${m.repetitions} outages per mode | allDown: empty | panic guard (default) |`,
    "|---|---|---|",
    `| outage → final state on a watch, p50 / max (ms; goal ≤ ${goal}) | ${
      format(m.emptyToFinalP50Ms)
    } / ${format(m.emptyToFinalMaxMs)} | (final = unchanged) |`,
    `| writes per object per outage, worst | ${format(m.emptyWritesPerObjectMax)} | ${
      format(m.panicWritesPerObjectMax)
    } |`,
    `| intermediate slice states seen, all outages | ${format(m.emptyIntermediateStates)} | ${
      format(m.panicIntermediateStates)
    } |`,
    "",
    `Correlated outage: the verdicts of one outage were ${
      format(m.verdictSpreadP50Ms)
    } ms apart (median), and were published together.`,
  ];
}
