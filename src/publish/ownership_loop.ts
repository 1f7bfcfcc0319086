/**
 * The Lease loop of a replica: every retry period (jittered, counted from the end of the last
 * round) it renews its own replica Lease, reads which replicas are live, and for each Service
 * takes, renews, releases or watches the Service's Lease, as `ownership.ts` decides. The
 * reconciler asks {@linkcode Ownership.mayWrite} before every write: the answer turns false on
 * its own once the renew deadline passes without a renewal, whatever the loop is doing.
 *
 * @module
 */

import type { Clock } from "../health/scheduler.ts";
import { KubeError } from "../kube/client.ts";
import type { LeaseClient, LeaseMeta, ObservedLease } from "../kube/lease.ts";
import type { OwnerReference } from "../kube/types.ts";
import type { Logger } from "../observe/log.ts";
import type { Config } from "../config/schema.ts";
import {
  claim,
  DEFAULT_LEASE_TIMINGS,
  JITTER_FACTOR,
  KEEP_DURATIONS,
  type LeaseSighting,
  type LeaseTimings,
  liveReplicas,
  mayWrite,
  nextStep,
  released,
  rendezvousOwner,
  replicaLeaseName,
  serviceLeaseName,
  sight,
  timingsProblem,
} from "./ownership.ts";

/** The label on replica Leases (how replicas find each other). */
export const LABEL_REPLICA = "helaseid.io/replica";

/** A change of ownership of one Service. */
export interface OwnershipChange {
  /** `namespace/name` of the Service. */
  readonly service: string;
  readonly held: boolean;
  /**
   * Why: `acquired`, `released` (handed to another replica or stopping), `lost` (fenced), or
   * `resumed`: a renewal came after the renew deadline had passed while the Lease was still
   * ours, so writing, which stopped on its own at the deadline, may start again.
   */
  readonly reason: "acquired" | "released" | "lost" | "resumed";
  /** The holder seen before we took it over, if any. */
  readonly previous?: string;
  readonly at: number;
}

/** What the agent reads of the ownership: which Services it may write, and who holds them. */
export interface LeaseView {
  /** True while this replica holds the Service's Lease within the renew deadline. */
  mayWrite(service: string): boolean;
  /** The holder as last seen ("" when released, undefined when unknown). */
  holder(service: string): string | undefined;
}

/** Options of {@linkcode Ownership}. */
export interface OwnershipOptions {
  readonly leases: LeaseClient;
  /** The Services, as `{ namespace, name }`. */
  readonly services: readonly { readonly namespace: string; readonly name: string }[];
  /** This replica's identity (the writer identity): the Leases' holder. */
  readonly identity: string;
  /** Namespace of the replica Leases (the agent's own). */
  readonly namespace: string;
  /**
   * The owner of this replica's own Lease, the pod, so that Kubernetes deletes the Lease with
   * the pod instead of keeping one per pod that ever ran (default none: a binary outside).
   */
  readonly owner?: OwnerReference;
  readonly timings: LeaseTimings;
  readonly clock: Clock;
  readonly log: Logger;
  /** Uniform random numbers for the jitter (default `Math.random`). */
  readonly random?: () => number;
  /** Called on every change of ownership. */
  readonly onChange?: (change: OwnershipChange) => void;
}

interface Entry {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  sighting?: LeaseSighting;
  /** The Lease as we last wrote it (the fast path renews it without reading). */
  mine?: ObservedLease;
  leading: boolean;
  /** Local time the last successful renewal was sent. */
  lastRenew?: number;
  /** Not handed to its owner before this time (we took it when the owner did not). */
  keepUntil?: number;
  /** The last error logged, so a failing call is logged once. */
  error?: string;
}

/** Takes and keeps the Leases of the Services this replica should write. */
export class Ownership implements LeaseView {
  readonly #options: OwnershipOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #replica: Entry;
  readonly #replicas = new Map<string, LeaseSighting>();
  #live = new Set<string>();
  #timer?: unknown;
  #round?: Promise<void>;
  #stopped = false;
  /** The replicas were listed once (the first round waits for it before deciding). */
  #looked = false;
  /** Our replica Lease's renewal and the list of the others, while in flight. */
  #listing?: Promise<void>;

