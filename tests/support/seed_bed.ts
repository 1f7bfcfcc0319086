/**
 * A test bed for the seed format: simulated targets on port 9092 in a fresh test network and
 * one agent probing them, configured by the seed's environment variables (Service `brokers`,
 * three failures in a row, 0.1 s apart), with its endpoints on a free loopback port.
 *
 * @module
 */

import { type AgentProcess, startAgent } from "./agent_process.ts";
import { freePort } from "./agent_http.ts";
import { type SimulatedTarget, startTargets } from "./targets.ts";
import { TestNetwork } from "./testnet.ts";

/** The targets and the agent; disposing kills the agent and closes targets and network. */
export interface SeedBed extends AsyncDisposable {
  readonly targets: SimulatedTarget[];
  readonly agent: AgentProcess;
  /** `http://127.0.0.1:<port>` of the agent's endpoints. */
  readonly base: string;
}

/**
 * Starts targets on `addresses` and the agent with `run --listen 127.0.0.1:<port> ...args`,
 * in `namespace`, `env` added to (or overriding) the seed variables. Prints the agent's log
 * when `HELASEID_TEST_ECHO=1`.
 */
export async function seedBed(
  addresses: readonly string[],
  options: { args: readonly string[]; namespace: string; env?: Record<string, string> },
): Promise<SeedBed> {
  const net = await TestNetwork.open();
  let targets: SimulatedTarget[] = [];
  let agent: AgentProcess | undefined;
  try {
    targets = await startTargets(net, addresses.map((address) => ({ address, port: 9092 })));
    const port = freePort();
    agent = await startAgent({
      args: ["run", "--listen", `127.0.0.1:${port}`, ...options.args],
      echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
      env: {
        IPS: addresses.join(" "),
        PORT: "9092",
        MAX_RETRY: "3",
        INTERVAL: "0.1",
        NAMESPACE: options.namespace,
        SERVICE_NAME: "brokers",
        ...options.env,
      },
    });
    const running = agent;
    return {
      targets,
      agent: running,
      base: `http://127.0.0.1:${port}`,
      async [Symbol.asyncDispose]() {
        await running.stop("SIGKILL");
        for (const target of targets) await target.close();
        await net.close();
      },
    };
  } catch (error) {
    await agent?.stop("SIGKILL");
    for (const target of targets) await target.close();
    await net.close();
    throw error;
  }
}
