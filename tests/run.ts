/**
 * The test runner (`deno task test`). `tests/netns.sh` starts it inside a fresh network
 * namespace (and PID namespace, so every process of the run dies with it) with `lo` up; here
 * it starts one real API server for the whole run, runs `deno test` against it, then builds
 * the bundle (`deno task bundle`) and runs the tests of the agent process again against it
 * (`HELASEID_AGENT_BUNDLE`), and prints the plain `N passed, N failed, N skipped` line of both
 * JUnit reports together. A skipped test fails the run unless {@linkcode EXPECTED_SKIPS} names
 * it: a test that skips itself (a missing tool, a permission) must not pass CI unnoticed.
 *
 * Usage: deno run -A tests/run.ts [deno test arguments...]
 * `HELASEID_BUNDLE_RERUN=0` skips the run against the bundle.
 *
 * @module
 */

import { publishCluster, startCluster } from "./support/cluster.ts";
import { addSummaries, summarizeJunit, summaryLine } from "./support/junit.ts";

const root = new URL("../", import.meta.url).pathname;
/** Where CI finds the reports (`.ci/run` sums every `*.xml` there). */
const resultsDir = `${root}.test-results`;
const REPORT_NAMES = ["junit.xml", "junit-bundle.xml"] as const;
/** Tests that run the agent as a process: they run a second time, against the bundle. */
const BUNDLE_TESTS = [
  "tests/integration/agent_test.ts",
  "tests/integration/manifests_test.ts",
  "tests/integration/dev_task_test.ts",
];
/** `file > test name` of the tests allowed to be skipped (none today). */
const EXPECTED_SKIPS: ReadonlySet<string> = new Set<string>([]);

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
  let stopping = false;
  const stop = () => {
    stopping = true;
    try {
      child?.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const test = async (args: string[], report: string, env: Record<string, string> = {}) => {
    child = new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-all", `--junit-path=${report}`, ...args],
      cwd: root,
      stdin: "null",
      env,
    }).spawn();
    return (await child.status).code;
  };
  // Reports are written in a directory of this run and copied to .test-results at the end, so
  // that runs of several people in one tree never count each other's tests.
  const scratch = await Deno.makeTempDir({ prefix: "helaseid-junit-" });
  const junitPath = `${scratch}/${REPORT_NAMES[0]}`;
  const bundleJunitPath = `${scratch}/${REPORT_NAMES[1]}`;
  try {
    await Deno.mkdir(resultsDir, { recursive: true });
    for (const name of REPORT_NAMES) await Deno.remove(`${resultsDir}/${name}`).catch(() => {});
    const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
    const codes = [await test(args, junitPath)];
    const reports = [junitPath];
    const rerun = Deno.env.get("HELASEID_BUNDLE_RERUN") === "0" ? undefined : bundleRerun(args);
    if (rerun && !stopping) {
      console.error(`\nagain against the bundle (deno task bundle): ${rerun.files.join(" ")}`);
      reports.push(bundleJunitPath);
      const bundle = await buildBundle(bundleJunitPath);
      codes.push(
        bundle === undefined ? 1 : await test([...rerun.flags, ...rerun.files], bundleJunitPath, {
          HELASEID_AGENT_BUNDLE: bundle,
        }),
      );
    }
    const summaries = await Promise.all(
      reports.map((report) => summarizeJunit(report).catch(() => undefined)),
    );
    for (const report of reports) {
      await Deno.copyFile(report, `${resultsDir}/${report.slice(scratch.length + 1)}`)
        .catch(() => {});
    }
    const total = addSummaries(summaries.filter((s) => s !== undefined));
    // deno test reports the tests a --filter leaves out as skipped: then no skip is unexpected.
    const filtered = args.some((arg) => arg === "--filter" || arg.startsWith("--filter="));
    const unexpected = filtered ? [] : total.skipped.filter((name) => !EXPECTED_SKIPS.has(name));
    for (const name of unexpected) console.error(`unexpected skip: ${name}`);
    console.log(summaryLine(total));
    const failed = codes.find((code) => code !== 0);
    if (summaries.includes(undefined) || total.passed + total.failed === 0) return failed ?? 1;
    if (unexpected.length > 0) return failed ?? 1;
    return failed ?? 0;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    await cluster.stop();
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

/**
 * Which of {@linkcode BUNDLE_TESTS} the arguments select (a path argument names the file or a
 * directory above it), and the other arguments (`--filter ...`), or undefined for none.
 */
function bundleRerun(args: readonly string[]): { files: string[]; flags: string[] } | undefined {
  const paths: string[] = [];
  const flags: string[] = [];
  for (const arg of args) {
    let isPath = false;
    if (!arg.startsWith("-")) {
      try {
        Deno.statSync(arg.startsWith("/") ? arg : `${root}${arg}`);
        isPath = true;
      } catch {
        // A flag's value, such as the name given to --filter.
      }
    }
    if (isPath) {
      const relative = arg.startsWith(root) ? arg.slice(root.length) : arg;
      paths.push(relative.replace(/^\.\//, "").replace(/\/+$/, ""));
    } else {
      flags.push(arg);
    }
  }
  // Without a path, deno test runs every test file: the bundle's tests are among them.
  if (paths.length === 0) paths.push("");
  const files = BUNDLE_TESTS.filter((file) =>
    paths.some((path) =>
      path === "" || path === "." || file === path || file.startsWith(`${path}/`)
    )
  );
  return files.length === 0 ? undefined : { files, flags };
}

/**
 * Builds dist/helaseid.js with `deno task bundle` (offline: the npm packages are cached) and
 * returns its absolute path; on failure, records one failed test case in `report`.
 */
async function buildBundle(report: string): Promise<string | undefined> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "bundle"],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.success) return `${root}dist/helaseid.js`;
  const message = new TextDecoder().decode(out.stderr).trim();
  console.error(`deno task bundle failed:\n${message}`);
  const escaped = message.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  await Deno.writeTextFile(
    report,
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="bundle" tests="1">` +
      `<testcase name="deno task bundle"><failure message="${escaped}"/></testcase>` +
      `</testsuite></testsuites>\n`,
  );
  return undefined;
}

Deno.exit(await main());
