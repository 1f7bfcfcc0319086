/**
 * A fresh agent's first publication, as a watch client sees it (issue 10.4): the first
 * EndpointSlice of a Service whose targets are all alive lists every one of them ready, even
 * when the agent's first checks fail (a start busy enough to time short connects out, which a
 * stalled event loop does): nothing is published before every target has a verdict.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { createService, getSlice, recordSlices } from "../support/service.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { until, within } from "../support/wait.ts";
import { readiness, record } from "../support/watch.ts";

const ADDRESSES = ["192.0.2.41", "192.0.2.42", "192.0.2.43"];
const SLICE = "brokers-helaseid-ipv4";

/** The seed-format environment of one agent; short timeouts make a slow start matter. */
function env(namespace: string, extra: Record<string, string> = {}) {
  return {
    IPS: ADDRESSES.join(" "),
    PORT: "9092",
    MAX_RETRY: "3",
    INTERVAL: "0.1",
    TIMEOUT: "0.05",
    NAMESPACE: namespace,
    SERVICE_NAME: "brokers",
    LOG_LEVEL: "debug",
    ...extra,
  };
}

Deno.test("startup: the first slice of five fresh Services lists every live target ready", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(
    net,
    ADDRESSES.map((address) => ({ address, port: 9092 })),
  );
  try {
    for (let round = 0; round < 5; round++) {
      const namespace = await cluster.createNamespace("startup");
      await createService(cluster, namespace);
      await using slices = await recordSlices(cluster, namespace);
      await using endpoints = await record(
        cluster.kubeconfigPath,
        `/api/v1/namespaces/${namespace}/endpoints`,
      );
      await using agent = await startAgent({
        args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", "off"],
        env: env(namespace),
      });
      const first = await slices.waitFor((e) => e.object.metadata.name === SLICE);
      assert.deepEqual(
        readiness(first.object),
        Object.fromEntries(ADDRESSES.map((a) => [a, true])),
        `round ${round}: first slice ${JSON.stringify(readiness(first.object))}`,
      );
      const legacy = await endpoints.waitFor((e) => e.object.metadata.name === "brokers");
      assert.deepEqual(
        (legacy.object.subsets?.[0]?.addresses ?? []).map((a: { ip: string }) => a.ip).sort(),
        ADDRESSES,
        `round ${round}: first Endpoints`,
      );
      assert.equal(legacy.object.subsets[0].notReadyAddresses, undefined);
      assert.equal(await agent.stop(), 0);
    }
  } finally {
    for (const target of targets) await target.close();
  }
});

Deno.test("startup: live targets whose first checks timed out are published ready", async () => {
  // What a slow start does to short timeouts, made certain: the first checks are dropped.
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(
    net,
    ADDRESSES.map((address) => ({ address, port: 9092, mode: "drop" as const })),
  );
  try {
    const namespace = await cluster.createNamespace("startup");
    await createService(cluster, namespace);
    await using slices = await recordSlices(cluster, namespace);
    const port = 19500 + Math.floor(Math.random() * 400);
    await using agent = await startAgent({
      args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", `127.0.0.1:${port}`],
      // Forty failures before a verdict (4 s at 100 ms, less with the fast interval): time
      // enough, on a busy machine, to see the first checks fail and switch the three targets
      // to accept before any of them falls (ten were not, under a parallel test run).
      env: env(namespace, { MAX_RETRY: "40" }),
    });
    await until("every target's first check to fail", async () => {
      const response = await fetch(`http://127.0.0.1:${port}/status`);
      const status = await response.json();
      // deno-lint-ignore no-explicit-any
      return status.services[0].targets.every((t: any) => t.checks > 0);
    });
    for (const target of targets) await target.setMode("accept");
    const first = await slices.waitFor((e) => e.object.metadata.name === SLICE);
    assert.deepEqual(
      readiness(first.object),
      Object.fromEntries(ADDRESSES.map((a) => [a, true])),
      "the first slice waits for verdicts, and the next checks pass",
    );
    // Then they pass their checks: still all ready, and nothing else was ever shown.
    await until(
      "every target to be healthy",
      () => agent.lines.filter((l) => l.msg === "target healthy").length === ADDRESSES.length,
    );
    await agent.stop();
    for (const event of slices.events.filter((e) => e.object.metadata.name === SLICE)) {
      assert.ok(Object.values(readiness(event.object)).every(Boolean));
    }
  } finally {
    for (const target of targets) await target.close();
  }
});

Deno.test("startup: the first slice beside a dead target is already its verdict", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [
    { address: ADDRESSES[0]!, port: 9092 },
    { address: ADDRESSES[1]!, port: 9092, mode: "refuse" },
    { address: ADDRESSES[2]!, port: 9092 },
  ]);
  try {
    const namespace = await cluster.createNamespace("startup");
    await createService(cluster, namespace);
    await using slices = await recordSlices(cluster, namespace);
    await using agent = await startAgent({
      args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", "off"],
      env: env(namespace),
    });
    const first = await slices.waitFor((e) => e.object.metadata.name === SLICE);
    assert.deepEqual(readiness(first.object), {
      [ADDRESSES[0]!]: true,
      [ADDRESSES[1]!]: false,
      [ADDRESSES[2]!]: true,
    });
    // Written after the dead target's verdict, not from its first failed check.
    await agent.waitForLog((l) => l.msg === "published");
    const verdict = agent.lines.findIndex((l) => l.msg === "target unhealthy");
    const published = agent.lines.findIndex((l) => l.msg === "published");
    assert.ok(verdict >= 0 && verdict < published, `verdict line ${verdict}, write ${published}`);
    assert.equal(await agent.stop(), 0);
  } finally {
    for (const target of targets) await target.close();
  }
});

Deno.test("startup: --once waits for the verdicts and publishes them", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const [live1, live2, dead] = await startTargets(net, [
    { address: ADDRESSES[0]!, port: 9092 },
    { address: ADDRESSES[1]!, port: 9092 },
    { address: ADDRESSES[2]!, port: 9092, mode: "refuse" },
  ]);
  try {
    const namespace = await cluster.createNamespace("startup");
    await createService(cluster, namespace);
    await using agent = await startAgent({
      args: ["run", "--once", "--kubeconfig", cluster.kubeconfigPath, "--listen", "off"],
      env: env(namespace),
    });
    const code = await within("the --once run to exit", agent.exited);
    assert.equal(code, 0, agent.lines.map((l) => JSON.stringify(l)).join("\n") + agent.stderr());
    const verdict = agent.lines.find((l) => l.msg === "target unhealthy");
    assert.equal(verdict?.target, `${ADDRESSES[2]}:9092`, "the dead target was judged");
    const slice = await getSlice(cluster, namespace, SLICE);
    assert.deepEqual(readiness(slice), {
      [ADDRESSES[0]!]: true,
      [ADDRESSES[1]!]: true,
      [ADDRESSES[2]!]: false,
    });
  } finally {
    for (const target of [live1, live2, dead]) await target?.close();
  }
});
