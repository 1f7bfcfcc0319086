/**
 * Benchmark scenario "clusters" (issue 14 item 7): publish latency into one cluster and into
 * three in the same run, and into three with one of them black-holed.
 *
 * Three real API servers: the run's (`a`) and two started here (`b`, `c`), the same namespace
 * and selector-less Service in each. One agent at a time, on a 10-target Service at 1 s
 * interval, fall 3, rise 2, 500 ms timeout (bench/fast.ts's settings) and the default
 * fastInterval (200 ms), as users run it. One target at a time is refused, then revived, K
 * times per mode:
 *
 * 1. `alone`: the agent publishes the Service into a only;
 * 2. `three`: another agent publishes it into a, b and c;
 * 3. `dead`: the same agent, with c's kube-apiserver stopped by SIGSTOP for the whole mode (it
 *    accepts connections and never answers: every request into c hangs until its timeout).
 *
 * Each outage is measured from the moment the target died to the EndpointSlice change a watch
 * client of each cluster sees (`outage → watch`: dominated by fall × interval and the phase of
 * the probe round), and from the agent's verdict (the trigger-time annotation it writes) to that
 * change (`verdict → watch`: the publishing path alone, where a slow cluster would show). Writes
 * per outage count the slice changes on a's watch from the outage to 600 ms after it showed.
 * After mode 3 one target is refused and shown down in a, then c gets SIGCONT: `catch-up` is the
 * time from SIGCONT until a fresh watch of c shows that target down.
 *
 * Settings: `BENCH_CLUSTERS_REPS` (outages per mode and run, default 10).
 *
 * @module
 */

import { stringify } from "yaml";
import type { AgentProcess } from "../tests/support/agent_process.ts";
import type { Cluster, ClusterAccess } from "../tests/support/cluster.ts";
import { type SimulatedTarget, startTargets } from "../tests/support/targets.ts";
import type { TestNetwork } from "../tests/support/testnet.ts";
import { readiness, type Recorder, type SeenEvent } from "../tests/support/watch.ts";
import { startBenchAgent } from "./_agent.ts";
import { median, quantile, type Samples, scrape, sleep } from "./measure.ts";
import { verdictToWatch } from "./sparse.ts";

/** What the scenario needs of the bench. */
export interface ClustersBed {
  /** Cluster a: the run's API server. */
  readonly cluster: ClusterAccess;
  readonly net: TestNetwork;
  metricsPort(): number;
  /** Starts one more API server (b, c); the scenario stops it. */
  startCluster(): Promise<Cluster>;
  /** Records the EndpointSlices of `namespace` in `cluster` as a watch client sees them. */
  watchSlices(cluster: ClusterAccess, namespace: string): Promise<Recorder>;
}

/** Settings of one run. */
export interface ClustersSettings {
  /** Outages per mode (default 10). */
  readonly repetitions: number;
  readonly targets: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly fall: number;
  readonly rise: number;
}

/** The settings from the environment. */
export function clustersSettings(
  env: Readonly<Record<string, string | undefined>>,
): ClustersSettings {
  return {
    repetitions: Number(env.BENCH_CLUSTERS_REPS ?? 10),
    targets: 10,
    intervalMs: 1000,
    timeoutMs: 500,
    fall: 3,
    rise: 2,
  };
}

/**
 * One run's figures, in ms: `<mode><Cluster><Measure>`, modes `alone` (into a only), `three`
 * (into a, b, c) and `dead` (into a, b, c with c black-holed); measures `outage → watch`
 * (`P50Ms`, `P99Ms`) and `verdict → watch` (`VerdictP50Ms`, `VerdictP99Ms`).
 */
