/**
 * Views: which endpoints a Service shows, decided from the targets' health. Pure.
 *
 * - healthy → ready and serving; unhealthy → listed as not ready (or left out when
 *   `publish.unhealthy` is `remove`);
 * - no verdict yet (unknown, or failing: its checks so far failed) → whatever the API already
 *   shows for it, so that a restart of the agent changes nothing; a target the API does not
 *   show yet is not ready;
 * - panic guard: when no target is healthy and at least one is unhealthy or failing, every
 *   target is published ready (fail open: an agent cut off from the brokers must not empty DNS,
 *   and a fresh agent whose first checks all failed must not publish its live brokers not
 *   ready), unless `publish.allDown` is `empty`.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import type { HealthStatus, TargetHealth } from "../health/state.ts";

/**
 * A target's state as views see it: its verdict, or `failing` for a target without a verdict
 * whose last check failed (Envoy counts such a new host as failed until a check passes).
 */
export type ViewStatus = HealthStatus | "failing";

/** The view status of a target's health. */
export function viewStatus(health: TargetHealth): ViewStatus {
  return health.status === "unknown" && health.failures > 0 ? "failing" : health.status;
}

/** One endpoint as the Service will show it. */
export interface PublishedEndpoint {
  readonly address: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly zone?: string;
  readonly hostname?: string;
}

/** What a Service shows, plus the counts alerts and metrics need. */
export interface ServiceView {
  /** Sorted by address. */
  readonly endpoints: readonly PublishedEndpoint[];
  /** True when the panic guard is publishing every target despite none being healthy. */
  readonly panic: boolean;
  readonly healthy: number;
  readonly unhealthy: number;
  /** Targets without a verdict, failing ones included. */
  readonly unknown: number;
}

/**
 * Computes the view of one Service. `status` gives each target's verdict; `shown` gives the
 * readiness the API shows now for addresses it lists (empty when nothing is published yet).
 */
export function serviceView(
  service: ServiceConfig,
  status: (address: string) => ViewStatus,
  shown: ReadonlyMap<string, boolean>,
): ServiceView {
  let healthy = 0;
  let unhealthy = 0;
  let unknown = 0;
  let failing = 0;
  const verdicts = service.targets.map((target) => {
    const verdict = status(target.address);
    if (verdict === "healthy") healthy++;
    else if (verdict === "unhealthy") unhealthy++;
    else {
      unknown++;
      if (verdict === "failing") failing++;
    }
    return { target, verdict };
  });
  const panic = service.publish.allDown === "publishAll" && healthy === 0 &&
    unhealthy + failing > 0;
  // Sort keys are computed once per target, not once per comparison (10,000 targets).
  const endpoints: { key: string; endpoint: PublishedEndpoint }[] = [];
  for (const { target, verdict } of verdicts) {
    let ready: boolean;
    if (panic || verdict === "healthy") ready = true;
    else if (verdict === "unhealthy") ready = false;
    else ready = shown.get(target.address) ?? false;
    const remove = !ready && service.publish.unhealthy === "remove";
    if (remove) continue;
    endpoints.push({
      key: addressKey(target.address),
      endpoint: {
        address: target.address,
        ready,
        serving: ready,
        ...(target.zone !== undefined ? { zone: target.zone } : {}),
        ...(target.hostname !== undefined ? { hostname: target.hostname } : {}),
      },
    });
  }
  endpoints.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return {
    endpoints: endpoints.map((e) => e.endpoint),
    panic,
    healthy,
    unhealthy,
    unknown,
  };
}

/** Orders addresses numerically within a family, IPv4 before IPv6 (a stable total order). */
export function compareAddresses(a: string, b: string): number {
  const ka = addressKey(a);
  const kb = addressKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function addressKey(address: string): string {
  if (!address.includes(":")) {
    return "4" + address.split(".").map((part) => part.padStart(3, "0")).join(".");
  }
  const [head = "", tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const fill = address.includes("::") ? 8 - left.length - right.length : 0;
  const groups = [...left, ...Array(Math.max(0, fill)).fill("0"), ...right];
  return "6" + groups.map((group) => group.padStart(4, "0")).join(":");
}
