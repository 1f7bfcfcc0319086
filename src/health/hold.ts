/**
 * The correlated-outage hold. Pure: it decides, from counts of one Service's targets, whether
 * the Service's next write should wait.
 *
 * When every target of a Service dies together, their verdicts arrive spread over up to one
 * interval (phases and jitter). Publishing each verdict as it comes would walk DNS through
 * states that list only the targets not judged yet — the live-looking ones are in fact dead —
 * before the panic guard (or the empty set) takes over. So, as the EndpointSlice controller
 * batches Pod changes (`--endpointslice-updates-batch-period`), the write of such a Service is
 * held while every one of its targets is failing and some have no unhealthy verdict yet, for
 * at most {@linkcode holdLimit}; the last verdict (or any success, or the bound) releases it,
 * and the final state is written once. Partial outages are never held.
 *
 * With fast confirmation (issue 17) a target's verdict can come before a sibling has been
 * checked since the outage began at all: such a sibling is `unconfirmed`, and counts as
 * possibly failing until its next check, which the agent moves forward to the start of the
 * hold (`Scheduler.expedite`): the hold then lasts one check, not most of an interval.
 *
 * @module
 */

import type { Millis } from "../config/schema.ts";

/** The counts of one Service's targets the hold looks at. */
export interface OutageCounts {
  /** Targets of the Service. */
  readonly total: number;
  /** Targets whose last check failed (with or without a verdict). */
  readonly failing: number;
  /** Targets with the verdict unhealthy. */
  readonly unhealthy: number;
  /**
   * Targets whose last check passed but started before the outage began (the deciding
   * target's first failed check): nobody knows yet whether they died too. Default 0.
   */
  readonly unconfirmed?: number;
}

/**
 * True while an outage of the whole Service is unfolding: every target's last check failed
 * (or passed before the outage began) and some targets have no unhealthy verdict yet.
 */
export function outageUnfolding(counts: OutageCounts): boolean {
  return counts.total > 0 && counts.failing + (counts.unconfirmed ?? 0) === counts.total &&
    counts.unhealthy < counts.total;
}

/**
 * Until when the Service's write waits, or undefined to write now. `heldSince` is when the
 * current hold began (undefined when none); a hold lasts at most `limit` (one interval).
 */
export function holdUntil(
  counts: OutageCounts,
  options: { readonly now: number; readonly heldSince?: number; readonly limit: Millis },
): number | undefined {
  if (!outageUnfolding(counts)) return undefined;
  const until = (options.heldSince ?? options.now) + options.limit;
  return options.now < until ? until : undefined;
}

/**
 * The longest a hold may last: how far apart the verdicts of targets that died together can
 * be. Each target's first failed check comes within one interval of the outage, moved by up to
 * ±jitter × interval; its verdict comes `fall - 1` checks later, moved again by up to ±jitter ×
 * interval: so verdicts spread over at most interval × (1 + 6 × jitter), plus one timeout when
 * some checks are refused and others time out. (Measured: 1.1 s apart at 1 s and 10 % jitter,
 * which a bound of one interval cut short.)
 *
 * Fast confirmation (issue 17) adds the spread of the confirming checks: `fall - 1` of them,
 * each `fast` after the previous start (moved by ±jitter × fast, and these moves add up), or
 * one timeout after it when a check times out and the fast interval is shorter:
 * (fall − 1) × (max(fast × (1 + jitter), timeout) − fast × (1 − jitter)).
 */
export function holdLimit(
  probe: {
    readonly interval: Millis;
    readonly jitter: number;
    readonly timeout: Millis;
    /** Consecutive failures to a verdict; needed with `fastInterval`. */
    readonly fall?: number;
    /** The fast interval, when confirmations use one (shorter than the interval). */
    readonly fastInterval?: Millis;
  },
): Millis {
  const { interval, jitter, timeout, fastInterval: fast } = probe;
  const base = interval * (1 + 6 * jitter) + timeout;
  if (fast === undefined || fast >= interval) return base;
  const confirmations = Math.max(0, (probe.fall ?? 3) - 1);
  return base + confirmations * (Math.max(fast * (1 + jitter), timeout) - fast * (1 - jitter));
}
