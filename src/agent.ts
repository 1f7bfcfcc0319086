/**
 * The agent: targets → probe scheduler → health state → transitions → publishing, alerts,
 * metrics. It owns no I/O of its own: the prober, the clock, the Kubernetes client and the
 * listeners are all handed in, so the same agent runs against a cluster, in `--dry-run`, and
 * on a fake clock in tests.
 *
 * @module
 */

import type { Config, Millis, ServiceConfig, Target } from "./config/schema.ts";
import { defaultFastInterval } from "./config/options.ts";
import {
  cadenceInterval,
  type Check,
  type CheckOutcome,
  type Clock,
  effectiveCadence,
  Scheduler,
  servicePhases,
  systemClock,
} from "./health/scheduler.ts";
import { holdLimit, holdUntil, type OutageCounts } from "./health/hold.ts";
import { nextCheckHealths, portGuards, portStatuses, samePortStatuses } from "./health/ports.ts";
import {
  type Cadence,
  cadenceOf,
  type HealthStatus,
  initialHealth,
  nextHealth,
  type TargetHealth,
  type Transition,
} from "./health/state.ts";
import type { KubeClient } from "./kube/client.ts";
import type { Logger } from "./observe/log.ts";
import { type CheckSetResult, proberForChecks } from "./probe/all.ts";
import type { CertificateInfo, Prober, ProbeRequest, ProbeResult } from "./probe/mod.ts";
import { ClusterPublisher } from "./publish/cluster.ts";
import { type PrimaryChange, PrimaryTracker } from "./publish/primary_tracker.ts";
import { RoleChecker } from "./publish/role_checks.ts";
import type { HealthSource, PublishState } from "./publish/reconciler.ts";
import { type ViewStatus, viewStatus } from "./publish/views.ts";
import type { WriteResult } from "./publish/writer.ts";
import type { LeaseView } from "./publish/ownership_loop.ts";

/** A target's verdict changed. */
export interface TargetTransition extends Transition {
  /** The Service the target belongs to. */
  readonly service: ServiceConfig;
  /** The target whose verdict changed. */
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
  /** The Service the target belongs to. */
  readonly service: ServiceConfig;
  /** The target checked. */
  readonly target: Target;
  /** The target's health after this check. */
  readonly health: TargetHealth;
}

/** A Service's targets changed (a source or a reload), or the Service left the configuration. */
export interface TargetsChange {
  /** The Service as configured now (its last configuration when `gone`). */
  readonly service: ServiceConfig;
  /** Targets that joined: checked at once, unknown until their first verdict. */
  readonly added: readonly Target[];
  /** Targets that left: no longer checked, and out of the next write (not "down"). */
  readonly removed: readonly Target[];
  /** The whole Service left the configuration (a reload removed it). */
  readonly gone?: boolean;
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
  /** A Service's targets changed, or it left the configuration (drives alerts, Events, metrics). */
  targetsChanged?(event: TargetsChange): void;
  /** A Service's primary changed, or more than one target claims it (issue 15). */
  primaryChanged?(event: PrimaryChange): void;
}

/** A cluster the agent publishes into (issue 14). */
export interface AgentCluster {
  /** Its name (`clusters[].name`, else the client's). */
  readonly name: string;
  readonly client: KubeClient;
  /** With Leases on: which Services this replica may write in this cluster. */
  readonly ownership?: LeaseView;
}

/** Options of {@linkcode Agent}. */
export interface AgentOptions {
  /** The Services and targets to check and publish. */
  readonly config: Config;
  /** The cluster written to (the in-memory one for `--dry-run`), unless `clusters` is given. */
  readonly client?: KubeClient;
  /**
   * The clusters written to (issue 14), the first the default for Services that name none;
   * default: one, `client` with `ownership`.
   */
  readonly clusters?: readonly AgentCluster[];
  /** Where the agent logs. */
  readonly log: Logger;
  /** Overrides, for every Service, the prober of its configured checks (`proberForChecks`). */
  readonly prober?: Prober;
  /** Time and timers (default the system clock). */
  readonly clock?: Clock;
  /** Uniform random numbers for phases and jitter (default `Math.random`). */
  readonly random?: () => number;
  /** Checks in flight at most (default 128). */
  readonly maxInFlight?: number;
  /** How long the publisher waits for more transitions before writing (default 2 ms). */
  readonly coalesce?: Millis;
  /** Receive transitions, checks, writes and publish states. */
  readonly listeners?: readonly AgentListener[];
  /** Writer identity written on our objects (default: host name and pid; see identity.ts). */
  readonly writer?: string;
  /**
   * With Leases on (issue 13): which Services (`namespace/name`) this replica may write now;
   * see `publish/ownership_loop.ts` (default: all of them, one agent alone).
   */
  readonly ownership?: LeaseView;
}

