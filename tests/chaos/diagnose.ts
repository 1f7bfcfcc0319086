/**
 * What the chaos run says when a recovery fails: each replica's own account (its /status for the
 * Service, its last Lease and warning log lines) and the Leases as the API shows them.
 *
 * @module
 */

import type { AgentProcess } from "../support/agent_process.ts";
import type { ClusterAccess } from "../support/cluster.ts";

/** What the diagnosis needs of a replica. */
export interface ReplicaView {
  readonly id: string;
  /** Its HTTP port on 127.0.0.1. */
  readonly port: number;
  readonly agent?: AgentProcess;
  /** Stopped or being stopped by the run. */
  readonly stopping: boolean;
}

/**
 * What each running replica's /status says of Service `name`: its Lease, its publish state and
 * its targets' health, for the detail of a failed recovery.
 */
export async function agentsSay(replicas: readonly ReplicaView[], name: string): Promise<string> {
  const parts = await Promise.all(replicas.map(async (replica) => {
    if (!replica.agent || replica.stopping) return `${replica.id}: not running`;
    try {
      const response = await fetch(`http://127.0.0.1:${replica.port}/status`, {
        signal: AbortSignal.timeout(3000),
      });
      const status = await response.json();
      // deno-lint-ignore no-explicit-any
      const service = status.services?.find((s: any) => s.name === name);
      const targets = (service?.targets ?? [])
        // deno-lint-ignore no-explicit-any
        .map((t: any) => `${t.address}=${t.status}`).join(" ");
      const { writes: _, ...publish } = service?.publish ?? {};
      const recent = replica.agent.lines
        .filter((l) => l.level === "warn" || l.level === "error" || /lease/i.test(l.msg))
        .slice(-4)
        .map((l) =>
          `${String(l.time).slice(11, 23)} ${l.level} ${l.msg}${l.error ? `: ${l.error}` : ""}`
        )
        .join(" | ");
      return `${replica.id}: lease ${JSON.stringify(service?.lease)}, publish ${
        JSON.stringify(publish)
      }, targets ${targets}; last lease/warn lines: ${recent}`;
    } catch (error) {
      return `${replica.id}: /status failed: ${error}`;
    }
  }));
  return parts.join(" / ");
}

/** Every Lease of the namespace: holder and how long ago it was renewed, as the API shows it. */
export async function leasesSay(cluster: ClusterAccess, namespace: string): Promise<string> {
  try {
    const list = JSON.parse(
      await cluster.kubectlOk(["get", "leases", "-n", namespace, "-o", "json"]),
    );
    // deno-lint-ignore no-explicit-any
    return "Leases: " + list.items.map((lease: any) => {
      const age = (Date.now() - Date.parse(lease.spec.renewTime)) / 1000;
      return `${lease.metadata.name} held by ${lease.spec.holderIdentity || "nobody"}, renewed ${
        age.toFixed(1)
      } s ago`;
    }).join(", ");
  } catch (error) {
    return `Leases: cannot read: ${error}`;
  }
}
