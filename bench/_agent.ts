/**
 * Starts the agent the way every benchmark runs it: one config file, the test cluster's
 * kubeconfig, metrics on a loopback port, warnings only, and `BENCH_V8_FLAGS` (when set) as the
 * process's V8 flags.
 *
 * @module
 */

import { type AgentProcess, startAgent } from "../tests/support/agent_process.ts";

/** What one benchmark agent needs. */
export interface BenchAgentOptions {
  /** Path of the agent's config file. */
  readonly config: string;
  /** Path of the kubeconfig that reaches the test cluster. */
  readonly kubeconfig: string;
  /** Loopback port for the agent's metrics and health page. */
  readonly port: number;
  /** Extra environment, on top of `BENCH_V8_FLAGS`. */
  readonly env?: Record<string, string>;
}

/** The environment every benchmark agent gets: `DENO_V8_FLAGS` from `BENCH_V8_FLAGS` when set. */
export function benchEnv(): Record<string, string> {
  const flags = Deno.env.get("BENCH_V8_FLAGS");
  return flags ? { DENO_V8_FLAGS: flags } : {};
}

/** Starts one agent for a benchmark (`run --config … --kubeconfig … --listen 127.0.0.1:port`). */
export function startBenchAgent(options: BenchAgentOptions): Promise<AgentProcess> {
  return startAgent({
    args: [
      "run",
      "--config",
      options.config,
      "--kubeconfig",
      options.kubeconfig,
      "--listen",
      `127.0.0.1:${options.port}`,
      "--log-level",
      "warn",
    ],
    env: { ...benchEnv(), ...options.env },
  });
}