/** One target's state, for `/status`. */
export interface TargetStatus {
  /** The target's address. */
  readonly address: string;
  /** The port checked. */
  readonly port: number;
  /** The configured zone. */
  readonly zone?: string;
  /** The configured hostname. */
  readonly hostname?: string;
  /** The target's region (a Node source's topology label, or configured). */
  readonly region?: string;
  /** Which source found it (`dns kafka.test`); absent for a configured target. */
  readonly source?: string;
  /** The verdict (`unknown` until the first one). */
  readonly status: HealthStatus;
  /** When the verdict last changed (epoch ms). */
  readonly since: number;
  /** Checks finished so far. */
  readonly checks: number;
  /** The last check's result and when it came. */
  readonly lastResult?: ProbeResult & { readonly at: number };
  /** The last failed check's reason, until a check passes. */
  readonly error?: string;
  /** Each check's part of the last result (a bare TCP connect is one `tcp` check). */
  readonly results?: readonly CheckStatus[];
  /**
   * How the target is checked now: on its interval (`normal`), `fast` while a change is being
   * confirmed, or `down` while unhealthy (issue 17).
   */
  readonly schedule: Cadence;
  /** The interval of that schedule, in ms: the time to the target's next check. */
  readonly interval: Millis;
}

/** One check's part of a target's last result, for `/status`, metrics and `helaseid check`. */
export interface CheckStatus {
  /** The protocol checked. */
  readonly type: string;
  /** The port it checked. */
  readonly port: number;
  /** Whether it passed. */
  readonly ok: boolean;
  /** Its latency, ms. */
  readonly latency: number;
  /** Why it failed (`http 503`, `kafka error 35`, `tls: certificate expired`). */
  readonly error?: string;
  /** What it noted on a pass (`tls: certificate expires in 80 days`). */
  readonly note?: string;
  /** `tls`: the peer certificate's expiry. */
  readonly certificate?: CertificateInfo;
}

/**
 * Each check's part of a combined result (`proberForChecks`), without the check's options
 * (headers may carry credentials); a check without its own port checked `port`. Undefined for
 * a result of a single prober (an injected one).
 */
export function checkStatuses(result: ProbeResult, port: number): CheckStatus[] | undefined {
  const results = (result as Partial<CheckSetResult>).results;
  return results?.map(({ check, result }) => ({
    type: check.type,
    port: check.port ?? port,
    ok: result.ok,
    latency: result.latency,
    ...(result.error === undefined ? {} : { error: result.error }),
    ...(result.note === undefined ? {} : { note: result.note }),
    ...(result.certificate === undefined ? {} : { certificate: result.certificate }),
  }));
}

/** One Service's state, for `/status`. */
export interface ServiceStatus {
  /** The Service's namespace. */
  readonly namespace: string;
  /** The Service's name. */
  readonly name: string;
  /** Its targets, in configuration order. */
  readonly targets: readonly TargetStatus[];
  /** What the publisher last did for it. */
  readonly publish: PublishState | undefined;
  /** With Leases on: whether this replica holds the Service's Lease, and who does. */
  readonly lease?: { readonly held: boolean; readonly holder?: string };
  /** With a `primary` block (issue 15): the address its primary Service shows. */
  readonly primary?: string;
  /**
   * With several clusters configured (issue 14): the publishing state and Lease in each
   * cluster the Service is published into (`publish` and `lease` above are those of the first
   * cluster of the configuration, absent when the Service is not published there).
   */
  readonly clusters?: readonly {
    readonly name: string;
    readonly publish: PublishState | undefined;
    readonly lease?: { readonly held: boolean; readonly holder?: string };
  }[];
}

/** One Service's targets and the counts kept as results arrive (O(1) per result). */
interface ServiceEntry {
  /** Its current configuration (a reload or a source replaces it). */
  config: ServiceConfig;
  readonly key: string;
  /** By address, in configuration order. */
  targets: Map<string, TargetEntry>;
  total: number;
  healthy: number;
  unhealthy: number;
  /** Targets whose last check failed. */
  failing: number;
  /** Set while the Service's write waits for the rest of a whole-Service outage. */
  hold?: Hold;
  /** Whether the panic guard was on in the last publish state (for its WARN line). */
  panic: boolean;
  /** The intervals its targets are checked on. */
  intervals: Pick<Check, "interval" | "fastInterval" | "downInterval">;
  /** The longest its write may be held in a whole-Service outage (src/health/hold.ts). */
  holdLimit: Millis;
  /** The prober of its checks, shared by its targets. */
  prober: Prober;
  /** Why its target list is not known yet (sources not all answered); see `setWaiting`. */
  waiting?: string;
}

/** A correlated-outage hold (see src/health/hold.ts). */
interface Hold {
  readonly since: number;
  readonly timer: unknown;
  /** The latest transition held back (the trigger time of the write that ends the hold). */
  trigger: number;
  /**
   * When the outage began (the first failed check of the target that started the hold):
   * targets whose last check passed before it are not known to be alive.
   */
  readonly outageSince: number;
  /** Targets whose new status is not shown to the publisher yet. */
  readonly held: Set<TargetEntry>;
}

