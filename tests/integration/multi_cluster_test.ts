/**
 * Several clusters end to end (issue 14): one agent process, the run's API server (cluster
 * `a`) and one more started here (`b`), both real.
 *
 * - Probe once, publish into both; with b's API server stopped, a is still updated on every
 *   transition (the latencies are printed, measured from outside on a's watch), and b catches
 *   up when it is back. `/readyz` follows the first cluster only.
 * - Access revoked in b alone: b's Service is blocked naming b, with the verb and status, while
 *   a goes on; a `nodes` source reads Nodes in a and publishes them into b.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { freePort, get } from "../support/agent_http.ts";
import { type ClusterAccess, sharedCluster, startCluster } from "../support/cluster.ts";
import { createService, recordSlices, sliceNow } from "../support/service.ts";
import { agentServiceAccount } from "../support/rbac.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { type SeenEvent, shownSlice } from "../support/watch.ts";
import { parsePrometheus, valueOf } from "../observe/_prometheus.ts";

const X = "192.0.2.221", Y = "192.0.2.222", Z = "192.0.2.223";
const SLICE = "brokers-helaseid-ipv4";

/** Waits until `events` (a watch of one cluster) shows exactly `expected`; returns when. */
function settle(label: string, events: readonly SeenEvent[], expected: Record<string, boolean>) {
  return untilValue(label, () => {
    const now = shownSlice(events, SLICE);
    return JSON.stringify(now) === JSON.stringify(expected) ? performance.now() : undefined;
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function sameNamespace(cluster: ClusterAccess, namespace: string): Promise<void> {
  await cluster.kubectlOk(["create", "namespace", namespace]);
}

Deno.test("multi-cluster: probe once, publish into both; a stopped API server delays nothing else and catches up", async () => {
  const a = await sharedCluster();
  await using b = await startCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [X, Y].map((address) => ({ address, port: 9092 })));
  const [targetX] = targets;
  const namespace = await a.createNamespace("multi");
  await sameNamespace(b, namespace);
  for (const cluster of [a, b]) await createService(cluster, namespace);
  await using sliceA = await recordSlices(a, namespace);
  await using sliceB = await recordSlices(b, namespace);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-multi-" });
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    config,
    `clusters:
  - { name: a, kubeconfig: ${a.kubeconfigPath} }
  - { name: b, kubeconfig: ${b.kubeconfigPath} }
services:
  - name: brokers
    namespace: ${namespace}
    clusters: [a, b]
    ports: [9092]
    targets: [${X}, ${Y}]
    probe: { interval: 200ms, timeout: 150ms, rise: 1, fall: 2, jitter: 0 }
`,
  );
  const port = freePort();
  const agent = await startAgent({
    args: ["run", "--config", config, "--listen", `127.0.0.1:${port}`],
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const base = `http://127.0.0.1:${port}`;
  const both = { [X]: true, [Y]: true };
  const xDown = { [X]: false, [Y]: true };
  try {
    await settle("a published", sliceA.events, both);
    await settle("b published", sliceB.events, both);
    const status = JSON.parse((await get(base, "/status")).body).services[0];
    assert.deepEqual(status.clusters.map((c: { name: string }) => c.name), ["a", "b"]);

    /** X down then up again, `rounds` times: the time to a's watch showing each change. */
    const flap = async (rounds: number) => {
      const latencies: number[] = [];
      for (let i = 0; i < rounds; i++) {
        let from = performance.now();
        await targetX!.setMode("refuse");
        latencies.push(await settle(`X down (${i})`, sliceA.events, xDown) - from);
        from = performance.now();
        await targetX!.setMode("accept");
        latencies.push(await settle(`X up (${i})`, sliceA.events, both) - from);
      }
      return latencies;
    };
    const withB = await flap(3);
    await settle("b followed too", sliceB.events, both);

    await b.stopApiServer();
    const withoutB = await flap(3);
    console.log(
      `multi-cluster: transition → cluster a's watch, median ${median(withB).toFixed(0)} ms ` +
        `with b up, ${median(withoutB).toFixed(0)} ms with b's API server stopped ` +
        `(fall 2 × 200 ms interval)`,
    );
    // The first cluster is reachable: ready, even though b is not.
    const ready = await get(base, "/readyz");
    assert.equal(ready.status, 200, ready.body);

    // X dies while b is away; b catches up when its API server is back.
    await targetX!.setMode("refuse");
    await settle("a shows X down", sliceA.events, xDown);
    await b.startApiServer();
    // The test's own watch of b ended with its API server: read b as a client would now.
    await untilValue("b caught up: X down", async () => {
      const ready = (await sliceNow(b, namespace, SLICE))?.ready;
      return JSON.stringify(ready) === JSON.stringify(xDown) ? ready : undefined;
    });
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("multi-cluster: Nodes read in cluster a are published into b; access revoked in b blocks b alone, naming it", async () => {
  const a = await sharedCluster();
  await using b = await startCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [X, Z].map((address) => ({ address, port: 9092 })));
  const namespace = await a.createNamespace("multi-src");
  await sameNamespace(b, namespace);
  for (const cluster of [a, b]) await createService(cluster, namespace);
  const bAccount = await agentServiceAccount(b, namespace, { watch: true });
  await using sliceA = await recordSlices(a, namespace);
  await using sliceB = await recordSlices(b, namespace);
  // A JSON webhook on loopback: the alert of b's block must name b.
  const alerts: { event: string; cluster: string; reason?: string; service: { name: string } }[] =
    [];
  const hookPort = freePort();
  const hook = Deno.serve({ hostname: "127.0.0.1", port: hookPort, onListen: () => {} }, async (
    request,
  ) => {
    alerts.push(await request.json());
    return new Response("ok");
  });
  const role = `mc-${Date.now().toString(36)}`;
  const nodes = [`${role}-1`, `${role}-2`];
  const dir = await Deno.makeTempDir({ prefix: "helaseid-multi-src-" });
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    config,
    `clusters:
  - { name: a, kubeconfig: ${a.kubeconfigPath} }
  - { name: b, kubeconfig: ${bAccount} }
alerts:
  webhook: { url: "http://127.0.0.1:${hookPort}/hook" }
  writeFailureThreshold: 1s
services:
  - name: brokers
    namespace: ${namespace}
    clusters: [b]
    ports: [9092]
    sources: [{ type: nodes, labelSelector: "role=${role}", cluster: a }]
    probe: { interval: 200ms, timeout: 150ms, rise: 1, fall: 2 }
  - name: brokers
    namespace: ${namespace}-other
    ports: [9092]
    targets: [${X}, ${Z}]
    probe: { interval: 200ms, timeout: 150ms, rise: 1, fall: 2 }
`,
  );
  // The second Service lives in a only (the default cluster): it must go on while b is blocked.
  await a.kubectlOk(["create", "namespace", `${namespace}-other`]);
  await createService(a, `${namespace}-other`);
  await using otherA = await recordSlices(a, `${namespace}-other`);
  const port = freePort();
  const agent = await startAgent({
    args: ["run", "--config", config, "--listen", `127.0.0.1:${port}`],
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (const [name, address] of [[nodes[0]!, X], [nodes[1]!, Z]] as const) {
      await a.kubectlOk(["apply", "-f", "-"], {
        stdin: JSON.stringify({
          apiVersion: "v1",
          kind: "Node",
          metadata: { name, labels: { role, "topology.kubernetes.io/zone": "az-1" } },
        }),
      });
      await a.kubectlOk([
        "patch",
        "node",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({ status: { addresses: [{ type: "InternalIP", address }] } }),
      ]);
    }
    await settle("b publishes the Nodes of a", sliceB.events, { [X]: true, [Z]: true });
    assert.equal(
      shownSlice(sliceA.events, SLICE),
      undefined,
      "nothing written into a for this Service",
    );
    const slice = sliceB.events.filter((e) => e.object.metadata.name === SLICE).at(-1)!.object;
    assert.deepEqual(slice.endpoints.map((e: { zone?: string }) => e.zone), ["az-1", "az-1"]);
    await settle("the other Service in a", otherA.events, { [X]: true, [Z]: true });

    // Relabelled in a: the Node leaves b's Service.
    await a.kubectlOk(["label", "node", nodes[1]!, "role-"]);
    await settle("Z left b", sliceB.events, { [X]: true });

    // Access revoked in b: b's next write is refused (Z labelled back in), the Service is
    // blocked there, naming b; a's Service goes on.
    await b.kubectlOk(["delete", "rolebinding", "helaseid", "-n", namespace]);
    await a.kubectlOk(["label", "node", nodes[1]!, `role=${role}`]);
    await targets[0]!.setMode("refuse");
    await settle("a follows X down", otherA.events, { [X]: false, [Z]: true });
    const blocked = await untilValue("b blocked in /status", async () => {
      const service = JSON.parse((await get(base, "/status")).body).services.find((
        s: { namespace: string },
      ) => s.namespace === namespace);
      const inB = service?.clusters?.find((c: { name: string }) => c.name === "b");
      return inB?.publish?.blocked === "access-denied" ? inB : undefined;
    });
    assert.match(blocked.publish.detail, /403 Forbidden/);
    const metrics = parsePrometheus((await get(base, "/metrics")).body);
    const labels = { namespace, service: "brokers", reason: "access-denied" };
    assert.equal(valueOf(metrics, "helaseid_service_blocked", { ...labels, cluster: "b" }), 1);
    // Writes are counted per cluster: b's refusal is b's, a's writes go on as a's.
    const writes = (cluster: string, result: string) =>
      valueOf(metrics, "helaseid_kube_writes_total", {
        cluster,
        resource: "endpointslices",
        result,
      }) ?? 0;
    assert.ok(writes("b", "forbidden") >= 1, "b's refused write");
    assert.equal(writes("a", "forbidden"), 0);
    assert.ok(writes("a", "ok") >= 1 && writes("b", "ok") >= 1);
    const line = await agent.waitForLog((l) =>
      l.level === "error" && l.reason === "access-denied" && l.cluster === "b"
    );
    assert.equal(line.service, `${namespace}/brokers`);
    const alert = await untilValue(
      "an alert of b's block",
      () => alerts.find((a) => a.event === "blocked" && a.reason === "access-denied"),
    );
    assert.equal(alert.cluster, "b", "the alert names the cluster");
    assert.equal(alert.service.name, "brokers");
    const ready = await get(base, "/readyz");
    assert.equal(ready.status, 200, "b is not the first cluster: still ready");
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    await a.kubectl(["delete", "node", ...nodes, "--ignore-not-found"]);
    await hook.shutdown();
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Who holds the Service's Lease in `cluster`, as the API shows it. */
async function leaseHolder(cluster: ClusterAccess, namespace: string): Promise<string | undefined> {
  const result = await cluster.kubectl(["get", "leases", "-n", namespace, "-o", "json"]);
  if (result.code !== 0) return undefined;
  const leases = JSON.parse(result.stdout).items as {
    metadata: { name: string };
    spec?: { holderIdentity?: string };
  }[];
  // The replicas announce themselves with Leases too; the Service's Lease names the Service.
  const lease = leases.find((l) => l.metadata.name.includes("brokers"));
  return lease?.spec?.holderIdentity || undefined;
}

Deno.test("multi-cluster: with leases, each cluster's objects are written by the holder of the Service's Lease in that cluster", async () => {
  const a = await sharedCluster();
  await using b = await startCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [X, Y].map((address) => ({ address, port: 9092 })));
  const namespace = await a.createNamespace("multi-ha");
  await sameNamespace(b, namespace);
  for (const cluster of [a, b]) await createService(cluster, namespace);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-multi-ha-" });
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    config,
    `clusters:
  - { name: a, kubeconfig: ${a.kubeconfigPath} }
  - { name: b, kubeconfig: ${b.kubeconfigPath} }
leases: true
leaseNamespace: ${namespace}
leaseDuration: 6s
leaseRenewDeadline: 4s
leaseRetryPeriod: 500ms
services:
  - name: brokers
    namespace: ${namespace}
    clusters: [a, b]
    ports: [9092]
    targets: [${X}, ${Y}]
    probe: { interval: 200ms, timeout: 150ms, rise: 1, fall: 2 }
`,
  );
  const replicas = await Promise.all(["replica-0", "replica-1"].map(async (id) => {
    const port = freePort();
    const agent = await startAgent({
      args: ["run", "--config", config, "--listen", `127.0.0.1:${port}`],
      env: { HELASEID_WRITER_ID: id },
      echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
    });
    return { id, agent };
  }));
  try {
    const both = { [X]: true, [Y]: true };
    const settled = await untilValue("each cluster written by its Lease holder", async () => {
      const found = [];
      for (const cluster of [a, b]) {
        const holder = await leaseHolder(cluster, namespace);
        const slice = await sliceNow(cluster, namespace, SLICE);
        if (!holder || !slice || slice.writer !== holder) return undefined;
        if (JSON.stringify(slice.ready) !== JSON.stringify(both)) return undefined;
        found.push(holder);
      }
      return found;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    console.log(`multi-cluster leases: a held by ${settled[0]}, b by ${settled[1]}`);

    // The holder in b stops (SIGTERM releases its Leases): the other replica takes b over
    // and publishes the next change there, as the writer.
    const holderB = replicas.find((r) => r.id === settled[1])!;
    const other = replicas.find((r) => r !== holderB)!;
    assert.equal(await holderB.agent.stop(), 0);
    await targets[0]!.setMode("refuse");
    await untilValue("b: X down, written by the other replica", async () => {
      const slice = await sliceNow(b, namespace, SLICE);
      return slice?.writer === other.id && slice.ready[X] === false ? slice : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    await untilValue("a: X down, written by the other replica", async () => {
      const slice = await sliceNow(a, namespace, SLICE);
      return slice?.writer === other.id && slice.ready[X] === false ? slice : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    assert.equal(await leaseHolder(b, namespace), other.id);
  } finally {
    for (const replica of replicas) await replica.agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
