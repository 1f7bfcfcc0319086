/**
 * Fast confirmation in the test network (issue 17): with INTERVAL 1 s, MAX_RETRY 3 and
 * FAST_INTERVAL 0.1 s, a refused target and a black-holed one leave the ready endpoints after
 * one check on the interval and two fast ones, the live target stays, `/status` shows the
 * schedule each target is on and `/metrics` counts the fast checks. Timings are printed, not
 * asserted (two cores shared with other work): the bench measures them.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { freePort } from "../support/agent_http.ts";
import { createService, recordSlices } from "../support/service.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { until } from "../support/wait.ts";
import { readiness, type SeenEvent } from "../support/watch.ts";

const REFUSED = "192.0.2.61";
const DROPPED = "192.0.2.62";
const LIVE = "192.0.2.63";
const SLICE = "brokers-helaseid-ipv4";

function ready(address: string, value: boolean) {
  return (event: SeenEvent) =>
    event.type !== "DELETED" && event.object.metadata.name === SLICE &&
    readiness(event.object)[address] === value;
}

interface StatusTarget {
  address: string;
  status: string;
  schedule: string;
  intervalMs: number;
}

Deno.test("fast interval: refused and dropped targets leave the ready endpoints within the new bound", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(
    net,
    [REFUSED, DROPPED, LIVE].map((address) => ({ address, port: 9092 })),
  );
  try {
    const namespace = await cluster.createNamespace("fast");
    await createService(cluster, namespace);
    await using slices = await recordSlices(cluster, namespace);
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    await using agent = await startAgent({
      args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", `127.0.0.1:${port}`],
      env: {
        IPS: [REFUSED, DROPPED, LIVE].join(" "),
        PORT: "9092",
        INTERVAL: "1",
        MAX_RETRY: "3",
        TIMEOUT: "0.3",
        FAST_INTERVAL: "0.1",
        NAMESPACE: namespace,
        SERVICE_NAME: "brokers",
      },
    });
    for (const address of [REFUSED, DROPPED, LIVE]) await slices.waitFor(ready(address, true));
    const status = async () => {
      const response = await fetch(`${base}/status`, { signal: AbortSignal.timeout(5000) });
      const document = await response.json();
      return document.services[0].targets as StatusTarget[];
    };
    assert.ok((await status()).every((t) => t.schedule === "normal" && t.intervalMs === 1000));

    const mark = slices.events.length;
    const refusedAt = performance.now();
    await targets[0]!.setMode("refuse");
    await slices.waitFor(ready(REFUSED, false), { since: mark });
    const refusedMs = performance.now() - refusedAt;

    const mark2 = slices.events.length;
    const droppedAt = performance.now();
    await targets[1]!.setMode("drop");
    await slices.waitFor(ready(DROPPED, false), { since: mark2 });
    const droppedMs = performance.now() - droppedAt;
    console.log(
      `fast interval: refused → not ready ${Math.round(refusedMs)} ms ` +
        `(bound ~ 1000 + 2 × 100); dropped → not ready ${Math.round(droppedMs)} ms ` +
        `(bound ~ 1000 + 3 × 300)`,
    );

    // Both dead targets are on the down schedule; the live one never left the interval.
    await until(
      "both dead targets to be unhealthy in /status",
      async () => (await status()).filter((t) => t.status === "unhealthy").length === 2,
    );
    const byAddress = new Map((await status()).map((t) => [t.address, t]));
    assert.equal(byAddress.get(REFUSED)!.schedule, "down");
    assert.equal(byAddress.get(DROPPED)!.schedule, "down");
    assert.equal(byAddress.get(LIVE)!.schedule, "normal");
    assert.equal(byAddress.get(LIVE)!.status, "healthy");
    const last = slices.events.filter((e) => e.object.metadata.name === SLICE).at(-1)!;
    assert.deepEqual(readiness(last.object), { [REFUSED]: false, [DROPPED]: false, [LIVE]: true });

    // Each outage took two fast checks (fall 3): four at least, counted apart.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const fast = metrics.split("\n").find((line) => line.startsWith("helaseid_fast_checks_total"));
    assert.ok(fast !== undefined, "helaseid_fast_checks_total is exposed");
    const count = Number(fast.split(" ").at(-1));
    console.log(`fast interval: ${count} fast checks for two outages`);
    assert.ok(count >= 4, fast);
    await agent.stop();
  } finally {
    for (const target of targets) await target.close();
  }
});
