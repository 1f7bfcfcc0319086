/**
 * Who writes which Service when several replicas run: the pure decisions of Lease ownership,
 * with time as an argument. The I/O loop that reads and writes the Leases is
 * `ownership_loop.ts`.
 *
 * The election is client-go's (`tools/leaderelection`): a replica acts only on its own clock
 * (a Lease's times only tell that it changed), takes a Lease that is absent, released, or
 * unchanged for its duration, renews it every retry period, and stops writing once it has not
 * renewed within the renew deadline, which is shorter than the duration: the difference is
 * the fence that keeps an old holder from writing after another may have taken over.
 *
 * Spreading: each replica announces itself with a Lease of its own; every Service goes to
 * the live replica with the highest rendezvous hash of (replica, Service), so all replicas
 * agree without talking, and a joining or leaving replica moves only its share.
 *
 * @module
 */

import type { LeaseRecord, ObservedLease } from "../kube/lease.ts";

/** The timings of the election, in ms (client-go's defaults: 15 s, 10 s, 2 s). */
export interface LeaseTimings {
  /** How long a claim lasts after it was last seen renewed. */
  readonly duration: number;
  /** A holder that has not renewed for this long stops writing (< duration). */
  readonly renewDeadline: number;
  /** How often a holder renews and a candidate tries. */
  readonly retryPeriod: number;
}

/** client-go's defaults. */
export const DEFAULT_LEASE_TIMINGS: LeaseTimings = {
  duration: 15_000,
  renewDeadline: 10_000,
  retryPeriod: 2_000,
};

/** client-go's jitter factor on the retry period. */
export const JITTER_FACTOR = 1.2;

/**
 * Why timings cannot work, as one line, or undefined when they can: client-go's rules
 * (duration > renew deadline > 1.2 × retry period > 0).
 */
export function timingsProblem(timings: LeaseTimings): string | undefined {
  const { duration, renewDeadline, retryPeriod } = timings;
  if (!(retryPeriod > 0)) return `the lease retry period must be positive: it is ${retryPeriod} ms`;
  if (!(duration > renewDeadline)) {
    return `the lease duration (${duration} ms) must be longer than the renew deadline ` +
      `(${renewDeadline} ms)`;
  }
  if (!(renewDeadline > JITTER_FACTOR * retryPeriod)) {
    return `the lease renew deadline (${renewDeadline} ms) must be longer than ` +
      `${JITTER_FACTOR} × the retry period (${retryPeriod} ms)`;
  }
  return undefined;
}

/** What this replica knows of a Lease: as last read, and when (own clock) it last changed. */
export interface LeaseSighting {
  readonly lease: ObservedLease;
  /** Local time the record was first seen as it is now. */
  readonly changedAt: number;
}

/** The sighting after reading `lease` at `now`: the change time moves only if the record did. */
export function sight(
  previous: LeaseSighting | undefined,
  lease: ObservedLease,
  now: number,
): LeaseSighting {
  const same = previous !== undefined && sameRecord(previous.lease.record, lease.record);
  return { lease, changedAt: same ? previous.changedAt : now };
}

/** True when another holder's claim is still valid by our clock. */
export function heldByOther(sighting: LeaseSighting, me: string, now: number): boolean {
  const { holder, durationSeconds } = sighting.lease.record;
  return holder !== "" && holder !== me && sighting.changedAt + durationSeconds * 1000 > now;
}

/** The next write for a Lease. */
export type LeaseStep =
  | { readonly kind: "create"; readonly record: LeaseRecord }
  | { readonly kind: "update"; readonly record: LeaseRecord }
  | { readonly kind: "wait" };

/** What {@linkcode nextStep} decides on. */
export interface StepInput {
  readonly me: string;
  readonly now: number;
  readonly timings: LeaseTimings;
  /** The Lease as last read; undefined when it does not exist. */
  readonly sighting?: LeaseSighting;
  /** Whether this replica believes it holds the Lease. */
  readonly leading: boolean;
  /**
   * Whether this replica should hold it (the rendezvous owner). Another replica takes a Lease
   * only once it has been unchanged for the whole configured duration (its owner is gone), or
   * released and left free for {@linkcode UNCLAIMED_PERIODS} retry periods (the owner cannot
   * take it: a Role without Leases in that namespace); the owner also takes one that is
   * released or expired by its own duration.
   */
  readonly desired: boolean;
}

/**
 * Retry periods a released Lease may stay free before a replica other than its owner takes it
 * (the owner takes one within about one retry period).
 */
export const UNCLAIMED_PERIODS = 3;

