/**
 * Per-port health of a Service that publishes several ports (issue 11). Pure.
 *
 * Which checks guard which published port:
 * - a check whose port is a published port guards that port;
 * - a check on a port the Service does not publish (the Redpanda admin port 9644 beside a
 *   published 9092) guards every port: it speaks for the target as a whole;
 * - a published port no check goes to is guarded by every check, like the whole target
 *   (a bare TCP connect on the first port keeps guarding all ports, as it always did).
 *
 * A port guarded by every check takes the target's own verdict (the combined result's
 * rise/fall), so a Service with one port, or whose checks all guard every port, behaves
 * exactly as before. A port guarded by some checks only takes the verdicts of those checks,
 * each kept by its own state machine (`state.ts`) from the check's own result: unhealthy when
 * one of them is, healthy when all are, else without a verdict (failing when one has failed).
 * The target's verdict (alerts, `/status`, the panic guard, the correlated-outage hold) stays
 * "every check passes".
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import type { ViewStatus } from "../publish/views.ts";
import {
  initialHealth,
  nextHealth,
  type Observation,
  type TargetHealth,
  type Thresholds,
} from "./state.ts";

/**
 * For each published port (by its configured name) the indexes in `ServiceConfig.checks` of
 * the checks that guard it, or `null` when every check does (the target's own verdict).
 */
export type PortGuards = ReadonlyMap<string, readonly number[] | null>;

const GUARDS = new WeakMap<ServiceConfig, PortGuards | null>();

/**
 * The guards of a Service's ports, or `undefined` when every port is guarded by every check:
 * then nothing is tracked per port and the Service is published as one port set. Computed
 * once per configuration.
 */
export function portGuards(service: ServiceConfig): PortGuards | undefined {
  let guards = GUARDS.get(service);
  if (guards === undefined) {
    guards = computeGuards(service);
    GUARDS.set(service, guards);
  }
  return guards ?? undefined;
}

function computeGuards(service: ServiceConfig): PortGuards | null {
  const checks = service.checks ?? [];
  if (service.ports.length < 2 || checks.length < 2) return null;
  const portOf = (index: number) => checks[index]!.port ?? service.probe.port;
  const published = new Set(service.ports.map((port) => port.port));
  const all = checks.map((_, index) => index);
  const targetWide = all.filter((index) => !published.has(portOf(index)));
  const guards = new Map<string, readonly number[] | null>();
  let split = false;
  for (const port of service.ports) {
    const own = all.filter((index) => portOf(index) === port.port);
    const guard = own.length === 0 ? all : [...own, ...targetWide].sort((a, b) => a - b);
    const whole = guard.length === all.length;
    if (!whole) split = true;
    guards.set(port.name, whole ? null : guard);
  }
  return split ? guards : null;
}

/**
 * Each check's health after one combined result. `results` holds each check's own outcome in
 * configuration order; when it is missing (a prober without per-check results) every check
 * takes the combined outcome.
 */
export function nextCheckHealths(
  before: readonly TargetHealth[] | undefined,
  outcome: Observation & { readonly results?: readonly { readonly result: Observation }[] },
  options: Thresholds & { readonly now: number; readonly count: number },
): TargetHealth[] {
  const healths: TargetHealth[] = [];
  for (let index = 0; index < options.count; index++) {
    const previous = before?.[index] ?? initialHealth(options.now);
    const own = outcome.results?.[index]?.result ?? outcome;
    healths.push(nextHealth(previous, { ok: own.ok, error: own.error }, options).health);
  }
  return healths;
}

/**
 * The view status of a target on each of its Service's ports: the target's own (`overall`)
 * where every check guards the port, else the combination of the guarding checks' verdicts.
 */
export function portStatuses(
  guards: PortGuards,
  overall: ViewStatus,
  checks: readonly TargetHealth[] | undefined,
): ReadonlyMap<string, ViewStatus> {
  const statuses = new Map<string, ViewStatus>();
  for (const [port, guard] of guards) {
    statuses.set(port, guard === null ? overall : combined(guard, checks));
  }
  return statuses;
}

/** Unhealthy when a check is, healthy when all are, else failing (one failed) or unknown. */
function combined(
  guard: readonly number[],
  checks: readonly TargetHealth[] | undefined,
): ViewStatus {
  let healthy = 0;
  let failing = false;
  for (const index of guard) {
    const health = checks?.[index];
    if (health === undefined) continue;
    if (health.status === "unhealthy") return "unhealthy";
    if (health.status === "healthy") healthy++;
    else if (health.failures > 0) failing = true;
  }
  if (healthy === guard.length) return "healthy";
  return failing ? "failing" : "unknown";
}

/** True when two per-port statuses say the same (both absent included). */
export function samePortStatuses(
  a: ReadonlyMap<string, ViewStatus> | undefined,
  b: ReadonlyMap<string, ViewStatus> | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const [port, status] of a) if (b.get(port) !== status) return false;
  return true;
}
