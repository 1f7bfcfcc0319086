/**
 * Benchmark scenario "ha" (issue 13): three agent processes with `LEASES=true` and the default
 * lease timings (15 s, 10 s, 2 s) on one Service of three targets.
 *
 * - takeover after SIGTERM: the holder releases its Lease; time from the signal to another
 *   replica holding it (its `/status`), per repetition;
 * - takeover after SIGKILL: nothing released; the same time, bounded by the lease duration
 *   plus a retry period;
 * - writes per outage: one target refused and revived; EndpointSlice changes a watch client
 *   sees per outage, with three replicas and with one agent alone (must be equal);
 * - lease requests per second per replica: the API server's `apiserver_request_total` for
 *   leases over a quiet window, minus the same window before the replicas started, ÷ 3.
 *
 * Settings: `BENCH_HA_REPS` (repetitions of each takeover and outage, default 3).
 *
 * @module
 */

import type { AgentProcess } from "../tests/support/agent_process.ts";
import { startBenchAgent } from "./_agent.ts";
import type { ClusterAccess } from "../tests/support/cluster.ts";
import { type SimulatedTarget, startTargets } from "../tests/support/targets.ts";
import type { TestNetwork } from "../tests/support/testnet.ts";
import { readiness, type Recorder } from "../tests/support/watch.ts";
import { median, sleep } from "./measure.ts";
import { rendezvousOwner } from "../src/publish/ownership.ts";

/** What the scenario needs of the bench. */
export interface HaBed {
  readonly cluster: ClusterAccess;
  readonly net: TestNetwork;
  metricsPort(): number;
  watchSlices(namespace: string): Promise<Recorder>;
}

/** Settings of one run. */
export interface HaSettings {
  readonly repetitions: number;
  readonly replicas: number;
}

/** The settings from the environment. */
export function haSettings(env: Readonly<Record<string, string | undefined>>): HaSettings {
  return { repetitions: Number(env.BENCH_HA_REPS ?? 3), replicas: 3 };
}

/** One run's figures. */
export interface HaResult {
  readonly [key: string]: number;
  sigtermP50Ms: number;
  sigtermMaxMs: number;
  sigkillP50Ms: number;
  sigkillMaxMs: number;
  writesPerOutageReplicas: number;
  writesPerOutageAlone: number;
  leaseRequestsPerSecondPerReplica: number;
}

const TARGETS = ["192.0.2.201", "192.0.2.202", "192.0.2.203"];
const SERVICE = "brokers";
const now = () => performance.timeOrigin + performance.now();

interface Replica {
  readonly id: string;
  readonly agent: AgentProcess;
  readonly base: string;
}

