/**
 * `deno task bench`: HELASEID's performance budget (DESIGN §5), measured on the test bed.
 *
 * Inside a private network namespace (tests/netns.sh): a real kube-apiserver, simulated
 * targets on 192.0.2.x, the agent as users run it (main.ts with the compile permissions, or
 * the bundle with HELASEID_AGENT_BUNDLE), and a separate watch client. Scenarios:
 *
 * - capacity: N targets at 1 s (N = 100, 1000, 5000): agent CPU per wall second, RSS,
 *   scheduling lag p50/p99 (from the agent's histogram, interpolated), probes per second;
 * - latency: K of N targets refused at once; outage start → change seen on a watch, and the
 *   verdict (trigger-time annotation) → watch; writes per object per outage;
 * - correlated: every target of a Service refused at once (bench/correlated.ts): writes per
 *   object, intermediate states on a watch, outage → final state;
 * - big: one Service of 10,000 targets (bench/big.ts): process start → all ready, CPU, RSS, lag;
 * - fast: a refused and a black-holed target at 1 s × fall 3, without and with a 100 ms
 *   fastInterval (bench/fast.ts): outage start → watch, fast checks per outage;
 * - protocols: 1,000 targets at 1 s checked with `tcp`, `http` and `kafka` in turn
 *   (bench/protocols.ts): CPU, RSS, lag per probe type;
 * - ha: three replicas with LEASES=true (bench/ha.ts): takeover after SIGTERM and SIGKILL,
 *   writes per outage against one agent alone, lease requests per second per replica;
 * - clusters: one target refused at 1 s × fall 3, published into a only, into a, b, c, and
 *   into a, b, c with c's API server black-holed (bench/clusters.ts): outage and verdict →
 *   watch in a and b, writes per outage, c's catch-up after SIGCONT;
 * - steady: a minute with nothing changing: writes must be 0;
 * - memory: RSS with 10 targets (and 5000 from capacity);
 * - baseline: a sequential seed-style checker (bench/seed_style.ts) beside the agent on the
 *   same targets: detection of a black-holed target, of a refused one during a black hole,
 *   CPU, writes.
 *
 * Each scenario runs twice; the table shows medians. Results: bench/results/latest.{json,md}.
 * `BENCH_ONLY=correlated,big` runs only the scenarios named (see ONLY below).
 *
 * @module
 */

import { stringify } from "yaml";
import type { AgentProcess } from "../tests/support/agent_process.ts";
import { startBenchAgent } from "./_agent.ts";
import { type ClusterAccess, startCluster } from "../tests/support/cluster.ts";
import { type SimulatedTarget, startTargets } from "../tests/support/targets.ts";
import { TestNetwork } from "../tests/support/testnet.ts";
import { readiness, record } from "../tests/support/watch.ts";
import {
  cpuSeconds,
  delta,
  histogramQuantile,
  median,
  quantile,
  rssMiB,
  type Samples,
  scrape,
  sleep,
} from "./measure.ts";
import { sparse, sparseSettings, sparseTable, verdictToWatch } from "./sparse.ts";
import { correlated, correlatedSettings, correlatedTable } from "./correlated.ts";
import { big, bigSettings, bigTable } from "./big.ts";
import { fast, fastSettings, fastTable } from "./fast.ts";
import { protocols, protocolsSettings, protocolsTable } from "./protocols.ts";
import { ha, haSettings, haTable } from "./ha.ts";
import { clusters, clustersSettings, clustersTable } from "./clusters.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 2);
const QUICK = Deno.env.get("BENCH_QUICK") === "1";
const CAPACITY = (Deno.env.get("BENCH_CAPACITY") ?? (QUICK ? "100,1000" : "100,1000,5000"))
  .split(",").map(Number);
/**
 * Scenarios to run (default all): capacity, memory, latency, sparse, correlated, big,
 * protocols, ha, clusters, steady, baseline.
 */
