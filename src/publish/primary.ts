/**
 * The primary of a Service in `designate` mode (issue 15): which one target its companion
 * Service `<service>-primary` shows. Pure: everything it decides from is an argument, time
 * included.
 *
 * - Preference: targets in the zones (or regions) of `prefer`, in that order, come first; then
 *   the others; ties keep the configuration's order.
 * - The first primary is the most preferred healthy target, chosen once no more preferred
 *   target is still without a verdict (a restart does not pick a lesser one for a moment).
 * - The primary moves only when it falls (its verdict is unhealthy, after `fall` failed
 *   checks) or leaves the targets: then to the most preferred healthy target (Citrix, keepalived:
 *   takeover is immediate when the master dies). With no healthy target it stays designated.
 * - It fails back to a more preferred target only after that one has been healthy for
 *   `failbackAfter` (keepalived `preempt_delay`); `never` does not fail back (`nopreempt`), `0`
 *   does at once.
 *
 * @module
 */

import type { Millis, Target } from "../config/schema.ts";
import type { ViewStatus } from "./views.ts";

/** A target as the primary planner sees it. */
export interface PrimaryCandidate extends Target {
  /** Its status as published (`failing`: no verdict yet, checks failing). */
  readonly status: ViewStatus;
  /** When its status last changed (epoch ms). */
  readonly since: number;
}

/** Why the primary is what it is. */
export type PrimaryReason =
  | "initial"
  | "failover"
  | "failback"
  | "removed"
  | "kept"
  | "none";

/** The planner's decision. */
export interface PrimaryDecision {
  /** The primary's address; absent when there is none yet. */
  readonly primary?: string;
  /** Why: `kept` when nothing changed. */
  readonly reason: PrimaryReason;
  /** When to decide again even if no status changes (a failback coming due), epoch ms. */
  readonly recheckAt?: number;
}

/** Settings of {@linkcode planPrimary}. */
export interface PrimaryPolicy {
  /** Zones or regions, most preferred first. */
  readonly prefer: readonly string[];
  /** How long a more preferred target must be healthy before the primary moves back to it. */
  readonly failbackAfter: Millis | "never";
}

/** Candidates in preference order: `prefer`'s zones or regions first, then the rest, stable. */
export function preferenceOrder<T extends Target>(
  candidates: readonly T[],
  prefer: readonly string[],
): T[] {
  const rank = (target: Target) => {
    const byZone = target.zone === undefined ? -1 : prefer.indexOf(target.zone);
    if (byZone >= 0) return byZone;
    const byRegion = target.region === undefined ? -1 : prefer.indexOf(target.region);
    return byRegion >= 0 ? byRegion : prefer.length;
  };
  return candidates
    .map((target, index) => ({ target, index, rank: rank(target) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((entry) => entry.target);
}

/** Decides the primary from the current one (`undefined`: none yet) and the candidates. */
export function planPrimary(
  current: string | undefined,
  candidates: readonly PrimaryCandidate[],
  options: PrimaryPolicy & { readonly now: Millis },
): PrimaryDecision {
  const ordered = preferenceOrder(candidates, options.prefer);
  const healthy = ordered.filter((candidate) => candidate.status === "healthy");
  const index = current === undefined
    ? -1
    : ordered.findIndex((candidate) => candidate.address === current);
  if (index < 0) {
    if (current === undefined) {
      // The first choice waits for the verdicts of everything more preferred than it.
      const first = ordered.findIndex((candidate) => candidate.status === "healthy");
      const waiting = ordered.slice(0, Math.max(first, 0)).some((candidate) =>
        candidate.status === "unknown" || candidate.status === "failing"
      );
      if (first < 0 || waiting) return { reason: "none" };
      return { primary: ordered[first]!.address, reason: "initial" };
    }
    return healthy[0] === undefined
      ? { reason: "none" }
      : { primary: healthy[0].address, reason: "removed" };
  }
  const primary = ordered[index]!;
  if (primary.status === "unhealthy") {
    return healthy[0] === undefined
      ? { primary: current, reason: "kept" }
      : { primary: healthy[0].address, reason: "failover" };
  }
  if (options.failbackAfter === "never") return { primary: current, reason: "kept" };
  // Fail back to the most preferred target healthy long enough; recheck when the next is due.
  let recheckAt: number | undefined;
  for (const candidate of ordered.slice(0, index)) {
    if (candidate.status !== "healthy") continue;
    const due = candidate.since + options.failbackAfter;
    if (due <= options.now) return { primary: candidate.address, reason: "failback" };
    recheckAt = Math.min(recheckAt ?? due, due);
  }
  return { primary: current, reason: "kept", ...(recheckAt === undefined ? {} : { recheckAt }) };
}