export interface ClustersResult extends Record<string, number> {
  readonly aloneAP50Ms: number;
  readonly aloneAP99Ms: number;
  readonly threeAP50Ms: number;
  readonly threeAP99Ms: number;
  readonly deadAP50Ms: number;
  readonly deadAP99Ms: number;
  readonly threeBP50Ms: number;
  readonly threeBP99Ms: number;
  readonly deadBP50Ms: number;
  readonly deadBP99Ms: number;
  /** Median slice changes per outage on a's watch, per mode. */
  readonly aloneWritesA: number;
  readonly threeWritesA: number;
  readonly deadWritesA: number;
  /** Write attempts that failed while c was black-holed (all into c: proof that it was). */
  readonly deadFailedWrites: number;
  /** SIGCONT of c → c shows the state a shows. */
  readonly catchUpMs: number;
}

const ADDRESSES = Array.from({ length: 10 }, (_, i) => `192.0.2.${151 + i}`);
const PORT = 9092;
const SERVICE = "brokers";
const now = () => performance.timeOrigin + performance.now();

/** The pid of `cluster`'s kube-apiserver, found by its port in /proc (as the shutdown test does). */
async function apiServerPid(cluster: ClusterAccess): Promise<number> {
  const port = new URL(cluster.server).port;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const args = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).split("\0");
      if (args[0]?.endsWith("/kube-apiserver") && args.includes(`--secure-port=${port}`)) {
        return Number(entry.name);
      }
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`No kube-apiserver on port ${port}`);
}

/** A watch event showing every one of `addresses` with readiness `ready`. */
const showsAll = (addresses: readonly string[], ready: boolean) => (event: SeenEvent) => {
  const state = readiness(event.object);
  return addresses.every((a) => state[a] === ready);
};

/** What one mode measured, per watched cluster (by name). */
interface ModeFigures {
  readonly outage: Record<string, number[]>;
  readonly verdict: Record<string, number[]>;
  /** Slice changes on a's watch per outage. */
  readonly writesA: number[];
}

/** One target at a time refused, then revived, `repetitions` times; every watch measured. */
async function outages(
  targets: readonly SimulatedTarget[],
  watches: Record<string, Recorder>,
  repetitions: number,
  label: string,
): Promise<ModeFigures> {
  const names = Object.keys(watches);
  const outage: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const verdict: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const writesA: number[] = [];
  for (let rep = 0; rep < repetitions; rep++) {
    // A different victim each time, at a random moment of the probe round.
    const victim = targets[rep % targets.length]!;
    await sleep(Math.random() * 1000);
    const marks = Object.fromEntries(names.map((n) => [n, watches[n]!.events.length]));
    const began = now();
    await victim.setMode("refuse");
    await Promise.all(names.map(async (name) => {
      const down = await watches[name]!.waitFor(showsAll([victim.address], false), {
        since: marks[name],
        timeoutMs: 30_000,
      });
      outage[name]!.push(down.at - began);
    }));
    await sleep(600); // late writes of this outage would land here
    for (const name of names) {
      verdict[name]!.push(...verdictToWatch(watches[name]!.events.slice(marks[name])));
    }
    writesA.push(watches.a!.events.slice(marks.a).filter((e) => e.type === "MODIFIED").length);
    const revival = Object.fromEntries(names.map((n) => [n, watches[n]!.events.length]));
    await victim.setMode("accept");
    await Promise.all(names.map((name) =>
      watches[name]!.waitFor(showsAll([victim.address], true), {
        since: revival[name],
        timeoutMs: 30_000,
      })
    ));
    await sleep(300);
  }
  for (const name of names) {
    console.error(
      `[clusters] ${label}, ${name}: outage → watch ${outage[name]!.map(Math.round).join(", ")}` +
        ` ms; verdict → watch ${verdict[name]!.map(Math.round).join(", ")} ms`,
    );
  }
  console.error(`[clusters] ${label}: writes per outage in a ${writesA.join(", ")}`);
  return { outage, verdict, writesA };
}

/**
 * Write attempts that did not succeed between two scrapes (`helaseid_kube_writes_total` has no
 * cluster label: during mode 3 only c is unreachable, a and b answer).
 */
function failedWrites(before: Samples, after: Samples): number {
  let total = 0;
  for (const [key, value] of after) {
    if (!key.startsWith("helaseid_kube_writes_total{") || key.includes('result="ok"')) continue;
    total += value - (before.get(key) ?? 0);
  }
  return total;
}

