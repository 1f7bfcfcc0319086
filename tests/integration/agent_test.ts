/**
 * The agent end to end: the real binary entry point (main.ts, or the bundle) against the real
 * API server, probing simulated brokers on 192.0.2.x inside the private network namespace.
 * Assertions are about what a client of the API sees on a watch.
 */

import assert from "node:assert/strict";
import { type AgentProcess, startAgent } from "../support/agent_process.ts";
import { type ClusterAccess, sharedCluster, startCluster } from "../support/cluster.ts";
import { type SimulatedTarget, startTargets, untilChecked } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue, within } from "../support/wait.ts";
import { fence, readiness, record, type Recorder } from "../support/watch.ts";

const INTERVAL = 0.2;
const FALL = 3;
const TIMEOUT = 0.15;
/** Slack for scheduling, the watch and a loaded 2-core machine; never a performance claim. */
const MARGIN_MS = 1500;

interface Bed extends AsyncDisposable {
  readonly cluster: ClusterAccess;
  readonly namespace: string;
  readonly targets: SimulatedTarget[];
  readonly slices: Recorder;
  readonly endpoints: Recorder;
  agent?: AgentProcess;
  start(extraEnv?: Record<string, string>): Promise<AgentProcess>;
}

async function service(cluster: ClusterAccess, namespace: string, selector = false) {
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "brokers", namespace },
      spec: {
        ports: [{ name: "kafka", port: 9092, targetPort: 9092, protocol: "TCP" }],
        ...(selector ? { selector: { app: "brokers" } } : {}),
      },
    }),
  });
}

async function bed(
  addresses: string[],
  options: { cluster?: ClusterAccess; selector?: boolean } = {},
): Promise<Bed> {
  const cluster = options.cluster ?? await sharedCluster();
  const namespace = await cluster.createNamespace("agent");
  await service(cluster, namespace, options.selector);
  const net = await TestNetwork.open();
  const targets = await startTargets(net, addresses.map((address) => ({ address, port: 9092 })));
  const slices = await record(
    cluster.kubeconfigPath,
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
  );
  const endpoints = await record(
    cluster.kubeconfigPath,
    `/api/v1/namespaces/${namespace}/endpoints`,
  );
  const result: Bed = {
    cluster,
    namespace,
    targets,
    slices,
    endpoints,
    async start(extraEnv = {}) {
      result.agent = await startAgent({
        args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", "off"],
        echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
        env: {
          IPS: addresses.join(" "),
          PORT: "9092",
          MAX_RETRY: String(FALL),
          INTERVAL: String(INTERVAL),
          TIMEOUT: String(TIMEOUT),
          NAMESPACE: namespace,
          SERVICE_NAME: "brokers",
          LOG_LEVEL: "debug",
          ...extraEnv,
        },
      });
      return result.agent;
    },
    async [Symbol.asyncDispose]() {
      await result.agent?.stop("SIGKILL");
      await slices[Symbol.asyncDispose]();
      await endpoints[Symbol.asyncDispose]();
      for (const target of targets) await target.close();
      await net.close();
    },
  };
  return result;
}

/** Our IPv4 slice's readiness as a fresh GET shows it (undefined while it cannot be read). */
async function readSlice(cluster: ClusterAccess, namespace: string) {
  const out = await cluster.kubectl([
    "-n",
    namespace,
    "get",
    "endpointslice",
    "brokers-helaseid-ipv4",
    "-o",
    "json",
  ]);
  return out.code === 0 ? readiness(JSON.parse(out.stdout)) : undefined;
}

const A = "192.0.2.11", B = "192.0.2.12", C = "192.0.2.13";

/**
 * Every change of slices and Endpoints in the bed's namespace up to now (the watches fenced by a
 * marker object each), markers left out.
 */
async function quiet(b: Bed) {
  const options = { namespace: b.namespace };
  const [slices, endpoints] = await Promise.all([
    fence(b.slices, b.cluster, { ...options, kind: "EndpointSlice" }),
    fence(b.endpoints, b.cluster, { ...options, kind: "Endpoints" }),
  ]);
  return [...slices, ...endpoints];
}

