/**
 * The chaos run's API server faults beyond stopping it: hanging it (SIGSTOP/SIGCONT of its
 * process, found by its port in this PID namespace) and cutting it off (nftables drops every
 * packet to and from its port, in a table of its own beside the test network's).
 *
 * @module
 */

import type { ClusterAccess } from "../support/cluster.ts";

/** Sends SIGSTOP or SIGCONT to this cluster's kube-apiserver (found by its port). */
export async function signalApiServer(
  cluster: ClusterAccess,
  signal: "STOP" | "CONT",
): Promise<void> {
  const port = new URL(cluster.server).port;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const args = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).split("\0");
      if (args[0]?.endsWith("/kube-apiserver") && args.includes(`--secure-port=${port}`)) {
        Deno.kill(Number(entry.name), signal === "STOP" ? "SIGSTOP" : "SIGCONT");
        return;
      }
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`Cannot find the kube-apiserver on port ${port}`);
}

/** nftables table of the API partition (its own, beside the test network's). */
export const PARTITION_TABLE = "helaseid_chaos";

/**
 * Cuts (`on`) or mends the API server off: every TCP packet to or from its port is dropped on
 * input, so requests and answers vanish and connections time out, as across a broken network.
 */
export async function partition(cluster: ClusterAccess, on: boolean): Promise<void> {
  const port = new URL(cluster.server).port;
  const nft = async (...args: string[]) => {
    const out = await new Deno.Command("nft", { args, stdout: "null", stderr: "piped" }).output();
    if (!out.success) {
      throw new Error(`nft ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
  };
  if (!on) {
    await nft("delete", "table", "inet", PARTITION_TABLE);
    return;
  }
  await nft("add", "table", "inet", PARTITION_TABLE);
  await nft(
    "add",
    "chain",
    "inet",
    PARTITION_TABLE,
    "input",
    "{ type filter hook input priority 0; policy accept; }",
  );
  for (const direction of ["dport", "sport"]) {
    await nft(
      "add",
      "rule",
      "inet",
      PARTITION_TABLE,
      "input",
      "ip",
      "daddr",
      "127.0.0.1",
      "tcp",
      direction,
      port,
      "drop",
    );
  }
}