  constructor(options: OwnershipOptions) {
    this.#options = options;
    this.#live.add(options.identity);
    for (const { namespace, name } of options.services) {
      const key = `${namespace}/${name}`;
      this.#entries.set(key, { key, namespace, name: serviceLeaseName(name), leading: false });
    }
    this.#replica = {
      key: "",
      namespace: options.namespace,
      name: replicaLeaseName(options.identity),
      leading: false,
    };
  }

  /** This replica's identity. */
  get identity(): string {
    return this.#options.identity;
  }

  /** Starts the loop: the first round runs at once. */
  start(): void {
    if (this.#stopped || this.#round || this.#timer !== undefined) return;
    this.#run();
  }

  /** True while this replica holds the Service's Lease within the renew deadline. */
  mayWrite(service: string): boolean {
    const entry = this.#entries.get(service);
    if (!entry?.leading || this.#stopped) return false;
    return mayWrite(entry.lastRenew, this.#options.clock.now(), this.#options.timings);
  }

  /** The Services (`namespace/name`) this replica holds now. */
  held(): string[] {
    return [...this.#entries.values()].filter((entry) => this.mayWrite(entry.key)).map((e) =>
      e.key
    );
  }

  /** The replicas seen live in the last round (this one included). */
  replicas(): string[] {
    return [...this.#live].sort();
  }

  /** The holder of a Service's Lease as last seen ("" when free, undefined when unknown). */
  holder(service: string): string | undefined {
    const entry = this.#entries.get(service);
    if (entry?.leading) return this.#options.identity;
    return entry?.sighting?.lease.record.holder;
  }

  /** Runs one round now (tests; the loop runs them on its own). */
  async round(): Promise<void> {
    await this.#round;
    this.#round = this.#doRound();
    await this.#round;
    this.#round = undefined;
  }

  /**
   * Stops the loop and, when `release` (the default), releases every Lease held, so other
   * replicas take over at their next try instead of after the whole duration.
   */
  async stop(options: { readonly release?: boolean } = {}): Promise<void> {
    // Stop writing first (mayWrite is false from now on): nothing is written under a Lease
    // being released.
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
    await this.#listing;
    for (const entry of this.#entries.values()) this.#lose(entry, "released");
    if (options.release === false) return;
    await Promise.all(
      [...this.#entries.values(), this.#replica].map((entry) => this.#release(entry)),
    );
  }

  #run(): void {
    this.#round = this.#doRound().finally(() => {
      this.#round = undefined;
      if (this.#stopped) return;
      const { retryPeriod } = this.#options.timings;
      const delay = retryPeriod *
        (1 + (JITTER_FACTOR - 1) * (this.#options.random ?? Math.random)());
      this.#timer = this.#options.clock.setTimeout(() => {
        this.#timer = undefined;
        this.#run();
      }, delay);
    });
  }

  /**
   * One round: renew our replica Lease and list the others, then decide each Service on who
   * is live. The first round waits for the list however long it takes; later ones wait at
   * most half a retry period and otherwise decide on the last live set seen, leaving the list
   * to finish in the background (one at a time), so a slow list never delays a renewal
   * towards the renew deadline.
   */
  async #doRound(): Promise<void> {
    this.#listing ??= (async () => {
      await this.#renew(this.#replica, true, {
        labels: { [LABEL_REPLICA]: "true" },
        ...(this.#options.owner ? { ownerReferences: [this.#options.owner] } : {}),
      });
      await this.#readReplicas();
    })().finally(() => this.#listing = undefined);
    const listing = this.#listing;
    if (this.#looked) {
      const { clock, timings } = this.#options;
      let timer: unknown;
      await Promise.race([
        listing,
        new Promise<void>((resolve) => timer = clock.setTimeout(resolve, timings.retryPeriod / 2)),
      ]);
      clock.clearTimeout(timer);
    } else {
      await listing;
      this.#looked = true;
    }
    await Promise.all([...this.#entries.values()].map((entry) => this.#step(entry)));
  }

  async #readReplicas(): Promise<void> {
    const { leases, namespace, identity, clock } = this.#options;
    try {
      const read = await leases.list(namespace, `${LABEL_REPLICA}=true`);
      const now = clock.now();
      const names = new Set(read.map((lease) => lease.name));
      for (const name of [...this.#replicas.keys()]) {
        if (!names.has(name)) this.#replicas.delete(name);
      }
      for (const lease of read) {
        this.#replicas.set(lease.name, sight(this.#replicas.get(lease.name), lease, now));
      }
      this.#replica.error = undefined;
    } catch (error) {
      this.#failed(this.#replica, "list replica Leases", error);
    }
    // On a failed list, replicas age out on their last sighting: alone, we hold everything.
    this.#live = liveReplicas(this.#replicas.values(), identity, clock.now());
  }

  async #step(entry: Entry): Promise<void> {
    if (this.#stopped) return;
    const owner = rendezvousOwner(entry.key, this.#live);
    const desired = owner === this.#options.identity;
    const keep = entry.keepUntil !== undefined && this.#options.clock.now() < entry.keepUntil;
    if (entry.leading && !desired && !keep) {
      // Another live replica should hold it: hand it over (stop writing, then release).
      this.#lose(entry, "released");
      await this.#release(entry);
      return;
    }
    await this.#renew(entry, desired);
  }

  /** One `tryAcquireOrRenew`: the fast path renews what we wrote; else read and decide. */
  async #renew(
    entry: Entry,
    desired: boolean,
    meta: LeaseMeta = {},
  ): Promise<void> {
    const { leases, identity, clock, timings } = this.#options;
    if (entry.leading && entry.mine && entry.mine.record.holder === identity) {
      const now = clock.now();
      try {
        const written = await leases.update(
          entry.mine,
          claim(entry.mine.record, identity, now, timings, true),
        );
        return this.#renewed(entry, written, now);
      } catch (error) {
        if (!(error instanceof KubeError && error.status === 409)) {
          this.#failed(entry, "renew", error);
          return this.#fence(entry);
        }
      }
    }
    try {
      const read = await leases.get(entry.namespace, entry.name);
      const now = clock.now();
      entry.sighting = read ? sight(entry.sighting, read, now) : undefined;
      const step = nextStep({
        me: identity,
        now,
        timings,
        sighting: entry.sighting,
        leading: entry.leading,
        desired,
      });
      if (step.kind === "wait") {
        if (entry.leading) this.#lose(entry, "lost"); // someone else holds it now
        entry.error = undefined;
        return;
      }
      const previous = read?.record.holder;
      const written = step.kind === "create"
        ? await leases.create(entry.namespace, entry.name, step.record, meta)
        : await leases.update(read!, step.record);
      if (!desired && !entry.leading) {
        entry.keepUntil = now + KEEP_DURATIONS * timings.duration;
        this.#options.log.warn(
          "took a Lease its replica left unclaimed: keeping it for a while",
          { service: entry.key, lease: entry.name },
        );
      }
      this.#renewed(entry, written, now, previous);
    } catch (error) {
      // 409: another replica wrote first; read again at the next try.
      if (!(error instanceof KubeError && error.status === 409)) {
        this.#failed(entry, entry.leading ? "renew" : "acquire", error);
      }
      this.#fence(entry);
    }
  }

  #renewed(entry: Entry, written: ObservedLease, sent: number, previous?: string): void {
    // Still ours, but past the renew deadline until now: writing stopped silently (mayWrite
    // false), and nothing else would tell the publisher it may write again.
    const resumed = entry.leading && entry !== this.#replica &&
      !mayWrite(entry.lastRenew, this.#options.clock.now(), this.#options.timings);
    entry.mine = written;
    entry.sighting = sight(entry.sighting, written, this.#options.clock.now());
    entry.lastRenew = sent;
    entry.error = undefined;
    if (!entry.leading) {
      entry.leading = true;
      if (entry !== this.#replica) {
        this.#options.log.info("took the Service's Lease: writing it", {
          service: entry.key,
          lease: entry.name,
          ...(previous ? { previous } : {}),
        });
        this.#options.onChange?.({
          service: entry.key,
          held: true,
          reason: "acquired",
          ...(previous && previous !== this.#options.identity ? { previous } : {}),
          at: sent,
        });
      }
    } else if (resumed) {
      this.#options.log.info(
        "renewed the Service's Lease after its renew deadline: writing again",
        {
          service: entry.key,
          lease: entry.name,
        },
      );
      this.#options.onChange?.({ service: entry.key, held: true, reason: "resumed", at: sent });
    }
  }

  /** Past the renew deadline without a renewal: stop writing (the fence). */
  #fence(entry: Entry): void {
    if (!entry.leading) return;
    if (mayWrite(entry.lastRenew, this.#options.clock.now(), this.#options.timings)) return;
    this.#lose(entry, "lost");
  }

  #lose(entry: Entry, reason: "released" | "lost"): void {
    if (!entry.leading) return;
    entry.leading = false;
    if (entry === this.#replica) return;
    const level = reason === "lost" ? "warn" : "info";
    this.#options.log[level](
      reason === "lost"
        ? "lost the Service's Lease (not renewed within the renew deadline, or taken): not writing"
        : "releasing the Service's Lease: not writing",
      { service: entry.key, lease: entry.name },
    );
    this.#options.onChange?.({
      service: entry.key,
      held: false,
      reason,
      at: this.#options.clock.now(),
    });
  }

  /** Writes a released record over our Lease (best effort: it expires anyway). */
  async #release(entry: Entry): Promise<void> {
    const mine = entry.mine;
    entry.mine = undefined;
    entry.leading = false;
    if (!mine || mine.record.holder !== this.#options.identity) return;
    try {
      const written = await this.#options.leases.update(
        mine,
        released(mine.record, this.#options.clock.now()),
      );
      entry.sighting = sight(entry.sighting, written, this.#options.clock.now());
    } catch (error) {
      this.#failed(entry, "release", error);
    }
  }

  #failed(entry: Entry, what: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (entry.error === message) return;
    entry.error = message;
    this.#options.log.warn(`cannot ${what} a Lease`, {
      lease: `${entry.namespace}/${entry.name}`,
      error: message,
    });
  }
}

