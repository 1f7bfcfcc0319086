/**
 * Runs the target sources of every Service (issue 12) and hands the agent each Service with its
 * current targets: the configured ones merged with every source's set (`merge.ts`), each
 * source's sudden shrink held first (`guard.ts`).
 *
 * - A Service with sources is not published until each of its sources has answered once
 *   (`waiting`): a list built from some of its sources must never replace what the API shows.
 * - A source that fails keeps its last good set; the failure is reported (`SourceStatus`,
 *   listeners), and a partial failure (one DNS name of several) applies the set and reports.
 * - Updates of several sources arriving together are applied in one reconfiguration.
 * - `configure` takes a new configuration (a reload): sources whose settings did not change
 *   keep running with their last set; new ones start, removed ones stop.
 *
 * @module
 */

import type { ServiceConfig, SourceConfig, SourceGuardSettings } from "../config/schema.ts";
import type { Logger } from "../observe/log.ts";
import { guardDecision, type HeldShrink } from "./guard.ts";
import { mergeTargets, sameTargets, type SkippedTarget } from "./merge.ts";
import type { DiscoveredTarget, SourceClock, SourceUpdate, TargetSource } from "./types.ts";

/** One source's state, for `/status`, metrics, `/readyz` and alerts. */
export interface SourceStatus {
  /** Its Service, `namespace/name`. */
  readonly service: string;
  /** The source's name (`dns kafka.test`). */
  readonly source: string;
  /** Its kind. */
  readonly type: SourceConfig["type"];
  /** Whether it has answered at least once (a set, possibly empty). */
  readonly answered: boolean;
  /** The targets of the set in force (0 before the first answer). */
  readonly targets: number;
  /** Addresses it found that are not published (loopback, another port...). */
  readonly skipped: number;
  /** The last failure while it is failing (the last good set stays in force). */
  readonly error?: string;
  /** When the current failure began (epoch ms). */
  readonly failingSince?: number;
  /** A sudden shrink being held: from how many targets to how many, until when. */
  readonly held?: {
    readonly since: number;
    readonly until: number;
    readonly from: number;
    readonly to: number;
  };
  /** When its last answer or failure came (epoch ms). */
  readonly updatedAt?: number;
  /**
   * When it was started (epoch ms): the grace for its first answer counts from here, so a
   * reload that changed something else gives a source silent since before it no new grace.
   */
  readonly startedAt?: number;
}

/** What the discovery drives: the agent. */
export interface DiscoveryTarget {
  /** Takes the Services with their current targets (a diff is applied). */
  reconfigure(services: readonly ServiceConfig[]): unknown;
  /** Marks a Service's target list as not known yet (`reason`), or known (`undefined`). */
  setWaiting(service: string, reason: string | undefined): void;
}

/** Options of {@linkcode Discovery}. */
export interface DiscoveryOptions {
  /** Makes the running source of a source configuration of a Service. */
  readonly create: (source: SourceConfig, service: ServiceConfig) => TargetSource;
  readonly clock: SourceClock;
  readonly log: Logger;
  /** Called when a source's status changes (failing, recovered, held, released, answered). */
  readonly onStatus?: (status: SourceStatus) => void;
  /** How long updates are gathered before they are applied together (default 5 ms). */
  readonly batch?: number;
}

interface RunningSource {
  readonly config: SourceConfig;
  readonly identity: string;
  readonly source: TargetSource;
  readonly service: ServiceRun;
  /** The set in force (undefined before the first answer). */
  applied?: readonly DiscoveredTarget[];
  /**
   * The set of the source this one replaced in a reload (same kind, same place), in force
   * until this one answers: a changed source does not drop the Service's targets meanwhile,
   * and its first answer is guarded against that set.
   */
  inherited?: readonly DiscoveredTarget[];
  held?: HeldShrink;
  holdTimer?: unknown;
  error?: string;
  failingSince?: number;
  updatedAt?: number;
  startedAt?: number;
  skipped: readonly SkippedTarget[];
  /** What the last status said, to call `onStatus` only on a change. */
  said?: string;
}

interface ServiceRun {
  readonly key: string;
  config: ServiceConfig;
  sources: RunningSource[];
  /** The configuration the agent has: `config` with the merged targets. */
  effective: ServiceConfig;
  waiting?: string;
}

/** Runs every Service's sources; see the module documentation. */
export class Discovery {
  readonly #options: DiscoveryOptions;
  readonly #services = new Map<string, ServiceRun>();
  #target?: DiscoveryTarget;
  #timer?: unknown;
  #stopped = false;

  constructor(options: DiscoveryOptions) {
    this.#options = options;
  }

