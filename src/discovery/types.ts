/**
 * Target sources (issue 12): where a Service's targets come from besides its static list. A
 * source produces a target set over time; `mod.ts` merges the sets of a Service's sources with
 * its static targets, drops addresses the API would reject, holds a sudden shrink, and hands
 * the agent the Service's current targets.
 *
 * Every source follows one failure rule: a failure (SERVFAIL, a timeout, a forbidden watch, an
 * unreadable file) is reported and the last good set is kept; only a successful answer that
 * says "nothing" (NXDOMAIN, no matching object, an empty list) empties the source.
 *
 * @module
 */

import type { Millis } from "../config/schema.ts";

/** One target a source found. */
export interface DiscoveredTarget {
  /** The address as the source gave it (normalized and checked by the merge, not the source). */
  readonly address: string;
  /** Published as the endpoint's `zone` (`topology.kubernetes.io/zone`, a slice's `zone`). */
  readonly zone?: string;
  /** The target's region (`topology.kubernetes.io/region`). */
  readonly region?: string;
  /** Published as the endpoint's `hostname` when it is a DNS label. */
  readonly hostname?: string;
  /** The port the source gave (an SRV record's); the merge skips a target on another port. */
  readonly port?: number;
}

/** What a source reports: a complete new set, or a failure (the last good set stays). */
export type SourceUpdate =
  | {
    readonly ok: true;
    readonly targets: readonly DiscoveredTarget[];
    /**
     * Part of the source failed and `targets` holds that part's last good answer (one DNS name
     * of several timed out): the merge applies the set and reports the failure.
     */
    readonly error?: string;
  }
  | {
    readonly ok: false;
    /** One line, naming what failed: `dns kafka.test A: SERVFAIL from 192.0.2.53:53`. */
    readonly error: string;
  };

/** A running source of targets. */
export interface TargetSource {
  /** Names the source in logs, metrics (`source` label) and `/status`: `dns kafka.test`. */
  readonly name: string;
  /**
   * Starts producing updates. The first update (a set or a failure) comes as soon as the
   * source has an answer; after that, one per change (an unchanged set may be sent again).
   * `emit` never throws.
   */
  start(emit: (update: SourceUpdate) => void): void;
  /** Stops every timer, watch and socket; no update is emitted after it resolves. */
  stop(): Promise<void>;
}

/** Time and timers a source uses (the scheduler's {@linkcode Clock} shape). */
export interface SourceClock {
  now(): number;
  setTimeout(callback: () => void, ms: Millis): unknown;
  clearTimeout(timer: unknown): void;
}
