/**
 * Starts the agent the way every benchmark runs it: one config file, the test cluster's
 * kubeconfig, metrics on a loopback port, warnings only, `BENCH_V8_FLAGS` (when set) as the
 * process's V8 flags, and `BENCH_DENO_FLAGS` (when set, split on spaces) as extra `deno run`
 * flags: `BENCH_DENO_FLAGS=--inspect=127.0.0.1:9229` opens the inspector for heap snapshots
 * (`bench/heap_snapshot.ts`).
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

/**
 * The environment every benchmark agent gets: `DENO_V8_FLAGS` from `BENCH_V8_FLAGS` when set,
 * and the C library's allocator settings (`MALLOC_ARENA_MAX`, `GLIBC_TUNABLES`) when set.
 */
export function benchEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  const flags = Deno.env.get("BENCH_V8_FLAGS");
  if (flags) env.DENO_V8_FLAGS = flags;
  for (const name of ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"]) {
    const value = Deno.env.get(name);
    if (value) env[name] = value;
  }
  return env;
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
    denoFlags: (Deno.env.get("BENCH_DENO_FLAGS") ?? "").split(" ").filter(Boolean),
  });
}
