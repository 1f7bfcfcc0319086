/**
 * The publishing loop, one per cluster: it is the single writer of our objects. Services are
 * marked dirty by health transitions and by watch events; each run computes, per dirty
 * Service, view → desired objects → plan against the store, and hands the plan to the writer.
 *
 * - Coalescing: transitions that arrive while a run is pending or in flight are folded into
 *   the next run, so an outage of N targets costs a few writes per object, not N.
 * - Retries: a failed Service is retried with exponential backoff; nothing else waits for it.
 * - Restart without flapping: nothing is written for a Service until the store has listed
 *   what the API shows and every target has a first probe result or is shown there.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import type { Clock } from "../health/scheduler.ts";
import type { KubeClient } from "../kube/client.ts";
import type { ObjectStore, StoreChange } from "../kube/store.ts";
import type { EndpointSliceObject, KubeObject, ServiceObject } from "../kube/types.ts";
import type { Logger } from "../observe/log.ts";
import {
  ANNOTATION_TRIGGER_TIME,
  desiredObjects,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  MANAGER,
  serviceObject,
} from "./objects.ts";
import { planChanges } from "./plan.ts";
import { type ServiceView, serviceView, type ViewStatus } from "./views.ts";
import { executePlan, type WriteResult } from "./writer.ts";

/** The label selector of every object we own. */
export const OWNED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGER}`;

/** What the reconciler needs to know about targets' health. */
export interface HealthSource {
  /** The verdict on a target (`failing`: no verdict yet, and its checks so far failed). */
  status(service: ServiceConfig, address: string): ViewStatus;
  /** True once the target has a probe result, or its first check overran its timeout. */
  checked(service: ServiceConfig, address: string): boolean;
}

/** Why a Service is not being published. */
export type BlockedReason =
  | "service-missing"
  | "service-has-selector"
  | "namespace-missing"
  | "access-denied"
  | "conflict"
  | "waiting-first-checks";

/** What the reconciler last did for a Service, for `/status`, metrics and alerts. */
export interface PublishState {
  readonly service: string;
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
}

interface ServiceEntry {
  readonly config: ServiceConfig;
  readonly key: string;
  dirty: boolean;
  /** The latest transition time seen (kept for the trigger-time annotation). */
  trigger?: number;
  /** The latest transition not yet published (for the publish latency). */
  pending?: number;
  retryTimer?: unknown;
  state: PublishState;
  createAttempted: boolean;
}

/** Keeps the objects of a set of Services in step with their targets' health. */
export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #services = new Map<string, ServiceEntry>();
  #timer?: unknown;
  #running?: Promise<void>;
  #stopped = false;
  #synced = false;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    for (const config of options.services) {
      const key = `${config.namespace}/${config.name}`;
      this.#services.set(key, {
        config,
        key,
        dirty: true,
        state: { service: key, writes: new Map(), failures: 0 },
        createAttempted: false,
      });
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

  /** True when every Service has been published at least once and nothing is blocked. */
  get published(): boolean {
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

  /** The store saw a change: the Services it concerns may need a repair. */
  storeChanged(change: StoreChange): void {
    for (const entry of this.#services.values()) {
      if (entry.config.namespace !== change.namespace) continue;
      if (change.object && !concerns(entry.config, change.object)) continue;
      this.#markDirty(entry);
    }
  }

  /** Stops scheduling and waits for the writes in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    for (const entry of this.#services.values()) {
      if (entry.retryTimer !== undefined) this.#options.clock.clearTimeout(entry.retryTimer);
    }
    await this.#running;
  }

  /** Runs one pass now, once the store has listed, and waits for it (for `--once`). */
  async flush(): Promise<void> {
    await this.#options.store.synced();
    await this.#running;
    for (const entry of this.#services.values()) entry.dirty = true;
    await this.#pass();
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
        if ([...this.#services.values()].some((e) => e.dirty && e.retryTimer === undefined)) {
          this.#schedule();
        }
      });
    }, this.#options.coalesce ?? 2);
  }

  async #pass(): Promise<void> {
    const due = [...this.#services.values()].filter((e) => e.dirty && e.retryTimer === undefined);
    for (const entry of due) entry.dirty = false;
    await Promise.all(due.map((entry) => this.#reconcile(entry)));
  }

  async #reconcile(entry: ServiceEntry): Promise<void> {
    const { config } = entry;
    const { store, health, log } = this.#options;
    let service = store.get("services", config.namespace, config.name) as ServiceObject | undefined;
    if (!service && config.publish.createService && !entry.createAttempted) {
      entry.createAttempted = true;
      service = await this.#createService(entry);
    }
    if (!service) return this.#block(entry, "service-missing");
    if (service.spec?.selector && Object.keys(service.spec.selector).length > 0) {
      return this.#block(entry, "service-has-selector");
    }
    const observed = this.#observed(config);
    const shown = shownReadiness(observed);
    const unchecked = config.targets.some((target) =>
      !health.checked(config, target.address) && !shown.has(target.address)
    );
    if (unchecked) return this.#block(entry, "waiting-first-checks", "debug");
    const view = serviceView(config, (address) => health.status(config, address), shown);
    const trigger = entry.trigger ?? observedTrigger(observed);
    const desired = desiredObjects(config, view, { service, triggerTime: trigger });
    const actions = planChanges(desired, observed);
    if (actions.length === 0) {
      entry.pending = undefined;
      this.#setState(entry, { service: entry.key, view, writes: entry.state.writes, failures: 0 });
      return;
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
      } else log.warn("write failed", { ...fields, error: result.error });
    }
    const failed = results.some((result) => !result.ok);
    if (failed) {
      const failures = entry.state.failures + 1;
      this.#setState(entry, {
        ...entry.state,
        blocked: undefined,
        view,
        writes,
        failures,
        failingSince: entry.state.failingSince ?? this.#options.clock.now(),
      });
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

  async #createService(entry: ServiceEntry): Promise<ServiceObject | undefined> {
    const { config } = entry;
    const service = serviceObject(config, { headless: true });
    try {
      const created = await this.#options.client.create(service) as ServiceObject;
      this.#options.store.record("services", created);
      this.#options.log.info("created headless Service", { service: entry.key });
      return created;
    } catch (error) {
      this.#options.log.error("cannot create Service", { service: entry.key, error });
      entry.createAttempted = false;
      this.#retry(entry, entry.state.failures + 1);
      return undefined;
    }
  }

  #block(entry: ServiceEntry, reason: BlockedReason, level: "debug" | "error" = "error"): void {
    if (entry.state.blocked !== reason) {
      const messages: Record<BlockedReason, string> = {
        "service-missing":
          "Service not found: create a Service without selector, or enable createService",
        "service-has-selector":
          "Service has a selector, so the endpoint controller owns its endpoints: remove the selector",
        "namespace-missing": "namespace not found: create it, or fix the Service's namespace",
        "access-denied": "the API refuses access: check the Role and the credentials",
        "conflict": "another HELASEID writer rewrites this Service's objects: not writing",
        "waiting-first-checks": "waiting for the first checks before publishing",
      };
      this.#options.log[level](messages[reason], { service: entry.key, reason });
    }
    this.#setState(entry, { ...entry.state, blocked: reason });
  }

  #setState(entry: ServiceEntry, state: PublishState): void {
    const before = entry.state;
    entry.state = state;
    if (
      before.blocked !== state.blocked || before.failures !== state.failures ||
      before.view?.panic !== state.view?.panic
    ) {
      this.#options.onState?.(state);
    }
  }

  #retry(entry: ServiceEntry, failures: number): void {
    const { initial, max } = this.#options.retry ?? { initial: 100, max: 10_000 };
    const delay = Math.min(max, initial * 2 ** Math.min(failures - 1, 20));
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