interface TargetEntry {
  readonly service: ServiceEntry;
  /** The target as configured now (a source may change its zone). */
  target: Target;
  health: TargetHealth;
  lastResult?: ProbeResult & { at: number };
  /** When the check in flight started (undefined when none is). */
  checking?: number;
  /** When the last finished check started. */
  lastStarted?: number;
  /** When the first failed check of the current run of failures started. */
  failingSince?: number;
  /** How the target is checked next (the scheduler's effective cadence). */
  cadence: Cadence;
  /** Wakes the publisher if a check of a target without a verdict overruns its timeout. */
  overrunTimer?: unknown;
  /** What the publisher sees: the view status, frozen while the Service's write is held. */
  visible: ViewStatus;
  /** Each check's own health, kept only when its Service's ports are guarded apart. */
  checkHealth?: TargetHealth[];
  /** What the publisher sees per port (src/health/ports.ts), frozen like `visible`. */
  visiblePorts?: ReadonlyMap<string, ViewStatus>;
}

/** Runs the checks and keeps the Services' objects in step. */
export class Agent {
  readonly #options: AgentOptions;
  readonly #clock: Clock;
  /** By scheduler key. */
  readonly #targets = new Map<string, TargetEntry>();
  /** By `namespace/name` (how publish states name their Service), in configuration order. */
  readonly #services = new Map<string, ServiceEntry>();
  readonly #scheduler: Scheduler;
  /** One per cluster written to, the default first. */
  readonly #clusters: readonly ClusterPublisher[];
  readonly #listeners: readonly AgentListener[];
  /** The primary of each Service with a `primary` block (issue 15). */
  readonly #primaries: PrimaryTracker;
  /** The role checks of the Services whose primary is observed (issue 15). */
  readonly #roles: RoleChecker;
  /** The prober of each scheduled request: its Service's checks (see `start`). */
  readonly #probers = new WeakMap<ProbeRequest, Prober>();
  #started = false;

