/**
 * The agent: targets → probe scheduler → health state → transitions → publishing, alerts,
 * metrics. It owns no I/O of its own: the prober, the clock, the Kubernetes client and the
 * listeners are all handed in, so the same agent runs against a cluster, in `--dry-run`, and
 * on a fake clock in tests.
 *
 * @module
 */

import type { Config, Millis, ServiceConfig, Target } from "./config/schema.ts";
import {
  type CheckOutcome,
  type Clock,
  Scheduler,
  servicePhases,
  systemClock,
} from "./health/scheduler.ts";
import {
  type HealthStatus,
  initialHealth,
  nextHealth,
  type TargetHealth,
  type Transition,
} from "./health/state.ts";
import type { KubeClient } from "./kube/client.ts";
import { ObjectStore } from "./kube/store.ts";
import type { Logger } from "./observe/log.ts";
import { type Prober, type ProbeResult, proberFor } from "./probe/mod.ts";
import { type PublishState, Reconciler } from "./publish/reconciler.ts";
import type { WriteResult } from "./publish/writer.ts";

/** A target's verdict changed. */
export interface TargetTransition extends Transition {
  readonly service: ServiceConfig;
  readonly target: Target;
  /** Healthy targets of the Service after this transition. */
  readonly healthy: number;
  /** Unhealthy targets of the Service after this transition. */
  readonly unhealthy: number;
  /** Targets of the Service. */
  readonly total: number;
}

/** A finished check, with the target it concerned. */
export interface TargetCheck extends CheckOutcome {
  readonly service: ServiceConfig;
  readonly target: Target;
  readonly health: TargetHealth;
}

/** Receives what happens in the agent. Every method is optional and must not throw. */
export interface AgentListener {
  /** A target's verdict changed (drives alerts, events, metrics). */
  transition?(event: TargetTransition): void;
  /** A check finished (drives probe metrics). */
  check?(event: TargetCheck): void;
  /** A write to the API was attempted. */
  write?(result: WriteResult): void;
  /** A Service's publishing state changed (blocked, failing, recovered, panic). */
  publishState?(state: PublishState): void;
}

/** Options of {@linkcode Agent}. */
export interface AgentOptions {
  readonly config: Config;
  readonly client: KubeClient;
  readonly log: Logger;
  /** Defaults to the prober of each Service's probe type. */
  readonly prober?: Prober;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Checks in flight at most (default 128). */
  readonly maxInFlight?: number;
  /** How long the publisher waits for more transitions before writing (default 2 ms). */
  readonly coalesce?: Millis;
  readonly listeners?: readonly AgentListener[];
}

/** One target's state, for `/status`. */
export interface TargetStatus {
  readonly address: string;
  readonly port: number;
  readonly zone?: string;
  readonly hostname?: string;
  readonly status: HealthStatus;
  readonly since: number;
  readonly checks: number;
  readonly lastResult?: ProbeResult & { readonly at: number };
  readonly error?: string;
}

/** One Service's state, for `/status`. */
export interface ServiceStatus {
  readonly namespace: string;
  readonly name: string;
  readonly targets: readonly TargetStatus[];
  readonly publish: PublishState | undefined;
}

interface TargetEntry {
  readonly service: ServiceConfig;
  readonly target: Target;
  health: TargetHealth;
  lastResult?: ProbeResult & { at: number };
}

