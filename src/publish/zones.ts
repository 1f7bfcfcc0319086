/**
 * Zone routing, planned from the targets' zones, a Service's preference table and the live
 * readiness (issue 15). Pure.
 *
 * Every zone serves its own clients. A client zone whose ready share times the
 * overprovisioning factor is under 1 (Envoy's priority rule: at 1.4 a zone keeps its clients
 * while at least ~71.4 % of its targets are ready), or that has no ready target at all,
 * borrows the ready endpoints of further zones until the sum passes the rule: first the zones
 * its preference lists in order, then the other zones of its region, then all others (each
 * group by name). A zone is never left with nothing while any endpoint is ready.
 *
 * The result serves two consumers:
 * - `hints.forZones` on every ready endpoint (kube-proxy's `PreferSameZone`/`PreferClose`): all
 *   or none, since kube-proxy ignores the hints of a Service one of whose ready endpoints has
 *   none; and at most 8 zones per endpoint (the API's limit);
 * - the per-zone companion Services (`<service>-<zone>`), which show the endpoints that serve
 *   their zone.
 *
 * @module
 */

import type { ServiceConfig, Target } from "../config/schema.ts";
import type { ZonePreferences } from "../config/zone_checks.ts";

/** At most this many zones in one endpoint's `hints.forZones` (API limit). */
export const MAX_HINT_ZONES = 8;

/** The zone settings the planner reads (`services[].zones`). */
export interface ZoneRouting {
  /** For clients in a zone (the key), the zones to borrow from, in order. */
  readonly preferences: ZonePreferences;
  /** The overprovisioning factor (Envoy's 1.4). */
  readonly overprovisioning: number;
}

/** An endpoint as the planner sees it. */
export interface ZoneEndpoint {
  /** The endpoint's address. */
  readonly address: string;
  /** Whether it is published ready. */
  readonly ready: boolean;
  /** Its zone. */
  readonly zone?: string;
}

/** What the planner decided. */
export interface ZonePlan {
  /**
   * For each client zone, the zones whose ready endpoints serve it: its own first (when it has
   * a ready endpoint), then the borrowed ones in the order they were borrowed. Client zones are
   * the zones of the targets and the keys of the preference table, sorted.
   */
  readonly serving: ReadonlyMap<string, readonly string[]>;
  /** `hints.forZones` of each ready endpoint by address (sorted); absent with `off`. */
  readonly hints?: ReadonlyMap<string, readonly string[]>;
  /** Why no hints are written (one line for a WARN); absent when they are, or none are ready. */
  readonly off?: string;
}

/**
 * Plans which zones each zone's clients use. `targets` are all the Service's targets (their
 * count per zone is what a ready share is measured against); `endpoints` what it publishes.
 */
export function planZones(
  targets: readonly Target[],
  endpoints: readonly ZoneEndpoint[],
  routing: ZoneRouting,
): ZonePlan {
  const total = new Map<string, number>();
  const region = new Map<string, string>();
  for (const target of targets) {
    if (target.zone === undefined) continue;
    total.set(target.zone, (total.get(target.zone) ?? 0) + 1);
    if (target.region !== undefined && !region.has(target.zone)) {
      region.set(target.zone, target.region);
    }
  }
  const readyEndpoints = endpoints.filter((endpoint) => endpoint.ready);
  const ready = new Map<string, number>();
  for (const endpoint of readyEndpoints) {
    if (endpoint.zone === undefined) continue;
    ready.set(endpoint.zone, (ready.get(endpoint.zone) ?? 0) + 1);
  }
  const zones = [...new Set([...total.keys(), ...Object.keys(routing.preferences)])].sort();
  const serving = new Map<string, string[]>();
  for (const client of zones) {
    serving.set(client, servingZones(client, { zones, total, ready, region, routing }));
  }
  if (readyEndpoints.length === 0) return { serving };
  const zoneless = readyEndpoints.filter((endpoint) => endpoint.zone === undefined);
  if (zoneless.length > 0) {
    const more = zoneless.length > 1 ? ` and ${zoneless.length - 1} more` : "";
    return {
      serving,
      off: `ready target '${zoneless[0]!.address}'${more} has no zone: kube-proxy ignores ` +
        "the hints of a Service unless every ready endpoint has them",
    };
  }
  // Each zone's endpoints carry the client zones they serve.
  const served = new Map<string, string[]>();
  for (const [client, list] of serving) {
    for (const zone of list) {
      let clients = served.get(zone);
      if (!clients) served.set(zone, clients = []);
      clients.push(client);
    }
  }
  const crowded = [...served].find(([, clients]) => clients.length > MAX_HINT_ZONES);
  if (crowded) {
    return {
      serving,
      off: `the endpoints of zone '${crowded[0]}' would serve ${crowded[1].length} zones: ` +
        `the API allows ${MAX_HINT_ZONES} in hints.forZones`,
    };
  }
  const hints = new Map<string, readonly string[]>();
  for (const endpoint of readyEndpoints) {
    hints.set(endpoint.address, [...served.get(endpoint.zone!)!].sort());
  }
  return { serving, hints };
}

/** The zones serving `client`: own, then borrowed until the overprovisioned sum suffices. */
function servingZones(
  client: string,
  facts: {
    readonly zones: readonly string[];
    readonly total: ReadonlyMap<string, number>;
    readonly ready: ReadonlyMap<string, number>;
    readonly region: ReadonlyMap<string, string>;
    readonly routing: ZoneRouting;
  },
): string[] {
  const { zones, total, ready, region, routing } = facts;
  const need = total.get(client) ?? 0;
  let have = ready.get(client) ?? 0;
  const list = have > 0 ? [client] : [];
  const enough = () => have > 0 && have * routing.overprovisioning >= need;
  if (enough()) return list;
  const home = region.get(client);
  const others = zones.filter((zone) => zone !== client);
  const order = [
    ...(routing.preferences[client] ?? []),
    ...(home === undefined ? [] : others.filter((zone) => region.get(zone) === home)),
    ...others,
  ];
  for (const zone of new Set(order)) {
    if (zone === client) continue;
    const count = ready.get(zone) ?? 0;
    if (count === 0) continue;
    list.push(zone);
    have += count;
    if (enough()) break;
  }
  return list;
}

/**
 * `endpoints` with `hints` set from the Service's zone plan, when its `zones` block asks for
 * hints; otherwise as they are. `off` says why a Service that asks for hints gets none.
 */
export function withZoneHints<E extends ZoneEndpoint & { readonly hints?: readonly string[] }>(
  config: ServiceConfig,
  endpoints: readonly E[],
): { readonly endpoints: readonly E[]; readonly off?: string } {
  const zones = config.zones;
  if (zones === undefined || !zones.hints) return { endpoints };
  const plan = planZones(config.targets, endpoints, zones);
  if (plan.hints === undefined) {
    return { endpoints, ...(plan.off === undefined ? {} : { off: plan.off }) };
  }
  const hints = plan.hints;
  return {
    endpoints: endpoints.map((endpoint) => {
      const forZones = hints.get(endpoint.address);
      return forZones === undefined ? endpoint : { ...endpoint, hints: forZones };
    }),
  };
}