/** The figures of one mode, keyed as {@linkcode ClustersResult}. */
function figures(mode: string, measured: ModeFigures): Record<string, number> {
  const result: Record<string, number> = { [`${mode}WritesA`]: median(measured.writesA) };
  for (const [name, times] of Object.entries(measured.outage)) {
    const key = `${mode}${name.toUpperCase()}`;
    result[`${key}P50Ms`] = quantile(times, 0.5);
    result[`${key}P99Ms`] = quantile(times, 0.99);
    result[`${key}VerdictP50Ms`] = quantile(measured.verdict[name]!, 0.5);
    result[`${key}VerdictP99Ms`] = quantile(measured.verdict[name]!, 0.99);
  }
  return result;
}

/** Runs the scenario once: two more API servers, the three modes, the catch-up. */
export async function clusters(
  bed: ClustersBed,
  settings: ClustersSettings,
): Promise<ClustersResult> {
  const a = bed.cluster;
  const extra: Cluster[] = [];
  const targets: SimulatedTarget[] = [];
  const files: string[] = [];
  let agent: AgentProcess | undefined;
  let metrics = "";
  let stopped: number | undefined;
  try {
    extra.push(await bed.startCluster(), await bed.startCluster());
    const [b, c] = extra as [Cluster, Cluster];
    const all: Record<string, ClusterAccess> = { a, b, c };
    const namespace = await a.createNamespace("bench-clusters");
    for (const cluster of [b, c]) await cluster.kubectlOk(["create", "namespace", namespace]);
    for (const cluster of [a, b, c]) {
      await cluster.kubectlOk(["apply", "-f", "-"], {
        stdin: JSON.stringify({
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: SERVICE, namespace },
          spec: { ports: [{ name: "kafka", port: PORT, targetPort: PORT, protocol: "TCP" }] },
        }),
      });
    }
    const addresses = ADDRESSES.slice(0, settings.targets);
    targets.push(
      ...await startTargets(bed.net, addresses.map((address) => ({ address, port: PORT }))),
    );

    /** Starts the agent publishing into `names`; resolves when every one shows all ready. */
    const start = async (names: string[]): Promise<Record<string, Recorder>> => {
      const file = await Deno.makeTempFile({ suffix: ".yaml" });
      files.push(file);
      await Deno.writeTextFile(
        file,
        stringify({
          clusters: names.map((name) => ({ name, kubeconfig: all[name]!.kubeconfigPath })),
          services: [{
            name: SERVICE,
            namespace,
            clusters: names,
            ports: [{ name: "kafka", port: PORT }],
            targets: addresses,
            probe: {
              interval: `${settings.intervalMs}ms`,
              timeout: `${settings.timeoutMs}ms`,
              fall: settings.fall,
              rise: settings.rise,
            },
          }],
        }),
      );
      const watches: Record<string, Recorder> = {};
      for (const name of names) watches[name] = await bed.watchSlices(all[name]!, namespace);
      const port = bed.metricsPort();
      metrics = `http://127.0.0.1:${port}/metrics`;
      agent = await startBenchAgent({ config: file, kubeconfig: a.kubeconfigPath, port });
      await Promise.all(
        names.map((name) =>
          watches[name]!.waitFor(showsAll(addresses, true), { timeoutMs: 60_000 })
        ),
      );
      await sleep(1500);
      return watches;
    };
    const end = async (watches: Record<string, Recorder>) => {
      for (const watch of Object.values(watches)) await watch[Symbol.asyncDispose]();
    };
    const { repetitions } = settings;

    // 1. Into a only.
    let watches = await start(["a"]);
    const alone = await outages(targets, watches, repetitions, "into a only");
    await end(watches);
    await agent!.stop();
    agent = undefined;

    // 2. Into a, b, c.
    watches = await start(["a", "b", "c"]);
    const three = await outages(targets, watches, repetitions, "into a, b, c");

    // 3. The same agent, c black-holed for the whole mode.
    await watches.c![Symbol.asyncDispose]();
    delete watches.c;
    stopped = await apiServerPid(c);
    const before = await scrape(metrics);
    Deno.kill(stopped, "SIGSTOP");
    const dead = await outages(targets, watches, repetitions, "into a, b, c; c black-holed");

    // Catch-up: c is behind on a change; SIGCONT → a fresh watch of c shows it.
    const victim = targets[0]!;
    const mark = watches.a!.events.length;
    await victim.setMode("refuse");
    await watches.a!.waitFor(showsAll([victim.address], false), { since: mark, timeoutMs: 30_000 });
    await sleep(1000);
    const after = await scrape(metrics);
    const deadFailedWrites = failedWrites(before, after);
    const status = await (await fetch(metrics.replace("/metrics", "/status"))).json();
    console.error(
      `[clusters] c black-holed: ${deadFailedWrites} failed write attempts; c in /status: ` +
        JSON.stringify(
          status.services?.[0]?.clusters?.find((s: { name: string }) => s.name === "c"),
        ),
    );
    const resumed = now();
    Deno.kill(stopped, "SIGCONT");
    stopped = undefined;
    const caught = await bed.watchSlices(c, namespace);
    let catchUpMs: number;
    try {
      const shown = await caught.waitFor(showsAll([victim.address], false), { timeoutMs: 120_000 });
      catchUpMs = shown.at - resumed;
    } finally {
      await caught[Symbol.asyncDispose]();
    }
    console.error(`[clusters] c caught up ${Math.round(catchUpMs)} ms after SIGCONT`);
    await victim.setMode("accept");
    await end(watches);

    return {
      ...figures("alone", alone),
      ...figures("three", three),
      ...figures("dead", dead),
      deadFailedWrites,
      catchUpMs,
    } as ClustersResult;
  } finally {
    if (stopped !== undefined) Deno.kill(stopped, "SIGCONT");
    await agent?.stop("SIGKILL");
    for (const target of targets) await target.close();
    for (const cluster of extra) await cluster.stop();
    for (const file of files) await Deno.remove(file);
  }
}