  /**
   * Takes the configured Services (at start and on every reload). Sources start only once
   * {@linkcode start} was called. Returns the Services as the agent should have them now.
   */
  configure(services: readonly ServiceConfig[]): ServiceConfig[] {
    const wanted = new Map(services.map((config) => [keyOf(config), config]));
    for (const [key, run] of this.#services) {
      if (wanted.has(key)) continue;
      this.#services.delete(key);
      for (const source of run.sources) this.#stopSource(source);
    }
    for (const [key, config] of wanted) {
      const run = this.#services.get(key);
      if (!run) {
        const fresh: ServiceRun = { key, config, sources: [], effective: config };
        this.#services.set(key, fresh);
        this.#setSources(fresh, config.sources ?? []);
        this.#merge(fresh);
        continue;
      }
      // A reload that changed nothing keeps the very same objects: the agent sees no change.
      if (JSON.stringify(run.config) === JSON.stringify(config)) continue;
      run.config = config;
      this.#setSources(run, config.sources ?? []);
      this.#merge(run, true);
    }
    return this.effective();
  }

  /** Starts the sources, and drives `target` from now on. */
  start(target: DiscoveryTarget): void {
    this.#target = target;
    for (const run of this.#services.values()) {
      for (const source of run.sources) this.#startSource(source);
      this.#updateWaiting(run);
    }
  }

