/**
 * `deno task dev` never writes to a cluster by surprise: its command line carries `--dry-run`
 * (nothing appended to it can take that back), examples/dev.env names a Service no one has in
 * production and TEST-NET targets only, and the agent run with exactly the task's arguments and a
 * kubeconfig that reaches the real test API server — where the example's Service exists, so a
 * writing agent would write — writes nothing there. `deno task dev:write` is the explicit way to
 * write: the same command line without `--dry-run`.
 */

import assert from "node:assert/strict";
import { parseCommandLine } from "../../src/cli.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { recordSlices } from "../support/service.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { fence, record, type SeenEvent } from "../support/watch.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SERVICE = "helaseid-dev-example";

const tasks: Record<string, string> = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;

function words(task: string | undefined): string[] {
  assert.ok(task, "deno.json has the task");
  return task.trim().split(/\s+/);
}

/** The arguments the task gives main.ts. */
function programArgs(task: string | undefined): string[] {
  const all = words(task);
  const at = all.indexOf("main.ts");
  assert.ok(at > 0, `the task runs main.ts: ${task}`);
  return all.slice(at + 1);
}

async function devConfig() {
  return (await loadConfig({ path: `${ROOT}examples/dev.env`, env: {} })).config;
}

Deno.test("dev task: always --dry-run, and nothing appended to it takes that back", () => {
  const args = programArgs(tasks.dev);
  assert.deepEqual(args.slice(0, 3), ["run", "--config", "examples/dev.env"]);
  assert.ok(args.includes("--dry-run"), `deno task dev passes --dry-run: ${args.join(" ")}`);
  const parsed = parseCommandLine(args);
  assert.ok(parsed.command === "run" && parsed.flags.dryRun, "parsed as a dry run");
  // `deno task dev EXTRA...` appends EXTRA: none of these turns writing on.
  for (const extra of [["--dry-run=false"], ["--no-dry-run"], ["--dry-run-fallback"], ["-w"]]) {
    const again = parseCommandLine([...args, ...extra]);
    assert.ok(
      again.command === "error" || again.flags.dryRun,
      `deno task dev ${extra.join(" ")} stays a dry run`,
    );
  }
  // The dev loop runs with the binary's permissions.
  const permissions = (task?: string) => words(task).filter((w) => w.startsWith("--allow-"));
  assert.deepEqual(permissions(tasks.dev), permissions(tasks.compile));
});

Deno.test("dev task: dev:write is the same command line without --dry-run", () => {
  const dev = programArgs(tasks.dev);
  const write = programArgs(tasks["dev:write"]);
  assert.deepEqual(write, dev.filter((arg) => arg !== "--dry-run"));
  assert.equal(
    tasks["dev:write"],
    tasks.dev?.replace(" --dry-run ", " "),
    "only --dry-run differs",
  );
});

Deno.test("dev task: examples/dev.env names an example Service and TEST-NET targets only", async () => {
  const config = await devConfig();
  assert.equal(config.services.length, 1);
  const [service] = config.services;
  assert.equal(service!.name, SERVICE);
  assert.ok(service!.targets.length > 0);
  for (const target of service!.targets) {
    assert.match(target.address, /^192\.0\.2\.\d{1,3}$/, "a TEST-NET-1 address");
  }
});

Deno.test("dev task: with a kubeconfig that reaches a cluster, the agent writes nothing", async () => {
  const cluster = await sharedCluster();
  const config = await devConfig();
  const service = config.services[0]!;
  const { namespace } = service;
  // The example's Service exists, selector-less: an agent that writes would write here.
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: SERVICE, namespace },
      spec: { ports: [{ port: service.probe.port, targetPort: service.probe.port }] },
    }),
  });
  await using slices = await recordSlices(cluster, namespace);
  await using endpoints = await record(
    cluster.kubeconfigPath,
    `/api/v1/namespaces/${namespace}/endpoints`,
  );
  await using net = await TestNetwork.open();
  const targets = await startTargets(
    net,
    service.targets.map((target) => ({ address: target.address, port: service.probe.port })),
  );
  try {
    // Exactly the task's arguments; the developer's kubeconfig reaches the cluster.
    await using agent = await startAgent({
      args: programArgs(tasks.dev),
      env: { KUBECONFIG: cluster.kubeconfigPath },
      echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
    });
    // The positive signal: the agent got to the point of writing both objects, and logged them
    // instead (a writing agent logs "published").
    const would = async (resource: string) => {
      const line = await agent.waitForLog((line) =>
        new RegExp(`dry-run: would \\w+ ${resource} ${namespace}/${SERVICE}\\b`).test(line.msg) ||
        / published /.test(line.msg)
      );
      assert.match(line.msg, /dry-run: would/, "the dev task wrote to the cluster");
    };
    await would("endpointslices");
    await would("endpoints");
    const ours = (event: SeenEvent) =>
      String(event.object?.metadata?.name ?? "").startsWith(SERVICE) ||
      event.object?.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"] === "helaseid";
    const seen = [
      ...await fence(slices, cluster, { namespace, kind: "EndpointSlice" }),
      ...await fence(endpoints, cluster, { namespace, kind: "Endpoints" }),
    ].filter(ours);
    assert.deepEqual(seen.map((e) => `${e.type} ${e.object.metadata.name}`), []);
    const stored = await cluster.kubectlOk([
      "-n",
      namespace,
      "get",
      "endpointslices,endpoints",
      "-l",
      "endpointslice.kubernetes.io/managed-by=helaseid",
      "-o",
      "name",
    ]);
    assert.equal(stored.trim(), "", "nothing of HELASEID's in the cluster");
    assert.equal(await agent.stop(), 0);
  } finally {
    for (const target of targets) await target.close();
    await cluster.kubectlOk(["-n", namespace, "delete", "service", SERVICE]);
  }
});
