/**
 * The chaos run (`deno task chaos`, and a short one in CI): against its own real API server, two
 * agent replicas sharing two Services by Lease, seven simulated targets and an alert webhook, it
 * plays the seeded schedule of tests/chaos/schedule.ts and checks from outside, on a watch of
 * the EndpointSlices and Endpoints, that:
 *
 * - the slices and the legacy Endpoints agree after each settle (part of "view correct");
 * - a target dead for longer than interval × fall + margin is not ready (the deadline moves
 *   past API server and agent outages by their catch-up allowance);
 * - a Service with `allDown: publishAll` never shows no ready address once it had one;
 * - writes stay bounded: at most {@linkcode WRITES_PER_MINUTE_BOUND} in any 60 s;
 * - no log line holds the webhook URL, its token or the agent's ServiceAccount token;
 * - no agent exits unless it was signalled, SIGTERM exits 0, and RSS stays under
 *   {@linkcode RSS_BOUND_MIB}.
 *
 * After every fault the runner waits until the view is correct (the ready addresses are the
 * live targets, or all of them under the panic guard, in slices and Endpoints alike) and
 * records the time from the fault's end: the recovery times.
 *
 * @module
 */

import { type AgentProcess, startAgent } from "../support/agent_process.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { type Cluster, startCluster } from "../support/cluster.ts";
import { type SimulatedTarget, startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { rssMiB } from "../../bench/measure.ts";
import {
  type Disruption,
  expectedReady,
  listed,
  readyDeadline,
  serviceView,
  viewCorrect,
} from "./invariants.ts";
import { observe, type Observer } from "./observer.ts";
import {
  type Action,
  chaosSchedule,
  type FaultKind,
  type Schedule,
  type Step,
} from "./schedule.ts";
import { busiestWindow } from "./stats.ts";
import { partition, signalApiServer } from "./api_faults.ts";
import { agentsSay, leasesSay } from "./diagnose.ts";
import { type ChaosWebhook, startChaosWebhook } from "./webhook.ts";

/** Probe timing of the run. */
export const PROBE = { intervalMs: 300, timeoutMs: 200, rise: 2, fall: 3 } as const;
/** Lease timing of the replicas (short, in the defaults' proportions). */
export const LEASE = { durationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 1000 } as const;
/** Slack on top of interval × fall for a dead target to leave the ready addresses (busy cores). */
export const MARGIN_MS = 4000;
/** Catch-up allowed after the API server is back: the agent's longest retry backoff (10 s). */
export const API_CATCH_UP_MS = 12_000;
/** Catch-up allowed after an agent restarts: Lease expiry, a retry, and process start. */
export const AGENT_CATCH_UP_MS = LEASE.durationMs + 2 * LEASE.retryPeriodMs + 5000;
/** Writes (slice and Endpoints changes seen) allowed in any 60 s: ~2.5 per second. */
export const WRITES_PER_MINUTE_BOUND = 150;
/** RSS bound of one agent, MiB (twice the 80 MiB budget of 10 targets). */
export const RSS_BOUND_MIB = 160;
/** A recovery not reached in this long is a violation (the run goes on). */
export const RECOVERY_LIMIT_MS = 60_000;
/** A reload must show in /status within this long (the file watch re-reads every 10 s). */
const RELOAD_LIMIT_MS = 15_000;
/** SIGTERM must end an agent within this long. */
const TERM_LIMIT_MS = 15_000;

/** The Services of the bed: name, panic guard, targets. */
export const SERVICES = [
  {
    name: "alpha",
    allDown: "publishAll" as const,
    targets: ["192.0.2.231", "192.0.2.232", "192.0.2.233", "192.0.2.234"],
  },
  {
    name: "beta",
    allDown: "empty" as const,
    targets: ["192.0.2.235", "192.0.2.236", "192.0.2.237"],
  },
];
const ADDRESSES = SERVICES.flatMap((s) => s.targets);
/** Agent replicas by default (sharing the Services by Lease). */
const REPLICAS = 2;
const PORT = 9092;

/**
 * The shape the schedule is drawn for. Every kind is drawn, reload too: without reload support
 * its episodes are skipped, so that a seed means the same schedule either way.
 */
export function chaosShape(replicas: number = REPLICAS) {
  let index = 0;
  return {
    services: SERVICES.map((s) => s.targets.map(() => index++)),
    replicas,
    detectMs: PROBE.intervalMs * PROBE.fall + MARGIN_MS,
    intervalMs: PROBE.intervalMs,
  };
}

/** Whether the agent reloads its configuration on SIGHUP (main.ts listens for it). */
export async function agentReloads(): Promise<boolean> {
  const read = (path: string) =>
    Deno.readTextFile(new URL(`../../${path}`, import.meta.url)).catch(() => "");
  const sources = (await Promise.all(["main.ts", "src/config/watch.ts"].map(read))).join("\n");
  return /addSignalListener\(\s*["']SIGHUP["']/.test(sources);
}

/** Options of {@linkcode runChaos}. */
export interface ChaosOptions {
  readonly seed: number;
  readonly minutes: number;
  /** Include reload faults (needs an agent that reloads on SIGHUP). */
  readonly reload: boolean;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Print the agents' output. */
  readonly echo?: boolean;
  /**
   * Misconfigure the agents behind the checker's back, to see the checks fail: `fall` gives
   * them a fall of 40 (dead targets stay ready too long), `allDown` gives alpha `allDown: empty`.
   */
  readonly sabotage?: "fall" | "allDown";
  /**
   * Kinds whose episodes are skipped (the schedule stays that of the seed): a known bug can be
   * left out while it is fixed. Reload episodes are skipped without `reload` too.
   */
  readonly skip?: readonly FaultKind[];
  /**
   * Agent replicas (default 2, with Leases); 1 runs a single agent without Leases. The
   * schedule depends on it (agent faults pick a replica).
   */
  readonly replicas?: number;
}

/** One broken invariant. */
export interface Violation {
  /** Seconds since the start of the run. */
  readonly at: number;
  readonly invariant: string;
  readonly detail: string;
}

/** One recovery: fault end → view correct. */
export interface Recovery {
  readonly fault: FaultKind;
  readonly what: string;
  readonly ms: number;
}

/** What a run found. */
export interface ChaosReport {
  readonly seed: number;
  readonly minutes: number;
  readonly reload: boolean;
  readonly schedule: Schedule;
  readonly episodesRun: number;
  /** Episodes skipped (`skip`, or reload without `reload`), by kind. */
  readonly skipped: ReadonlyMap<FaultKind, number>;
  readonly elapsedMs: number;
  readonly faults: ReadonlyMap<FaultKind, number>;
  readonly violations: readonly Violation[];
  readonly recoveries: readonly Recovery[];
  /** Dead target → gone from the ready addresses of its slices, per death seen. */
  readonly detections: readonly Recovery[];
  readonly writes: number;
  readonly busiestMinute: number;
  readonly rssMaxMiB: number;
  readonly agentStarts: number;
  readonly webhook: Readonly<Record<string, number>>;
}

interface Replica {
  readonly index: number;
  readonly id: string;
  readonly port: number;
  agent?: AgentProcess;
  /** Set before we signal it: its exit is expected. */
  stopping: boolean;
}

/** Runs the chaos schedule of `options.seed` over `options.minutes` and reports. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const schedule = chaosSchedule(
    options.seed,
    options.minutes * 60_000,
    chaosShape(options.replicas),
  );
  const replicaCount = options.replicas ?? REPLICAS;
  const violations: Violation[] = [];
  const violate = (invariant: string, detail: string) => {
    const v = { at: Math.round(now() / 100) / 10, invariant, detail };
    violations.push(v);
    log(`VIOLATION ${invariant}: ${detail}`);
  };
  const recoveries: Recovery[] = [];
  const detections: Recovery[] = [];
  const faults = new Map<FaultKind, number>();
  const processes: AgentProcess[] = [];
  let rssMax = 0;

  await using cluster = await startCluster();
  await using net = await TestNetwork.open();
  const namespace = await cluster.createNamespace("chaos");
  const kubeconfig = await serviceAccount(cluster, namespace);
  const saToken = JSON.parse(await Deno.readTextFile(kubeconfig)).users[0].user.token as string;
  for (const service of SERVICES) {
    await cluster.kubectlOk(["apply", "-f", "-"], {
      stdin: JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: service.name, namespace },
        spec: { ports: [{ name: "kafka", port: PORT, targetPort: PORT, protocol: "TCP" }] },
      }),
    });
  }
  await using webhook: ChaosWebhook = startChaosWebhook();
  const hookToken = `chaos-${crypto.randomUUID()}`;
  const hookUrl = webhook.url(`/hooks/helaseid?token=${hookToken}`);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-chaos-" });
  const configPath = `${dir}/helaseid.json`;
  /** Writes the config file at once (a new file renamed over the old, as a ConfigMap swaps). */
  const writeConfig = async (intervalMs: number) => {
    const text = JSON.stringify(
      agentConfig(namespace, hookUrl, intervalMs, options.sabotage, replicaCount > 1),
    );
    await Deno.writeTextFile(`${configPath}.new`, text);
    await Deno.rename(`${configPath}.new`, configPath);
  };
  await writeConfig(PROBE.intervalMs);
  let intervalMs: number = PROBE.intervalMs;
  let configuredIntervalMs: number = PROBE.intervalMs;

  const targets: SimulatedTarget[] = await startTargets(
    net,
    ADDRESSES.map((address) => ({ address, port: PORT })),
  );
  /** Per target: alive (accept/hang) and since when the deadline clock runs if dead. */
  const alive = new Map(ADDRESSES.map((a) => [a, true]));
  const obligedSince = new Map<string, number>();
  /** Dead targets not yet seen leaving the ready addresses: since when, and in which episode. */
  const undetected = new Map<string, { since: number; fault: FaultKind }>();
  let currentFault: FaultKind = "target-kill";
  const reported = new Set<string>();
  const disruptions: (Disruption & { end?: number })[] = [];

  const replicas: Replica[] = Array.from({ length: replicaCount }, (_, index) => ({
    index,
    id: `chaos-replica-${index}`,
    port: freePort(),
    stopping: false,
  }));
  const startReplica = async (replica: Replica) => {
    const agent = await startAgent({
      args: runArgs(configPath, kubeconfig, replica.port, "--log-format", "json"),
      env: { HELASEID_WRITER_ID: replica.id },
      echo: options.echo,
    });
    replica.agent = agent;
    replica.stopping = false;
    processes.push(agent);
    agent.exited.then((code) => {
      if (replica.agent === agent && !replica.stopping) {
        violate(
          "agent crashed",
          `${replica.id} (pid ${agent.pid}) exited with code ${code} unasked; stderr: ${
            agent.stderr().trim().split("\n").slice(-5).join(" | ")
          }`,
        );
      }
    });
  };

  const observer: Observer = await observe({
    kubeconfigPath: cluster.kubeconfigPath,
    namespace,
    now,
    include: (kind, object) =>
      kind === "EndpointSlice"
        ? object.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"] === "helaseid"
        : SERVICES.some((s) => s.name === object.metadata?.name),
  });
  let lastChangeAt = 0;
  const populated = new Set<string>();
  const empty = new Set<string>();
  const views = () =>
    SERVICES.map((service) => ({
      service,
      view: serviceView(service.name, observer.slices.values(), observer.endpoints.values()),
    }));
  const checkNeverEmpty = () => {
    for (const { service, view } of views()) {
      if (service.allDown !== "publishAll") continue;
      const ready = view.sliceReady.size + (view.endpointsReady?.size ?? 0);
      const both = view.sliceReady.size > 0 && (view.endpointsReady?.size ?? 0) > 0;
      if (both) {
        populated.add(service.name);
        empty.delete(service.name);
      } else if (populated.has(service.name) && !empty.has(service.name)) {
        empty.add(service.name);
        violate(
          "never empty under publishAll",
          `${service.name} shows no ready address: slices ${listed(view.sliceReady)}, Endpoints ${
            listed(view.endpointsReady)
          } (${ready} ready in all)`,
        );
      }
    }
  };
  /** Records how long each dead target took to leave the ready addresses (slices). */
  const checkDetected = (at: number) => {
    for (const { service, view } of views()) {
      for (const address of service.targets) {
        const pending = undetected.get(address);
        if (pending === undefined || view.sliceReady.has(address)) continue;
        undetected.delete(address);
        detections.push({ fault: pending.fault, what: "dead → not ready", ms: at - pending.since });
      }
    }
  };
  observer.onChange = (at) => {
    lastChangeAt = at;
    checkNeverEmpty();
    checkDetected(at);
  };
  const checkDeadlines = () => {
    const t = now();
    const detect = intervalMs * PROBE.fall + MARGIN_MS;
    for (const { service, view } of views()) {
      const anyAlive = service.targets.some((a) => alive.get(a));
      if (!anyAlive && service.allDown === "publishAll") continue; // The panic guard shows all.
      for (const address of service.targets) {
        const since = obligedSince.get(address);
        if (alive.get(address) || since === undefined) continue;
        const key = `${address}@${since}`;
        if (reported.has(key)) continue;
        const deadline = readyDeadline(since, detect, disruptions);
        if (deadline === undefined || t <= deadline) continue;
        if (view.sliceReady.has(address) || view.endpointsReady?.has(address)) {
          reported.add(key);
          violate(
            "dead target not ready",
            `${service.name} ${address} dead since ${(since / 1000).toFixed(1)} s, still ready ${
              ((t - deadline) / 1000).toFixed(1)
            } s past its deadline: slices ${listed(view.sliceReady)}, Endpoints ${
              listed(view.endpointsReady)
            }`,
          );
        }
      }
    }
  };
  let ticks = 0;
  const ticker = setInterval(() => {
    checkNeverEmpty();
    checkDeadlines();
    if (ticks++ % 10 === 0) {
      for (const replica of replicas) {
        if (!replica.agent || replica.stopping) continue;
        try {
          const rss = rssMiB(replica.agent.pid);
          if (rss > rssMax) rssMax = rss;
          if (rss > RSS_BOUND_MIB) violate("RSS bounded", `${replica.id} at ${rss.toFixed(1)} MiB`);
        } catch {
          // Exited between the check and the read: the exit is judged elsewhere.
        }
      }
    }
  }, 200);

  const shownReady = (address: string) => views().some(({ view }) => view.sliceReady.has(address));
  const setAlive = (address: string, ok: boolean) => {
    const was = alive.get(address)!;
    alive.set(address, ok);
    const t = now();
    if (!ok && was) {
      obligedSince.set(address, t);
      // Timed only when a client saw it ready (a flapping target may not be).
      if (shownReady(address)) undetected.set(address, { since: t, fault: currentFault });
    }
    if (ok) {
      obligedSince.delete(address);
      undetected.delete(address);
    }
    const service = SERVICES.find((s) => s.targets.includes(address))!;
    if (service.allDown === "publishAll") {
      const others = service.targets.filter((a) => a !== address);
      // A publishAll Service leaving the panic guard: its dead targets must go from now on.
      if (ok && !was && others.every((a) => !alive.get(a))) {
        for (const a of others) {
          obligedSince.set(a, t);
          undetected.set(a, { since: t, fault: currentFault });
        }
      }
      // Entering it: its targets stay ready, nothing to detect.
      if (!ok && service.targets.every((a) => !alive.get(a))) {
        for (const a of service.targets) undetected.delete(a);
      }
    }
  };

  /** Waits until the view is correct; records the time from `endedAt` under `step`'s fault. */
  const recover = async (
    step: { episode: number; fault: FaultKind; what: string; record: boolean },
    endedAt: number,
  ) => {
    const deadline = endedAt + RECOVERY_LIMIT_MS;
    while (true) {
      const wrong = views().filter(({ service, view }) =>
        !viewCorrect(view, expectedReady(aliveOf(service.targets, alive), service.allDown))
      );
      if (wrong.length === 0) {
        const ms = Math.max(0, lastChangeAt - endedAt);
        if (step.record) recoveries.push({ fault: step.fault, what: step.what, ms });
        return;
      }
      if (now() > deadline) {
        const agents = await Promise.all(
          wrong.map(({ service }) => agentsSay(replicas, service.name)),
        );
        agents.push(await leasesSay(cluster, namespace));
        violate(
          "recovers",
          `episode ${step.episode} (${step.fault}, ${step.what}): view not correct ${
            RECOVERY_LIMIT_MS / 1000
          } s after the fault ended: ${
            wrong.map(({ service, view }) =>
              `${service.name} expected ${
                listed(expectedReady(aliveOf(service.targets, alive), service.allDown))
              }, slices ready ${listed(view.sliceReady)} not ready ${
                listed(view.sliceNotReady)
              }, Endpoints ready ${listed(view.endpointsReady)} not ready ${
                listed(view.endpointsNotReady)
              }`
            ).join("; ")
          }; the agents say: ${agents.join("; ")}`,
        );
        return;
      }
      await sleep(25);
    }
  };

  const act = async (step: Step): Promise<void> => {
    const action: Action = step.action;
    switch (action.do) {
      case "target":
        await targets[action.target]!.setMode(action.mode);
        setAlive(ADDRESSES[action.target]!, action.mode === "accept" || action.mode === "hang");
        return;
      case "api":
        if (action.state === "stop" || action.state === "hang" || action.state === "cut") {
          disruptions.push({ start: now(), allowanceMs: API_CATCH_UP_MS + detectOf(intervalMs) });
        }
        if (action.state === "stop") await cluster.stopApiServer();
        if (action.state === "start") await cluster.startApiServer();
        if (action.state === "hang") await signalApiServer(cluster, "STOP");
        if (action.state === "resume") await signalApiServer(cluster, "CONT");
        if (action.state === "cut") await partition(cluster, true);
        if (action.state === "mend") await partition(cluster, false);
        if (action.state === "start" || action.state === "resume" || action.state === "mend") {
          endDisruption(disruptions, now());
        }
        return;
      case "agent-signal": {
        const replica = replicas[action.replica]!;
        const agent = replica.agent!;
        disruptions.push({ start: now(), allowanceMs: AGENT_CATCH_UP_MS + detectOf(intervalMs) });
        replica.stopping = true;
        if (action.signal === "SIGKILL") {
          await agent.stop("SIGKILL");
          return;
        }
        const code = await Promise.race([
          agent.stop("SIGTERM"),
          sleep(TERM_LIMIT_MS).then(() => "timeout" as const),
        ]);
        if (code === "timeout") {
          violate(
            "SIGTERM exits",
            `${replica.id} still running ${TERM_LIMIT_MS / 1000} s after SIGTERM`,
          );
          await agent.stop("SIGKILL");
        } else if (code !== 0) {
          violate("SIGTERM exits", `${replica.id} exited with code ${code} after SIGTERM`);
        }
        return;
      }
      case "agent-start":
        await startReplica(replicas[action.replica]!);
        endDisruption(disruptions, now());
        return;
      case "webhook":
        webhook.set(action.answer);
        return;
      case "reload": {
        const changed = action.intervalMs !== configuredIntervalMs;
        const asked = Date.now();
        // Longer first, shorter only once applied: deadlines never assume the faster one early.
        intervalMs = Math.max(intervalMs, action.intervalMs);
        await writeConfig(action.intervalMs);
        configuredIntervalMs = action.intervalMs;
        const signalled = replicas[action.replica]!;
        if (signalled.agent && !signalled.stopping) {
          // A process that has not set up its handler yet would die of SIGHUP: it listens from
          // the moment it logs "starting".
          await signalled.agent.waitForLog((l) => l.msg === "starting", 30_000).catch(() => {});
          Deno.kill(signalled.agent.pid, "SIGHUP");
        }
        // The signalled replica reloads; with new bytes every replica does (its file watch).
        const expected = replicas.filter((r) =>
          r.agent && !r.stopping && (changed || r === signalled)
        );
        const late = await reloadsApplied(expected, asked, RELOAD_LIMIT_MS);
        for (const replica of late) {
          violate(
            "reload applied",
            `${replica.id}: no successful reload in /status within ${RELOAD_LIMIT_MS / 1000} s of ${
              changed ? "a changed file and " : ""
            }SIGHUP`,
          );
        }
        intervalMs = action.intervalMs;
        return;
      }
      case "recover":
        return;
    }
  };

  let episodesRun = 0;
  const skipped = new Map<FaultKind, number>();
  const skip = new Set<FaultKind>(options.skip ?? []);
  if (!options.reload) skip.add("reload");
  try {
    for (const replica of replicas) await startReplica(replica);
    log(`seed ${options.seed}: ${schedule.episodes} episodes planned over ${options.minutes} min`);
    // Everything up and published before the first fault.
    await recover({ episode: -1, fault: "target-kill", what: "start", record: false }, now());
    const started = now();
    let episode = -1;
    let endedAt = now();
    for (const step of schedule.steps) {
      if (skip.has(step.fault)) {
        if (step.episode !== episode) skipped.set(step.fault, (skipped.get(step.fault) ?? 0) + 1);
        episode = step.episode;
        continue;
      }
      if (step.episode !== episode) {
        if (now() - started >= options.minutes * 60_000) break;
        episode = step.episode;
        episodesRun++;
        currentFault = step.fault;
        faults.set(step.fault, (faults.get(step.fault) ?? 0) + 1);
        log(`episode ${episode}: ${step.fault}`);
      }
      await sleep(step.afterMs);
      if (step.action.do === "recover") {
        const what = step.action.what;
        await recover({ episode, fault: step.fault, what, record: true }, endedAt);
      } else {
        await act(step);
      }
      endedAt = now();
    }
    webhook.set("ok");
    await recover({ episode, fault: "target-kill", what: "end", record: false }, now());
    for (const replica of replicas) {
      if (!replica.agent) continue;
      replica.stopping = true;
      const code = await Promise.race([
        replica.agent.stop("SIGTERM"),
        sleep(TERM_LIMIT_MS).then(() => "timeout" as const),
      ]);
      if (code !== 0) violate("SIGTERM exits", `${replica.id} at the end: ${code}`);
    }
  } finally {
    clearInterval(ticker);
    for (const replica of replicas) {
      replica.stopping = true;
      await replica.agent?.stop("SIGKILL");
    }
    await signalApiServer(cluster, "CONT").catch(() => {});
    await partition(cluster, false).catch(() => {});
    await observer.stop();
    for (const target of targets) await target.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }

  // No secret in any line of any agent process, stdout or stderr.
  const secrets = [hookUrl, hookToken, new URL(hookUrl).search, saToken];
  for (const agent of processes) {
    const text = agent.lines.map((l) => JSON.stringify(l)).join("\n") + agent.stderr();
    for (const secret of secrets) {
      if (text.includes(secret)) {
        const line = text.split("\n").find((l) => l.includes(secret))!;
        violate(
          "no secret in logs",
          `pid ${agent.pid}: ${line.replace(secret, "<SECRET>").slice(0, 300)}`,
        );
      }
    }
  }
  const busiest = busiestWindow(observer.writes.map((w) => w.at), 60_000);
  if (busiest.count > WRITES_PER_MINUTE_BOUND) {
    violate(
      "writes bounded",
      `${busiest.count} writes in the minute from ${
        (busiest.start / 1000).toFixed(1)
      } s (bound ${WRITES_PER_MINUTE_BOUND})`,
    );
  }
  return {
    seed: options.seed,
    minutes: options.minutes,
    reload: options.reload,
    schedule,
    episodesRun,
    skipped,
    elapsedMs: now(),
    faults,
    violations,
    recoveries,
    detections,
    writes: observer.writes.length,
    busiestMinute: busiest.count,
    rssMaxMiB: rssMax,
    agentStarts: processes.length,
    webhook: { ...webhook.answered },
  };
}

/**
 * The replicas of `replicas` whose /status shows no successful reload at or after `since`
 * (epoch ms) within `limitMs`.
 */
async function reloadsApplied(
  replicas: readonly Replica[],
  since: number,
  limitMs: number,
): Promise<Replica[]> {
  const done = new Set<Replica>();
  const deadline = performance.now() + limitMs;
  while (done.size < replicas.length && performance.now() < deadline) {
    for (const replica of replicas) {
      if (done.has(replica)) continue;
      try {
        const response = await fetch(`http://127.0.0.1:${replica.port}/status`, {
          signal: AbortSignal.timeout(3000),
        });
        const last = (await response.json()).config?.lastReload;
        if (last?.ok === true && Date.parse(last.at) >= since - 1000) done.add(replica);
      } catch {
        // Not answering now: asked again until the limit.
      }
    }
    if (done.size < replicas.length) await sleep(200);
  }
  return replicas.filter((replica) => !done.has(replica));
}

function detectOf(intervalMs: number): number {
  return intervalMs * PROBE.fall + MARGIN_MS;
}

function aliveOf(addresses: readonly string[], alive: ReadonlyMap<string, boolean>) {
  return new Map(addresses.map((a) => [a, alive.get(a) ?? false]));
}

function endDisruption(disruptions: { start: number; end?: number }[], at: number): void {
  const open = disruptions.findLast((d) => d.end === undefined);
  if (open) open.end = at;
}

/** The run's agent configuration (a JSON file; `intervalMs` is the probe interval). */
function agentConfig(
  namespace: string,
  hookUrl: string,
  intervalMs: number,
  sabotage: "fall" | "allDown" | undefined,
  leases: boolean,
) {
  return {
    logLevel: "info",
    leases,
    leaseDuration: `${LEASE.durationMs}ms`,
    leaseRenewDeadline: `${LEASE.renewDeadlineMs}ms`,
    leaseRetryPeriod: `${LEASE.retryPeriodMs}ms`,
    leaseNamespace: namespace,
    alerts: { webhook: { url: hookUrl }, coalesce: "500ms" },
    defaults: {
      probe: {
        interval: `${intervalMs}ms`,
        timeout: `${PROBE.timeoutMs}ms`,
        rise: PROBE.rise,
        fall: sabotage === "fall" ? 40 : PROBE.fall,
      },
    },
    services: SERVICES.map((service) => ({
      name: service.name,
      namespace,
      ports: [{ name: "kafka", port: PORT }],
      targets: service.targets,
      publish: { allDown: sabotage === "allDown" ? "empty" : service.allDown },
    })),
  };
}

/**
 * A ServiceAccount `helaseid` bound to cluster-admin, and a kubeconfig with its token: the agents
 * authenticate with a bearer token, which must never be logged.
 */
async function serviceAccount(cluster: Cluster, namespace: string): Promise<string> {
  await cluster.kubectlOk(["create", "serviceaccount", "helaseid", "-n", namespace]);
  await cluster.kubectlOk([
    "create",
    "clusterrolebinding",
    `chaos-${namespace}`,
    "--clusterrole=cluster-admin",
    `--serviceaccount=${namespace}:helaseid`,
  ]);
  return await cluster.serviceAccountKubeconfig(namespace, "helaseid");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
