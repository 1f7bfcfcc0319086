/**
 * Keeps the primary of every Service with a `primary` block (issue 15): the agent tells it
 * when a Service's published statuses changed; it asks the planner (`primary.ts`, designate
 * mode) or the role claims (observe mode, `role_checks.ts`) and reports every change with its
 * reason. A failback that comes due without any status change is decided on a timer. The
 * agent decides once for every cluster it publishes into.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import type { Clock } from "../health/scheduler.ts";
import { planPrimary, type PrimaryCandidate, type PrimaryReason } from "./primary.ts";

/** A change of a Service's primary. */
export interface PrimaryChange {
  /** The Service. */
  readonly service: ServiceConfig;
  /** The primary before (absent: none). */
  readonly from?: string;
  /** The primary now (absent: none). */
  readonly to?: string;
  /** Why it moved. */
  readonly reason: PrimaryReason | "claimed" | "unclaimed" | "contested";
  /** When (epoch ms). */
  readonly at: number;
  /** `contested`: every target that claims to be primary, sorted. */
  readonly claimants?: readonly string[];
}

/** Options of {@linkcode PrimaryTracker}. */
export interface PrimaryTrackerOptions {
  readonly clock: Clock;
  /** The Service's targets with their published statuses, in configuration order. */
  readonly candidates: (service: ServiceConfig) => readonly PrimaryCandidate[];
  /** Called on every change of a primary (and on every contested claim in observe mode). */
  readonly onChange: (change: PrimaryChange) => void;
}

interface Entry {
  config: ServiceConfig;
  primary?: string;
  timer?: unknown;
  /** Observe mode: the last claimants (addresses whose role check passed), sorted. */
  claims?: readonly string[];
  /** Designate mode: what the API showed has been offered (see `adopt`). */
  adopted?: boolean;
}

/** The primaries of the Services, by `namespace/name`. */
export class PrimaryTracker {
  readonly #options: PrimaryTrackerOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(options: PrimaryTrackerOptions) {
    this.#options = options;
  }

  /** The primary's address of a Service, if it has one. */
  current(service: ServiceConfig): string | undefined {
    return this.#entries.get(keyOf(service))?.primary;
  }

  /** The Service's statuses (or configuration) changed: decide again. */
  update(config: ServiceConfig): void {
    const key = keyOf(config);
    if (!config.primary) return this.forget(key);
    let entry = this.#entries.get(key);
    if (!entry) this.#entries.set(key, entry = { config });
    entry.config = config;
    if (config.primary.mode === "observe") return this.#observe(entry);
    // The first choice waits for what the API shows (a restart keeps the primary it finds).
    if (entry.primary === undefined && !entry.adopted) return;
    const { clock } = this.#options;
    const now = clock.now();
    const decision = planPrimary(entry.primary, this.#options.candidates(config), {
      prefer: config.primary.prefer,
      failbackAfter: config.primary.failbackAfter,
      now,
    });
    if (entry.timer !== undefined) clock.clearTimeout(entry.timer);
    entry.timer = decision.recheckAt === undefined ? undefined : clock.setTimeout(() => {
      entry.timer = undefined;
      if (this.#entries.get(key) === entry) this.update(entry.config);
    }, Math.max(0, decision.recheckAt - now));
    this.#set(entry, decision.primary, decision.reason, now);
  }

  /**
   * Designate mode: the publisher found `shown` as the one ready endpoint of the primary
   * Service (undefined: none). The first time, before any choice, a shown target that has not
   * fallen becomes the primary without a change (a restart does not move it); then the
   * planner decides as usual. Returns the primary.
   */
  adopt(config: ServiceConfig, shown: string | undefined): string | undefined {
    if (config.primary?.mode !== "designate") return this.current(config);
    const key = keyOf(config);
    let entry = this.#entries.get(key);
    if (!entry) this.#entries.set(key, entry = { config });
    if (entry.adopted) return entry.primary;
    entry.adopted = true;
    const found = this.#options.candidates(config).find((c) => c.address === shown);
    if (entry.primary === undefined && found && found.status !== "unhealthy") {
      entry.primary = found.address;
    }
    this.update(config);
    return this.#entries.get(key)?.primary;
  }

  /**
   * Observe mode: the addresses whose role check passed, among healthy targets. One claimant
   * is the primary; two or more keep the current one (alerted once per set of claimants);
   * none empties it or keeps it (`noPrimary`).
   */
  claims(config: ServiceConfig, claimants: readonly string[]): void {
    const key = keyOf(config);
    let entry = this.#entries.get(key);
    if (!entry) this.#entries.set(key, entry = { config });
    entry.config = config;
    const sorted = [...claimants].sort();
    const before = entry.claims;
    entry.claims = sorted;
    const now = this.#options.clock.now();
    if (sorted.length > 1) {
      if (before?.join() !== sorted.join()) {
        this.#options.onChange({
          service: config,
          ...(entry.primary === undefined ? {} : { from: entry.primary, to: entry.primary }),
          reason: "contested",
          at: now,
          claimants: sorted,
        });
      }
      return;
    }
    this.#observe(entry);
  }

  #observe(entry: Entry): void {
    // A claim counts while its target is healthy (a target that fell is out at once).
    const healthy = new Set(
      this.#options.candidates(entry.config).filter((c) => c.status === "healthy")
        .map((c) => c.address),
    );
    const claims = (entry.claims ?? []).filter((address) => healthy.has(address));
    if (claims.length > 1) return;
    const now = this.#options.clock.now();
    if (claims.length === 1) return this.#set(entry, claims[0], "claimed", now);
    if (entry.config.primary?.noPrimary === "keep") return;
    this.#set(entry, undefined, "unclaimed", now);
  }

  #set(entry: Entry, primary: string | undefined, reason: PrimaryChange["reason"], at: number) {
    if (primary === entry.primary) return;
    const from = entry.primary;
    entry.primary = primary;
    this.#options.onChange({
      service: entry.config,
      ...(from === undefined ? {} : { from }),
      ...(primary === undefined ? {} : { to: primary }),
      reason,
      at,
    });
  }

  /** A Service left the configuration or has no `primary` any more. */
  forget(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    if (entry.timer !== undefined) this.#options.clock.clearTimeout(entry.timer);
    this.#entries.delete(key);
  }

  /** Stops every failback timer. */
  stop(): void {
    for (const key of [...this.#entries.keys()]) this.forget(key);
  }
}

function keyOf(service: ServiceConfig): string {
  return `${service.namespace}/${service.name}`;
}
