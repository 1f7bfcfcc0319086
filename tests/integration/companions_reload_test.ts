/**
 * Companion Services a reload drops (issue 15), end to end: the real agent process against the
 * real API server with `removedServices: delete`. Brokers in zones a (.241) and b (.242) with a
 * primary; the agent creates `brokers-primary`, `brokers-a` and `brokers-b`. Another manager's
 * EndpointSlice carries `brokers-primary`'s name. A reload (SIGHUP) renames the primary's
 * Service to `brokers-leader` and moves b's broker to zone a: the EndpointSlices and Endpoints
 * HELASEID wrote for `brokers-primary` and `brokers-b` are deleted; the other manager's slice and
 * every Service object stay; `brokers-leader` is published.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { sharedCluster } from "../support/cluster.ts";
import { createService, type Json } from "../support/service.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { until } from "../support/wait.ts";

const A = "192.0.2.241", B = "192.0.2.242";
const KAFKA = 9092;

function configText(namespace: string, primary: string, zoneOfB: string): string {
  return JSON.stringify({
    watchConfig: false,
    removedServices: "delete",
    services: [{
      name: "brokers",
      namespace,
      ports: [{ name: "kafka", port: KAFKA }],
      targets: [{ address: A, zone: "a" }, { address: B, zone: zoneOfB }],
      probe: { interval: "300ms", timeout: "200ms", rise: 1, fall: 2 },
      publish: { createService: true },
      zones: { services: true, hints: false },
      primary: { service: primary, failbackAfter: "never" },
    }],
  });
}

Deno.test("reload with removedServices delete: a renamed primary Service and a zone gone lose our objects, nothing else", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [A, B].map((address) => ({ address, port: KAFKA })));
  const dir = await Deno.makeTempDir({ prefix: "helaseid-companions-reload-" });
  const namespace = await cluster.createNamespace("companions-reload");
  await createService(cluster, namespace);
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(config, configText(namespace, "brokers-primary", "b"));
  // Another manager's slice for brokers-primary: never ours to delete.
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: "brokers-primary-manual",
        namespace,
        labels: {
          "kubernetes.io/service-name": "brokers-primary",
          "endpointslice.kubernetes.io/managed-by": "someone-else",
        },
      },
      addressType: "IPv4",
      endpoints: [{ addresses: ["192.0.2.249"], conditions: { ready: true } }],
      ports: [{ name: "kafka", port: KAFKA, protocol: "TCP" }],
    }),
  });
  const agent = await startAgent({
    args: runArgs(config, cluster.kubeconfigPath, freePort()),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const get = async (kind: string, selector?: string): Promise<string[]> => {
    const args = ["get", kind, "-n", namespace, "-o", "json"];
    if (selector) args.push("-l", selector);
    const list = JSON.parse(await cluster.kubectlOk(args));
    return list.items.map((o: Json) => o.metadata.name as string).sort();
  };
  const slicesOf = (service: string) =>
    get("endpointslices", `kubernetes.io/service-name=${service}`);
  try {
    await until(
      "primary and per-zone slices written",
      async () =>
        (await slicesOf("brokers-primary")).length === 2 &&
        (await slicesOf("brokers-b")).length === 1,
      { intervalMs: 200 },
    );
    assert.deepEqual(await slicesOf("brokers-primary"), [
      "brokers-primary-helaseid-ipv4",
      "brokers-primary-manual",
    ]);
    assert.ok((await get("endpoints")).includes("brokers-primary"));

    await Deno.writeTextFile(`${config}.new`, configText(namespace, "brokers-leader", "a"));
    await Deno.rename(`${config}.new`, config);
    Deno.kill(agent.pid, "SIGHUP");
    await agent.waitForLog((l) => l.msg === "configuration reloaded");
    await until(
      "brokers-leader published",
      async () => (await slicesOf("brokers-leader")).length === 1,
      { intervalMs: 200 },
    );
    await until(
      "the dropped companions' slices deleted",
      async () =>
        (await slicesOf("brokers-b")).length === 0 &&
        (await slicesOf("brokers-primary")).length === 1,
      { intervalMs: 200 },
    );
    assert.deepEqual(await slicesOf("brokers-primary"), ["brokers-primary-manual"]);
    const endpoints = await get("endpoints");
    assert.ok(!endpoints.includes("brokers-primary"), endpoints.join(" "));
    assert.ok(!endpoints.includes("brokers-b"), endpoints.join(" "));
    assert.ok(endpoints.includes("brokers-leader"), endpoints.join(" "));
    assert.deepEqual(await slicesOf("brokers-a"), ["brokers-a-helaseid-ipv4"]);
    const services = await get("services");
    for (const name of ["brokers", "brokers-primary", "brokers-a", "brokers-b", "brokers-leader"]) {
      assert.ok(services.includes(name), `Service ${name} stays: ${services.join(" ")}`);
    }
    const deleted = () =>
      agent.lines.filter((l) =>
        l.msg === "deleted the objects of a companion Service no longer configured"
      ).map((l) => l.object).sort();
    await until("four deletions logged", () => deleted().length >= 4);
    assert.deepEqual(deleted(), [
      "EndpointSlice/brokers-b-helaseid-ipv4",
      "EndpointSlice/brokers-primary-helaseid-ipv4",
      "Endpoints/brokers-b",
      "Endpoints/brokers-primary",
    ]);
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
