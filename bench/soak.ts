/**
 * `deno task soak [--minutes M] [--targets N] [--fault-every S]`: the agent for a long time
 * (default 30 min) with 1,000 targets (10 Services of 100, 1 s interval) and a fault every 30 s
 * (`0`: none, the steady state alone), in rotation: 10 targets refused, 5 black-holed, one
 * flapping, the API server stopped for 5 s, every target of one Service refused (panic guard),
 * 10 targets hanging. Runs inside the test network
 * (`tests/netns.sh bench/soak.ts`) against its own API server.
 *
 * Every 10 s, just before a fault or half-way between two, it samples the agent's RSS, CPU
 * seconds, open file descriptors (/proc/<pid>/fd), threads, and its V8 heap in use (from its own
 * `/metrics`). Reports: RSS at start and end and its least-squares slope in MiB per hour (samples
 * after the first minute); the same slope through the medians of twelve equal windows, which
 * faults' spikes do not move; the JS heap's window medians, first and last (a leak in JavaScript
 * grows them); CPU in cores; writes seen on a watch of the EndpointSlices and Endpoints;
 * descriptors at start and end; and whether the agent ever exited on its own.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startBenchAgent } from "./_agent.ts";
import { cpuSeconds, median, rssMiB, scrape, sleep } from "./measure.ts";
import { startCluster } from "../tests/support/cluster.ts";
import { type SimulatedTarget, startTargets, type TargetMode } from "../tests/support/targets.ts";
import { TestNetwork } from "../tests/support/testnet.ts";
import { freePort } from "../tests/support/agent_http.ts";
import { observe } from "../tests/chaos/observer.ts";
import { leastSquaresSlope, type Sample } from "../tests/chaos/stats.ts";
import { SOAK_FAULTS, type SoakFault, soakFault } from "./soak_faults.ts";

/** Options of {@linkcode runSoak}. */
export interface SoakOptions {
  readonly minutes: number;
  /** Targets in all (Services of 100); default 1000. */
  readonly targets?: number;
  /** Seconds between two faults; default 30; 0: no faults (the steady state alone). */
  readonly faultEverySeconds?: number;
  /** Seconds between two samples; default 10. */
  readonly sampleEverySeconds?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/** One sample of the agent. */
export interface SoakSample {
  /** Seconds since the agent started. */
  readonly t: number;
  readonly rssMiB: number;
  readonly cpuSeconds: number;
  readonly fds: number;
  readonly threads: number;
  /** V8 heap in use (`deno_heap_size_used_bytes`), MiB; NaN when the scrape failed. */
  readonly heapMiB: number;
}

/** Medians of one window of samples. */
export interface SoakWindow {
  /** Mid-point of the window, seconds since the agent started. */
  readonly t: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
}

/** What a soak found. */
export interface SoakReport {
  readonly minutes: number;
  readonly targets: number;
  /** Seconds between two faults. */
  readonly faultEverySeconds: number;
  readonly samples: readonly SoakSample[];
  /** Least-squares slope of RSS over the samples after the first minute, MiB per hour. */
  readonly rssSlopeMiBPerHour: number;
  /** Medians of twelve equal windows after the first minute (fewer when samples are few). */
  readonly windows: readonly SoakWindow[];
  /** Least-squares slope of the windows' RSS medians, MiB per hour. */
  readonly rssWindowSlopeMiBPerHour: number;
  /** Agent CPU over the run (after start-up), cores. */
  readonly cpuCores: number;
  /** Writes seen on the watch after start-up, and of them per fault. */
  readonly writes: number;
  readonly faults: ReadonlyMap<SoakFault, number>;
  /** Whether the agent exited unasked (with its code), else undefined. */
  readonly crashed?: number;
  /** Exit code after the final SIGTERM. */
  readonly exitCode: number;
}

const PER_SERVICE = 100;
const PORT_BASE = 21000;

/** Runs the soak and reports. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const count = options.targets ?? 1000;
  const faultEvery = (options.faultEverySeconds ?? 30) * 1000;
  const sampleEvery = (options.sampleEverySeconds ?? 10) * 1000;
  await using cluster = await startCluster();
  await using net = await TestNetwork.open();
  const namespace = await cluster.createNamespace("soak");
  const services = Math.ceil(count / PER_SERVICE);
  const addresses = Array.from(
    { length: Math.min(count, PER_SERVICE) },
    (_, i) => `192.0.2.${i + 1}`,
  );
  const names = Array.from({ length: services }, (_, s) => `s${String(s).padStart(2, "0")}`);
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: names.map((name, s) => ({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace },
        spec: { ports: [{ name: "kafka", port: PORT_BASE + s }] },
      })),
    }),
  });
  const specs = names.flatMap((_, s) =>
    addresses.map((address) => ({ address, port: PORT_BASE + s }))
  );
  const targets: SimulatedTarget[] = await startTargets(net, specs.slice(0, count));
  const byService = names.map((_, s) => targets.filter((t) => t.port === PORT_BASE + s));
  const dir = await Deno.makeTempDir({ prefix: "helaseid-soak-" });
  const config = `${dir}/helaseid.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      defaults: { probe: { interval: "1s", timeout: "500ms", rise: 2, fall: 3 } },
      services: names.map((name, s) => ({
        name,
        namespace,
        ports: [{ name: "kafka", port: PORT_BASE + s }],
        targets: byService[s]!.map((t) => t.address),
      })),
    }),
  );
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const observer = await observe({ kubeconfigPath: cluster.kubeconfigPath, namespace, now });
  const port = freePort();
  const agent = await startBenchAgent({ config, kubeconfig: cluster.kubeconfigPath, port });
  let crashed: number | undefined;
  let stopping = false;
  agent.exited.then((code) => {
    if (!stopping) crashed = code;
  });
  const faults = new Map<SoakFault, number>();
  const running: Promise<void>[] = [];
  const samples: SoakSample[] = [];
  const sample = async () => {
    const heap = await scrape(`http://127.0.0.1:${port}/metrics`)
      .then((page) => (page.get("deno_heap_size_used_bytes") ?? NaN) / 2 ** 20, () => NaN);
    const status = Deno.readTextFileSync(`/proc/${agent.pid}/status`);
    const s = {
      t: now() / 1000,
      rssMiB: rssMiB(agent.pid),
      cpuSeconds: cpuSeconds(agent.pid),
      fds: [...Deno.readDirSync(`/proc/${agent.pid}/fd`)].length,
      threads: Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? NaN),
      heapMiB: heap,
    };
    samples.push(s);
    return s;
  };
  let exitCode = -1;
  let writesAtStart = 0;
  try {
    // Start-up: every Service published, then 10 s for the first rounds to pass.
    const deadline = Date.now() + 120_000;
    while (observer.slices.size < services && Date.now() < deadline && crashed === undefined) {
      await sleep(200);
    }
    await sleep(10_000);
    writesAtStart = observer.writes.length;
    const first = await sample();
    log(
      `start: ${first.rssMiB.toFixed(1)} MiB, heap ${
        first.heapMiB.toFixed(1)
      } MiB, ${first.fds} fds`,
    );
    const end = now() + options.minutes * 60_000;
    let nextFault = faultEvery > 0 ? now() + faultEvery / 2 : Infinity;
    let nextSample = now() + sampleEvery;
    let round = 0;
    while (now() < end && crashed === undefined) {
      const wait = Math.min(nextFault, nextSample, end) - now();
      if (wait > 0) await sleep(wait);
      if (crashed !== undefined) break;
      if (now() >= nextSample) {
        const s = await sample();
        nextSample += sampleEvery;
        log(
          `${(s.t / 60).toFixed(1)} min: ${s.rssMiB.toFixed(1)} MiB, heap ${
            s.heapMiB.toFixed(1)
          } MiB, ${s.fds} fds, ${s.threads} threads`,
        );
      }
      if (now() >= nextFault && now() < end - 15_000) {
        const plan = soakFault(round++, byService.length);
        faults.set(plan.kind, (faults.get(plan.kind) ?? 0) + 1);
        log(`fault: ${plan.kind}`);
        // Faults run in the background: sampling goes on meanwhile.
        running.push(
          inject(plan, byService, cluster).catch((error) => log(`fault failed: ${error}`)),
        );
        nextFault += faultEvery;
      }
    }
    await Promise.all(running);
    await sleep(5000); // the last fault's recovery
    await sample();
    stopping = true;
    exitCode = await agent.stop("SIGTERM");
  } finally {
    stopping = true;
    await Promise.allSettled(running);
    await agent.stop("SIGKILL");
    await observer.stop();
    for (const target of targets) await target.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const late = samples.filter((s) => s.t >= samples[0]!.t + 60);
  const fit: Sample[] = (late.length >= 2 ? late : samples).map((s) => ({
    t: s.t / 3600,
    value: s.rssMiB,
  }));
  const firstSample = samples[0]!, lastSample = samples.at(-1)!;
  const windows = soakWindows(late.length >= 12 ? late : samples, 12);
  return {
    minutes: options.minutes,
    targets: targets.length,
    faultEverySeconds: faultEvery / 1000,
    samples,
    rssSlopeMiBPerHour: leastSquaresSlope(fit),
    windows,
    rssWindowSlopeMiBPerHour: windows.length >= 2
      ? leastSquaresSlope(windows.map((w) => ({ t: w.t / 3600, value: w.rssMiB })))
      : NaN,
    cpuCores: (lastSample.cpuSeconds - firstSample.cpuSeconds) /
      Math.max(1, lastSample.t - firstSample.t),
    writes: observer.writes.length - writesAtStart,
    faults,
    crashed,
    exitCode,
  };
}

/** Medians of RSS and heap over `count` consecutive windows of equally many samples. */
export function soakWindows(samples: readonly SoakSample[], count: number): SoakWindow[] {
  const size = Math.floor(samples.length / count);
  if (size < 1) return [];
  return Array.from({ length: count }, (_, w) => {
    const part = samples.slice(w * size, (w + 1) * size);
    return {
      t: median(part.map((s) => s.t)),
      rssMiB: median(part.map((s) => s.rssMiB)),
      heapMiB: median(part.map((s) => s.heapMiB)),
    };
  });
}

/** Plays one fault: switch its targets (or the API server) and back after its duration. */
async function inject(
  plan: ReturnType<typeof soakFault>,
  byService: readonly (readonly SimulatedTarget[])[],
  cluster: { stopApiServer(): Promise<void>; startApiServer(): Promise<void> },
): Promise<void> {
  if (plan.kind === "api-stop") {
    await cluster.stopApiServer();
    await sleep(plan.durationMs);
    await cluster.startApiServer();
    return;
  }
  const chosen = [
    ...new Set(plan.targets.map(([s, i]) => byService[s]![i % byService[s]!.length]!)),
  ];
  const set = (mode: TargetMode) => Promise.all(chosen.map((t) => t.setMode(mode)));
  if (plan.kind === "flap") {
    for (let elapsed = 0; elapsed < plan.durationMs; elapsed += 700) {
      await set(elapsed % 1400 === 0 ? "refuse" : "accept");
      await sleep(700);
    }
  } else {
    await set(plan.mode);
    await sleep(plan.durationMs);
  }
  await set("accept");
}

/** The report as Markdown. */
export function soakTable(report: SoakReport): string[] {
  const first = report.samples[0]!, last = report.samples.at(-1)!;
  const maxRss = Math.max(...report.samples.map((s) => s.rssMiB));
  const maxFds = Math.max(...report.samples.map((s) => s.fds));
  const faults = [...report.faults].map(([kind, n]) => `${kind} ${n}`).join(", ");
  const total = [...report.faults.values()].reduce((a, b) => a + b, 0);
  return [
    `| soak: ${report.targets} targets at 1 s, ${report.minutes} min, ${
      report.faultEverySeconds > 0 ? `a fault every ${report.faultEverySeconds} s` : "no faults"
    } | value |`,
    "| --- | --- |",
    `| RSS start → end (MiB) | ${first.rssMiB.toFixed(1)} → ${last.rssMiB.toFixed(1)} (max ${
      maxRss.toFixed(1)
    }) |`,
    `| RSS slope, least squares after the first minute (MiB/hour) | ${
      report.rssSlopeMiBPerHour.toFixed(1)
    } |`,
    `| RSS medians of ${report.windows.length} windows, first → last (MiB); their slope (MiB/hour) | ${
      windowSpan(report.windows, "rssMiB")
    }; ${report.rssWindowSlopeMiBPerHour.toFixed(1)} |`,
    `| V8 heap in use, window medians first → last (MiB) | ${
      windowSpan(report.windows, "heapMiB")
    } |`,
    `| threads start → end | ${first.threads} → ${last.threads} |`,
    `| agent CPU (cores) | ${report.cpuCores.toFixed(3)} |`,
    `| open descriptors start → end (max) | ${first.fds} → ${last.fds} (${maxFds}) |`,
    `| writes seen on the watch (per fault) | ${report.writes} (${
      (report.writes / Math.max(1, total)).toFixed(1)
    }) |`,
    `| faults (${total}) | ${faults} |`,
    `| exited unasked / exit code after SIGTERM | ${report.crashed ?? "no"} / ${report.exitCode} |`,
    `| samples | ${report.samples.length} (every ${
      Math.round((last.t - first.t) / Math.max(1, report.samples.length - 1))
    } s) |`,
  ];
}

function windowSpan(windows: readonly SoakWindow[], key: "rssMiB" | "heapMiB"): string {
  if (windows.length === 0) return "n/a";
  return `${windows[0]![key].toFixed(1)} → ${windows.at(-1)![key].toFixed(1)}`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "30" },
      targets: { type: "string", default: "1000" },
      "fault-every": { type: "string", default: "30" },
    },
  });
  const minutes = Number(values.minutes);
  const count = Number(values.targets);
  const faultEvery = Number(values["fault-every"]);
  if (
    !(minutes > 0) || !Number.isInteger(count) || count < 1 ||
    !(faultEvery === 0 || faultEvery >= 1)
  ) {
    console.error(
      `Cannot soak as '--minutes' must be positive, '--targets' a positive integer and '--fault-every' 0 (no faults) or at least 1 second: current values are '${values.minutes}', '${values.targets}' and '${
        values["fault-every"]
      }'`,
    );
    Deno.exit(2);
  }
  console.log(
    `soak: ${count} targets for ${minutes} min (${
      faultEvery > 0 ? `a fault every ${faultEvery} s: ${SOAK_FAULTS.join(", ")}` : "no faults"
    })`,
  );
  const report = await runSoak({
    minutes,
    targets: count,
    faultEverySeconds: faultEvery,
    log: (line) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`),
  });
  console.log(soakTable(report).join("\n"));
  Deno.exit(report.crashed === undefined && report.exitCode === 0 ? 0 : 1);
}
