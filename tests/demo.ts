/**
 * `deno task demo`: HELASEID doing its main job, on the test bed, in under a minute.
 *
 * Inside a private network namespace (tests/netns.sh): a real kube-apiserver, three simulated
 * Redpanda brokers on 192.0.2.3-5:9092 (TEST-NET stand-ins for the seed's 10.188.2.3-5), and
 * the agent running the seed's ConfigMap as written (only IPS points at the stand-ins). One
 * broker is stopped, then started again; the terminal shows the EndpointSlice as any client
 * of the API sees it on a watch.
 *
 * @module
 */

import { startAgent } from "./support/agent_process.ts";
import { startCluster } from "./support/cluster.ts";
import { startTargets } from "./support/targets.ts";
import { TestNetwork } from "./support/testnet.ts";
import { readiness, record, type SeenEvent } from "./support/watch.ts";

const NAMESPACE = "datastream";
const SERVICE = "datastream-redpanda-api-dev";
const BROKERS = ["192.0.2.3", "192.0.2.4", "192.0.2.5"];
const bold = (text: string) => Deno.stdout.isTerminal() ? `\x1b[1m${text}\x1b[0m` : text;
const began = performance.now();
const clock = () => `[${((performance.now() - began) / 1000).toFixed(1).padStart(5)}s]`;
const say = (text: string) => console.log(`${clock()} ${text}`);

function show(event: SeenEvent): void {
  const states = Object.entries(readiness(event.object))
    .map(([address, ready]) => `${address} ${ready ? "ready" : bold("NOT READY")}`);
  say(`  watch: ${event.type} ${event.object.metadata.name}: ${states.join(", ")}`);
}

say("starting kube-apiserver + etcd (test bed) ...");
await using cluster = await startCluster();
say(`API server ready at ${cluster.server}`);
await cluster.kubectlOk(["create", "namespace", NAMESPACE]);
await cluster.kubectlOk(["apply", "-f", "-"], {
  stdin: JSON.stringify({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: SERVICE, namespace: NAMESPACE },
    spec: { ports: [{ name: "kafka", port: 9092, protocol: "TCP" }] },
  }),
});
say(`created selector-less Service ${NAMESPACE}/${SERVICE}`);

await using net = await TestNetwork.open();
const brokers = await startTargets(net, BROKERS.map((address) => ({ address, port: 9092 })));
say(`three simulated brokers listening on ${BROKERS.map((a) => `${a}:9092`).join(", ")}`);

await using slices = await record(
  cluster.kubeconfigPath,
  `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices`,
);
const seedConfig = await Deno.readTextFile(new URL("../examples/seed-config.env", import.meta.url));
console.log(`\nthe seed's config.env, as in its ConfigMap:\n${seedConfig.replace(/^/gm, "    ")}`);
say(`starting helaseid with it (IPS overridden to the stand-ins: ${BROKERS.join(" ")})`);
await using agent = await startAgent({
  args: ["run", "--config", "examples/seed-config.env", "--kubeconfig", cluster.kubeconfigPath],
  env: { IPS: BROKERS.join(" ") },
});

const allReady = (event: SeenEvent) =>
  event.type !== "DELETED" && Object.values(readiness(event.object)).length === 3 &&
  Object.values(readiness(event.object)).every(Boolean);
show(await slices.waitFor(allReady));

console.log();
const stopped = performance.now();
say(bold(`stopping broker ${BROKERS[1]} (connection refused from now on)`));
await brokers[1]!.setMode("refuse");
const down = await slices.waitFor((e) => readiness(e.object)[BROKERS[1]!] === false);
show(down);
say(
  `${BROKERS[1]} left the ready endpoints ${(performance.now() - stopped).toFixed(0)} ms after ` +
    "it stopped (INTERVAL 0.01 s x MAX_RETRY 10 = 100 ms)",
);
const alert = agent.lines.find((line) => line.msg === "target unhealthy");
if (alert) say(`  agent log: target unhealthy ${alert.target} error=${alert.error}`);

console.log();
const restarted = performance.now();
say(bold(`starting broker ${BROKERS[1]} again`));
await brokers[1]!.setMode("accept");
show(await slices.waitFor(allReady, { since: slices.events.indexOf(down) + 1 }));
say(`${BROKERS[1]} is ready again ${(performance.now() - restarted).toFixed(0)} ms later`);

console.log();
console.log(
  (await cluster.kubectlOk(["get", "endpointslices,endpoints", "-n", NAMESPACE, "-o", "wide"]))
    .trimEnd(),
);
await agent.stop();
for (const broker of brokers) await broker.close();
say("done: the agent stopped cleanly; the namespace and the API server are torn down");