const ONLY = new Set(
  (Deno.env.get("BENCH_ONLY") ??
    "capacity,memory,latency,sparse,correlated,big,fast,protocols,ha,clusters,steady,baseline")
    .split(","),
);
const now = () => performance.timeOrigin + performance.now();
const log = (text: string) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}`);

const cluster = await startCluster();
const net = await TestNetwork.open();
let namespaces = 0;
let metricsPort = 19000;

interface AgentRun {
  readonly agent: AgentProcess;
  readonly metrics: string;
  readonly namespace: string;
  readonly targets: SimulatedTarget[];
  stop(): Promise<void>;
}

/** Services `s000...` with 100 targets each on ports 20000+i, all at 192.0.2.1-100. */
async function agentRun(
  count: number,
  probe: Record<string, unknown>,
  options: { perService?: number; publish?: Record<string, unknown> } = {},
): Promise<AgentRun> {
  const namespace = await cluster.createNamespace(`bench${namespaces++}`);
  const perService = Math.min(count, options.perService ?? 100);
  const services = Math.ceil(count / perService);
  const addresses = Array.from({ length: perService }, (_, i) => `192.0.2.${i + 1}`);
  const specs = [];
  const config = { services: [] as unknown[] };
  const objects = [];
  for (let s = 0; s < services; s++) {
    const name = `s${String(s).padStart(3, "0")}`;
    const port = 20000 + s;
    objects.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace },
      spec: { ports: [{ name: "kafka", port }] },
    });
    config.services.push({
      name,
      namespace,
      ports: [{ name: "kafka", port }],
      targets: addresses,
      probe,
      ...(options.publish ? { publish: options.publish } : {}),
    });
    for (const address of addresses) specs.push({ address, port });
  }
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  });
  const targets = await startTargets(net, specs);
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(file, stringify(config));
  const port = metricsPort++;
  const agent = await startBenchAgent({
    config: file,
    kubeconfig: cluster.kubeconfigPath,
    port,
  });
  const metrics = `http://127.0.0.1:${port}/metrics`;
  // Ready: every target checked and every Service published.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      await response.body?.cancel();
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  return {
    agent,
    metrics,
    namespace,
    targets,
    async stop() {
      await agent.stop();
      for (const target of targets) await target.close();
      await Deno.remove(file);
    },
  };
}

async function capacity(count: number) {
  const run = await agentRun(count, { interval: "1s", timeout: "500ms", rise: 2, fall: 3 });
  await sleep(5000); // past the first round's burst
  const before = await scrape(run.metrics);
  const cpu0 = cpuSeconds(run.agent.pid);
  const t0 = now();
  await sleep(QUICK ? 8000 : 15_000);
  const after = await scrape(run.metrics);
  const seconds = (now() - t0) / 1000;
  const result = {
    targets: count,
    cpuPerSecond: (cpuSeconds(run.agent.pid) - cpu0) / seconds,
    rssMiB: rssMiB(run.agent.pid),
    heapUsedMiB: (after.get("deno_heap_size_used_bytes") ?? NaN) / 2 ** 20,
    heapTotalMiB: (after.get("deno_heap_size_total_bytes") ?? NaN) / 2 ** 20,
    externalMiB: (after.get("deno_external_memory_bytes") ?? NaN) / 2 ** 20,
    lagP50Ms: histogramQuantile(before, after, "helaseid_scheduling_lag_seconds", 0.5) * 1000,
    lagP99Ms: histogramQuantile(before, after, "helaseid_scheduling_lag_seconds", 0.99) * 1000,
    probesPerSecond: delta(before, after, "helaseid_probes_total") / seconds,
    failedProbes: delta(before, after, "helaseid_probes_total") -
      delta(before, after, "helaseid_probes_total", 'result="ok"'),
  };
  await run.stop();
  return result;
}

async function memory(count: number) {
  const run = await agentRun(count, { interval: "1s", timeout: "500ms" });
  await sleep(5000);
  const rss = rssMiB(run.agent.pid);
  await run.stop();
  return { targets: count, rssMiB: rss };
}

