/**
 * High availability (issue 13) against the real API server: three agent processes with the
 * same configuration (three Services) and `LEASES=true`. What is asserted is what a client of
 * the API sees on a watch (who wrote each slice, how often) and what each replica reports.
 *
 * - Every Service has exactly one holder, the Services spread over the replicas, and during
 *   an outage each slice is written by its holder alone, once or twice (no write storm).
 * - SIGKILL of a holder during an outage: another replica publishes the outage, after the
 *   lease duration at the latest.
 * - SIGTERM of a holder: it releases its Leases and another replica takes over well before
 *   the lease duration (client-go's ReleaseOnCancel).
 *
 * Durations are printed, not asserted, except that a handover by release must beat the lease
 * duration (what distinguishes it from an expiry), with a generous margin.
 */

import assert from "node:assert/strict";
import { type AgentProcess, startAgent } from "../support/agent_process.ts";
import { type ClusterAccess, sharedCluster } from "../support/cluster.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { createService, recordSlices, sliceNow, UNNAMED_PORT } from "../support/service.ts";
import { type SimulatedTarget, startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { fence, type Recorder } from "../support/watch.ts";
import { findAll, parsePrometheus, valueOf } from "../observe/_prometheus.ts";
import { rendezvousOwner } from "../../src/publish/ownership.ts";

const ECHO = Deno.env.get("HELASEID_TEST_ECHO") === "1";
const A = "192.0.2.181", B = "192.0.2.182";
const SERVICES = ["alpha", "beta", "gamma"];
/** Lease timings of the test (shorter than the defaults, same proportions). */
const LEASE = { duration: 12, renewDeadline: 8, retryPeriod: 1 };
/** Failed checks in a row that take a target out (the probe's `fall`). */
const FALL = 3;

interface Replica {
  readonly id: string;
  readonly agent: AgentProcess;
  readonly base: string;
  alive: boolean;
}

interface LeaseStatus {
  readonly held: boolean;
  readonly holder?: string;
  /** `publish.standby` of the same Service. */
  readonly standby: boolean;
}

/** Each Service's Lease as one replica's /status shows it. */
async function leases(replica: Replica): Promise<Map<string, LeaseStatus> | undefined> {
  try {
    const response = await fetch(`${replica.base}/status`, { signal: AbortSignal.timeout(3000) });
    const status = await response.json();
    return new Map(
      // deno-lint-ignore no-explicit-any
      status.services.map((service: any) => [
        service.name,
        { ...service.lease, standby: service.publish?.standby === true } as LeaseStatus,
      ]),
    );
  } catch {
    return undefined;
  }
}

/**
 * The replica holding each Service, once every Service has exactly one holder among
 * `replicas` and it is the one rendezvous hashing picks among them: the spread has settled.
 */
async function holders(
  namespace: string,
  replicas: readonly Replica[],
): Promise<Map<string, Replica> | undefined> {
  const views = await Promise.all(replicas.map(async (r) => ({ r, leases: await leases(r) })));
  const result = new Map<string, Replica>();
  for (const name of SERVICES) {
    const holding = views.filter((view) => view.leases?.get(name)?.held);
    if (holding.length !== 1) return undefined;
    const owner = rendezvousOwner(`${namespace}/${name}`, replicas.map((r) => r.id));
    if (holding[0]!.r.id !== owner) return undefined;
    result.set(name, holding[0]!.r);
  }
  return result;
}

/** The slice of `name` as the API shows it: writer and readiness. */
function slice(cluster: ClusterAccess, namespace: string, name: string) {
  return sliceNow(cluster, namespace, `${name}-helaseid-ipv4`);
}

/** Each Service's finished checks that did not answer ok, from one replica's /metrics. */
async function failedChecks(replica: Replica): Promise<Map<string, number> | undefined> {
  try {
    const response = await fetch(`${replica.base}/metrics`, { signal: AbortSignal.timeout(3000) });
    const metrics = parsePrometheus(await response.text());
    return new Map(SERVICES.map((service) => [
      service,
      findAll(metrics, "helaseid_probes_total", { service })
        .filter((sample) => sample.labels.result !== "ok")
        .reduce((sum, sample) => sum + sample.value, 0),
    ]));
  } catch {
    return undefined;
  }
}

/** Slice events per Service name seen on the watch. */
function writesBy(events: Recorder["events"]): Map<string, string[]> {
  const writes = new Map<string, string[]>();
  for (const event of events) {
    const service = event.object?.metadata?.labels?.["kubernetes.io/service-name"];
    if (!SERVICES.includes(service)) continue;
    const writer = event.object?.metadata?.annotations?.["helaseid.io/writer"] ?? "?";
    writes.set(service, [...writes.get(service) ?? [], writer]);
  }
  return writes;
}

Deno.test("ha: three replicas share the Services by Lease and take over on SIGKILL and SIGTERM", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("ha");
  for (const name of SERVICES) {
    await createService(cluster, namespace, { name, ports: [UNNAMED_PORT] });
  }
  const dir = await Deno.makeTempDir({ prefix: "helaseid-ha-" });
  const configPath = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      defaults: { probe: { interval: "200ms", timeout: "150ms", fall: FALL, rise: 1 } },
      services: SERVICES.map((name) => ({ name, namespace, ports: [9092], targets: [A, B] })),
    }),
  );
  const net = await TestNetwork.open();
  const targets: SimulatedTarget[] = [];
  const replicas: Replica[] = [];
  await using slices = await recordSlices(cluster, namespace);
  try {
    targets.push(...await startTargets(net, [A, B].map((address) => ({ address, port: 9092 }))));
    const target = (address: string) => targets.find((t) => t.address === address)!;
    for (const id of ["replica-0", "replica-1", "replica-2"]) {
      const port = freePort();
      const agent = await startAgent({
        args: runArgs(configPath, cluster.kubeconfigPath, port),
        echo: ECHO,
        env: {
          HELASEID_WRITER_ID: id,
          LEASES: "true",
          LEASE_NAMESPACE: namespace,
          LEASE_DURATION: `${LEASE.duration}s`,
          LEASE_RENEW_DEADLINE: `${LEASE.renewDeadline}s`,
          LEASE_RETRY_PERIOD: `${LEASE.retryPeriod}s`,
        },
      });
      replicas.push({ id, agent, base: `http://127.0.0.1:${port}`, alive: true });
    }
    const alive = () => replicas.filter((r) => r.alive);

    // 1. Every Service has exactly one holder, the one rendezvous hashing picks, and its
    // slice is published (by whichever replica held it first: a handover with nothing new
    // to say writes nothing).
    const first = await untilValue("one holder per Service, each slice published", async () => {
      const held = await holders(namespace, replicas);
      if (!held) return undefined;
      for (const name of held.keys()) {
        const shown = await slice(cluster, namespace, name);
        if (shown?.ready[A] !== true || shown.ready[B] !== true) return undefined;
      }
      return held;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    console.log(
      `holders: ${[...first].map(([name, r]) => `${name}=${r.id}`).join(", ")}`,
    );
    // Every replica sees the same holders (a standby reads them each retry period); the
    // metric agrees.
    for (const replica of replicas) {
      await untilValue(`${replica.id} to see every holder`, async () => {
        const seen = await leases(replica);
        return [...first].every(([name, holder]) => seen?.get(name)?.holder === holder.id)
          ? true
          : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      const metrics = parsePrometheus(
        await (await fetch(`${replica.base}/metrics`)).text(),
      );
      for (const [name, holder] of first) {
        const held = valueOf(metrics, "helaseid_lease_held", { namespace, service: name });
        assert.equal(held, holder === replica ? 1 : 0, `${replica.id} ${name}`);
      }
      // A standby is ready, and says in /status that it does not write.
      const readyz = await fetch(`${replica.base}/readyz`);
      await readyz.body?.cancel();
      assert.equal(readyz.status, 200, `${replica.id} /readyz`);
      await untilValue(
        `${replica.id} to show itself a standby where it does not hold`,
        async () => {
          const seen = await leases(replica);
          return [...first].every(([name, holder]) =>
              seen?.get(name)?.standby === (holder !== replica)
            )
            ? true
            : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    }

    // 2. An outage of B: each slice is written by its holder alone, once or twice.
    const before = (await fence(slices, cluster, { namespace, kind: "EndpointSlice" })).length;
    await target(B).setMode("refuse");
    await untilValue("every slice to show B not ready", async () => {
      for (const name of SERVICES) {
        const shown = await slice(cluster, namespace, name);
        if (shown?.ready[B] !== false) return undefined;
      }
      return true;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    // Give a standby that disagreed time to write (it must not): every replica runs at
    // least `fall` more failing checks (of B, the only target down) of every Service.
    const quietFrom = performance.now();
    const failedAtPublish = await Promise.all(replicas.map(failedChecks));
    await untilValue(`every replica to run ${FALL} more failing checks`, async () => {
      const now = await Promise.all(replicas.map(failedChecks));
      return now.every((counts, i) =>
          SERVICES.every((name) =>
            (counts?.get(name) ?? 0) >= (failedAtPublish[i]?.get(name) ?? Infinity) + FALL
          )
        )
        ? true
        : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    console.log(`outage window: ${((performance.now() - quietFrom) / 1000).toFixed(1)} s`);
    const outage = writesBy(
      (await fence(slices, cluster, { namespace, kind: "EndpointSlice" })).slice(before),
    );
    for (const name of SERVICES) {
      const writers = outage.get(name) ?? [];
      assert.deepEqual([...new Set(writers)], [first.get(name)!.id], `${name}: ${writers}`);
      assert.ok(writers.length <= 2, `${name}: ${writers.length} writes for one outage`);
    }
    await target(B).setMode("accept");
    await untilValue("every slice to show B ready again", async () => {
      for (const name of SERVICES) {
        if ((await slice(cluster, namespace, name))?.ready[B] !== true) return undefined;
      }
      return true;
    }, { timeoutMs: 30_000, intervalMs: 100 });

    // 3. SIGKILL the holder of alpha, then B goes down: another replica publishes it.
    const killed = first.get("alpha")!;
    const killedAt = performance.now();
    await killed.agent.stop("SIGKILL");
    killed.alive = false;
    await target(B).setMode("refuse");
    const after = await untilValue("another replica to publish the outage of alpha", async () => {
      const shown = await slice(cluster, namespace, "alpha");
      return shown?.ready[B] === false && shown.writer !== killed.id ? shown : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const killTakeover = performance.now() - killedAt;
    console.log(
      `SIGKILL of ${killed.id}: ${after.writer} published alpha's outage after ` +
        `${(killTakeover / 1000).toFixed(1)} s (lease duration ${LEASE.duration} s)`,
    );
    assert.ok(alive().some((r) => r.id === after.writer));
    await untilValue("every slice to show B not ready", async () => {
      for (const name of SERVICES) {
        if ((await slice(cluster, namespace, name))?.ready[B] !== false) return undefined;
      }
      return true;
    }, { timeoutMs: 60_000, intervalMs: 100 });

    // 4. SIGTERM the holder of a Service: it releases, another takes over at once.
    const second = await untilValue(
      "one holder per Service among the live replicas",
      () => holders(namespace, alive()),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const leaving = second.get("beta")!;
    const released = [...second].filter(([, r]) => r === leaving).map(([name]) => name);
    const stayed = alive().find((r) => r !== leaving)!;
    const termAt = performance.now();
    assert.equal(await leaving.agent.stop("SIGTERM"), 0);
    leaving.alive = false;
    await untilValue("the remaining replica to hold what the leaving one released", async () => {
      const seen = await leases(stayed);
      return released.every((name) => seen?.get(name)?.held) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    const handover = performance.now() - termAt;
    console.log(
      `SIGTERM of ${leaving.id}: ${stayed.id} held ${released.join(", ")} after ` +
        `${(handover / 1000).toFixed(1)} s (retry period ${LEASE.retryPeriod} s)`,
    );
    assert.ok(
      handover < (LEASE.duration - 2) * 1000,
      `handover took ${handover} ms: the Leases were not released`,
    );
    // The new holder publishes what changes next.
    await target(B).setMode("accept");
    await untilValue("the remaining replica to publish B's recovery everywhere", async () => {
      for (const name of SERVICES) {
        const shown = await slice(cluster, namespace, name);
        if (shown?.ready[B] !== true || shown.writer !== stayed.id) return undefined;
      }
      return true;
    }, { timeoutMs: 60_000, intervalMs: 100 });

    // Events on the Services name the ownership changes.
    const events = JSON.parse(
      await cluster.kubectlOk(["get", "events.events.k8s.io", "-n", namespace, "-o", "json"]),
    );
    // deno-lint-ignore no-explicit-any
    const reasons = new Set(events.items.map((event: any) => event.reason));
    assert.ok(reasons.has("LeaseAcquired"), [...reasons].join(","));
    assert.ok(reasons.has("LeaseReleased"), [...reasons].join(","));
  } finally {
    for (const replica of replicas) await replica.agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await net.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A TCP relay to the API server that can be cut: no new connection, and the open ones end. */
function relay(server: string): { port: number; cut(): Promise<void> } {
  const { hostname, port } = new URL(server);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const pumps: Promise<unknown>[] = [];
  const close = (conn: Deno.Conn) => {
    try {
      conn.close();
    } catch {
      // Already closed by the other side's pump.
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      conns.add(client);
      try {
        const upstream = await Deno.connect({ hostname, port: Number(port) });
        conns.add(upstream);
        pumps.push(
          client.readable.pipeTo(upstream.writable).catch(() => close(upstream)),
          upstream.readable.pipeTo(client.writable).catch(() => close(client)),
        );
      } catch {
        close(client);
      }
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async cut() {
      listener.close();
      await accepting;
      for (const conn of conns) close(conn);
      await Promise.allSettled(pumps);
    },
  };
}

Deno.test("ha: a holder cut off from the API stops writing before another replica may take over", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("ha-cut");
  await createService(cluster, namespace, { name: "solo", ports: [UNNAMED_PORT] });
  const timings = { duration: 8, renewDeadline: 5, retryPeriod: 1 };
  // The replica behind the relay is the one rendezvous hashing gives the Service to.
  const key = `${namespace}/solo`;
  // Each name wins against "direct" for one Service in two: of 8, none won in 1 run of 256.
  const cutId = Array.from({ length: 64 }, (_, i) => `cut-${i}`)
    .find((id) => rendezvousOwner(key, [id, "direct"]) === id)!;
  assert.ok(cutId, "a replica name that wins the Service");
  const dir = await Deno.makeTempDir({ prefix: "helaseid-ha-cut-" });
  const configPath = `${dir}/config.json`;
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      defaults: { probe: { interval: "200ms", timeout: "150ms", fall: FALL, rise: 1 } },
      services: [{ name: "solo", namespace, ports: [9092], targets: [A] }],
    }),
  );
  const path = relay(cluster.server);
  const kubeconfig = JSON.parse(await Deno.readTextFile(cluster.kubeconfigPath));
  kubeconfig.clusters[0].cluster.server = `https://127.0.0.1:${path.port}`;
  const relayedConfig = `${dir}/kubeconfig.json`;
  await Deno.writeTextFile(relayedConfig, JSON.stringify(kubeconfig));
  const net = await TestNetwork.open();
  const targets = await startTargets(net, [{ address: A, port: 9092 }]);
  const replicas: Replica[] = [];
  let cut = false;
  try {
    for (const [id, config] of [[cutId, relayedConfig], ["direct", cluster.kubeconfigPath]]) {
      const port = freePort();
      const agent = await startAgent({
        args: runArgs(configPath, config!, port),
        echo: ECHO,
        env: {
          HELASEID_WRITER_ID: id!,
          LEASES: "true",
          LEASE_NAMESPACE: namespace,
          LEASE_DURATION: `${timings.duration}s`,
          LEASE_RENEW_DEADLINE: `${timings.renewDeadline}s`,
          LEASE_RETRY_PERIOD: `${timings.retryPeriod}s`,
        },
      });
      replicas.push({ id: id!, agent, base: `http://127.0.0.1:${port}`, alive: true });
    }
    const [isolated, direct] = replicas as [Replica, Replica];
    await untilValue("the relayed replica to hold the Service, the other to see it", async () => {
      const mine = await leases(isolated);
      const theirs = await leases(direct);
      return mine?.get("solo")?.held && theirs?.get("solo")?.holder === isolated.id
        ? true
        : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });

    const cutAt = performance.now();
    await path.cut();
    cut = true;
    // The fence is by time: /status turns with the check made before every write.
    await untilValue("the cut-off holder to stop writing", async () => {
      return (await leases(isolated))?.get("solo")?.held === false ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    const lostAt = performance.now();
    // The other replica cannot hold it yet: the fence came first.
    assert.equal((await leases(direct))?.get("solo")?.held, false, "taken before the fence");
    await isolated.agent.waitForLog((line) => line.msg.startsWith("lost the Service's Lease"));
    await untilValue("the direct replica to take the Service over", async () => {
      return (await leases(direct))?.get("solo")?.held ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    const takenAt = performance.now();
    console.log(
      `cut off at 0 s: the holder stopped writing at ${((lostAt - cutAt) / 1000).toFixed(1)} s, ` +
        `the other replica took over at ${((takenAt - cutAt) / 1000).toFixed(1)} s ` +
        `(renew deadline ${timings.renewDeadline} s, duration ${timings.duration} s)`,
    );
  } finally {
    for (const replica of replicas) await replica.agent.stop("SIGKILL");
    if (!cut) await path.cut();
    for (const target of targets) await target.close();
    await net.close();
    await Deno.remove(dir, { recursive: true });
  }
});