/** The latest state of our IPv4 slice as the watch saw it. */
function lastSlice(recorder: Recorder) {
  return recorder.events.filter((e) => e.object.metadata.name === "brokers-helaseid-ipv4").at(-1)
    ?.object;
}

function sliceShows(expected: Record<string, boolean>) {
  return (event: { type: string; object: { metadata: { name: string } } }) =>
    event.type !== "DELETED" && event.object.metadata.name === "brokers-helaseid-ipv4" &&
    JSON.stringify(readiness(event.object)) === JSON.stringify(expected);
}

Deno.test("agent: publishes three brokers, then follows a refused and a dropped one", async () => {
  await using b = await bed([A, B, C]);
  await b.start();
  await b.slices.waitFor(sliceShows({ [A]: true, [B]: true, [C]: true }));
  const slice = lastSlice(b.slices);
  assert.equal(slice.metadata.labels["kubernetes.io/service-name"], "brokers");
  assert.equal(slice.metadata.labels["endpointslice.kubernetes.io/managed-by"], "helaseid");
  assert.equal(slice.metadata.ownerReferences[0].kind, "Service");
  assert.deepEqual(slice.ports, [{ name: "kafka", port: 9092, protocol: "TCP" }]);
  assert.ok(slice.metadata.annotations["endpoints.kubernetes.io/last-change-trigger-time"]);

  const budget = INTERVAL * 1000 * FALL + TIMEOUT * 1000 + MARGIN_MS;
  const killed = performance.timeOrigin + performance.now();
  await b.targets[0]!.setMode("refuse");
  await b.targets[1]!.setMode("drop");
  const down = await b.slices.waitFor(sliceShows({ [A]: false, [B]: false, [C]: true }));
  assert.ok(down.at - killed <= budget, `took ${Math.round(down.at - killed)} ms`);

  // Legacy Endpoints: the dead ones move to notReadyAddresses, with the skip-mirror label.
  const legacy = await b.endpoints.waitFor((e) =>
    e.object.metadata.name === "brokers" &&
    (e.object.subsets?.[0]?.notReadyAddresses ?? []).length === 2
  );
  assert.equal(legacy.object.metadata.labels["endpointslice.kubernetes.io/skip-mirror"], "true");
  assert.deepEqual(legacy.object.subsets[0].addresses.map((a: { ip: string }) => a.ip), [C]);
  assert.deepEqual(
    legacy.object.subsets[0].notReadyAddresses.map((a: { ip: string }) => a.ip).sort(),
    [A, B],
  );

  const revived = performance.timeOrigin + performance.now();
  await b.targets[0]!.setMode("accept");
  await b.targets[1]!.setMode("accept");
  const up = await b.slices.waitFor(sliceShows({ [A]: true, [B]: true, [C]: true }), {
    since: b.slices.events.indexOf(down) + 1,
  });
  // Seed format: RISE defaults to 1, so one good check brings a broker back.
  assert.ok(
    up.at - revived <= INTERVAL * 1000 + MARGIN_MS,
    `took ${Math.round(up.at - revived)} ms`,
  );
  assert.equal(await b.agent!.stop(), 0, "SIGTERM: clean exit 0");
});

Deno.test("agent: steady state makes zero writes", async () => {
  await using b = await bed([A, B]);
  const agent = await b.start();
  await agent.waitForLog((l) => l.msg === "published" && l.object === "Endpoints/brokers");
  await agent.waitForLog((l) =>
    l.msg === "published" && l.object === "EndpointSlice/brokers-helaseid-ipv4"
  );
  await b.slices.waitFor(sliceShows({ [A]: true, [B]: true }));
  await b.endpoints.waitFor((e) => e.object.metadata.name === "brokers");
  const seen = b.slices.events.length + b.endpoints.events.length;
  const published = agent.lines.filter((l) => l.msg === "published").length;
  assert.equal(published, 2, "one write per object");
  // 20 intervals of checks of both brokers with nothing changing, then the watches fenced.
  await Promise.all(b.targets.map((target) => untilChecked(target, 20)));
  const after = await quiet(b);
  assert.equal(after.length, seen, "no change on the watch");
  assert.equal(agent.lines.filter((l) => l.msg === "published").length, published, "no write");
});

