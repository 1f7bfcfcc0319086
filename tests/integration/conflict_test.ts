/**
 * Two writers never fight silently (issue 10, item 1), against the real API server: two agent
 * processes publish different targets for one Service. Before the guard they rewrote the
 * slice about 70 times a second for as long as they ran, with no sign of it. Now one of them
 * holds off and says so (ERROR log, `/readyz` 503 naming the other writer, the conflict
 * metric, an Event), the slice is rewritten only a few times in a window of seconds, and
 * once the other agent is gone the remaining one takes the Service over after its backoff.
 *
 * Deadlines here only keep a broken test from hanging; nothing asserts a duration.
 */

import assert from "node:assert/strict";
import { type AgentProcess, startAgent } from "../support/agent_process.ts";
import { type ClusterAccess, sharedCluster } from "../support/cluster.ts";
import { freePort, get } from "../support/agent_http.ts";
import { createService, getSlice, recordSlices, UNNAMED_PORT } from "../support/service.ts";
import { type SimulatedTarget, startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { delay, untilValue } from "../support/wait.ts";
import { fence, readiness } from "../support/watch.ts";
import { findAll, parsePrometheus, valueOf } from "../observe/_prometheus.ts";

const ECHO = Deno.env.get("HELASEID_TEST_ECHO") === "1";
const A = "192.0.2.171", B = "192.0.2.172", C = "192.0.2.173";

async function conflictMetric(base: string): Promise<number | undefined> {
  const { body } = await get(base, "/metrics");
  return valueOf(parsePrometheus(body), "helaseid_service_conflict", { service: "brokers" });
}

/** Finished checks of the Service, every result, from one agent's /metrics. */
async function checks(base: string): Promise<number> {
  const { body } = await get(base, "/metrics");
  return findAll(parsePrometheus(body), "helaseid_probes_total", { service: "brokers" })
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** Checks each agent must have run before the quiet window may end. */
const WINDOW_CHECKS = 50;

interface Writer {
  readonly name: string;
  readonly targets: readonly string[];
  readonly agent: AgentProcess;
  readonly base: string;
}

async function startWriter(
  cluster: ClusterAccess,
  namespace: string,
  name: string,
  targets: readonly string[],
  env: Record<string, string>,
): Promise<Writer> {
  const port = freePort();
  const agent = await startAgent({
    args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", `127.0.0.1:${port}`],
    echo: ECHO,
    env: {
      IPS: targets.join(" "),
      PORT: "9092",
      MAX_RETRY: "3",
      INTERVAL: "0.1",
      NAMESPACE: namespace,
      SERVICE_NAME: "brokers",
      ...env,
    },
  });
  return { name, targets, agent, base: `http://127.0.0.1:${port}` };
}

Deno.test("conflict: two agents with different targets for one Service stop fighting and say so", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("conflict");
  await createService(cluster, namespace, { ports: [UNNAMED_PORT] });
  const net = await TestNetwork.open();
  const targets: SimulatedTarget[] = [];
  const writers: Writer[] = [];
  await using slices = await recordSlices(cluster, namespace);
  try {
    targets.push(...await startTargets(net, [A, B, C].map((address) => ({ address, port: 9092 }))));
    // One identity set explicitly, the other the default: pod name and process id.
    writers.push(
      await startWriter(cluster, namespace, "one", [A, B], { HELASEID_WRITER_ID: "agent-one" }),
      await startWriter(cluster, namespace, "two", [A, C], { POD_NAME: "agent-two" }),
    );
    const identity = (writer: Writer) =>
      writer.name === "one" ? "agent-one" : `agent-two/${writer.agent.pid}`;

    // Within seconds at least one of them reports the conflict, naming the other writer.
    const blocked = await untilValue("one agent to report a conflict", async () => {
      for (const writer of writers) {
        const readyz = await get(writer.base, "/readyz");
        if (readyz.status === 503 && /brokers: conflict/.test(readyz.body)) {
          return { writer, readyz: readyz.body };
        }
      }
      return undefined;
    });
    const other = writers.find((writer) => writer !== blocked.writer)!;
    assert.match(blocked.readyz, new RegExp(`another HELASEID writer '${identity(other)}'`));
    assert.equal(await conflictMetric(blocked.writer.base), 1);
    const line = await blocked.writer.agent.waitForLog((line) =>
      line.level === "error" && line.reason === "conflict"
    );
    assert.equal(line.writer, identity(other));
    assert.match(String(line.object), new RegExp(`${namespace}/brokers`));
    const status = JSON.parse((await get(blocked.writer.base, "/status")).body);
    assert.equal(status.services[0].publish.blocked, "conflict");
    assert.equal(status.services[0].publish.conflict.writer, identity(other));
    assert.match(status.services[0].publish.detail, /another HELASEID writer/);

    // The fight is over: over 10 s, a handful of writes (a takeover after a backoff, and the
    // other's answer), where the fight made about 700.
    // The window lasts 10 s and until each agent ran WINDOW_CHECKS more checks (a quarter of
    // what 10 s make at INTERVAL 0.1 with two targets): on a loaded machine it stretches
    // rather than end before the agents had the time to fight.
    const checksAtStart = await Promise.all(writers.map((writer) => checks(writer.base)));
    const start = (await fence(slices, cluster, { namespace, kind: "EndpointSlice" })).length;
    await delay(10_000);
    await untilValue(`each agent to run ${WINDOW_CHECKS} checks in the window`, async () => {
      const now = await Promise.all(writers.map((writer) => checks(writer.base)));
      return now.every((count, i) => count >= checksAtStart[i]! + WINDOW_CHECKS) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const window = (await fence(slices, cluster, { namespace, kind: "EndpointSlice" }))
      .slice(start)
      .filter((event) => event.object?.metadata?.name === "brokers-helaseid-ipv4");
    assert.ok(window.length <= 10, `${window.length} writes of the slice in 10 s`);

    // An Event on the Service says it too.
    await untilValue("a PublishConflict Event", async () => {
      const list = JSON.parse(
        await cluster.kubectlOk(["get", "events.events.k8s.io", "-n", namespace, "-o", "json"]),
      );
      // deno-lint-ignore no-explicit-any
      return list.items.find((event: any) => event.reason === "PublishConflict");
    });

    // The agent now holding off takes over once the other one is gone.
    const holding = await untilValue("an agent holding off", async () => {
      for (const writer of writers) {
        if (await conflictMetric(writer.base) === 1) return writer;
      }
      return undefined;
    });
    const leaving = writers.find((writer) => writer !== holding)!;
    assert.equal(await leaving.agent.stop(), 0);
    await untilValue("the remaining agent to take over", async () => {
      if ((await get(holding.base, "/readyz")).status !== 200) return undefined;
      const slice = await getSlice(cluster, namespace, "brokers-helaseid-ipv4");
      const shown = Object.keys(readiness(slice)).sort();
      return slice.metadata.annotations?.["helaseid.io/writer"] === identity(holding) &&
          JSON.stringify(shown) === JSON.stringify([...holding.targets].sort())
        ? true
        : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 });
    assert.equal(await conflictMetric(holding.base), 0);
  } finally {
    for (const writer of writers) await writer.agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await net.close();
  }
});