/** Runs the scenario once. */
export async function ha(bed: HaBed, settings: HaSettings): Promise<HaResult> {
  const { cluster } = bed;
  const namespace = await cluster.createNamespace("bench-ha");
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: SERVICE, namespace },
      spec: { ports: [{ port: 9092, targetPort: 9092, protocol: "TCP" }] },
    }),
  });
  const targets = await startTargets(bed.net, TARGETS.map((address) => ({ address, port: 9092 })));
  const file = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      defaults: { probe: { interval: "200ms", timeout: "150ms", fall: 3, rise: 1 } },
      services: [{ name: SERVICE, namespace, ports: [9092], targets: TARGETS }],
    }),
  );
  const key = `${namespace}/${SERVICE}`;
  let ids = 0;
  const start = async (leases: boolean): Promise<Replica> => {
    const port = bed.metricsPort();
    const id = `bench-replica-${ids++}`;
    const agent = await startBenchAgent({
      config: file,
      kubeconfig: cluster.kubeconfigPath,
      port,
      env: {
        HELASEID_WRITER_ID: id,
        ...(leases ? { LEASES: "true", LEASE_NAMESPACE: namespace } : {}),
      },
    });
    return { id, agent, base: `http://127.0.0.1:${port}` };
  };
  const holds = async (replica: Replica): Promise<boolean> => {
    try {
      const status = await (await fetch(`${replica.base}/status`)).json();
      return status.services[0]?.lease?.held === true;
    } catch {
      return false;
    }
  };
  /** The holder, once exactly one replica holds the Lease and it is the rendezvous owner. */
  const settled = async (replicas: Replica[]): Promise<Replica> => {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const holding = [];
      for (const replica of replicas) if (await holds(replica)) holding.push(replica);
      const owner = rendezvousOwner(key, replicas.map((r) => r.id));
      if (holding.length === 1 && holding[0]!.id === owner) return holding[0]!;
      await sleep(100);
    }
    throw new Error("the replicas did not settle on one holder within 90 s");
  };
  /** Time from now until one of `others` holds the Lease. */
  const takeover = async (others: Replica[], from: number): Promise<number> => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      for (const replica of others) if (await holds(replica)) return now() - from;
      await sleep(20);
    }
    throw new Error("no replica took over within 60 s");
  };
  const watch = await bed.watchSlices(namespace);
  const replicas: Replica[] = [];
  try {
    const leaseRequests = async () => await apiserverLeaseRequests(cluster);
    const quiet = 20_000;
    const baseline0 = await leaseRequests();
    await sleep(quiet);
    const baseline = (await leaseRequests()) - baseline0;

    for (let i = 0; i < settings.replicas; i++) replicas.push(await start(true));
    await settled(replicas);
    await sleep(3000);
    const load0 = await leaseRequests();
    await sleep(quiet);
    const load = (await leaseRequests()) - load0;
    const leaseRequestsPerSecondPerReplica = (load - baseline) / (quiet / 1000) /
      settings.replicas;

    const writesReplicas = await outages(watch, targets, settings.repetitions);

    const sigterm: number[] = [];
    const sigkill: number[] = [];
    for (const [signal, times] of [["SIGTERM", sigterm], ["SIGKILL", sigkill]] as const) {
      for (let rep = 0; rep < settings.repetitions; rep++) {
        const holder = await settled(replicas);
        const others = replicas.filter((r) => r !== holder);
        const from = now();
        await holder.agent.stop(signal);
        times.push(await takeover(others, from));
        replicas.splice(replicas.indexOf(holder), 1, await start(true));
      }
    }
    for (const replica of replicas.splice(0)) await replica.agent.stop();

    const alone = await start(false);
    replicas.push(alone);
    await sleep(3000);
    const writesAlone = await outages(watch, targets, settings.repetitions);
    return {
      sigtermP50Ms: median(sigterm),
      sigtermMaxMs: Math.max(...sigterm),
      sigkillP50Ms: median(sigkill),
      sigkillMaxMs: Math.max(...sigkill),
      writesPerOutageReplicas: writesReplicas,
      writesPerOutageAlone: writesAlone,
      leaseRequestsPerSecondPerReplica,
    };
  } finally {
    for (const replica of replicas) await replica.agent.stop("SIGKILL");
    watch.stop();
    await watch[Symbol.asyncDispose]();
    for (const target of targets) await target.close();
    await Deno.remove(file);
  }
}

/** Median slice changes per outage of the first target (refused, then revived). */
async function outages(
  watch: Recorder,
  targets: readonly SimulatedTarget[],
  repetitions: number,
): Promise<number> {
  const victim = targets[0]!;
  const shows = (ready: boolean) => (event: { object: unknown }) =>
    readiness(event.object)[victim.address] === ready;
  const writes: number[] = [];
  for (let rep = 0; rep < repetitions; rep++) {
    const mark = watch.events.length;
    await victim.setMode("refuse");
    await watch.waitFor(shows(false), { since: mark, timeoutMs: 30_000 });
    await sleep(2000); // late or competing writes of this outage would land here
    writes.push(watch.events.slice(mark).filter((e) => e.type === "MODIFIED").length);
    const revive = watch.events.length;
    await victim.setMode("accept");
    await watch.waitFor(shows(true), { since: revive, timeoutMs: 30_000 });
    await sleep(2000);
  }
  return median(writes);
}

/** Lease requests the API server has answered so far (every verb, every client). */
async function apiserverLeaseRequests(cluster: ClusterAccess): Promise<number> {
  const text = await cluster.kubectlOk(["get", "--raw", "/metrics"]);
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    if (!line.includes('resource="leases"')) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

/** The README table of a run's medians. */
export function haTable(
  m: HaResult,
  settings: HaSettings,
  format: (value: number, digits?: number) => string,
): string[] {
  return [
    "",
    `| HA: ${settings.replicas} replicas, LEASES=true, lease 15 s / renew 10 s / retry 2 s, ${settings.repetitions} repetitions | median (ms) | max (ms) |`,
    "|---|---|---|",
    `| takeover after SIGTERM of the holder (Lease released) | ${format(m.sigtermP50Ms, 0)} | ${
      format(m.sigtermMaxMs, 0)
    } |`,
    `| takeover after SIGKILL of the holder (Lease expires) | ${format(m.sigkillP50Ms, 0)} | ${
      format(m.sigkillMaxMs, 0)
    } |`,
    "",
    `HA: slice changes per outage ${format(m.writesPerOutageReplicas)} with ${settings.replicas} ` +
    `replicas, ${format(m.writesPerOutageAlone)} with one agent alone; lease requests ` +
    `${format(m.leaseRequestsPerSecondPerReplica, 2)} per second per replica.`,
  ];
}