function slicePath(namespace: string) {
  return `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;
}

async function latency(count: number, killed: number, repetitions: number) {
  const run = await agentRun(count, {
    interval: "100ms",
    timeout: "100ms",
    rise: 2,
    fall: 3,
  });
  await using watch = await record(cluster.kubeconfigPath, slicePath(run.namespace));
  const victims = run.targets.slice(0, killed);
  const addresses = victims.map((t) => t.address);
  const fromOutage: number[] = [];
  const fromVerdict: number[] = [];
  const writes: number[] = [];
  const shows = (ready: boolean) => (e: { object: unknown }) => {
    const state = readiness(e.object);
    return addresses.every((a) => state[a] === ready);
  };
  for (let rep = 0; rep < repetitions; rep++) {
    const mark = watch.events.length;
    const start = now();
    await Promise.all(victims.map((t) => t.setMode("refuse")));
    const down = await watch.waitFor(shows(false), { since: mark });
    fromOutage.push(down.at - start);
    await sleep(600); // late writes of this outage would land here
    const outage = watch.events.slice(mark).filter((e) => e.type === "MODIFIED");
    writes.push(outage.length);
    fromVerdict.push(...verdictToWatch(outage));
    const revive = watch.events.length;
    await Promise.all(victims.map((t) => t.setMode("accept")));
    await watch.waitFor(shows(true), { since: revive });
    await sleep(600);
  }
  const samples = await scrape(run.metrics);
  const empty: Samples = new Map();
  const result = {
    targets: count,
    killed,
    repetitions,
    outageToWatchP50Ms: quantile(fromOutage, 0.5),
    outageToWatchP99Ms: quantile(fromOutage, 0.99),
    verdictToWatchP50Ms: quantile(fromVerdict, 0.5),
    verdictToWatchP99Ms: quantile(fromVerdict, 0.99),
    verdictToAckP99Ms: histogramQuantile(empty, samples, "helaseid_publish_latency_seconds", 0.99) *
      1000,
    writesPerObjectPerOutageMax: Math.max(...writes),
    writesPerObjectPerOutageMedian: median(writes),
  };
  await run.stop();
  return result;
}

async function steady(count: number, seconds: number) {
  const run = await agentRun(count, { interval: "1s", timeout: "500ms" });
  await using watch = await record(cluster.kubeconfigPath, slicePath(run.namespace));
  await using endpoints = await record(
    cluster.kubeconfigPath,
    `/api/v1/namespaces/${run.namespace}/endpoints`,
  );
  await sleep(2000);
  const before = await scrape(run.metrics);
  const seen = watch.events.length + endpoints.events.length;
  await sleep(seconds * 1000);
  const after = await scrape(run.metrics);
  const result = {
    targets: count,
    seconds,
    writes: delta(before, after, "helaseid_kube_writes_total"),
    watchEvents: watch.events.length + endpoints.events.length - seen,
    probes: delta(before, after, "helaseid_probes_total"),
  };
  await run.stop();
  return result;
}

/** A checker under comparison: the agent, or the seed-style baseline. */
interface Checker {
  readonly pid: number;
  readonly targets: SimulatedTarget[];
  /** Where its result shows: our slice, or the Endpoints the baseline writes. */
  readonly path: string;
  /** API writes so far. */
  writes(): Promise<number>;
  /** True when `address` no longer counts as ready in a watched object. */
  gone(object: unknown, address: string): boolean;
  stop(): Promise<void>;
}

const BASELINE = { interval: 1, timeout: 1, maxRetry: 3, targets: 100 };

async function helaseidChecker(): Promise<Checker> {
  const run = await agentRun(BASELINE.targets, {
    interval: `${BASELINE.interval}s`,
    timeout: `${BASELINE.timeout}s`,
    rise: 1,
    fall: BASELINE.maxRetry,
  });
  return {
    pid: run.agent.pid,
    targets: run.targets,
    path: slicePath(run.namespace),
    writes: async () => delta(new Map(), await scrape(run.metrics), "helaseid_kube_writes_total"),
    gone: (object, address) => readiness(object)[address] !== true,
    stop: () => run.stop(),
  };
}

async function seedStyleChecker(): Promise<Checker> {
  const namespace = await cluster.createNamespace(`bench${namespaces++}`);
  const addresses = Array.from({ length: BASELINE.targets }, (_, i) => `192.0.2.${i + 1}`);
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s000", namespace },
      spec: { ports: [{ port: 20000 }] },
    }),
  });
  const targets = await startTargets(net, addresses.map((address) => ({ address, port: 20000 })));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}bench/seed_style.ts`],
    env: {
      IPS: addresses.join(" "),
      PORT: "20000",
      MAX_RETRY: String(BASELINE.maxRetry),
      INTERVAL: String(BASELINE.interval),
      TIMEOUT: String(BASELINE.timeout),
      NAMESPACE: namespace,
      SERVICE_NAME: "s000",
      KUBECONFIG: cluster.kubeconfigPath,
    },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // Each pass ends with one write of the whole Endpoints object.
  let passes = 0;
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      passes += chunk.split("\n").filter((line) => line.includes('"pass"')).length;
    }
  })();
  return {
    pid: child.pid,
    targets,
    path: `/api/v1/namespaces/${namespace}/endpoints`,
    writes: () => Promise.resolve(passes),
    gone: (object, address) =>
      !((object as { subsets?: { addresses?: { ip: string }[] }[] }).subsets?.[0]?.addresses ?? [])
        .some((a) => a.ip === address),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await reading;
      for (const target of targets) await target.close();
    },
  };
}

