/**
 * The real tools of the ecosystem tests: helm and promtool (built once from this folder's Go
 * module by build.sh; tests/netns.sh builds them while the network is up and passes
 * `HELASEID_ECOSYSTEM_TOOLS`), Chromium from Debian, and the agent in `--dry-run` probing
 * simulated targets, whose `/metrics` and `/` these tools read.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type AgentProcess, startAgent } from "../support/agent_process.ts";
import { type SimulatedTarget, startTargets, type TargetMode } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { type CommandResult, runCommand } from "../support/command.ts";

const HERE = new URL("./", import.meta.url).pathname;
/** The repository's root directory, with a final slash. */
export const ROOT = new URL("../../", import.meta.url).pathname;

let toolsDir: Promise<string> | undefined;

/** The directory holding `helm` and `promtool`, building them on first use. */
export function ecosystemTools(): Promise<string> {
  toolsDir ??= (async () => {
    const given = Deno.env.get("HELASEID_ECOSYSTEM_TOOLS");
    if (given) return given;
    const out = await new Deno.Command(`${HERE}build.sh`, { stdout: "piped", stderr: "inherit" })
      .output();
    if (!out.success) throw new Error("Cannot build helm and promtool: see the output above");
    return new TextDecoder().decode(out.stdout).trim();
  })();
  return toolsDir;
}

/** What a finished tool printed. */
export type ToolResult = CommandResult;

/** Runs `helm` or `promtool` with `args` (and `stdin`); never throws on a non-zero exit. */
export async function tool(
  name: "helm" | "promtool",
  args: readonly string[],
  options: { readonly stdin?: string; readonly cwd?: string } = {},
): Promise<ToolResult> {
  const dir = await ecosystemTools();
  // helm keeps caches and config under HOME: a private one keeps runs apart.
  const home = await Deno.makeTempDir({ prefix: "helaseid-tool-home-" });
  try {
    return await runCommand(`${dir}/${name}`, args, {
      stdin: options.stdin,
      cwd: options.cwd ?? ROOT,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home },
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** Like {@linkcode tool}, failing with its output unless it exits 0; returns stdout. */
export async function toolOk(
  name: "helm" | "promtool",
  args: readonly string[],
  options: { readonly stdin?: string; readonly cwd?: string } = {},
): Promise<string> {
  const result = await tool(name, args, options);
  assert.equal(
    result.code,
    0,
    `${name} ${args.join(" ")} exited ${result.code}:\n${result.stdout}\n${result.stderr}`,
  );
  return result.stdout;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** An agent in `--dry-run` probing simulated targets, with its endpoints on loopback. */
export interface DryRunAgent extends AsyncDisposable {
  readonly agent: AgentProcess;
  readonly targets: readonly SimulatedTarget[];
  /** `http://127.0.0.1:<port>` of `--listen`. */
  readonly base: string;
  /** GETs `path` of the endpoints: status and body. */
  get(path: string): Promise<{ status: number; body: string }>;
}

/**
 * Starts the agent in `--dry-run` (no cluster) on the seed's variables, one simulated target
 * per entry of `targets` (address → mode), and waits until every target has its verdict.
 */
export async function startDryRunAgent(
  targets: Readonly<Record<string, TargetMode>>,
  options: { readonly env?: Record<string, string> } = {},
): Promise<DryRunAgent> {
  const net = await TestNetwork.open();
  let simulated: SimulatedTarget[] = [];
  let agent: AgentProcess | undefined;
  const close = async () => {
    await agent?.stop("SIGKILL");
    for (const target of simulated) await target.close();
    await net.close();
  };
  try {
    const addresses = Object.keys(targets);
    simulated = await startTargets(
      net,
      addresses.map((address) => ({ address, port: 9092, mode: targets[address]! })),
    );
    const port = freePort();
    agent = await startAgent({
      args: ["run", "--dry-run", "--listen", `127.0.0.1:${port}`, "--log-format", "json"],
      env: {
        IPS: addresses.join(" "),
        PORT: "9092",
        MAX_RETRY: "2",
        INTERVAL: "0.2",
        NAMESPACE: "datastream",
        SERVICE_NAME: "datastream-redpanda-api-dev",
        ...options.env,
      },
    });
    const base = `http://127.0.0.1:${port}`;
    const get = async (path: string) => {
      const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
      return { status: response.status, body: await response.text() };
    };
    // /readyz answers 200 once every target was checked; a verdict may take a check or two more.
    await untilValue("a verdict for every target in /status", async () => {
      const { status, body } = await get("/status").catch(() => ({ status: 0, body: "" }));
      if (status !== 200) return undefined;
      const document = JSON.parse(body);
      const verdicts = document.services.flatMap((s: { targets: { status: string }[] }) =>
        s.targets.map((t) => t.status)
      );
      return verdicts.length === addresses.length && !verdicts.includes("unknown")
        ? true
        : undefined;
    });
    const running = agent;
    return { agent: running, targets: simulated, base, get, [Symbol.asyncDispose]: close };
  } catch (error) {
    await close();
    throw error;
  }
}