/** The scenario's lines of the bench table, from the medians of its runs. */
export function clustersTable(
  m: ClustersResult,
  settings: ClustersSettings,
  format: (value: number, digits?: number) => string,
): string[] {
  const { intervalMs, timeoutMs, fall, targets, repetitions } = settings;
  const pair = (p50: number, p99: number, digits = 0) =>
    `${format(p50, digits)} / ${format(p99, digits)}`;
  const row = (label: string, mode: string, b: boolean) =>
    `| ${label} | ${pair(m[`${mode}AP50Ms`]!, m[`${mode}AP99Ms`]!)} | ${
      pair(m[`${mode}AVerdictP50Ms`]!, m[`${mode}AVerdictP99Ms`]!, 1)
    } | ${b ? pair(m[`${mode}BP50Ms`]!, m[`${mode}BP99Ms`]!) : ""} | ${
      b ? pair(m[`${mode}BVerdictP50Ms`]!, m[`${mode}BVerdictP99Ms`]!, 1) : ""
    } | ${format(m[`${mode}WritesA`]!, 1)} |`;
  return [
    "",
    `| several clusters: 1 of ${targets} refused, ${intervalMs} ms × fall ${fall} (fastInterval 200 ms), ${timeoutMs} ms timeout, ${repetitions} outages per mode | a: outage → watch p50 / p99 (ms) | a: verdict → watch p50 / p99 (ms) | b: outage → watch p50 / p99 (ms) | b: verdict → watch p50 / p99 (ms) | writes per outage in a |`,
    "|---|---|---|---|---|---|",
    row("into a only", "alone", false),
    row("into a, b, c", "three", true),
    row("into a, b, c; c black-holed (SIGSTOP)", "dead", true),
    "",
    `Several clusters: while c was black-holed, ${
      format(m.deadFailedWrites, 0)
    } write attempts failed (Events included; c was the only unreachable cluster); after SIGCONT, c showed the current state in ${
      format(m.catchUpMs, 0)
    } ms (a fresh watch of c).`,
  ];
}