/** Steady CPU and writes, then detection of a black hole and of a refusal during it. */
async function compare(start: () => Promise<Checker>) {
  const checker = await start();
  await using watch = await record(cluster.kubeconfigPath, checker.path);
  await sleep(3000);
  const writes0 = await checker.writes();
  const cpu0 = cpuSeconds(checker.pid);
  const t0 = now();
  await sleep(20_000);
  const cpuPerSecond = (cpuSeconds(checker.pid) - cpu0) / ((now() - t0) / 1000);
  const steadyWrites = await checker.writes() - writes0;
  const detect = async (target: SimulatedTarget, mode: "drop" | "refuse") => {
    const mark = watch.events.length;
    const began = now();
    await target.setMode(mode);
    const event = await watch.waitFor((e) => checker.gone(e.object, target.address), {
      since: mark,
      timeoutMs: 60_000,
    });
    return event.at - began;
  };
  const blackHoleDetectionMs = await detect(checker.targets[0]!, "drop");
  const refusedDuringBlackHoleMs = await detect(checker.targets[1]!, "refuse");
  await checker.stop();
  return { blackHoleDetectionMs, refusedDuringBlackHoleMs, cpuPerSecond, steadyWrites };
}

type Row = Record<string, number>;

async function twice<T extends Row>(name: string, run: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < RUNS; i++) {
    log(`${name}: run ${i + 1} of ${RUNS}`);
    results.push(await run());
  }
  return results;
}

function medians<T extends Row>(runs: T[]): T {
  const keys = Object.keys(runs[0] ?? {});
  return Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]!))])) as T;
}

const fmt = (value: number, digits = 1) =>
  Number.isFinite(value) ? value.toFixed(digits) : String(value);