/** Runs the checks and keeps the Services' objects in step. */
export class Agent {
  readonly #options: AgentOptions;
  readonly #clock: Clock;
  readonly #targets = new Map<string, TargetEntry>();
  readonly #scheduler: Scheduler;
  readonly #store: ObjectStore;
  readonly #reconciler: Reconciler;
  readonly #listeners: readonly AgentListener[];
  #started = false;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#listeners = options.listeners ?? [];
    const now = this.#clock.now();
    for (const service of options.config.services) {
      for (const target of service.targets) {
        this.#targets.set(targetKey(service, target.address), {
          service,
          target,
          health: initialHealth(now),
        });
      }
    }
    this.#scheduler = new Scheduler({
      // TCP is the only probe type so far; more types will dispatch on the check's service.
      prober: options.prober ?? proberFor("tcp"),
      clock: this.#clock,
      random: options.random,
      maxInFlight: options.maxInFlight,
      onResult: (outcome) => this.#onResult(outcome),
      onError: (error) => options.log.error("check handler failed", { error }),
    });
    this.#store = new ObjectStore({
      client: options.client,
      clock: this.#clock,
      log: options.log.with({ component: "store" }),
      onChange: (change) => this.#reconciler.storeChanged(change),
    });
    this.#reconciler = new Reconciler({
      services: options.config.services,
      health: {
        status: (service, address) =>
          this.#targets.get(targetKey(service, address))?.health.status ?? "unknown",
        checked: (service, address) =>
          (this.#targets.get(targetKey(service, address))?.health.checks ?? 0) > 0,
      },
      client: options.client,
      store: this.#store,
      clock: this.#clock,
      log: options.log.with({ component: "publisher", cluster: options.client.name }),
      coalesce: options.coalesce,
      onWrite: (result) => this.#emit("write", result),
      onState: (state) => this.#emit("publishState", state),
    });
    Reconciler.track(this.#store, options.config.services);
  }

  /** Starts checking and publishing. Publishing waits for the store's first listing. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const random = this.#options.random ?? Math.random;
    for (const service of this.#options.config.services) {
      const { probe } = service;
      const phases = servicePhases(service.targets.length, { ...probe, random });
      service.targets.forEach((target, index) => {
        this.#scheduler.add({
          key: targetKey(service, target.address),
          request: { address: target.address, port: probe.port, timeout: probe.timeout },
          interval: probe.interval,
          jitter: probe.jitter,
          phase: phases[index],
        });
      });
    }
    this.#reconciler.start().catch((error) =>
      this.#options.log.error("publisher stopped", { error })
    );
  }

  /**
   * Stops probing, lets the writes in flight finish, and ends the watches. Nothing is left
   * half-written: every write is a single apply of a whole object.
   */
  async stop(): Promise<void> {
    await this.#scheduler.stop();
    await this.#reconciler.stop();
    await this.#store.stop();
  }

  /** Publishes now what the current verdicts say, and waits for the writes (for `--once`). */
  flush(): Promise<void> {
    return this.#reconciler.flush();
  }

  /** True once every target has a verdict (healthy or unhealthy). */
  get verdicts(): boolean {
    return [...this.#targets.values()].every((entry) => entry.health.status !== "unknown");
  }

  /** True once every target has been checked at least once. */
  get checked(): boolean {
    return [...this.#targets.values()].every((entry) => entry.health.checks > 0);
  }

  /** True when the store's watches are up (the API is reachable). */
  get connected(): boolean {
    return this.#store.connected;
  }

  /** True when every Service has been published and nothing is failing or blocked. */
  get published(): boolean {
    return this.#reconciler.published;
  }

  /** The uid of a Service as the API shows it (Events must carry it to show up on it). */
  serviceUid(namespace: string, name: string): string | undefined {
    return this.#store.get("services", namespace, name)?.metadata.uid;
  }

  /** Every Service and target as the agent sees them now. */
  status(): ServiceStatus[] {
    const publish = new Map(this.#reconciler.states().map((state) => [state.service, state]));
    return this.#options.config.services.map((service) => ({
      namespace: service.namespace,
      name: service.name,
      publish: publish.get(`${service.namespace}/${service.name}`),
      targets: service.targets.map((target) => {
        const entry = this.#targets.get(targetKey(service, target.address))!;
        return {
          address: target.address,
          port: service.probe.port,
          ...(target.zone !== undefined ? { zone: target.zone } : {}),
          ...(target.hostname !== undefined ? { hostname: target.hostname } : {}),
          status: entry.health.status,
          since: entry.health.since,
          checks: entry.health.checks,
          ...(entry.lastResult ? { lastResult: entry.lastResult } : {}),
          ...(entry.health.lastError !== undefined ? { error: entry.health.lastError } : {}),
        };
      }),
    }));
  }

  #onResult(outcome: CheckOutcome): void {
    const entry = this.#targets.get(outcome.key);
    if (!entry) return;
    const { service } = entry;
    const firstCheck = entry.health.checks === 0;
    const { health, transition } = nextHealth(entry.health, outcome.result, {
      rise: service.probe.rise,
      fall: service.probe.fall,
      now: outcome.finished,
    });
    entry.health = health;
    entry.lastResult = { ...outcome.result, at: outcome.finished };
    this.#emit("check", { ...outcome, service, target: entry.target, health });
    if (transition) {
      let healthy = 0;
      let unhealthy = 0;
      for (const target of service.targets) {
        const status = this.#targets.get(targetKey(service, target.address))?.health.status;
        if (status === "healthy") healthy++;
        else if (status === "unhealthy") unhealthy++;
      }
      this.#options.log.info(`target ${transition.to}`, {
        service: `${service.namespace}/${service.name}`,
        target: `${entry.target.address}:${service.probe.port}`,
        from: transition.from,
        to: transition.to,
        afterMs: Math.round(transition.after),
        error: transition.error,
        healthy,
        total: service.targets.length,
      });
      this.#reconciler.transition(service, transition.at);
      this.#emit("transition", {
        ...transition,
        service,
        target: entry.target,
        healthy,
        unhealthy,
        total: service.targets.length,
      });
    } else if (firstCheck) {
      this.#reconciler.checked(service);
    }
  }

  #emit<K extends keyof AgentListener>(
    method: K,
    event: Parameters<NonNullable<AgentListener[K]>>[0],
  ): void {
    for (const listener of this.#listeners) {
      try {
        (listener[method] as ((event: unknown) => void) | undefined)?.call(listener, event);
      } catch (error) {
        this.#options.log.error("listener failed", { method, error });
      }
    }
  }
}

function targetKey(service: ServiceConfig, address: string): string {
  return `${service.namespace}/${service.name}|${address}`;
}