  /** Every Service with its current targets, in configuration order. */
  effective(): ServiceConfig[] {
    return [...this.#services.values()].map((run) => run.effective);
  }

  /** True once every source of every Service has answered at least once. */
  get answered(): boolean {
    return [...this.#services.values()].every((run) =>
      run.sources.every((source) => source.applied !== undefined)
    );
  }

  /**
   * Starts the sources without an agent and resolves once all have answered or `timeout`
   * passed (for `check` and `--once`): the Services with the targets known then.
   */
  async resolveOnce(timeout: number): Promise<ServiceConfig[]> {
    const done = Promise.withResolvers<void>();
    const check = () => {
      if (this.answered) done.resolve();
    };
    this.start({ reconfigure: check, setWaiting: check });
    check();
    const timer = this.#options.clock.setTimeout(() => done.resolve(), timeout);
    await done.promise;
    this.#options.clock.clearTimeout(timer);
    return this.effective();
  }

  /** Every source's state. */
  statuses(): SourceStatus[] {
    return [...this.#services.values()].flatMap((run) => run.sources.map(statusOf));
  }

  /** Stops every source. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    const stopping: Promise<void>[] = [];
    for (const run of this.#services.values()) {
      for (const source of run.sources) stopping.push(this.#stopSource(source));
    }
    await Promise.all(stopping);
  }

  /** Keeps the running sources whose settings are unchanged; starts and stops the rest. */
  #setSources(run: ServiceRun, configs: readonly SourceConfig[]): void {
    const running = new Map(run.sources.map((source) => [source.identity, source]));
    const wanted = new Set(configs.map((config) => JSON.stringify(config)));
    // Sources a reload replaces, by kind, in order: each hands its set to its successor.
    const replaced = run.sources.filter((source) => !wanted.has(source.identity));
    const next: RunningSource[] = [];
    for (const config of configs) {
      const identity = JSON.stringify(config);
      const kept = running.get(identity);
      if (kept) {
        running.delete(identity);
        next.push(kept);
        continue;
      }
      const predecessor = replaced.findIndex((old) => old.config.type === config.type);
      const [old] = predecessor >= 0 ? replaced.splice(predecessor, 1) : [];
      const inherited = old?.applied ?? old?.inherited;
      const source: RunningSource = {
        config,
        identity,
        source: this.#options.create(config, run.config),
        service: run,
        skipped: [],
        ...(inherited ? { inherited } : {}),
      };
      next.push(source);
      if (this.#target) this.#startSource(source);
    }
    for (const gone of running.values()) this.#stopSource(gone);
    run.sources = next;
    if (this.#target) this.#updateWaiting(run);
  }

  #startSource(source: RunningSource): void {
    source.startedAt = this.#options.clock.now();
    this.#options.log.info("source starting", {
      service: source.service.key,
      source: source.source.name,
    });
    source.source.start((update) => {
      try {
        this.#onUpdate(source, update);
      } catch (error) {
        this.#options.log.error("cannot apply a source's update", {
          service: source.service.key,
          source: source.source.name,
          error,
        });
      }
    });
  }

  #stopSource(source: RunningSource): Promise<void> {
    if (source.holdTimer !== undefined) this.#options.clock.clearTimeout(source.holdTimer);
    source.holdTimer = undefined;
    source.service.sources = source.service.sources.filter((s) => s !== source);
    return source.source.stop().catch((error) =>
      this.#options.log.warn("source did not stop cleanly", { source: source.source.name, error })
    );
  }

  #onUpdate(source: RunningSource, update: SourceUpdate): void {
    if (this.#stopped || !source.service.sources.includes(source)) return;
    const { clock, log } = this.#options;
    const now = clock.now();
    source.updatedAt = now;
    const fields = { service: source.service.key, source: source.source.name };
    const { error } = update;
    if (error !== undefined) {
      if (source.error !== error) {
        // A partial failure (one name of several) applies the rest; either way what failed
        // keeps its last good answer.
        log.warn("source failing: keeping its last good set", {
          ...fields,
          error,
          targets: source.applied?.length ?? 0,
          ...(update.ok ? { partial: true } : {}),
        });
      }
      source.failingSince ??= now;
      source.error = error;
    } else if (source.error !== undefined) {
      log.info("source recovered", {
        ...fields,
        failedForMs: Math.round(now - (source.failingSince ?? now)),
      });
      source.error = undefined;
      source.failingSince = undefined;
    }
    if (update.ok) this.#offer(source, update.targets, now);
    this.#updateWaiting(source.service);
    this.#report(source);
  }

  /** A new set from a source: applied, or held by the shrink guard. */
  #offer(source: RunningSource, targets: readonly DiscoveredTarget[], now: number): void {
    const settings: SourceGuardSettings = source.service.config.sourceGuard ??
      { maxDrop: 0.5, hold: 0 };
    const decision = guardDecision(source.applied ?? source.inherited, targets, {
      settings,
      now,
      ...(source.held ? { held: source.held } : {}),
    });
    const fields = { service: source.service.key, source: source.source.name };
    if (decision.action === "hold") {
      if (!source.held) {
        this.#options.log.warn("source shrank suddenly: holding its new set", {
          ...fields,
          from: decision.held.from,
          to: targets.length,
          holdMs: Math.round(decision.held.until - now),
        });
        source.holdTimer = this.#options.clock.setTimeout(() => {
          source.holdTimer = undefined;
          const held = source.held;
          if (!held || this.#stopped) return;
          this.#offer(source, held.candidate, this.#options.clock.now());
          this.#report(source);
        }, decision.held.until - now);
      }
      source.held = decision.held;
      return;
    }
    if (source.held) {
      this.#options.log.warn(
        now >= source.held.until
          ? "applying a held shrink: the source did not recover within the hold"
          : "source recovered within its hold: the shrink is dropped",
        { ...fields, from: source.held.from, to: targets.length },
      );
      if (source.holdTimer !== undefined) this.#options.clock.clearTimeout(source.holdTimer);
      source.holdTimer = undefined;
      source.held = undefined;
    }
    source.applied = targets;
    this.#merge(source.service);
  }

  /** Merges a Service's sets into its effective configuration; schedules the apply. */
  #merge(run: ServiceRun, configChanged = false): void {
    const sets = new Map<string, readonly DiscoveredTarget[]>();
    for (const source of run.sources) {
      sets.set(source.source.name, source.applied ?? source.inherited ?? []);
    }
    const merged = mergeTargets(run.config, sets);
    for (const source of run.sources) {
      const skipped = merged.skipped.filter((s) => s.source === source.source.name);
      const fresh = skipped.filter((s) =>
        !source.skipped.some((old) => old.address === s.address && old.reason === s.reason)
      );
      for (const skip of fresh) {
        this.#options.log.warn("source target skipped", {
          service: run.key,
          source: skip.source,
          address: skip.address,
          reason: skip.reason,
        });
      }
      source.skipped = skipped;
    }
    if (!configChanged && sameTargets(run.effective.targets, merged.targets)) return;
    run.effective = { ...run.config, targets: merged.targets };
    this.#scheduleApply();
  }

  #scheduleApply(): void {
    if (!this.#target || this.#stopped || this.#timer !== undefined) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped) return;
      this.#target?.reconfigure(this.effective());
    }, this.#options.batch ?? 5);
  }

  #updateWaiting(run: ServiceRun): void {
    // A source that replaced another in a reload has its predecessor's set meanwhile.
    const silent = run.sources.filter((source) =>
      source.applied === undefined && source.inherited === undefined
    );
    const waiting = silent.length === 0
      ? undefined
      : `waiting for the first answer of source ${silent.map((s) => s.source.name).join(", ")}`;
    if (waiting === run.waiting) return;
    run.waiting = waiting;
    // The merged list goes to the agent before it may publish.
    if (waiting === undefined && this.#timer !== undefined) {
      this.#options.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#target?.reconfigure(this.effective());
    }
    this.#target?.setWaiting(run.key, waiting);
  }

  #report(source: RunningSource): void {
    const status = statusOf(source);
    const { updatedAt: _, ...said } = status;
    const text = JSON.stringify(said);
    if (text === source.said) return;
    source.said = text;
    this.#options.onStatus?.(status);
  }
}

function statusOf(source: RunningSource): SourceStatus {
  return {
    service: source.service.key,
    source: source.source.name,
    type: source.config.type,
    answered: source.applied !== undefined,
    targets: source.applied?.length ?? 0,
    skipped: source.skipped.length,
    ...(source.error !== undefined ? { error: source.error } : {}),
    ...(source.failingSince !== undefined ? { failingSince: source.failingSince } : {}),
    ...(source.held
      ? {
        held: {
          since: source.held.since,
          until: source.held.until,
          from: source.held.from,
          to: source.held.candidate.length,
        },
      }
      : {}),
    ...(source.updatedAt !== undefined ? { updatedAt: source.updatedAt } : {}),
    ...(source.startedAt !== undefined ? { startedAt: source.startedAt } : {}),
  };
}

function keyOf(service: ServiceConfig): string {
  return `${service.namespace}/${service.name}`;
}