Deno.test("agent: someone else's edit or deletion of our slice is repaired", async () => {
  await using b = await bed([A, B]);
  await b.start();
  await b.targets[1]!.setMode("refuse");
  await b.slices.waitFor(sliceShows({ [A]: true, [B]: false }));

  // An edit that marks the dead broker ready again, by another field manager.
  const mark = b.slices.events.length;
  await b.cluster.kubectlOk([
    "-n",
    b.namespace,
    "patch",
    "endpointslice",
    "brokers-helaseid-ipv4",
    "--type=json",
    "-p",
    '[{"op":"replace","path":"/endpoints/1/conditions/ready","value":true}]',
  ]);
  await b.slices.waitFor(sliceShows({ [A]: true, [B]: true }), { since: mark });
  await b.slices.waitFor(sliceShows({ [A]: true, [B]: false }), { since: mark + 1 });

  const deletedAt = b.slices.events.length;
  await b.cluster.kubectlOk([
    "-n",
    b.namespace,
    "delete",
    "endpointslice",
    "brokers-helaseid-ipv4",
  ]);
  await b.slices.waitFor((e) => e.type === "DELETED", { since: deletedAt });
  await b.slices.waitFor(
    (e) => e.type === "ADDED" && sliceShows({ [A]: true, [B]: false })(e),
    { since: deletedAt },
  );
});

Deno.test("agent: a Service with a selector is refused clearly and left alone", async () => {
  await using b = await bed([A], { selector: true });
  const agent = await b.start();
  const line = await agent.waitForLog((l) => l.reason === "service-has-selector");
  assert.match(line.msg, /selector/);
  assert.equal(line.level, "error");
  // Five more checks: verdicts are in and would have been published by now.
  await untilChecked(b.targets[0]!, 5);
  assert.deepEqual(await quiet(b), [], "nothing published for a Service with a selector");
  assert.equal(agent.lines.filter((l) => l.msg === "published").length, 0);
});

Deno.test("agent: a restarted agent causes zero endpoint changes", async () => {
  await using b = await bed([A, B, C]);
  await b.targets[2]!.setMode("refuse");
  const first = await b.start();
  await b.slices.waitFor(sliceShows({ [A]: true, [B]: true, [C]: false }));
  await b.endpoints.waitFor((e) => e.object.metadata.name === "brokers");
  assert.equal(await first.stop(), 0);
  const seen = b.slices.events.length + b.endpoints.events.length;
  const second = await b.start();
  await second.waitForLog((l) => l.msg === "target unhealthy");
  // Ten more checks of each live broker: every verdict is in, then the watches fenced.
  await Promise.all(b.targets.slice(0, 2).map((target) => untilChecked(target, 10)));
  assert.equal((await quiet(b)).length, seen, "no change on the watch");
  assert.equal(second.lines.filter((l) => l.msg === "published").length, 0);
});

Deno.test("agent: survives the API server going away, keeps probing, catches up", async () => {
  await using cluster = await startCluster();
  await using b = await bed([A, B], { cluster });
  const agent = await b.start();
  await b.slices.waitFor(sliceShows({ [A]: true, [B]: true }));
  await cluster.stopApiServer();
  await b.targets[0]!.setMode("refuse");
  await agent.waitForLog((l) => l.msg === "target unhealthy" && l.target === `${A}:9092`);
  await agent.waitForLog((l) => l.msg === "write failed");
  await cluster.startApiServer();
  // The recorder's watch died with the server: look at the object itself.
  const shown = await untilValue("the slice to show A not ready after the outage", async () => {
    const slice = await readSlice(cluster, b.namespace);
    return slice?.[A] === false ? slice : undefined;
  });
  assert.deepEqual(shown, { [A]: false, [B]: true });
  assert.equal(await agent.stop(), 0, "no crash: clean exit after the outage");
});

