/**
 * A correlated outage as a watch client sees it (issue 10.6): when every target of a Service
 * dies together, the EndpointSlice goes straight to its final state in one change, although
 * the targets' verdicts arrive spread over part of an interval. The agent runs at
 * `LOG_LEVEL=WARN`, which must still show each target going down and the panic guard.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { createService, recordSlices } from "../support/service.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { until } from "../support/wait.ts";
import { readiness, type SeenEvent } from "../support/watch.ts";

const ADDRESSES = ["192.0.2.51", "192.0.2.52", "192.0.2.53", "192.0.2.54", "192.0.2.55"];
const SLICE = "brokers-helaseid-ipv4";
const INTERVAL_MS = 300;
const FALL = 3;
// Checks are moved by up to ±20 % of the interval, so the five verdicts come apart.

function all(ready: boolean) {
  return (event: SeenEvent) =>
    event.type !== "DELETED" && event.object.metadata.name === SLICE &&
    ADDRESSES.every((address) => readiness(event.object)[address] === ready);
}

for (const allDown of ["empty", "publishAll"] as const) {
  Deno.test(`outage: every target dying together is one change to the final state (${allDown})`, async () => {
    const cluster = await sharedCluster();
    await using net = await TestNetwork.open();
    const targets = await startTargets(net, ADDRESSES.map((address) => ({ address, port: 9092 })));
    try {
      const namespace = await cluster.createNamespace("outage");
      await createService(cluster, namespace);
      await using slices = await recordSlices(cluster, namespace);
      await using agent = await startAgent({
        args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", "off"],
        env: {
          IPS: ADDRESSES.join(" "),
          PORT: "9092",
          MAX_RETRY: String(FALL),
          INTERVAL: String(INTERVAL_MS / 1000),
          TIMEOUT: "0.1",
          JITTER: "0.2",
          ALL_DOWN: allDown,
          NAMESPACE: namespace,
          SERVICE_NAME: "brokers",
          // At WARN the log must still show targets going down and the panic guard (10.10).
          LOG_LEVEL: "WARN",
        },
      });
      await slices.waitFor(all(true));
      const mark = slices.events.length;
      for (const target of targets) await target.setMode("refuse");
      await until(
        "every target to be judged unhealthy",
        () => agent.lines.filter((l) => l.msg === "target unhealthy").length === ADDRESSES.length,
      );
      const verdicts = agent.lines.filter((l) => l.msg === "target unhealthy")
        .map((l) => Date.parse(String(l.time)));
      // The last verdict releases the held write: wait for what it publishes, then stop.
      if (allDown === "empty") await slices.waitFor(all(false), { since: mark });
      else await agent.waitForLog((l) => l.msg.startsWith("panic guard on"));
      await agent.stop();
      assert.ok(agent.lines.every((l) => l.level === "warn" || l.level === "error"));
      const changes = slices.events.slice(mark).filter((e) => e.object.metadata.name === SLICE);
      const states = changes.map((e) => JSON.stringify(readiness(e.object)));
      if (allDown === "empty") {
        assert.equal(changes.length, 1, `one change; saw ${states.join(" → ")}`);
        assert.ok(all(false)(changes[0]!));
      } else {
        assert.ok(changes.every(all(true)), `never a partial set; saw ${states.join(" → ")}`);
        assert.ok(changes.length <= 1, `saw ${changes.length} changes`);
      }
      // What the hold is for: the verdicts did not all come at once.
      assert.ok(
        Math.max(...verdicts) > Math.min(...verdicts),
        `verdicts spread: ${verdicts.map((v) => v - Math.min(...verdicts))}`,
      );
    } finally {
      for (const target of targets) await target.close();
    }
  });
}
