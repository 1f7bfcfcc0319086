/**
 * Shutdown is bounded whatever the API server does (issue 10 item 7): with the real API server
 * hung (SIGSTOP: it accepts connections and never answers), a write's timeout names the API
 * host, and SIGTERM ends the agent cleanly well inside the manifests' grace period.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { type Cluster, startCluster } from "../support/cluster.ts";
import { createService, recordSlices } from "../support/service.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { readiness } from "../support/watch.ts";

const A = "192.0.2.21", B = "192.0.2.22";

/** The pid of this cluster's kube-apiserver (the run is in its own PID namespace). */
async function apiServerPid(cluster: Cluster): Promise<number> {
  const port = new URL(cluster.server).port;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      const args = cmdline.split("\0");
      if (args[0]?.endsWith("/kube-apiserver") && args.includes(`--secure-port=${port}`)) {
        return Number(entry.name);
      }
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`No kube-apiserver on port ${port}`);
}

function signal(pid: number, name: "STOP" | "CONT") {
  return new Deno.Command("kill", { args: [`-${name}`, String(pid)] }).output();
}

Deno.test("shutdown: with the API server hung, a write times out naming the host, and SIGTERM exits 0 at once", async () => {
  await using cluster = await startCluster();
  const namespace = await cluster.createNamespace("shutdown");
  await createService(cluster, namespace);
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [A, B].map((address) => ({ address, port: 9092 })));
  await using slices = await recordSlices(cluster, namespace);
  await using agent = await startAgent({
    args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", "off"],
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
    env: {
      IPS: `${A} ${B}`,
      PORT: "9092",
      MAX_RETRY: "2",
      INTERVAL: "0.2",
      TIMEOUT: "0.15",
      NAMESPACE: namespace,
      SERVICE_NAME: "brokers",
    },
  });
  const pid = await apiServerPid(cluster);
  try {
    await slices.waitFor((e) => readiness(e.object)[A] === true && readiness(e.object)[B] === true);
    await signal(pid, "STOP");
    // A transition: its write goes to a server that never answers.
    await targets[0]!.setMode("refuse");
    const host = new URL(cluster.server).host;
    const timedOut = await agent.waitForLog(
      (l) => l.level !== "debug" && JSON.stringify(l).includes(`no answer from ${host} within`),
      30_000,
    );
    assert.match(JSON.stringify(timedOut), /Cannot apply (EndpointSlice|Endpoints) /);
    // Writes are retried and the watches hang: SIGTERM now finds requests in flight.
    const began = performance.now();
    const code = await agent.stop("SIGTERM");
    const seconds = (performance.now() - began) / 1000;
    console.log(`exit after SIGTERM with the API server hung: ${seconds.toFixed(2)} s`);
    assert.equal(code, 0);
    // The budget is 5 s (4 s by design); the bound here only catches a hang, never a slow run.
    assert.ok(seconds < 8, `exited after ${seconds.toFixed(1)} s`);
    assert.ok(agent.lines.some((l) => l.msg === "stopped"), "logged its own end");
  } finally {
    await signal(pid, "CONT");
    for (const target of targets) await target.close();
  }
});
