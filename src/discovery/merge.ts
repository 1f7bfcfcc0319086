/**
 * Merges a Service's configured targets with what its sources found into the one target list
 * the agent checks and publishes. Pure.
 *
 * - Configured targets come first and win: a source finding a configured address adds nothing.
 * - Each source's targets follow in source order, by address within a source, so that the same
 *   sets always merge to the same list (no write for a reordered DNS answer).
 * - Addresses the API rejects for endpoints (loopback, link-local, unspecified, multicast; see
 *   `checkAddress`) and targets on a port other than the probe's (an SRV record's) are skipped
 *   with a reason, instead of failing the whole Service's write.
 *
 * @module
 */

import { checkAddress } from "../config/validate.ts";
import type { ServiceConfig, Target } from "../config/schema.ts";
import type { DiscoveredTarget } from "./types.ts";

/** A target a source found that is not published, and why. */
export interface SkippedTarget {
  /** The source that found it. */
  readonly source: string;
  /** The address as the source gave it. */
  readonly address: string;
  /** Why it is left out. */
  readonly reason: string;
}

/** The merged list and what was left out. */
export interface MergedTargets {
  readonly targets: readonly Target[];
  readonly skipped: readonly SkippedTarget[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The targets of `service`: its configured ones, then each source's set in `sets` order
 * (source name → its current set).
 */
export function mergeTargets(
  service: Pick<ServiceConfig, "targets" | "probe">,
  sets: ReadonlyMap<string, readonly DiscoveredTarget[]>,
): MergedTargets {
  const targets: Target[] = [];
  const skipped: SkippedTarget[] = [];
  const seen = new Set<string>();
  for (const target of service.targets) {
    seen.add(target.address);
    targets.push(target);
  }
  for (const [source, set] of sets) {
    const found: Target[] = [];
    for (const discovered of set) {
      const checked = checkAddress(discovered.address);
      if (!checked.ok) {
        skipped.push({ source, address: discovered.address, reason: checked.message });
        continue;
      }
      if (discovered.port !== undefined && discovered.port !== service.probe.port) {
        skipped.push({
          source,
          address: discovered.address,
          reason: `port ${discovered.port} is not the probe's port ${service.probe.port}`,
        });
        continue;
      }
      const address = checked.value;
      if (seen.has(address)) continue;
      seen.add(address);
      found.push(targetOf(address, discovered, source));
    }
    found.sort((a, b) => compareAddresses(a.address, b.address));
    targets.push(...found);
  }
  return { targets, skipped };
}

function targetOf(address: string, discovered: DiscoveredTarget, source: string): Target {
  const hostname = discovered.hostname?.toLowerCase();
  return {
    address,
    ...(discovered.zone ? { zone: discovered.zone } : {}),
    ...(discovered.region ? { region: discovered.region } : {}),
    ...(hostname !== undefined && DNS_LABEL.test(hostname) ? { hostname } : {}),
    source,
  };
}

/** Orders IPv4 before IPv6, then by text: stable and cheap (a display order, not numeric). */
function compareAddresses(a: string, b: string): number {
  const v6a = a.includes(":");
  const v6b = b.includes(":");
  if (v6a !== v6b) return v6a ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether two target lists are the same list (address, topology and source, in order). */
export function sameTargets(a: readonly Target[], b: readonly Target[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((target, i) => {
    const other = b[i]!;
    return target.address === other.address && target.zone === other.zone &&
      target.region === other.region && target.hostname === other.hostname &&
      target.source === other.source;
  });
}
