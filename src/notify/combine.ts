/**
 * Folds an alert that was never delivered into a newer alert of the same subject, so that the
 * one card that goes out tells the current state and every change since the last card that
 * was delivered. Pure.
 *
 * - Targets: each alert is the net change since the previous one, so the two are chained per
 *   target: down then recovered is "briefly down" (flapped), down then down again or recovered
 *   then down is down, anything else takes the newer word. Counts, panic and the time are the
 *   newer alert's; the event, title and severity are worked out again from the chain.
 * - Writes and blocked Services: the newer alert alone tells the current state (a recovery
 *   says how long the condition lasted), so it replaces the older one.
 *
 * @module
 */

import { type Alert, alertFamily, type AlertTarget } from "./alert.ts";
import { targetEvent, targetSeverity, targetTitle } from "./tracker.ts";

/** One alert saying what `older` and then `newer` said; see the module documentation. */
export function combineAlerts(older: Alert, newer: Alert): Alert {
  if (alertFamily(older) !== "targets" || alertFamily(newer) !== "targets") return newer;
  const chained = new Map<string, AlertTarget>();
  for (const target of older.targets) chained.set(_name(target), target);
  for (const target of newer.targets) {
    const before = chained.get(_name(target));
    chained.set(_name(target), before === undefined ? target : _chain(before, target));
  }
  const targets = [...chained.values()];
  const down = targets.filter((t) => t.state === "down");
  const flapped = targets.filter((t) => t.state === "flapped");
  const recovered = targets.filter((t) => t.state === "recovered");
  const allDown = _allDown(newer);
  // Whether the receiver last heard "no healthy target": what `older` started from.
  const wasAllDown = older.event === "all-down"
    ? false
    : older.event === "all-down-recovered"
    ? true
    : _allDown(older);
  const event = targetEvent({ allDown, wasAllDown, down, recovered, flapped });
  const service = `${newer.service.namespace}/${newer.service.name}`;
  return {
    ...newer,
    event,
    severity: targetSeverity(event, allDown),
    title: targetTitle(event, {
      service,
      healthy: newer.healthy,
      unhealthy: newer.unhealthy,
      total: newer.total,
      down: down.length,
      recovered: recovered.length,
      flapped: flapped.length,
    }),
    targets: [...down, ...flapped, ...recovered],
    since: Math.min(older.since, newer.since),
  };
}

/** What became of a target over two alerts. */
function _chain(before: AlertTarget, after: AlertTarget): AlertTarget {
  if (before.state === "down" && after.state === "recovered") {
    return {
      ...before,
      state: "flapped",
      ...(after.downFor === undefined ? {} : { downFor: after.downFor }),
    };
  }
  if (before.state === "recovered" && after.state === "flapped") return before;
  return after;
}

/** The panic guard's condition (views.ts): no healthy target and at least one unhealthy. */
function _allDown(alert: Alert): boolean {
  return alert.healthy === 0 && alert.unhealthy > 0;
}

function _name(target: AlertTarget): string {
  return `${target.address}|${target.port}`;
}
