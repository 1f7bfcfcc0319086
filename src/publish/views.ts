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
 * Per-port health (a Service with several ports whose checks guard different ports, see
 * `src/health/ports.ts`): the rules above apply to each port with the target's status on that
 * port (and what the API shows on that port); a target ready on some ports only is published
 * ready with those ports (`readyPorts`), a target ready on none is listed not ready as before.
 * The counts and the panic guard stay per target ("every check passes").
 *
 * @module
 */

import type { ServiceConfig, Target } from "../config/schema.ts";
import { portGuards } from "../health/ports.ts";
import type { HealthStatus, TargetHealth } from "../health/state.ts";
import { withZoneHints } from "./zones.ts";
import type {
  EndpointPort,
  EndpointSliceObject,
  EndpointsObject,
  KubeObject,
} from "../kube/types.ts";

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
  /**
   * Set when the endpoint is ready on some of the Service's ports only: their configured
   * names, sorted. Absent: ready on every port (or, when not ready, on none).
   */
  readonly readyPorts?: readonly string[];
  /** `hints.forZones` (issue 15, `zones.ts`): set on every ready endpoint or on none. */
  readonly hints?: readonly string[];
}

/** Per-port inputs of {@linkcode serviceView}; absent: one verdict covers every port. */
export interface PortInputs {
  /** A target's status on a port (by configured name); `undefined`: its overall status. */
  readonly status: (address: string, port: string) => ViewStatus | undefined;
  /** Readiness the API shows now per address and port name (see `shownPortReadiness`). */
  readonly shown: ReadonlyMap<string, ReadonlyMap<string, boolean>>;
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
  /** Why the Service's `zones` asks for hints but gets none (one WARN line). */
  readonly hintsOff?: string;
}

/**
 * The per-port inputs of a Service's view, or `undefined` when one verdict covers every port
 * (one port, or every check guarding every port: see `src/health/ports.ts`) or `status` is
 * not given. `observed` are our objects of the Service as the API shows them.
 */
export function portInputs(
  config: ServiceConfig,
  observed: readonly KubeObject[],
  status: PortInputs["status"] | undefined,
): PortInputs | undefined {
  if (status === undefined || portGuards(config) === undefined) return undefined;
  return { status, shown: shownPortReadiness(config, observed) };
}

/**
 * Computes the view of one Service. `status` gives each target's verdict; `shown` gives the
 * readiness the API shows now for addresses it lists (empty when nothing is published yet).
 */
export function serviceView(
  service: ServiceConfig,
  status: (address: string) => ViewStatus,
  shown: ReadonlyMap<string, boolean>,
  ports?: PortInputs,
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
    let readyPorts: string[] | undefined;
    if (panic || ports === undefined) {
      ready = readiness(panic, verdict, shown.get(target.address));
    } else {
      const shownPorts = ports.shown.get(target.address);
      readyPorts = service.ports.map((port) => port.name).filter((port) =>
        readiness(
          false,
          ports.status(target.address, port) ?? verdict,
          shownPorts === undefined ? shown.get(target.address) : shownPorts.get(port),
        )
      ).sort();
      ready = readyPorts.length > 0;
      if (!ready || readyPorts.length === service.ports.length) readyPorts = undefined;
    }
    if (!ready && service.publish.unhealthy === "remove") return;
    endpoints.push(
      target.zone === undefined && target.hostname === undefined && readyPorts === undefined
        ? { address: target.address, ready, serving: ready }
        : {
          address: target.address,
          ready,
          serving: ready,
          ...(target.zone !== undefined ? { zone: target.zone } : {}),
          ...(target.hostname !== undefined ? { hostname: target.hostname } : {}),
          ...(readyPorts !== undefined ? { readyPorts } : {}),
        },
    );
  });
  const zoned = withZoneHints(service, endpoints);
  return {
    endpoints: zoned.endpoints,
    panic,
    healthy,
    unhealthy,
    unknown,
    ...(zoned.off === undefined ? {} : { hintsOff: zoned.off }),
  };
}

/** Ready or not, from the panic guard, a status, and what the API shows (for no verdict). */
function readiness(
  panic: boolean,
  status: ViewStatus | undefined,
  shown: boolean | undefined,
): boolean {
  if (panic || status === "healthy") return true;
  if (status === "unhealthy") return false;
  return shown ?? false;
}

/**
 * Readiness per address and configured port name as our observed objects show it (slices
 * first, else the legacy Endpoints): what per-port views keep for targets without a verdict.
 * An observed port is matched to a configured one by number and protocol.
 */
export function shownPortReadiness(
  config: ServiceConfig,
  observed: readonly KubeObject[],
): Map<string, Map<string, boolean>> {
  const shown = new Map<string, Map<string, boolean>>();
  const names = (ports: readonly EndpointPort[] | null | undefined) =>
    (ports ?? []).flatMap((port) =>
      config.ports.filter((p) => p.port === port.port && p.protocol === (port.protocol ?? "TCP"))
        .map((p) => p.name)
    );
  const mark = (address: string, ports: readonly string[], ready: boolean) => {
    let byPort = shown.get(address);
    if (!byPort) shown.set(address, byPort = new Map());
    for (const port of ports) byPort.set(port, ready);
  };
  const slices = observed.filter((o) => o.kind === "EndpointSlice") as EndpointSliceObject[];
  for (const slice of slices) {
    const ports = names(slice.ports);
    for (const endpoint of slice.endpoints ?? []) {
      for (const address of endpoint.addresses) {
        mark(address, ports, endpoint.conditions?.ready ?? true);
      }
    }
  }
  if (slices.length > 0) return shown;
  for (const object of observed) {
    if (object.kind !== "Endpoints") continue;
    for (const subset of (object as EndpointsObject).subsets ?? []) {
      const ports = names(subset.ports);
      for (const address of subset.addresses ?? []) mark(address.ip, ports, true);
      for (const address of subset.notReadyAddresses ?? []) mark(address.ip, ports, false);
    }
  }
  return shown;
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
