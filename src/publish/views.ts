/**
 * Views: which endpoints a Service shows, decided from the targets' health. Pure.
 *
 * - healthy → ready and serving; unhealthy → listed as not ready (or left out when
 *   `publish.unhealthy` is `remove`);
 * - no verdict yet (unknown, or failing: its checks so far failed) → whatever the API already
 *   shows for it, so that a restart of the agent changes nothing; a target the API does not
 *   show yet is not ready;
 * - panic guard: when no target is healthy (or, without a verdict, shown ready by the API) and
 *   at least one is unhealthy or failing, every target is published ready (fail open: an
 *   agent cut off from the brokers must not empty DNS; a failing target without a verdict is
 *   as down as an unhealthy one), unless `publish.allDown` is `empty`.
 *
 * @module
 */

import type { ServiceConfig, Target } from "../config/schema.ts";
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
  /** The target's address. */
  readonly address: string;
  /** `conditions.ready`: clients use the endpoint. */
  readonly ready: boolean;
  /** `conditions.serving`: the same as ready (targets never terminate). */
  readonly serving: boolean;
  /** The configured zone. */
  readonly zone?: string;
  /** The configured hostname. */
  readonly hostname?: string;
}

/** What a Service shows, plus the counts alerts and metrics need. */
export interface ServiceView {
  /** Sorted by address. */
  readonly endpoints: readonly PublishedEndpoint[];
  /** True when the panic guard is publishing every target despite none being healthy. */
  readonly panic: boolean;
  /** Targets with the verdict healthy. */
  readonly healthy: number;
  /** Targets with the verdict unhealthy. */
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
  /** Targets without a verdict that keep the ready the API shows (a restart). */
  let keptReady = 0;
  const targets = sortedTargets(service);
  const verdicts = targets.map((target) => {
    const verdict = status(target.address);
    if (verdict === "healthy") healthy++;
    else if (verdict === "unhealthy") unhealthy++;
    else {
      unknown++;
      if (verdict === "failing") failing++;
      if (shown.get(target.address) === true) keptReady++;
    }
    return verdict;
  });
  // A target kept ready as the API shows it counts as up until its verdict: otherwise one
  // dead target's first failed check after a restart would turn the guard on and off again.
  const panic = service.publish.allDown === "publishAll" && healthy + keptReady === 0 &&
    unhealthy + failing > 0;
  const endpoints: PublishedEndpoint[] = [];
  targets.forEach((target, index) => {
    const verdict = verdicts[index];
    let ready: boolean;
    if (panic || verdict === "healthy") ready = true;
    else if (verdict === "unhealthy") ready = false;
    else ready = shown.get(target.address) ?? false;
    if (!ready && service.publish.unhealthy === "remove") return;
    endpoints.push(
      target.zone === undefined && target.hostname === undefined
        ? { address: target.address, ready, serving: ready }
        : {
          address: target.address,
          ready,
          serving: ready,
          ...(target.zone !== undefined ? { zone: target.zone } : {}),
          ...(target.hostname !== undefined ? { hostname: target.hostname } : {}),
        },
    );
  });
  return {
    endpoints,
    panic,
    healthy,
    unhealthy,
    unknown,
  };
}

/**
 * A Service's targets in address order, computed once per configuration (a configuration is
 * immutable; a reload makes a new one): a view of 10,000 targets then costs no sort.
 */
const SORTED = new WeakMap<ServiceConfig, readonly Target[]>();

function sortedTargets(service: ServiceConfig): readonly Target[] {
  let sorted = SORTED.get(service);
  if (!sorted) {
    sorted = service.targets
      .map((target) => ({ target, key: addressKey(target.address) }))
      .sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
      .map((entry) => entry.target);
    SORTED.set(service, sorted);
  }
  return sorted;
}

/** Orders addresses numerically within a family, IPv4 before IPv6 (a stable total order). */
export function compareAddresses(a: string, b: string): number {
  const ka = addressKey(a);
  const kb = addressKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Sort keys of addresses seen so far. Sorting 10,000 endpoints compares ~130,000 pairs, and
 * the planner sorts observed and desired slices on every publish: computing each key once
 * took a view plus plan of 10,000 targets from ~65 to ~15 ms. Bounded: the set of addresses
 * is the configured targets, so the cache is only cleared after a reload grew it.
 */
const KEYS = new Map<string, string>();
const KEYS_MAX = 100_000;

function addressKey(address: string): string {
  let key = KEYS.get(address);
  if (key === undefined) {
    if (KEYS.size >= KEYS_MAX) KEYS.clear();
    key = computeAddressKey(address);
    KEYS.set(address, key);
  }
  return key;
}

function computeAddressKey(address: string): string {
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