  /** Builds the agent; nothing runs until {@linkcode Agent.start}. */
  constructor(options: AgentOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#listeners = options.listeners ?? [];
    this.#primaries = new PrimaryTracker({
      clock: this.#clock,
      candidates: (config) =>
        [...(this.#services.get(keyOf(config))?.targets.values() ?? [])].map((entry) => ({
          ...entry.target,
          status: entry.visible,
          since: entry.health.since,
        })),
      onChange: (change) => this.#onPrimary(change),
    });
    this.#roles = new RoleChecker({
      clock: this.#clock,
      prober: (config) => proberForChecks(config.primary?.check ? [config.primary.check] : []),
      healthy: (config) =>
        [...(this.#services.get(keyOf(config))?.targets.values() ?? [])]
          .filter((entry) => entry.visible === "healthy").map((entry) => entry.target.address),
      onClaims: (config, claimants) => this.#primaries.claims(config, claimants),
      log: options.log,
    });
    for (const config of options.config.services) this.#addService(config);
    this.#scheduler = new Scheduler({
      // Each request is checked by its Service's prober, registered with it in `start`.
      prober: (request) => (this.#probers.get(request) ?? unregistered)(request),
      clock: this.#clock,
      random: options.random,
      maxInFlight: options.maxInFlight,
      onStart: (key, started) => this.#onStart(key, started),
      cadence: (key) => this.#targets.get(key)?.cadence ?? "normal",
      onResult: (outcome) => this.#onResult(outcome),
      onError: (error) => options.log.error("check handler failed", { error }),
    });
    const health: HealthSource = {
      status: (service, address) =>
        this.#services.get(keyOf(service))?.targets.get(address)?.visible ?? "unknown",
      portStatus: (service, address, port) =>
        this.#services.get(keyOf(service))?.targets.get(address)?.visiblePorts?.get(port),
      waiting: (service) => this.#services.get(keyOf(service))?.waiting,
      primary: (service) => this.#primaries.current(service),
      adoptPrimary: (service, shown) => this.#primaries.adopt(service, shown),
      // A fresh Service is published once every target has a verdict or a check of it
      // overran its timeout: a guess about a target is never published (issue 10.4).
      checked: (service, address) => {
        const entry = this.#services.get(keyOf(service))?.targets.get(address);
        if (!entry) return false;
        return entry.health.status !== "unknown" || (entry.checking !== undefined &&
          this.#clock.now() - entry.checking >= service.probe.timeout);
      },
    };
    const clusters = options.clusters ??
      (options.client
        ? [{
          name: options.client.name,
          client: options.client,
          ...(options.ownership ? { ownership: options.ownership } : {}),
        }]
        : []);
    if (clusters.length === 0) throw new Error("Cannot start an agent without a cluster");
    this.#clusters = clusters.map((cluster, index) =>
      new ClusterPublisher({
        ...cluster,
        isDefault: index === 0,
        services: options.config.services,
        health,
        clock: this.#clock,
        log: options.log,
        coalesce: options.coalesce,
        writer: options.writer,
        onWrite: (result) => this.#emit("write", result),
        onState: (state) => this.#onState(state),
      })
    );
  }

  /** Starts checking and publishing. Publishing waits for the store's first listing. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const service of this.#services.values()) {
      this.#scheduleTargets(service, [...service.targets.values()]);
    }
    this.#roles.set([...this.#services.values()].map((service) => service.config));
    for (const cluster of this.#clusters) {
      cluster.reconciler.start().catch((error) =>
        this.#options.log.error("publisher stopped", { error, cluster: cluster.name })
      );
    }
  }

  /**
   * Takes a new set of Services: a reload, or a source that changed a Service's targets
   * (src/discovery/). Applied as a diff:
   * - a target still there keeps its verdict, counts and timers (no flap, no alert, no write
   *   unless its published fields changed);
   * - a new target is checked at once and is unknown until its first verdict (the startup
   *   rule: the Service's next write waits for it, at most one timeout);
   * - a removed target stops being checked and leaves the next write, with no "down" alert;
   * - changed probe settings restart the Service's timers, keeping every verdict;
   * - a Service no longer configured stops being checked; its objects stay, or are deleted
   *   with `removed: "delete"`.
   * Resolves once the removed Services' objects are deleted (at once with `keep`).
   */
  reconfigure(
    services: readonly ServiceConfig[],
    options: { readonly removed?: "keep" | "delete" } = {},
  ): Promise<void> {
    const next = new Set(services.map(keyOf));
    for (const service of [...this.#services.values()]) {
      if (!next.has(service.key)) this.#dropService(service);
    }
    for (const config of services) {
      const service = this.#services.get(keyOf(config));
      if (service === undefined) {
        const added = this.#addService(config);
        if (this.#started) this.#scheduleTargets(added, [...added.targets.values()], 0);
        if (added.targets.size > 0) {
          this.#emit("targetsChanged", { service: config, added: config.targets, removed: [] });
        }
      } else if (service.config !== config) {
        this.#updateService(service, config);
      }
    }
    if (this.#started) this.#roles.set(services);
    return Promise.all(this.#clusters.map((cluster) => cluster.reconfigure(services, options)))
      .then(() => {});
  }

  /**
   * Marks a Service's target list as not known yet (`reason`, such as "waiting for source
   * dns kafka.test"), or known again (`undefined`): nothing is published for it meanwhile.
   */
  setWaiting(service: string, reason: string | undefined): void {
    const entry = this.#services.get(service);
    if (!entry || entry.waiting === reason) return;
    entry.waiting = reason;
    this.#transition(entry.config, this.#clock.now());
  }

  /**
   * Stops probing, lets the writes in flight finish, and ends the watches. Nothing is left
   * half-written: every write is a single apply of a whole object.
   */
  async stop(): Promise<void> {
    await this.#scheduler.stop();
    await this.#roles.stop();
    this.#primaries.stop();
    for (const service of this.#services.values()) {
      if (service.hold) this.#clock.clearTimeout(service.hold.timer);
      service.hold = undefined;
      for (const entry of service.targets.values()) this.#clearOverrunTimer(entry);
    }
    await Promise.all(this.#clusters.map((cluster) => cluster.stop()));
  }

  /**
   * This replica took or gave up a Service's Lease (`namespace/name`) in `cluster` (default:
   * every cluster): publish as it says.
   */
  ownershipChanged(service: string, cluster?: string): void {
    for (const publisher of this.#clusters) {
      if (cluster === undefined || publisher.name === cluster) {
        publisher.reconciler.ownershipChanged(service);
      }
    }
  }

  /** Publishes now what the current verdicts say, and waits for the writes (for `--once`). */
  flush(): Promise<void> {
    for (const service of this.#services.values()) this.#release(service);
    return Promise.all(this.#clusters.map((cluster) => cluster.reconciler.flush())).then(() => {});
  }

  /** True once every target has a verdict (healthy or unhealthy). */
  get verdicts(): boolean {
    return [...this.#targets.values()].every((entry) => entry.health.status !== "unknown");
  }

  /** True once every target has been checked at least once. */
  get checked(): boolean {
    return [...this.#targets.values()].every((entry) => entry.health.checks > 0);
  }

  /**
   * True when the default cluster's watches are up (its API is reachable): readiness follows
   * the local cluster only; the others show in `/status`, metrics and alerts.
   */
  get connected(): boolean {
    return this.#clusters[0]!.store.connected;
  }

  /** Whether each cluster's watches are up, by name. */
  clustersConnected(): Record<string, boolean> {
    return Object.fromEntries(this.#clusters.map((c) => [c.name, c.store.connected]));
  }

  /** The names of the clusters written to, the default first. */
  get clusterNames(): string[] {
    return this.#clusters.map((cluster) => cluster.name);
  }

  /** The clusters a Service (its configuration, or `namespace/name`) is published into. */
  clustersOf(service: ServiceConfig | string): string[] {
    const config = typeof service === "string" ? this.#services.get(service)?.config : service;
    if (config === undefined) return [this.#clusters[0]!.name];
    return this.#clusters.filter((cluster) => cluster.has(config)).map((c) => c.name);
  }

  /** True when every Service has been published in every cluster and nothing is failing. */
  get published(): boolean {
    return this.#clusters.every((cluster) => cluster.reconciler.settled);
  }

  /**
   * The uid of a Service as the API of `cluster` (default: the first) shows it (Events must
   * carry it to show up on it).
   */
  serviceUid(namespace: string, name: string, cluster?: string): string | undefined {
    const publisher = cluster === undefined
      ? this.#clusters[0]
      : this.#clusters.find((c) => c.name === cluster);
    return publisher?.store.get("services", namespace, name)?.metadata.uid;
  }

  /** Every Service and target as the agent sees them now. */
  status(): ServiceStatus[] {
    const states = this.#clusters.map((cluster) =>
      new Map(cluster.reconciler.states().map((state) => [state.service, state]))
    );
    return [...this.#services.values()].map((service) => {
      const clusters = this.#clusters.flatMap((cluster, index) =>
        cluster.has(service.config)
          ? [{
            name: cluster.name,
            publish: states[index]!.get(service.key),
            ...(cluster.ownership ? { lease: leaseStatus(cluster.ownership, service.key) } : {}),
          }]
          : []
      );
      // `publish` and `lease` are the first cluster's: what readiness follows.
      const first = clusters.find((cluster) => cluster.name === this.#clusters[0]!.name);
      return {
        ...this.#serviceStatus(service),
        publish: first?.publish,
        ...(first?.lease ? { lease: first.lease } : {}),
        ...(this.#clusters.length > 1 ? { clusters } : {}),
      };
    });
  }

  #serviceStatus(service: ServiceEntry): Omit<ServiceStatus, "publish"> {
    const primary = this.#primaries.current(service.config);
    return {
      namespace: service.config.namespace,
      name: service.config.name,
      ...(primary === undefined ? {} : { primary }),
      targets: [...service.targets.values()].map((entry) => ({
        address: entry.target.address,
        port: service.config.probe.port,
        ...(entry.target.zone !== undefined ? { zone: entry.target.zone } : {}),
        ...(entry.target.hostname !== undefined ? { hostname: entry.target.hostname } : {}),
        ...(entry.target.region !== undefined ? { region: entry.target.region } : {}),
        ...(entry.target.source !== undefined ? { source: entry.target.source } : {}),
        status: entry.health.status,
        since: entry.health.since,
        checks: entry.health.checks,
        ...(entry.lastResult ? lastResultStatus(entry.lastResult, service.config.probe.port) : {}),
        ...(entry.health.lastError !== undefined ? { error: entry.health.lastError } : {}),
        schedule: entry.cadence,
        interval: cadenceInterval(service.intervals, entry.cadence),
      })),
    };
  }

  /** Builds a Service's entry and its targets' (nothing is scheduled). */
  #addService(config: ServiceConfig): ServiceEntry {
    const service: ServiceEntry = {
      config,
      key: keyOf(config),
      targets: new Map(),
      total: 0,
      healthy: 0,
      unhealthy: 0,
      failing: 0,
      panic: false,
      ...this.#timing(config),
    };
    // The first of a (rejected) duplicate name wins, as a search in config order would.
    if (this.#services.has(service.key)) return this.#services.get(service.key)!;
    this.#services.set(service.key, service);
    for (const target of config.targets) this.#addTarget(service, target);
    return service;
  }

  /** A Service's intervals, hold limit and prober, from its probe settings and checks. */
  #timing(config: ServiceConfig): Pick<ServiceEntry, "intervals" | "holdLimit" | "prober"> {
    const { probe } = config;
    const intervals = {
      interval: probe.interval,
      fastInterval: probe.fastInterval ??
        defaultFastInterval(probe.interval, this.#options.config.format),
      downInterval: probe.downInterval,
    };
    return {
      intervals,
      holdLimit: holdLimit({ ...probe, ...intervals }),
      // One prober per Service, shared by its targets: every configured check must pass.
      prober: this.#options.prober ?? proberForChecks(config.checks),
    };
  }

  #addTarget(service: ServiceEntry, target: Target): TargetEntry {
    const entry: TargetEntry = {
      service,
      target,
      health: initialHealth(this.#clock.now()),
      visible: "unknown",
      cadence: "normal",
    };
    service.targets.set(target.address, entry);
    service.total = service.targets.size;
    this.#targets.set(targetKey(service.config, target.address), entry);
    return entry;
  }

  /**
   * Schedules targets' checks: spread around a random phase of the Service at start, or
   * around `base` (0: now) for targets that joined a running Service.
   */
  #scheduleTargets(service: ServiceEntry, entries: readonly TargetEntry[], base?: number): void {
    const { probe } = service.config;
    const random = this.#options.random ?? Math.random;
    const phases = servicePhases(entries.length, { ...probe, random, base });
    entries.forEach((entry, index) => {
      const request = {
        address: entry.target.address,
        port: probe.port,
        timeout: probe.timeout,
      };
      this.#probers.set(request, service.prober);
      this.#scheduler.add({
        key: targetKey(service.config, entry.target.address),
        request,
        ...service.intervals,
        jitter: probe.jitter,
        phase: phases[index],
      });
    });
  }

  /** Applies a Service's new configuration as a diff (see `reconfigure`). */
  #updateService(service: ServiceEntry, config: ServiceConfig): void {
    const before = service.config;
    service.config = config;
    const retimed = probeIdentity(before) !== probeIdentity(config);
    if (retimed) Object.assign(service, this.#timing(config));
    const wanted = new Map(config.targets.map((target) => [target.address, target]));
    const removed: Target[] = [];
    for (const entry of [...service.targets.values()]) {
      if (wanted.has(entry.target.address)) continue;
      this.#dropTarget(entry);
      removed.push(entry.target);
    }
    const added: TargetEntry[] = [];
    const kept: TargetEntry[] = [];
    const ordered = new Map<string, TargetEntry>();
    for (const target of config.targets) {
      const entry = service.targets.get(target.address);
      if (entry) {
        entry.target = target;
        kept.push(entry);
        ordered.set(target.address, entry);
      } else {
        const fresh = this.#addTarget(service, target);
        added.push(fresh);
        ordered.set(target.address, fresh);
      }
    }
    service.targets = ordered;
    service.total = ordered.size;
    if (retimed) {
      // New intervals, timeout or checks: the timers restart, the verdicts stay.
      for (const entry of kept) {
        this.#scheduler.remove(targetKey(config, entry.target.address));
        entry.checking = undefined;
        this.#clearOverrunTimer(entry);
        entry.checkHealth = undefined;
        entry.cadence = effectiveCadence(service.intervals, cadenceOf(entry.health));
      }
      if (this.#started) this.#scheduleTargets(service, kept);
    }
    if (this.#started) this.#scheduleTargets(service, added, 0);
    if (added.length > 0 || removed.length > 0) {
      this.#options.log.info("targets changed", {
        service: service.key,
        added: added.map((entry) => entry.target.address),
        removed: removed.map((target) => target.address),
        total: service.total,
      });
      this.#emit("targetsChanged", {
        service: config,
        added: added.map((entry) => entry.target),
        removed,
      });
    }
    // A hold waits for verdicts of the old set: write what is known now.
    this.#release(service);
    this.#transition(config, this.#clock.now());
  }

  /** Stops checking a target and takes it out of its Service's counts. */
  #dropTarget(entry: TargetEntry): void {
    const { service } = entry;
    this.#scheduler.remove(targetKey(service.config, entry.target.address));
    this.#targets.delete(targetKey(service.config, entry.target.address));
    this.#clearOverrunTimer(entry);
    service.targets.delete(entry.target.address);
    service.total = service.targets.size;
    if (entry.health.status === "healthy") service.healthy--;
    if (entry.health.status === "unhealthy") service.unhealthy--;
    if (entry.health.failures > 0) service.failing--;
    service.hold?.held.delete(entry);
  }

  /** A Service left the configuration: its targets stop being checked. */
  #dropService(service: ServiceEntry): void {
    this.#primaries.forget(service.key);
    if (service.hold) this.#clock.clearTimeout(service.hold.timer);
    service.hold = undefined;
    const targets = [...service.targets.values()];
    for (const entry of targets) this.#dropTarget(entry);
    this.#services.delete(service.key);
    this.#options.log.info("service removed from the configuration", { service: service.key });
    this.#emit("targetsChanged", {
      service: service.config,
      added: [],
      removed: targets.map((entry) => entry.target),
      gone: true,
    });
  }

  #onStart(key: string, started: number): void {
    const entry = this.#targets.get(key);
    if (!entry) return;
    entry.checking = started;
    if (entry.health.status !== "unknown" || entry.overrunTimer !== undefined) return;
    // Publishing waits for this target's verdict, but not for a check past its timeout.
    const { config } = entry.service;
    entry.overrunTimer = this.#clock.setTimeout(() => {
      entry.overrunTimer = undefined;
      if (entry.checking !== started) return;
      for (const cluster of this.#clusters) {
        if (cluster.has(config)) cluster.reconciler.checked(config);
      }
    }, config.probe.timeout);
  }

  #onResult(outcome: CheckOutcome): void {
    const entry = this.#targets.get(outcome.key);
    if (!entry) return;
    const { service } = entry;
    const { config } = service;
    entry.checking = undefined;
    this.#clearOverrunTimer(entry);
    const before = entry.health;
    const { health, transition } = nextHealth(before, outcome.result, {
      rise: config.probe.rise,
      fall: config.probe.fall,
      now: outcome.finished,
    });
    entry.health = health;
    if (portGuards(config)) {
      entry.checkHealth = nextCheckHealths(entry.checkHealth, outcome.result, {
        rise: config.probe.rise,
        fall: config.probe.fall,
        now: outcome.finished,
        count: config.checks?.length ?? 0,
      });
    }
    entry.lastResult = { ...outcome.result, at: outcome.finished };
    entry.lastStarted = outcome.started;
    if (health.failures === 0) entry.failingSince = undefined;
    else if (before.failures === 0) entry.failingSince = outcome.started;
    entry.cadence = effectiveCadence(service.intervals, cadenceOf(health));
    service.failing += Number(health.failures > 0) - Number(before.failures > 0);
    if (transition) {
      service.healthy += Number(transition.to === "healthy") - Number(before.status === "healthy");
      service.unhealthy += Number(transition.to === "unhealthy") -
        Number(before.status === "unhealthy");
    }
    this.#emit("check", { ...outcome, service: config, target: entry.target, health });
    if (transition) {
      // Losing a target is what an operator running at WARN must still see; recoveries are INFO.
      const level = transition.to === "unhealthy" ? "warn" : "info";
      this.#options.log[level](`target ${transition.to}`, {
        service: service.key,
        target: `${entry.target.address}:${config.probe.port}`,
        from: transition.from,
        to: transition.to,
        afterMs: Math.round(transition.after),
        error: transition.error,
        healthy: service.healthy,
        total: service.total,
      });
      this.#emit("transition", {
        ...transition,
        service: config,
        target: entry.target,
        healthy: service.healthy,
        unhealthy: service.unhealthy,
        total: service.total,
      });
    }
    this.#publish(entry, transition, outcome.finished);
  }

  /**
   * Shows a target's new status to the publisher, unless a whole-Service outage is unfolding:
   * then the Service's write waits (at most `holdLimit`) for the remaining verdicts, so that
   * its final state is written once (src/health/hold.ts).
   */
  #publish(entry: TargetEntry, transition: Transition | undefined, now: number): void {
    const { service } = entry;
    const status = viewStatus(entry.health);
    const ports = visiblePorts(entry);
    const changed = status !== entry.visible || !samePortStatuses(ports, entry.visiblePorts);
    const limit = service.holdLimit;
    if (service.hold) {
      const { hold } = service;
      if (changed) hold.held.add(entry);
      if (transition) hold.trigger = Math.max(hold.trigger, transition.at);
      const counts = this.#outageCounts(service, hold.outageSince);
      if (holdUntil(counts, { now, heldSince: hold.since, limit }) === undefined) {
        this.#release(service);
      }
      return;
    }
    if (!changed) return;
    const outageSince = entry.failingSince ?? now;
    const until = transition?.to === "unhealthy"
      ? holdUntil(this.#outageCounts(service, outageSince), { now, limit })
      : undefined;
    if (until !== undefined) {
      this.#options.log.debug("holding the write: every target is failing", {
        service: service.key,
        untilMs: Math.round(until - now),
      });
      service.hold = {
        since: now,
        outageSince,
        trigger: transition!.at,
        held: new Set([entry]),
        timer: this.#clock.setTimeout(() => this.#release(service), until - now),
      };
      this.#checkUnconfirmed(service, outageSince);
      return;
    }
    entry.visible = status;
    entry.visiblePorts = ports;
    this.#transition(service.config, transition?.at ?? now);
  }

  /**
   * A Service's counts for the hold. With fast confirmation a verdict can come before a target
   * of the Service has been checked since the outage began (`since`): such targets count as
   * `unconfirmed` (src/health/hold.ts). The scan stops at the first target known alive.
   */
  #outageCounts(service: ServiceEntry, since: number): OutageCounts {
    const { total, failing, unhealthy } = service;
    const counts = { total, failing, unhealthy };
    if (failing === total || effectiveCadence(service.intervals, "fast") !== "fast") return counts;
    let unconfirmed = 0;
    for (const entry of service.targets.values()) {
      if (entry.health.failures > 0) continue;
      if (entry.lastStarted !== undefined && entry.lastStarted >= since) return counts;
      unconfirmed++;
    }
    return { ...counts, unconfirmed };
  }

  /**
   * Checks now the targets of a held Service not checked since its outage began: whether they
   * died too decides the write, and their next checks on the interval may be most of an
   * interval away. Each is checked once per hold, through the in-flight cap; a hold starts only
   * when no target of the Service passed a check since the outage began, so in a partial
   * outage this costs one check per such target, and none in a large Service (some target
   * always passes a check within the few fast intervals of a confirmation).
   */
  #checkUnconfirmed(service: ServiceEntry, since: number): void {
    for (const entry of service.targets.values()) {
      if (entry.health.failures > 0) continue;
      if (entry.lastStarted !== undefined && entry.lastStarted >= since) continue;
      this.#scheduler.expedite(targetKey(service.config, entry.target.address));
    }
  }

  /** Ends a Service's hold: the publisher sees every held status at once. */
  #release(service: ServiceEntry): void {
    const { hold } = service;
    if (!hold) return;
    service.hold = undefined;
    this.#clock.clearTimeout(hold.timer);
    for (const entry of hold.held) {
      entry.visible = viewStatus(entry.health);
      entry.visiblePorts = visiblePorts(entry);
    }
    this.#transition(service.config, hold.trigger);
  }

  /** A primary changed: say so (a log line, the listeners) and publish it everywhere. */
  #onPrimary(change: PrimaryChange): void {
    const key = keyOf(change.service);
    const fields = {
      service: key,
      from: change.from ?? null,
      to: change.to ?? null,
      reason: change.reason,
    };
    if (change.reason === "contested") {
      this.#options.log.error(
        "more than one target claims to be primary: keeping the current one",
        fields,
      );
    } else if (change.reason === "initial") this.#options.log.info("primary changed", fields);
    else this.#options.log.warn("primary changed", fields);
    this.#emit("primaryChanged", change);
    for (const cluster of this.#clusters ?? []) {
      if (cluster.has(change.service)) cluster.reconciler.transition(change.service, change.at);
    }
  }

  /** Tells every cluster publishing the Service that its view changed at `at`. */
  #transition(config: ServiceConfig, at: number): void {
    this.#primaries.update(config);
    for (const cluster of this.#clusters) {
      if (cluster.has(config)) cluster.reconciler.transition(config, at);
    }
  }

  #clearOverrunTimer(entry: TargetEntry): void {
    if (entry.overrunTimer === undefined) return;
    this.#clock.clearTimeout(entry.overrunTimer);
    entry.overrunTimer = undefined;
  }

  /** Passes publish states on, and logs the panic guard turning on at WARN. */
  #onState(state: PublishState): void {
    const service = this.#services.get(state.service);
    // A state without a view (blocked before any publish) says nothing about the guard.
    const panic = state.view?.panic;
    if (service && panic !== undefined && panic !== service.panic) {
      service.panic = panic;
      if (panic) {
        this.#options.log.warn("panic guard on: no target is healthy, publishing all of them", {
          service: state.service,
          unhealthy: state.view?.unhealthy,
          total: service.total,
        });
      } else {
        this.#options.log.info("panic guard off", {
          service: state.service,
          healthy: state.view?.healthy,
        });
      }
    }
    this.#emit("publishState", state);
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