Deno.test("agent: the seed's ConfigMap as written drops a dead broker within INTERVAL × MAX_RETRY", async () => {
  await using b = await bed([A, B, C]);
  // The seed's config.env verbatim; only IPS (test addresses) and NAMESPACE are overridden.
  const agent = await startAgent({
    args: [
      "run",
      "--config",
      "examples/seed-config.env",
      "--kubeconfig",
      b.cluster.kubeconfigPath,
      "--listen",
      "off",
    ],
    env: { IPS: [A, B, C].join(" "), NAMESPACE: b.namespace, SERVICE_NAME: "brokers" },
  });
  b.agent = agent;
  await b.slices.waitFor(sliceShows({ [A]: true, [B]: true, [C]: true }));
  const killed = performance.timeOrigin + performance.now();
  await b.targets[1]!.setMode("refuse");
  const down = await b.slices.waitFor(sliceShows({ [A]: true, [B]: false, [C]: true }));
  // INTERVAL=0.01 × MAX_RETRY=10 = 100 ms, plus scheduling and the watch.
  assert.ok(down.at - killed <= 100 + MARGIN_MS, `took ${Math.round(down.at - killed)} ms`);
  const line = await agent.waitForLog((l) => l.msg === "target unhealthy");
  assert.equal(line.error, "refused");
});

Deno.test("agent: adopts the legacy Endpoints the original HELASEID wrote", async () => {
  await using b = await bed([A, B]);
  // What the seed left behind: an unlabelled Endpoints object with a stale address.
  await b.cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "brokers", namespace: b.namespace },
      subsets: [{ addresses: [{ ip: "192.0.2.99" }], ports: [{ name: "kafka", port: 9092 }] }],
    }),
  });
  await b.start();
  const adopted = await b.endpoints.waitFor((e) =>
    e.object.metadata.labels?.["endpointslice.kubernetes.io/managed-by"] === "helaseid"
  );
  assert.equal(adopted.object.metadata.labels["endpointslice.kubernetes.io/skip-mirror"], "true");
  assert.deepEqual(adopted.object.subsets[0].addresses.map((a: { ip: string }) => a.ip), [A, B]);
});

Deno.test("check: probes the seed's file with IPS overridden, exit 1 when one is down", async () => {
  const net = await TestNetwork.open();
  const targets = await startTargets(net, [A, B].map((address) => ({ address, port: 9092 })));
  try {
    await targets[1]!.setMode("refuse");
    await using agent = await startAgent({
      args: ["check", "--config", "examples/seed-config.env"],
      env: { IPS: `${A},${B}` },
    });
    const code = await within("check to exit", agent.exited);
    const table = agent.lines.map((l) => l.msg).join("\n");
    assert.equal(code, 1, table);
    assert.match(table, /^SERVICE\s+ADDRESS\s+CHECK\s+PORT\s+RESULT\s+LATENCY\s+REASON$/m);
    assert.match(
      table,
      new RegExp(`datastream/datastream-redpanda-api-dev\\s+${A}\\s+tcp\\s+9092\\s+up`),
    );
    assert.match(table, new RegExp(`${B}\\s+tcp\\s+9092\\s+down\\s+\\S+ms\\s+refused`));
    await targets[1]!.setMode("accept");
    await using again = await startAgent({
      args: ["check", "--config", "examples/seed-config.env"],
      env: { IPS: `${A} ${B}` },
    });
    assert.equal(await within("check to exit", again.exited), 0);
  } finally {
    for (const target of targets) await target.close();
    await net.close();
  }
});

Deno.test("agent: --once publishes the verdicts and exits 0", async () => {
  await using b = await bed([A, B]);
  await b.targets[1]!.setMode("refuse");
  const agent = await startAgent({
    args: ["run", "--once", "--kubeconfig", b.cluster.kubeconfigPath, "--listen", "off"],
    env: {
      IPS: `${A} ${B}`,
      PORT: "9092",
      MAX_RETRY: "2",
      INTERVAL: "0.1",
      NAMESPACE: b.namespace,
      SERVICE_NAME: "brokers",
    },
  });
  b.agent = agent;
  assert.equal(await within("--once to exit", agent.exited), 0, agent.stderr());
  assert.deepEqual(await readSlice(b.cluster, b.namespace), { [A]: true, [B]: false });
});
