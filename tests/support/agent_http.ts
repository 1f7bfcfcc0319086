/**
 * Reaching a running agent from an integration test: a free loopback port for it to listen on,
 * its `run` command line against the test cluster, and plain GETs of its HTTP endpoints.
 *
 * @module
 */

/** A port nothing listens on right now (on 127.0.0.1). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * The agent's `run` arguments: `config`, the cluster's kubeconfig, HTTP on 127.0.0.1:`port`, then
 * any `extra` flags.
 */
export function runArgs(
  config: string,
  kubeconfig: string,
  port: number,
  ...extra: string[]
): string[] {
  return ["run", "--config", config, "--kubeconfig", kubeconfig, "--listen", `127.0.0.1:${port}`]
    .concat(extra);
}

/** An HTTP GET of the agent's endpoint: status and body, the body always consumed. */
export async function get(base: string, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}