/**
 * A request no Service registered fails loudly instead of being checked some other way: the
 * scheduler must hand back the very request object the agent gave it (every agent test would
 * see this reason if it did not).
 */
const unregistered: Prober = () =>
  Promise.resolve({ ok: false, latency: 0, error: "internal: no prober for this request" });

/** The last result for `/status`: each check's part apart, never the checks' options. */
function lastResultStatus(
  last: ProbeResult & { readonly at: number },
  port: number,
): Pick<TargetStatus, "lastResult" | "results"> {
  const { results: _, ...lastResult } = last as typeof last & Partial<CheckSetResult>;
  const results = checkStatuses(last, port);
  return { lastResult, ...(results === undefined ? {} : { results }) };
}

/** A target's status on each port, when its Service's ports are guarded apart. */
function visiblePorts(entry: TargetEntry): ReadonlyMap<string, ViewStatus> | undefined {
  const guards = portGuards(entry.service.config);
  return guards && portStatuses(guards, viewStatus(entry.health), entry.checkHealth);
}

function targetKey(service: ServiceConfig, address: string): string {
  return `${service.namespace}/${service.name}|${address}`;
}

function keyOf(service: ServiceConfig): string {
  return `${service.namespace}/${service.name}`;
}

/** What decides how a Service's targets are checked: a change restarts their timers. */
function probeIdentity(service: ServiceConfig): string {
  return JSON.stringify([service.probe, service.checks ?? null]);
}

/** A Service's Lease as `/status` and the metrics show it. */
function leaseStatus(
  ownership: LeaseView,
  service: string,
): { readonly held: boolean; readonly holder?: string } {
  const holder = ownership.holder(service);
  return { held: ownership.mayWrite(service), ...(holder ? { holder } : {}) };
}