/**
 * How many lease durations a replica keeps a Lease it took from nobody (released, unclaimed)
 * before handing it to its owner again: an owner that cannot take it costs a short gap in
 * writing this often, not every few seconds.
 */
export const KEEP_DURATIONS = 4;

/** client-go's `tryAcquireOrRenew`, as a decision: create, take or renew, or wait. */
export function nextStep(input: StepInput): LeaseStep {
  const { me, now, timings, sighting, leading, desired } = input;
  if (!sighting) {
    return desired ? { kind: "create", record: claim(undefined, me, now, timings) } : {
      kind: "wait",
    };
  }
  const { record } = sighting.lease;
  const mine = leading && record.holder === me;
  if (!mine) {
    if (heldByOther(sighting, me, now)) return { kind: "wait" };
    const unchanged = now - sighting.changedAt;
    const abandoned = unchanged >= timings.duration ||
      (record.holder === "" && unchanged >= UNCLAIMED_PERIODS * timings.retryPeriod);
    if (!desired && !abandoned) return { kind: "wait" };
  }
  return { kind: "update", record: claim(record, me, now, timings, mine) };
}

/**
 * The record of a claim at `now`: a renewal keeps the acquire time and transitions, a take-over
 * counts one more transition.
 */
export function claim(
  previous: LeaseRecord | undefined,
  me: string,
  now: number,
  timings: LeaseTimings,
  renewal = false,
): LeaseRecord {
  const durationSeconds = Math.max(1, Math.ceil(timings.duration / 1000));
  if (renewal && previous) return { ...previous, holder: me, durationSeconds, renewTime: now };
  const transitions = previous === undefined
    ? 0
    : previous.holder === me
    ? previous.transitions
    : previous.transitions + 1;
  return { holder: me, durationSeconds, acquireTime: now, renewTime: now, transitions };
}

/**
 * A released record (client-go's `ReleaseOnCancel`): no holder and a one-second duration, so
 * the next owner takes it at its next try instead of waiting for the whole duration.
 */
export function released(record: LeaseRecord, now: number): LeaseRecord {
  return {
    holder: "",
    durationSeconds: 1,
    acquireTime: now,
    renewTime: now,
    transitions: record.transitions,
  };
}

/**
 * The fence: a holder may write only while its last successful renewal (the local time it
 * sent it) is younger than the renew deadline.
 */
export function mayWrite(
  lastRenew: number | undefined,
  now: number,
  timings: LeaseTimings,
): boolean {
  return lastRenew !== undefined && now - lastRenew < timings.renewDeadline;
}

/**
 * The live replica that should hold `key`: the one with the highest hash of (replica, key).
 * Every replica computes the same owner from the same set, and a replica that joins or leaves
 * moves only the keys it wins or held. Undefined when there is no replica.
 */
export function rendezvousOwner(key: string, replicas: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const replica of replicas) {
    const score = hash32(`${replica}\n${key}`);
    if (score > bestScore || (score === bestScore && best !== undefined && replica < best)) {
      best = replica;
      bestScore = score;
    }
  }
  return best;
}

/** The live replicas among sightings of their Leases, by our clock. */
export function liveReplicas(
  sightings: Iterable<LeaseSighting>,
  me: string,
  now: number,
): Set<string> {
  const live = new Set<string>([me]);
  for (const sighting of sightings) {
    const { holder, durationSeconds } = sighting.lease.record;
    if (holder !== "" && sighting.changedAt + durationSeconds * 1000 > now) live.add(holder);
  }
  return live;
}

/** The Lease name of a Service's ownership: `helaseid-<service>` in its namespace. */
export function serviceLeaseName(service: string): string {
  return `helaseid-${service}`.slice(0, 253);
}

/**
 * The Lease name announcing a replica: `helaseid-replica-` and its identity made a DNS
 * subdomain (lower case, other characters as `-`), with a hash so distinct identities that
 * spell alike stay distinct.
 */
export function replicaLeaseName(identity: string): string {
  const safe = identity.toLowerCase().replace(/[^a-z0-9.-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "")
    .slice(0, 200);
  return `helaseid-replica-${safe ? `${safe}-` : ""}${
    hash32(identity).toString(16).padStart(8, "0")
  }`;
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return a.holder === b.holder && a.durationSeconds === b.durationSeconds &&
    a.acquireTime === b.acquireTime && a.renewTime === b.renewTime &&
    a.transitions === b.transitions;
}

/** FNV-1a over UTF-16 code units, with murmur3's finalizer for a good spread. */
function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
