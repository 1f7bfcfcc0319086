/**
 * Benchmark scenario "big Service" (DESIGN §5, issue 10 item 9): one Service with 10,000
 * targets at a 1 s interval. It measures how long a fresh agent takes to publish every target
 * ready (the goal is 10 s), the CPU it spends getting there, then its steady CPU, RSS,
 * scheduling lag and probe rate.
 *
 * The targets are 10,000 addresses of 2001:db8:1::/112 made local at once by a route
 * (`ip -6 route add local … dev lo`), served by one listener on `[::]`: no per-target setup,
 * so the bench measures the agent, not the test bed. The objects are IPv6 EndpointSlices of
 * 1,000 endpoints each.
 *
 * Settings: `BENCH_BIG_TARGETS` (default 10000).
 *
 * @module
 */

import { stringify } from "yaml";
import type { AgentProcess } from "../tests/support/agent_process.ts";
import { startBenchAgent } from "./_agent.ts";
import { localPrefix } from "./_prefix.ts";
import { createService } from "../tests/support/service.ts";
import type { ClusterAccess } from "../tests/support/cluster.ts";
import type { Recorder } from "../tests/support/watch.ts";
import { cpuSeconds, delta, sleep, type SteadyFigures, steadyState } from "./measure.ts";

/** What the scenario needs of the bench. */
export interface BigBed {
  readonly cluster: ClusterAccess;
  /** A free port for the agent's metrics. */
  metricsPort(): number;
  /** Records the EndpointSlices of a namespace as a watch client sees them. */
  watchSlices(namespace: string): Promise<Recorder>;
}

/** Settings of one run. */
export interface BigSettings {
  readonly targets: number;
  /** Seconds of steady state measured after the first full publish. */
  readonly steadySeconds: number;
}

/** The settings from the environment. */
export function bigSettings(env: Readonly<Record<string, string | undefined>>): BigSettings {
  return { targets: Number(env.BENCH_BIG_TARGETS ?? 10_000), steadySeconds: 15 };
}

/** One run's figures. */
export interface BigResult extends SteadyFigures, Record<string, number> {
  readonly targets: number;
  /** Process start → the first EndpointSlice seen on a watch. */
  readonly firstSliceMs: number;
  /** Process start → every target ready on the watch (the goal: ≤ 10 s). */
  readonly allReadyMs: number;
  /** Agent CPU seconds from its start to every target ready. */
  readonly cpuToReadySeconds: number;
  // Then the steady state (SteadyFigures): cores used, RSS, scheduling lag, probes per second.
  /** Writes in the steady window (must be 0). */
  readonly steadyWrites: number;
  /** How long one GET /metrics took (the event loop renders ~10,000 series meanwhile). */
  readonly scrapeMs: number;
}

const PREFIX = "2001:db8:1::";
const PORT = 9092;
const now = () => performance.timeOrigin + performance.now();

/** The i-th target address (i from 1). */
function address(i: number): string {
  return `${PREFIX}${i.toString(16)}`;
}

/** Serves every address of the prefix: accept, close (what a healthy broker's port does). */
async function serveAll(): Promise<AsyncDisposable> {
  const local = await localPrefix(PREFIX);
  const listener = Deno.listen({ hostname: "::", port: PORT });
  const serving = (async () => {
    try {
      for await (const conn of listener) conn.close();
    } catch {
      // Closed.
    }
  })();
  return {
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving;
      await local[Symbol.asyncDispose]();
    },
  };
}

/** Ready endpoints across every slice, by the latest version of each slice on the watch. */
function readyCount(watch: Recorder): number {
  const latest = new Map<string, { endpoints?: { conditions?: { ready?: boolean } }[] }>();
  for (const event of watch.events) {
    if (event.type === "DELETED") latest.delete(event.object.metadata.name);
    else latest.set(event.object.metadata.name, event.object);
  }
  let ready = 0;
  for (const slice of latest.values()) {
    for (const endpoint of slice.endpoints ?? []) if (endpoint.conditions?.ready) ready++;
  }
  return ready;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`No ${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Runs the scenario once. */
export async function big(bed: BigBed, settings: BigSettings): Promise<BigResult> {
  const { cluster } = bed;
  const namespace = await cluster.createNamespace("big");
  await createService(cluster, namespace, { name: "big" });
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    file,
    stringify({
      services: [{
        name: "big",
        namespace,
        ports: [{ name: "kafka", port: PORT }],
        targets: Array.from({ length: settings.targets }, (_, i) => address(i + 1)),
        probe: { interval: "1s", timeout: "500ms", rise: 2, fall: 3 },
      }],
    }),
  );
  await using _targets = await serveAll();
  await using watch = await bed.watchSlices(namespace);
  const port = bed.metricsPort();
  const metrics = `http://127.0.0.1:${port}/metrics`;
  const started = now();
  let agent: AgentProcess | undefined;
  try {
    agent = await startBenchAgent({
      config: file,
      kubeconfig: cluster.kubeconfigPath,
      port,
    });
    const pid = agent.pid;
    await waitFor("full publish", () => readyCount(watch) >= settings.targets, 120_000);
    const allReadyMs = now() - started;
    const cpuToReadySeconds = cpuSeconds(pid);
    const firstSliceMs = (watch.events[0]?.at ?? NaN) - started;
    const steady = await steadyState(pid, metrics, settings.steadySeconds);
    return {
      targets: settings.targets,
      firstSliceMs,
      allReadyMs,
      cpuToReadySeconds,
      ...steady.figures,
      steadyWrites: delta(steady.before, steady.after, "helaseid_kube_writes_total"),
      scrapeMs: steady.scrapeMs,
    };
  } finally {
    await agent?.stop();
    await Deno.remove(file);
  }
}

/** The scenario's lines of the bench table, from the medians of its runs. */
export function bigTable(m: BigResult, format: (value: number, digits?: number) => string) {
  return [
    "",
    `| big Service: ${m.targets} targets at 1 s, fresh agent | value |`,
    "|---|---|",
    `| process start → first EndpointSlice on a watch (ms) | ${format(m.firstSliceMs, 0)} |`,
    `| process start → every target ready on the watch (ms; goal ≤ 10000) | ${
      format(m.allReadyMs, 0)
    } |`,
    `| agent CPU until then (s) | ${format(m.cpuToReadySeconds, 2)} |`,
    `| steady: agent CPU (cores) | ${format(m.cpuPerSecond, 3)} |`,
    `| steady: RSS (MiB) | ${format(m.rssMiB)} |`,
    `| steady: scheduling lag p50 / p99 (ms) | ${format(m.lagP50Ms, 1)} / ${
      format(m.lagP99Ms, 1)
    } |`,
    `| steady: probes/s (failed) | ${format(m.probesPerSecond, 0)} (${
      format(m.failedProbes, 0)
    }) |`,
    `| steady: API writes | ${format(m.steadyWrites, 0)} |`,
    `| one GET /metrics (ms) | ${format(m.scrapeMs, 0)} |`,
  ];
}
