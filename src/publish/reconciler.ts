/**
 * The publishing loop, one per cluster: it is the single writer of our objects. Services are
 * marked dirty by health transitions and by watch events; each run computes, per dirty
 * Service, view → desired objects → plan against the store, and hands the plan to the writer.
 *
 * - Coalescing: transitions that arrive while a run is pending or in flight are folded into
 *   the next run, so an outage of N targets costs a few writes per object, not N.
 * - Retries: a failed Service is retried with exponential backoff; nothing else waits for it.
 * - One writer: every write carries the writer's identity and config hash. An agent that would
 *   write over another HELASEID writer's write that came after its own stops writing that
 *   Service (blocked "conflict") instead of fighting, and looks again later with a growing,
 *   jittered delay; it takes over only if the other writer has been quiet since. A writer with
 *   the same configuration (a rolling update's other pod) differs only for a moment, so it
 *   counts as a conflict only when it overwrites us again and again.
 * - Operator-needed failures (401, 403, a missing namespace) of the store's lists and watches
 *   and of our own writes block the Service with a one-line detail, even before the first
 *   listing completes.
 * - Leases (issue 13): with several replicas, a Service is written only by the replica that
 *   holds its Lease within the renew deadline (`mayWrite`); the others compute the same view
 *   and write nothing (`standby`), and a new holder writes only what differs.
 * - Restart without flapping: nothing is written for a Service until the store has listed
 *   what the API shows and every target has a verdict (or a check past its timeout) or is
 *   shown there.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import type { Clock } from "../health/scheduler.ts";
import type { KubeClient } from "../kube/client.ts";
import type { ObjectStore, StoreChange, StoreFailure } from "../kube/store.ts";
import {
  type EndpointSliceObject,
  type KubeObject,
  resourceOf,
  type ServiceObject,
} from "../kube/types.ts";
import type { Logger } from "../observe/log.ts";
import {
  ANNOTATION_CONFIG_HASH,
  ANNOTATION_WRITER,
  configHash,
  writerIdentity,
} from "./identity.ts";
import {
  ANNOTATION_TRIGGER_TIME,
  desiredObjects,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  MANAGER,
  serviceObject,
} from "./objects.ts";
import { planChanges } from "./plan.ts";
import { portInputs, type ServiceView, serviceView, type ViewStatus } from "./views.ts";
import { executePlan, type WriteResult } from "./writer.ts";
import {
  companionOwns,
  Companions,
  type RemoveContext,
  type StaleCompanion,
  staleCompanions,
  stillStale,
} from "./companions.ts";

/** The label selector of every object we own. */
const OWNED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGER}`;

/** What the reconciler needs to know about targets' health. */
export interface HealthSource {
  /** The verdict on a target (`failing`: no verdict yet, and its checks so far failed). */
  status(service: ServiceConfig, address: string): ViewStatus;
  /** True once the target has a verdict, or a check of it overran its timeout. */
  checked(service: ServiceConfig, address: string): boolean;
  /** A target's status on one port (configured name) when it differs per port (`views.ts`). */
  /**
   * Why the Service's target list is not known yet (its sources have not all answered), or
   * undefined when it is: nothing is published before it is, so that a partial list never
   * replaces what the API shows.
   */
  waiting?(service: ServiceConfig): string | undefined;
  portStatus?(service: ServiceConfig, address: string, port: string): ViewStatus | undefined;
  /** The address of the Service's primary (issue 15), shown by its primary Service. */
  primary?(service: ServiceConfig): string | undefined;
  /** Offers the primary the API shows before the first choice; returns the primary. */
  adoptPrimary?(service: ServiceConfig, shown: string | undefined): string | undefined;
}

/** Every reason a Service can be blocked for (metrics give each a 0/1 series). */
export const BLOCKED_REASONS = [
  "service-missing",
  "service-has-selector",
  "namespace-missing",
  "access-denied",
  "conflict",
  "waiting-first-checks",
] as const;

/** Why a Service is not being published. */
export type BlockedReason = typeof BLOCKED_REASONS[number];

/** What the reconciler last did for a Service, for `/status`, metrics and alerts. */
export interface PublishState {
  readonly service: string;
  /** The cluster of this state (issue 14), set by the agent for its listeners. */
  readonly cluster?: string;
  /** Set while the Service cannot be published. */
  readonly blocked?: BlockedReason;
  /** The last view computed. */
  readonly view?: ServiceView;
  /** The last write attempted for each object (`kind/name`). */
  readonly writes: ReadonlyMap<string, WriteResult>;
  /** Since when writes have been failing (undefined when the last attempt succeeded). */
  readonly failingSince?: number;
  /** Consecutive failed attempts. */
  readonly failures: number;
  /** Since when the Service has been blocked (set with `blocked`, except while waiting). */
  readonly blockedSince?: number;
  /**
   * One line for operators naming what is wrong, set with `blocked`: e.g. "list
   * endpointslices in namespace 'shop': 403 Forbidden", or the other writer of a conflict.
   */
  readonly detail?: string;
  /** With `blocked: "conflict"`: who else writes our objects, and when we look again. */
  readonly conflict?: { readonly writer: string; readonly retryAt: number };
  /** With Leases on: another replica holds the Service's Lease, so this one does not write. */
  readonly standby?: boolean;
}

/** Options of {@linkcode Reconciler}. */
export interface ReconcilerOptions {
  readonly services: readonly ServiceConfig[];
  readonly health: HealthSource;
  readonly client: KubeClient;
  readonly store: ObjectStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** How long to wait for more transitions before writing (default 2 ms). */
  readonly coalesce?: number;
  /** First and longest retry delay after a failed write (default 100 ms and 10 s). */
  readonly retry?: { readonly initial: number; readonly max: number };
  /** Called after every write attempt. */
  readonly onWrite?: (result: WriteResult) => void;
  /** Called when a Service's publishing state changes (blocked, failing, recovered). */
  readonly onState?: (state: PublishState) => void;
  /**
   * This agent's identity, written on every object (default: host name and process id, see
   * {@linkcode writerIdentity}).
   */
  readonly writer?: string;
  /** First and longest wait before looking again after a conflict (default 10 s and 5 min). */
  readonly conflictBackoff?: { readonly initial: number; readonly max: number };
  /** Source of the conflict backoff's jitter, in [0, 1) (default `Math.random`). */
  readonly random?: () => number;
  /**
   * With Leases on: whether this replica may write the Service (`namespace/name`) now, asked
   * before every write (default: always, one agent alone).
   */
  readonly mayWrite?: (service: string) => boolean;
}

/** A write by another HELASEID writer, seen on the watch. */
interface ForeignWrite {
  readonly writer: string;
  readonly hash?: string;
  /** `Kind namespace/name`. */
  readonly object: string;
  /** Clock time it was seen. */
  readonly at: number;
}

/** A conflict in progress: not writing until `retryAt`. */
interface Conflict {
  readonly writer: string;
  readonly object: string;
  /** When the conflict was first seen (kept over further backoffs). */
  readonly since: number;
  /** When the current backoff started: a foreign write after it (and its settling) is news. */
  readonly from: number;
  readonly retryAt: number;
  readonly timer: unknown;
  /** The one line operators read (`PublishState.detail`). */
  readonly detail: string;
}

interface ServiceEntry {
  config: ServiceConfig;
  readonly key: string;
  dirty: boolean;
  /** The latest transition time seen (kept for the trigger-time annotation). */
  trigger?: number;
  /** The latest transition not yet published (for the publish latency). */
  pending?: number;
  retryTimer?: unknown;
  state: PublishState;
  createAttempted: boolean;
  /** Hash of the configuration behind our contents (written with them). */
  hash: string;
  /** When we first wrote this Service's objects since start or the last takeover. */
  ownedSince?: number;
  /** The latest write by another writer seen on the watch. */
  foreign?: ForeignWrite;
  /** Times of recent writes by writers with our configuration after ours, per object. */
  twinWrites: Map<string, number[]>;
  conflict?: Conflict;
  /** Consecutive conflicts (the backoff's exponent); reset after a long quiet ownership. */
  conflicts: number;
  /** When the last conflict ended by a takeover. */
  tookOver?: number;
  /** The block comes from a failing list or watch of the store (cleared when it recovers). */
  storeBlocked: boolean;
}

/** Keeps the objects of a set of Services in step with their targets' health. */
export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #services = new Map<string, ServiceEntry>();
  #timer?: unknown;
  #running?: Promise<void>;
  #stopped = false;
  #synced = false;
  readonly #writer: string;
  /** Wakes a waiting {@linkcode flush} when every Service is blocked by the store. */
  #storeBlocked?: () => void;
  /** The companion Services (primary, per zone) of the Services, written after their own. */
  readonly #companions = new Companions();
  /**
   * Companions a reload with `removed: "delete"` dropped while this replica did not hold their
   * Service's Lease: deleted once it does (the holder of the time may have been down), unless
   * a later configuration uses the name again or drops the Service. Not kept across restarts.
   */
  #unremoved: StaleCompanion[] = [];

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#writer = options.writer ?? writerIdentity({});
    for (const config of options.services) this.#add(config);
  }

  #add(config: ServiceConfig): ServiceEntry {
    const key = `${config.namespace}/${config.name}`;
    const entry: ServiceEntry = {
      config,
      key,
      dirty: true,
      state: { service: key, writes: new Map(), failures: 0 },
      createAttempted: false,
      hash: configHash(config),
      conflicts: 0,
      twinWrites: new Map(),
      storeBlocked: false,
    };
    this.#services.set(key, entry);
    return entry;
  }

  /**
   * Takes a new set of Services (a reload, or a source changed a Service's targets): a new
   * Service is tracked and published like one configured at start; a changed one is planned
   * again with its new configuration (an unchanged result writes nothing); a Service no longer
   * there is forgotten, and with `removed: "delete"` the objects we wrote for it are deleted
   * (by the Lease holder only), and so are those of companion Services no longer configured
   * (`staleCompanions`; never a Service object). Resolves once those deletions are done.
   */
  async reconfigure(
    services: readonly ServiceConfig[],
    options: { readonly removed?: "keep" | "delete" } = {},
  ): Promise<void> {
    const next = new Map(services.map((config) => [`${config.namespace}/${config.name}`, config]));
    const before = [...this.#services.values()].map((entry) => entry.config);
    const gone: ServiceEntry[] = [];
    for (const [key, entry] of this.#services) {
      if (next.has(key)) continue;
      this.#services.delete(key);
      if (entry.retryTimer !== undefined) this.#options.clock.clearTimeout(entry.retryTimer);
      if (entry.conflict) this.#options.clock.clearTimeout(entry.conflict.timer);
      gone.push(entry);
    }
    const added: ServiceConfig[] = [];
    for (const [key, config] of next) {
      const entry = this.#services.get(key);
      if (!entry) {
        added.push(config);
        this.#markDirty(this.#add(config));
      } else if (entry.config !== config) {
        entry.config = config;
        entry.hash = configHash(config);
        this.#markDirty(entry);
      }
    }
    Reconciler.track(this.#options.store, added);
    const mayWrite = this.#options.mayWrite ?? (() => true);
    const stale = options.removed === "delete" ? staleCompanions(before, services) : [];
    this.#unremoved = stillStale(
      [...this.#unremoved, ...stale.filter((companion) => !mayWrite(companion.service))],
      services,
    );
    if (options.removed !== "delete") return;
    // A pass in flight may still write a companion of the old configuration: delete after it.
    await this.#running?.catch(() => {});
    await this.#companions.remove(stale, this.#removeContext(mayWrite));
    for (const entry of gone.filter((entry) => mayWrite(entry.key))) {
      for (const object of this.#observed(entry.config)) {
        const ref = {
          resource: resourceOf(object),
          namespace: entry.config.namespace,
          name: object.metadata.name,
        };
        try {
          await this.#options.client.delete(ref);
          this.#options.store.forget(ref.resource, ref.namespace, ref.name);
          this.#options.log.info("deleted the objects of a removed Service", {
            service: entry.key,
            object: `${object.kind}/${object.metadata.name}`,
          });
        } catch (error) {
          this.#options.log.warn("cannot delete an object of a removed Service", {
            service: entry.key,
            object: `${object.kind}/${object.metadata.name}`,
            error,
          });
        }
      }
    }
  }

  /** The namespaces and resources the store must track for this reconciler. */
  static track(store: ObjectStore, services: readonly ServiceConfig[]): void {
    for (const namespace of new Set(services.map((service) => service.namespace))) {
      store.track("services", namespace);
      store.track("endpointslices", namespace, OWNED_SELECTOR);
      store.track("endpoints", namespace, OWNED_SELECTOR);
    }
  }

  /** Starts publishing once the store has listed everything. */
  async start(): Promise<void> {
    await this.#options.store.synced();
    if (this.#stopped) return;
    this.#synced = true;
    this.#schedule();
  }

  /** The publishing state of every Service. */
  states(): PublishState[] {
    return [...this.#services.values()].map((entry) => entry.state);
  }

  /** This agent's writer identity, as written on our objects. */
  get writer(): string {
    return this.#writer;
  }

  /**
   * True when every Service is settled: published at least once, and nothing blocked or
   * failing now (what `--once` exits 0 for).
   */
  get settled(): boolean {
    return [...this.#services.values()].every((entry) =>
      !entry.state.blocked && entry.state.view !== undefined && entry.state.failures === 0
    );
  }

  /** A target's verdict changed at `at` (epoch ms): publish soon. */
  transition(service: ServiceConfig, at: number): void {
    const entry = this.#services.get(`${service.namespace}/${service.name}`);
    if (!entry) return;
    entry.trigger = Math.max(entry.trigger ?? 0, at);
    entry.pending = Math.max(entry.pending ?? 0, at);
    this.#markDirty(entry);
  }

  /** A first probe result may unblock a Service waiting for its first checks. */
  checked(service: ServiceConfig): void {
    const entry = this.#services.get(`${service.namespace}/${service.name}`);
    if (entry?.state.blocked === "waiting-first-checks") this.#markDirty(entry);
  }

  /**
   * The store saw a change: the Services it concerns may need a repair. A change written by
   * another HELASEID writer is remembered: if we wrote the Service's objects before it and
   * would now write over it, two agents are fighting.
   */
  storeChanged(change: StoreChange): void {
    for (const entry of this.#services.values()) {
      if (entry.config.namespace !== change.namespace) continue;
      if (change.object && !concerns(entry.config, change.object)) {
        if (companionOwns(entry.config, change.object)) this.#markDirty(entry);
        continue;
      }
      if (change.object && !change.deleted) this.#noteWriter(entry, change.object);
      this.#markDirty(entry);
    }
  }

  /**
   * A collection of the store started failing, changed failure, or recovered. Called even
   * before the store has synced, so a forbidden list or a missing namespace is reported at
   * once instead of leaving the agent waiting silently.
   */
  storeFailed(_resource: string, namespace: string): void {
    for (const entry of this.#services.values()) {
      if (entry.config.namespace !== namespace) continue;
      const failure = this.#storeFailure(entry);
      if (failure) {
        this.#blockForStore(entry, failure);
        if (this.#allStoreBlocked()) this.#storeBlocked?.();
      } else if (entry.storeBlocked) {
        entry.storeBlocked = false;
        const state = { service: entry.key, writes: entry.state.writes, failures: 0 };
        // A conflict still holds while the store failed and recovered.
        this.#setState(entry, entry.conflict ? conflictState(state, entry.conflict) : state);
        this.#markDirty(entry);
      }
    }
  }

  /**
   * This replica took or gave up the Service's Lease: a new holder plans against what the API
   * shows and writes only what differs; our own earlier writes no longer count as ownership.
   */
  ownershipChanged(service: string): void {
    const entry = this.#services.get(service);
    if (!entry) return;
    entry.ownedSince = undefined;
    entry.twinWrites.clear();
    // A new holder writes what differs; a former one shows itself as a standby.
    this.#markDirty(entry);
  }

  /** Stops scheduling and waits for the writes in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    for (const entry of this.#services.values()) {
      if (entry.retryTimer !== undefined) this.#options.clock.clearTimeout(entry.retryTimer);
      if (entry.conflict) this.#options.clock.clearTimeout(entry.conflict.timer);
    }
    await this.#running;
  }

  /**
   * Runs one pass now, once the store has listed, and waits for it (for `--once`). Returns at
   * once, publishing nothing, when every Service is blocked by a list or watch the API refuses
   * (the store would never list): {@linkcode settled} is then false.
   */
  async flush(): Promise<void> {
    const blocked = Promise.withResolvers<void>();
    this.#storeBlocked = blocked.resolve;
    if (this.#allStoreBlocked()) return;
    await Promise.race([this.#options.store.synced(), blocked.promise]);
    this.#storeBlocked = undefined;
    if (this.#allStoreBlocked()) return;
    await this.#running;
    for (const entry of this.#services.values()) entry.dirty = true;
    await this.#pass();
  }

  #allStoreBlocked(): boolean {
    return [...this.#services.values()].every((entry) => entry.storeBlocked);
  }

  #markDirty(entry: ServiceEntry): void {
    entry.dirty = true;
    if (entry.retryTimer !== undefined) return; // The retry will pick it up.
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped || !this.#synced || this.#timer !== undefined || this.#running) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#pass().finally(() => {
        this.#running = undefined;
        if ([...this.#services.values()].some(due)) this.#schedule();
      });
    }, this.#options.coalesce ?? 2);
  }

  async #pass(): Promise<void> {
    const entries = [...this.#services.values()].filter(due);
    for (const entry of entries) entry.dirty = false;
    await Promise.all(entries.map(async (entry) => {
      await this.#reconcile(entry);
      await this.#reconcileCompanions(entry);
    }));
  }

  #removeContext(mayWrite: (service: string) => boolean): RemoveContext {
    const { store, client, log } = this.#options;
    return { store, client, log, mayWrite };
  }

  /** Deletes the companions of `service` a delete reload dropped while this replica was standby. */
  async #removeUnremoved(service: string): Promise<void> {
    const due = this.#unremoved.filter((companion) => companion.service === service);
    if (due.length === 0) return;
    this.#unremoved = this.#unremoved.filter((companion) => companion.service !== service);
    await this.#companions.remove(due, this.#removeContext(() => true));
  }

  /** The Service's companion Services (issue 15), after its own objects, from the same view. */
  async #reconcileCompanions(entry: ServiceEntry): Promise<void> {
    const { view, blocked } = entry.state;
    if (!view || blocked || entry.storeBlocked || this.#stopped) return;
    const mayWrite = (this.#options.mayWrite ?? (() => true))(entry.key);
    if (mayWrite && this.#unremoved.length > 0) await this.#removeUnremoved(entry.key);
    const primary = this.#options.health.primary?.(entry.config);
    const ok = await this.#companions.reconcile(entry.config, view, {
      store: this.#options.store,
      client: this.#options.client,
      clock: this.#options.clock,
      log: this.#options.log,
      writer: { id: this.#writer, configHash: entry.hash },
      mayWrite,
      ...(primary === undefined ? {} : { primary }),
      adopt: (shown) => this.#options.health.adoptPrimary?.(entry.config, shown) ?? primary,
      ...(entry.trigger === undefined ? {} : { trigger: entry.trigger }),
      ...(this.#options.onWrite ? { onWrite: this.#options.onWrite } : {}),
    });
    if (!ok) this.#retry(entry, Math.max(1, entry.state.failures + 1));
  }

  async #reconcile(entry: ServiceEntry): Promise<void> {
    const { config } = entry;
    const { store, health, log } = this.#options;
    const failure = this.#storeFailure(entry);
    if (failure) return this.#blockForStore(entry, failure);
    entry.storeBlocked = false;
    // A Service a reload added in a namespace not watched before: wait for its first listing
    // (its change marks the Service dirty), rather than call the Service missing meanwhile.
    const listed = (["services", "endpointslices", "endpoints"] as const).every((resource) =>
      store.listed(resource, config.namespace)
    );
    if (!listed) return;
    let service = store.get("services", config.namespace, config.name) as ServiceObject | undefined;
    const mayWrite = this.#options.mayWrite ?? (() => true);
    if (
      !service && config.publish.createService && !entry.createAttempted && mayWrite(entry.key)
    ) {
      entry.createAttempted = true;
      const created = await this.#createService(entry);
      if (created === "failed") return;
      service = created;
    }
    if (!service) {
      return this.#block(entry, "service-missing", `Service '${entry.key}' not found`);
    }
    const selector = Object.entries(service.spec?.selector ?? {});
    if (selector.length > 0) {
      return this.#block(
        entry,
        "service-has-selector",
        `Service '${entry.key}' has the selector ${
          selector.map(([k, v]) => `${k}=${v}`).join(",")
        }`,
      );
    }
    const observed = this.#observed(config);
    const shown = shownReadiness(observed);
    const unchecked = config.targets.some((target) =>
      !health.checked(config, target.address) && !shown.has(target.address)
    );
    const waiting = health.waiting?.(config);
    if (waiting !== undefined) return this.#block(entry, "waiting-first-checks", waiting, "debug");
    if (unchecked) return this.#block(entry, "waiting-first-checks", undefined, "debug");
    const view = serviceView(
      config,
      (address) => health.status(config, address),
      shown,
      portInputs(config, observed, health.portStatus?.bind(health, config)),
    );
    if (view.hintsOff !== undefined && view.hintsOff !== entry.state.view?.hintsOff) {
      log.warn("no zone hints written", { service: entry.key, reason: view.hintsOff });
    }
    const trigger = entry.trigger ?? observedTrigger(observed);
    const desired = desiredObjects(config, view, {
      service,
      triggerTime: trigger,
      writer: { id: this.#writer, configHash: entry.hash },
    });
    const actions = planChanges(desired, observed);
    const standby = !mayWrite(entry.key);
    if (actions.length === 0 || standby) {
      if (!standby) entry.pending = undefined;
      this.#setState(entry, {
        service: entry.key,
        view,
        writes: entry.state.writes,
        failures: 0,
        ...(standby ? { standby } : {}),
      });
      return;
    }
    // We would write over another writer's write that came after ours: two agents fight. A
    // writer of our configuration gets time to reach our verdicts first (a rolling update's
    // pods judge a transition up to one verdict apart); one that keeps overwriting us does not.
    const foreign = entry.foreign;
    if (
      foreign && entry.ownedSince !== undefined && foreign.at >= entry.ownedSince &&
      observed.some((object) => object.metadata.annotations?.[ANNOTATION_WRITER] === foreign.writer)
    ) {
      const now = this.#options.clock.now();
      const twins = Math.max(
        0,
        ...[...entry.twinWrites.values()].map((times) =>
          times.filter((at) => now - at < TWIN_WINDOW).length
        ),
      );
      if (foreign.hash !== entry.hash || twins >= TWIN_WRITES) {
        return this.#enterConflict(entry, foreign);
      }
      const grace = foreign.at + config.probe.interval * config.probe.fall + config.probe.timeout;
      if (grace > now) return this.#wake(entry, grace - now);
    }
    const results = await executePlan(actions, {
      client: this.#options.client,
      store,
      clock: this.#options.clock,
      trigger: entry.pending,
      service: entry.key,
    });
    const writes = new Map(entry.state.writes);
    for (const result of results) {
      writes.set(`${result.kind}/${result.name}`, result);
      this.#options.onWrite?.(result);
      const fields = {
        service: entry.key,
        object: `${result.kind}/${result.name}`,
        verb: result.verb,
        reason: result.reason,
        durationMs: Math.round(result.duration * 10) / 10,
      };
      if (result.ok) {
        log.info("published", {
          ...fields,
          ready: view.endpoints.filter((e) => e.ready).length,
          endpoints: view.endpoints.length,
          panic: view.panic,
        });
      } else log.warn("write failed", { ...fields, error: result.error, status: result.status });
    }
    if (results.some((result) => result.ok)) entry.ownedSince ??= this.#options.clock.now();
    const failed = results.filter((result) => !result.ok);
    if (failed.length > 0) {
      const failures = entry.state.failures + 1;
      const block = failed.map((result) =>
        operatorBlock(result.verb, result.resource, config.namespace, result)
      ).find((block) => block !== undefined);
      const now = this.#options.clock.now();
      const state: PublishState = {
        service: entry.key,
        view,
        writes,
        failures,
        failingSince: entry.state.failingSince ?? now,
      };
      if (block) {
        if (entry.state.blocked !== block.reason || entry.state.detail !== block.detail) {
          this.#log(entry, block.reason, block.detail, "error");
        }
        this.#setState(entry, this.#blockedState(entry, state, block.reason, block.detail, now));
      } else {
        this.#setState(entry, state);
      }
      this.#retry(entry, failures);
    } else {
      entry.pending = undefined;
      this.#setState(entry, {
        service: entry.key,
        view,
        writes,
        failures: 0,
      });
    }
  }

  async #createService(entry: ServiceEntry): Promise<ServiceObject | "failed"> {
    const { config } = entry;
    const service = serviceObject(config, { headless: true });
    try {
      const created = await this.#options.client.create(service) as ServiceObject;
      this.#options.store.record("services", created);
      this.#options.log.info("created headless Service", { service: entry.key });
      return created;
    } catch (error) {
      const failures = entry.state.failures + 1;
      const now = this.#options.clock.now();
      const state: PublishState = {
        service: entry.key,
        writes: entry.state.writes,
        failures,
        failingSince: entry.state.failingSince ?? now,
      };
      const block = operatorBlock("create", "services", config.namespace, errorFields(error));
      if (block) {
        if (entry.state.blocked !== block.reason || entry.state.detail !== block.detail) {
          this.#log(entry, block.reason, block.detail, "error");
        }
        this.#setState(entry, this.#blockedState(entry, state, block.reason, block.detail, now));
      } else {
        this.#options.log.error("cannot create Service", { service: entry.key, error });
        this.#setState(entry, state);
      }
      entry.createAttempted = false;
      this.#retry(entry, failures);
      return "failed";
    }
  }

  /** The first failing collection of the Service's namespace that needs an operator. */
  #storeFailure(entry: ServiceEntry): StoreFailure | undefined {
    const failures = this.#options.store.failures()
      .filter((failure) => failure.namespace === entry.config.namespace);
    return failures.find((failure) => deniedStatus(failure.status)) ??
      failures.find((failure) => failure.status === 404 && failure.verb === "list");
  }

  #blockForStore(entry: ServiceEntry, failure: StoreFailure): void {
    entry.storeBlocked = true;
    const where = `${failure.verb} ${failure.resource} in namespace '${failure.namespace}'`;
    if (failure.status === 404) {
      this.#block(
        entry,
        "namespace-missing",
        `${where}: ${statusText(404)}: namespace '${failure.namespace}' does not exist`,
        "error",
        failure.since,
      );
    } else {
      this.#block(
        entry,
        "access-denied",
        `${where}: ${statusText(failure.status)}`,
        "error",
        failure.since,
      );
    }
  }

  #block(
    entry: ServiceEntry,
    reason: BlockedReason,
    detail: string | undefined,
    level: "debug" | "error" = "error",
    since?: number,
  ): void {
    if (entry.state.blocked !== reason || entry.state.detail !== detail) {
      this.#log(entry, reason, detail, level);
    }
    const now = since ?? this.#options.clock.now();
    this.#setState(entry, this.#blockedState(entry, entry.state, reason, detail, now));
  }

  /** `state` blocked for `reason`, keeping the since of a block that goes on. */
  #blockedState(
    entry: ServiceEntry,
    state: PublishState,
    reason: BlockedReason,
    detail: string | undefined,
    now: number,
  ): PublishState {
    const rest = withoutBlock(state);
    if (reason === "waiting-first-checks") {
      return { ...rest, blocked: reason, ...(detail ? { detail } : {}) };
    }
    const since = entry.state.blocked === reason ? entry.state.blockedSince ?? now : now;
    return { ...rest, blocked: reason, blockedSince: since, ...(detail ? { detail } : {}) };
  }

  #log(
    entry: ServiceEntry,
    reason: BlockedReason,
    detail: string | undefined,
    level: "debug" | "error",
  ): void {
    this.#options.log[level](BLOCKED_MESSAGES[reason], {
      service: entry.key,
      reason,
      ...(detail ? { detail } : {}),
    });
  }

  #setState(entry: ServiceEntry, state: PublishState): void {
    const before = entry.state;
    entry.state = state;
    if (
      before.blocked !== state.blocked || before.failures !== state.failures ||
      before.view?.panic !== state.view?.panic || before.detail !== state.detail ||
      before.standby !== state.standby
    ) {
      this.#options.onState?.(state);
    }
  }

  /** Remembers a write by another HELASEID writer. */
  #noteWriter(entry: ServiceEntry, object: KubeObject): void {
    const annotations = object.metadata.annotations ?? {};
    const writer = annotations[ANNOTATION_WRITER];
    if (!writer || writer === this.#writer) return;
    const hash = annotations[ANNOTATION_CONFIG_HASH];
    const now = this.#options.clock.now();
    const name = `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`;
    entry.foreign = { writer, ...(hash ? { hash } : {}), object: name, at: now };
    if (hash === entry.hash && entry.ownedSince !== undefined) {
      const times = entry.twinWrites.get(name) ?? [];
      entry.twinWrites.set(name, [...times.filter((at) => now - at < TWIN_WINDOW), now]);
    }
  }

  /** Stops writing the Service until a jittered, growing delay has passed. */
  #enterConflict(entry: ServiceEntry, foreign: ForeignWrite): void {
    const { clock, log, random } = this.#options;
    const { initial, max } = this.#options.conflictBackoff ?? { initial: 10_000, max: 300_000 };
    const now = clock.now();
    // A takeover held for longer than the longest delay starts the backoff afresh.
    if (!entry.conflict && entry.tookOver !== undefined && now - entry.tookOver > max) {
      entry.conflicts = 0;
    }
    entry.conflicts++;
    const base = Math.min(max, initial * 2 ** Math.min(entry.conflicts - 1, 20));
    // Jitter in [0.75, 1.25) of the delay, so two blocked agents do not retry together.
    const delay = Math.round(base * (0.75 + 0.5 * (random ?? Math.random)()));
    if (entry.conflict) clock.clearTimeout(entry.conflict.timer);
    const detail = foreign.hash === entry.hash
      ? `another HELASEID writer '${foreign.writer}' with the same configuration but other ` +
        `verdicts keeps rewriting ${foreign.object}`
      : `another HELASEID writer '${foreign.writer}' with another configuration ` +
        `(config-hash ${foreign.hash ?? "none"}, ours ${entry.hash}) rewrote ${foreign.object}`;
    const first = !entry.conflict;
    entry.conflict = {
      detail,
      writer: foreign.writer,
      object: foreign.object,
      since: entry.conflict?.since ?? now,
      from: now,
      retryAt: now + delay,
      timer: clock.setTimeout(() => this.#conflictDue(entry), delay),
    };
    const fields = {
      service: entry.key,
      reason: "conflict",
      writer: foreign.writer,
      object: foreign.object,
      ourWriter: this.#writer,
      retryInMs: delay,
    };
    if (first) log.error(BLOCKED_MESSAGES.conflict, { ...fields, detail });
    else log.warn("the other writer is still writing: not writing", fields);
    this.#setState(entry, conflictState(entry.state, entry.conflict));
  }

  /** The conflict's delay is over: back off again if the other writer wrote meanwhile. */
  #conflictDue(entry: ServiceEntry): void {
    const conflict = entry.conflict;
    if (!conflict || this.#stopped) return;
    if (entry.foreign && entry.foreign.at > conflict.from + CONFLICT_SETTLE) {
      return this.#enterConflict(entry, entry.foreign);
    }
    this.#options.log.warn("the other writer has been quiet: taking the Service over", {
      service: entry.key,
      writer: conflict.writer,
      object: conflict.object,
    });
    entry.conflict = undefined;
    entry.foreign = undefined;
    entry.twinWrites.clear();
    entry.ownedSince = undefined;
    entry.tookOver = this.#options.clock.now();
    const rest = withoutBlock(entry.state);
    this.#setState(entry, rest);
    this.#markDirty(entry);
  }

  #retry(entry: ServiceEntry, failures: number): void {
    const { initial, max } = this.#options.retry ?? { initial: 100, max: 10_000 };
    this.#wake(entry, Math.min(max, initial * 2 ** Math.min(failures - 1, 20)));
  }

  /** Looks at the Service again in `delay` ms, not before. */
  #wake(entry: ServiceEntry, delay: number): void {
    entry.dirty = true;
    if (entry.retryTimer !== undefined) this.#options.clock.clearTimeout(entry.retryTimer);
    entry.retryTimer = this.#options.clock.setTimeout(() => {
      entry.retryTimer = undefined;
      this.#schedule();
    }, delay);
  }

  /** Our objects of a Service as the store shows them. */
  #observed(config: ServiceConfig): KubeObject[] {
    const { store } = this.#options;
    const slices = store.list("endpointslices", config.namespace)
      .filter((slice) => slice.metadata.labels?.[LABEL_SERVICE_NAME] === config.name);
    const endpoints = store.get("endpoints", config.namespace, config.name);
    return endpoints ? [...slices, endpoints] : slices;
  }
}

/** Overwrites by a writer of our configuration within {@linkcode TWIN_WINDOW} that conflict. */
const TWIN_WRITES = 3;
/** The window of {@linkcode TWIN_WRITES}, ms. */
const TWIN_WINDOW = 30_000;

/**
 * How long after a conflict starts the other writer's events still count as the write we saw
 * (its plan's other objects arrive a moment later), not as a new one.
 */
const CONFLICT_SETTLE = 2000;

/** Whether a Service's entry can run in the next pass. */
function due(entry: ServiceEntry): boolean {
  return entry.dirty && entry.retryTimer === undefined && entry.conflict === undefined;
}

/** The log line of each reason, said once when a Service becomes blocked. */
const BLOCKED_MESSAGES: Readonly<Record<BlockedReason, string>> = {
  "service-missing":
    "Service not found: create a Service without selector, or enable createService",
  "service-has-selector":
    "Service has a selector, so the endpoint controller owns its endpoints: remove the selector",
  "namespace-missing": "namespace not found: create it, or fix the Service's namespace",
  "access-denied": "the API refuses access: check the Role and the credentials",
  "conflict": "another HELASEID writer rewrites this Service's objects: not writing",
  "waiting-first-checks": "waiting for the first checks before publishing",
};

/** `state` blocked by `conflict`. */
function conflictState(state: PublishState, conflict: Conflict): PublishState {
  return {
    ...withoutBlock(state),
    blocked: "conflict",
    blockedSince: conflict.since,
    detail: conflict.detail,
    conflict: { writer: conflict.writer, retryAt: conflict.retryAt },
  };
}

/** `state` without anything about a block. */
function withoutBlock(state: PublishState): PublishState {
  const { blocked: _blocked, blockedSince: _since, detail: _detail, conflict: _conflict, ...rest } =
    state;
  return rest;
}

/**
 * The block a failed call needs an operator for: 401 and 403 deny access; a 404 naming the
 * namespace (what a write into a missing namespace gets: a list there just comes back empty)
 * means the namespace is missing.
 */
function operatorBlock(
  verb: string,
  resource: string,
  namespace: string,
  failure: { readonly status?: number; readonly error?: string },
): { reason: BlockedReason; detail: string } | undefined {
  const where = `${verb} ${resource} in namespace '${namespace}'`;
  if (deniedStatus(failure.status)) {
    return { reason: "access-denied", detail: `${where}: ${statusText(failure.status!)}` };
  }
  if (failure.status === 404 && /namespaces "[^"]*" not found/.test(failure.error ?? "")) {
    return {
      reason: "namespace-missing",
      detail: `${where}: ${statusText(404)}: namespace '${namespace}' does not exist`,
    };
  }
  return undefined;
}

/** The status and message of a thrown error. */
function errorFields(error: unknown): { status?: number; error: string } {
  const status = (error as { status?: unknown }).status;
  return {
    ...(typeof status === "number" ? { status } : {}),
    error: error instanceof Error ? error.message : String(error),
  };
}

/** 401 and 403: a token or a Role to fix. */
function deniedStatus(status: number | undefined): boolean {
  return status === 401 || status === 403;
}

/** `403 Forbidden`: an HTTP status as operators read it. */
function statusText(status: number): string {
  const texts: Record<number, string> = {
    0: "API server not reached",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
  };
  return texts[status] ?? String(status);
}

/** True when a watched object belongs to a Service. */
function concerns(config: ServiceConfig, object: KubeObject): boolean {
  if (object.kind === "EndpointSlice") {
    return object.metadata.labels?.[LABEL_SERVICE_NAME] === config.name;
  }
  return object.metadata.name === config.name;
}

/** Readiness of each address as our objects show it (slices first, else Endpoints). */
function shownReadiness(observed: readonly KubeObject[]): Map<string, boolean> {
  const shown = new Map<string, boolean>();
  const slices = observed.filter((o) => o.kind === "EndpointSlice") as EndpointSliceObject[];
  for (const slice of slices) {
    for (const endpoint of slice.endpoints ?? []) {
      for (const address of endpoint.addresses) {
        shown.set(address, endpoint.conditions?.ready ?? true);
      }
    }
  }
  if (slices.length > 0) return shown;
  for (const object of observed) {
    if (object.kind !== "Endpoints") continue;
    for (
      const subset of (object.subsets ?? []) as {
        addresses?: { ip: string }[];
        notReadyAddresses?: { ip: string }[];
      }[]
    ) {
      for (const address of subset.addresses ?? []) shown.set(address.ip, true);
      for (const address of subset.notReadyAddresses ?? []) shown.set(address.ip, false);
    }
  }
  return shown;
}

/** The trigger time our objects carry, so a restart keeps the annotation as it was. */
function observedTrigger(observed: readonly KubeObject[]): number | undefined {
  for (const object of observed) {
    const text = object.metadata.annotations?.[ANNOTATION_TRIGGER_TIME];
    const time = text ? Date.parse(text) : NaN;
    if (!Number.isNaN(time)) return time;
  }
  return undefined;
}