const results: Record<string, unknown> = {};
const table: string[] = [];
try {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const machine = {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cpus: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    kernel: Deno.osRelease(),
    date: new Date().toISOString(),
    runs: RUNS,
    agent: Deno.env.get("HELASEID_AGENT_BUNDLE") ? "bundle" : "main.ts",
  };
  results.machine = machine;
  table.push(
    `Machine: ${machine.cpu}, ${machine.cpus} CPUs, Deno ${machine.deno}, kernel ${machine.kernel}; ` +
      `agent from ${machine.agent}; medians of ${RUNS} runs; ${machine.date.slice(0, 10)}`,
  );

  if (ONLY.has("capacity")) {
    const rows = [];
    for (const count of CAPACITY) {
      const runs = await twice(`capacity ${count}`, () => capacity(count));
      rows.push({ runs, median: medians(runs) });
    }
    results.capacity = rows;
    table.push(
      "",
      "| capacity (1 s interval) | agent CPU (cores) | RSS (MiB) | lag p50 (ms) | lag p99 (ms) | probes/s |",
      "|---|---|---|---|---|---|",
      ...rows.map(({ median: m }) =>
        `| ${m.targets} targets | ${fmt(m.cpuPerSecond, 3)} | ${fmt(m.rssMiB)} | ${
          fmt(m.lagP50Ms, 2)
        } | ${fmt(m.lagP99Ms, 2)} | ${fmt(m.probesPerSecond, 0)} |`
      ),
    );
  }

  if (ONLY.has("latency")) {
    const runs = await twice("latency", () => latency(100, 10, QUICK ? 4 : 10));
    const l = medians(runs);
    results.latency = { runs, median: l };
    table.push(
      "",
      `| publish latency: ${l.killed} of ${l.targets} refused at once (100 ms × fall 3), ${l.repetitions} outages | p50 (ms) | p99 (ms) |`,
      "|---|---|---|",
      `| outage start → EndpointSlice change on a watch | ${fmt(l.outageToWatchP50Ms)} | ${
        fmt(l.outageToWatchP99Ms)
      } |`,
      `| verdict (trigger-time annotation) → change on a watch | ${fmt(l.verdictToWatchP50Ms)} | ${
        fmt(l.verdictToWatchP99Ms)
      } |`,
      `| verdict → write acknowledged (agent histogram, interpolated) | | ${
        fmt(l.verdictToAckP99Ms)
      } |`,
      "",
      `Writes per object per outage: median ${fmt(l.writesPerObjectPerOutageMedian, 0)}, max ${
        fmt(l.writesPerObjectPerOutageMax, 0)
      } (budget ≤ 3).`,
    );
  }

  if (ONLY.has("sparse")) {
    const bed = {
      agentRun: (count: number, probe: Record<string, unknown>) =>
        agentRun(count, probe, { perService: count }),
      watchSlices: (namespace: string) => record(cluster.kubeconfigPath, slicePath(namespace)),
    };
    const runs = await twice("sparse", () => sparse(bed, sparseSettings(Deno.env.toObject())));
    results.sparse = { runs, median: medians(runs) };
    table.push(...sparseTable(medians(runs), fmt));
  }

  if (ONLY.has("correlated")) {
    const bed = {
      agentRun: (count: number, probe: Record<string, unknown>, publish: Record<string, unknown>) =>
        agentRun(count, probe, { perService: count, publish }),
      watchSlices: (namespace: string) => record(cluster.kubeconfigPath, slicePath(namespace)),
      watchEndpoints: (namespace: string) =>
        record(cluster.kubeconfigPath, `/api/v1/namespaces/${namespace}/endpoints`),
    };
    const settings = correlatedSettings(Deno.env.toObject());
    const runs = await twice("correlated", () => correlated(bed, settings));
    results.correlated = { runs, median: medians(runs) };
    table.push(...correlatedTable(medians(runs), fmt));
  }

  if (ONLY.has("big")) {
    const bed = {
      cluster,
      metricsPort: () => metricsPort++,
      watchSlices: (namespace: string) => record(cluster.kubeconfigPath, slicePath(namespace)),
    };
    const runs = await twice("big", () => big(bed, bigSettings(Deno.env.toObject())));
    results.big = { runs, median: medians(runs) };
    table.push(...bigTable(medians(runs), fmt));
  }

  if (ONLY.has("protocols")) {
    const bed = { cluster, metricsPort: () => metricsPort++ };
    const settings = protocolsSettings(Deno.env.toObject());
    const runs = await twice("protocols", () => protocols(bed, settings));
    results.protocols = { runs, median: medians(runs) };
    table.push(...protocolsTable(medians(runs), settings, fmt));
  }

  if (ONLY.has("fast")) {
    const bed = {
      agentRun: (count: number, probe: Record<string, unknown>) =>
        agentRun(count, probe, { perService: count }),
      watchSlices: (namespace: string) => record(cluster.kubeconfigPath, slicePath(namespace)),
    };
    const settings = fastSettings(Deno.env.toObject());
    const runs = await twice("fast", () => fast(bed, settings));
    results.fast = { runs, median: medians(runs) };
    table.push(...fastTable(medians(runs), settings, fmt));
  }

  if (ONLY.has("ha")) {
    const bed = {
      cluster,
      net,
      metricsPort: () => metricsPort++,
      watchSlices: (namespace: string) => record(cluster.kubeconfigPath, slicePath(namespace)),
    };
    const settings = haSettings(Deno.env.toObject());
    const runs = await twice("ha", () => ha(bed, settings));
    results.ha = { runs, median: medians(runs) };
    table.push(...haTable(medians(runs), settings, fmt));
  }

  if (ONLY.has("clusters")) {
    const bed = {
      cluster,
      net,
      metricsPort: () => metricsPort++,
      startCluster: () => startCluster(),
      watchSlices: (access: ClusterAccess, namespace: string) =>
        record(access.kubeconfigPath, slicePath(namespace)),
    };
    const settings = clustersSettings(Deno.env.toObject());
    const runs = await twice("clusters", () => clusters(bed, settings));
    results.clusters = { runs, median: medians(runs) };
    table.push(...clustersTable(medians(runs), settings, fmt));
  }

  if (ONLY.has("steady")) {
    const runs = await twice("steady", () => steady(100, QUICK ? 15 : 60));
    const m = medians(runs);
    results.steady = { runs, median: m };
    table.push(
      "",
      `Steady state, ${m.seconds} s with ${m.targets} targets: ${fmt(m.writes, 0)} writes, ${
        fmt(m.watchEvents, 0)
      } watch events, ${fmt(m.probes, 0)} probes.`,
    );
  }

  if (ONLY.has("memory")) {
    const runs = await twice("memory 10", () => memory(10));
    const m = medians(runs);
    results.memory = { runs, median: m };
    table.push(
      "",
      `Memory: ${fmt(m.rssMiB)} MiB RSS with 10 targets (capacity rows give the rest).`,
    );
  }

  if (ONLY.has("baseline")) {
    const ours = await twice("baseline: helaseid", () => compare(helaseidChecker));
    const theirs = await twice("baseline: seed-style", () => compare(seedStyleChecker));
    const a = medians(ours);
    const b = medians(theirs);
    results.baseline = { settings: BASELINE, helaseid: ours, seedStyle: theirs };
    table.push(
      "",
      `| same ${BASELINE.targets} targets, ${BASELINE.interval} s interval, ${BASELINE.maxRetry} tries, ${BASELINE.timeout} s timeout | helaseid | seed-style sequential |`,
      "|---|---|---|",
      `| a black-holed target leaves the ready endpoints after (ms) | ${
        fmt(a.blackHoleDetectionMs, 0)
      } | ${fmt(b.blackHoleDetectionMs, 0)} |`,
      `| a refused target, during that black hole, after (ms) | ${
        fmt(a.refusedDuringBlackHoleMs, 0)
      } | ${fmt(b.refusedDuringBlackHoleMs, 0)} |`,
      `| CPU (cores) | ${fmt(a.cpuPerSecond, 3)} | ${fmt(b.cpuPerSecond, 3)} |`,
      `| API writes in a 20 s steady window | ${fmt(a.steadyWrites, 0)} | ${
        fmt(b.steadyWrites, 0)
      } |`,
    );
  }

  const markdown = table.join("\n");
  console.log(markdown);
  await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
  await Deno.writeTextFile(`${ROOT}bench/results/latest.json`, JSON.stringify(results, null, 2));
  await Deno.writeTextFile(`${ROOT}bench/results/latest.md`, markdown + "\n");
  // Committed results stay `deno fmt --check` clean.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", "bench/results/"],
    cwd: ROOT,
  }).output();
} finally {
  await net.close();
  await cluster.stop();
}