/** What {@linkcode ownershipFor} needs besides the configuration. */
export interface OwnershipSetup {
  readonly leases: LeaseClient;
  readonly identity: string;
  /** The pod's namespace (`POD_NAMESPACE` or the service account's), if any. */
  readonly podNamespace?: string;
  /** The pod (`POD_NAME`, `POD_UID`), owner of the replica's own Lease, if known. */
  readonly pod?: { readonly name: string; readonly uid: string };
  readonly clock: Clock;
  readonly log: Logger;
  readonly onChange?: (change: OwnershipChange) => void;
}

/**
 * The ownership loop the configuration asks for: undefined with `leases` off. Throws
 * {@linkcode LeaseTimingsError} when the timings cannot work.
 */
export function ownershipFor(
  config: Config,
  setup: OwnershipSetup,
): Ownership | undefined {
  if (!config.leases) return undefined;
  const timings: LeaseTimings = {
    duration: config.leaseDuration ?? DEFAULT_LEASE_TIMINGS.duration,
    renewDeadline: config.leaseRenewDeadline ?? DEFAULT_LEASE_TIMINGS.renewDeadline,
    retryPeriod: config.leaseRetryPeriod ?? DEFAULT_LEASE_TIMINGS.retryPeriod,
  };
  const problem = timingsProblem(timings);
  if (problem) throw new LeaseTimingsError(`Cannot use Leases as ${problem}`);
  const namespace = config.leaseNamespace ?? setup.podNamespace ?? config.services[0]!.namespace;
  return new Ownership({
    leases: setup.leases,
    services: config.services,
    identity: setup.identity,
    namespace,
    // The pod owns its replica Lease only where it lives (an owner elsewhere counts as gone,
    // and the garbage collector would delete the Lease at once).
    ...(setup.pod && namespace === setup.podNamespace
      ? {
        owner: { apiVersion: "v1", kind: "Pod", name: setup.pod.name, uid: setup.pod.uid },
      }
      : {}),
    timings,
    clock: setup.clock,
    log: setup.log,
    ...(setup.onChange ? { onChange: setup.onChange } : {}),
  });
}

/** The lease timings of the configuration cannot work (see `timingsProblem`). */
export class LeaseTimingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LeaseTimingsError";
  }
}
