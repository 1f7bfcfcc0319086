/**
 * The test runner (`deno task test`). `tests/netns.sh` starts it inside a fresh network
 * namespace (and PID namespace, so every process of the run dies with it) with `lo` up; here
 * it starts one real API server for the whole run, runs `deno test` against it, and prints
 * the plain `N passed, N failed` line from the JUnit report.
 *
 * Usage: deno run -A tests/run.ts [deno test arguments...]
 *
 * @module
 */

import { publishCluster, startCluster } from "./support/cluster.ts";
import { summarizeJunit } from "./support/junit.ts";

const root = new URL("../", import.meta.url).pathname;
const junitPath = `${root}.test-results/junit.xml`;

async function main(): Promise<number> {
  const interfaces = Deno.networkInterfaces().filter((i) => i.name !== "lo");
  if (interfaces.length > 0) {
    console.error("tests/run.ts must run inside a private network namespace: use tests/netns.sh");
    return 2;
  }

  const started = performance.now();
  const cluster = await startCluster({ verbose: Deno.env.get("HELASEID_TEST_VERBOSE") === "1" });
  console.error(
    `test cluster ready in ${
      ((performance.now() - started) / 1000).toFixed(1)
    }s at ${cluster.server}`,
  );
  Deno.env.set("HELASEID_TEST_CLUSTER", await publishCluster(cluster));

  let child: Deno.ChildProcess | undefined;
  const stop = () => {
    try {
      child?.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await Deno.mkdir(`${root}.test-results`, { recursive: true });
    await Deno.remove(junitPath).catch(() => {});
    const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
    child = new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-all", `--junit-path=${junitPath}`, ...args],
      cwd: root,
      stdin: "null",
    }).spawn();
    const status = await child.status;
    const summary = await summarizeJunit(junitPath).catch(() => undefined);
    if (summary) console.log(`${summary.passed} passed, ${summary.failed} failed`);
    if (!summary || summary.passed + summary.failed === 0) return status.code || 1;
    return status.code;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    await cluster.stop();
  }
}

Deno.exit(await main());
