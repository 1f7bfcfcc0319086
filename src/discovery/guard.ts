/**
 * The shrink guard: a source that suddenly returns nothing, or far fewer targets than it had
 * (a wrong label selector pushed, a DNS zone emptied by mistake, a truncated file), is not
 * believed at once. Its new set is held for `hold` and alerted on; if the source comes back
 * within the hold the shrink never happens, otherwise the latest set is applied when the hold
 * ends. Pure: the caller keeps the state and the timer.
 *
 * @module
 */

import type { SourceGuardSettings } from "../config/schema.ts";
import type { DiscoveredTarget } from "./types.ts";

/** A shrink being held. */
export interface HeldShrink {
  /** When the shrink was first seen. */
  readonly since: number;
  /** When the held set is applied unless the source recovers first. */
  readonly until: number;
  /** The size of the set in force. */
  readonly from: number;
  /** The latest set the source gave (what is applied when the hold ends). */
  readonly candidate: readonly DiscoveredTarget[];
}

/** What to do with a source's new set. */
export type GuardDecision =
  | { readonly action: "apply" }
  | { readonly action: "hold"; readonly held: HeldShrink };

/** Whether going from `from` to `to` targets is a shrink the guard holds. */
export function isDrasticShrink(from: number, to: number, maxDrop: number): boolean {
  if (from === 0 || to >= from) return false;
  return to === 0 || (from - to) / from > maxDrop;
}

/**
 * Decides about a source's new set. `applied` is the set in force (undefined before the
 * source's first answer: a first answer is always applied), `held` the shrink being held.
 */
export function guardDecision(
  applied: readonly DiscoveredTarget[] | undefined,
  next: readonly DiscoveredTarget[],
  options: {
    readonly settings: SourceGuardSettings;
    readonly now: number;
    readonly held?: HeldShrink;
  },
): GuardDecision {
  const { settings, now, held } = options;
  if (applied === undefined || settings.hold <= 0) return { action: "apply" };
  if (!isDrasticShrink(applied.length, next.length, settings.maxDrop)) return { action: "apply" };
  if (held !== undefined && now >= held.until) return { action: "apply" };
  return {
    action: "hold",
    held: held === undefined
      ? { since: now, until: now + settings.hold, from: applied.length, candidate: next }
      : { ...held, candidate: next },
  };
}
