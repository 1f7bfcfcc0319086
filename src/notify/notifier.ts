/**
 * The notifier: an {@linkcode AgentListener} that turns transitions and publishing states into
 * alerts and hands them to one delivery queue per channel. Its listener methods only record
 * and set timers, so a slow or dead webhook never delays probing or publishing.
 *
 * - Target alerts: each Service's transitions are gathered for a window (`coalesce`, from the
 *   first transition) and reported as one alert of the net change ({@linkcode ServiceTracker}).
 * - Write alerts: when a Service's writes have failed for `writeFailureThreshold`, one alert;
 *   when they succeed again, one recovery alert (only if the failure was reported).
 * - Blocked alerts: when a Service cannot be published (missing, has a selector, namespace
 *   missing, access denied) for `writeFailureThreshold`, one alert with the reason and the
 *   detail (verb, resource, status); a conflict with another HELASEID writer at once, naming
 *   it. Another reason or writer later is one more alert; the end of the block one recovery
 *   alert (only if the block was reported). Waiting for the first checks is no block. Writes
 *   that fail while the Service is blocked raise no write alert of their own (the block's says
 *   why they fail).
 * - Target sources ({@linkcode Notifier.sourceStatus}): a source failing for
 *   `writeFailureThreshold` is one alert (its last good set stays in force); its recovery one
 *   more (only if the failure was reported). A sudden shrink held is an alert at once (from N
 *   to M targets, until when); the end of the hold one more (applied, or dropped because the
 *   source recovered).
 * - Reloads ({@linkcode Notifier.reload}): a rejected configuration is an alert at once with
 *   its issues (cut to {@linkcode MAX_ALERT_ISSUES}); the next good reload one recovery alert.
 * - Primaries ({@linkcode Notifier.primaryChanged}, issue 15): every move of a Service's primary
 *   is an alert at once with from, to and the reason (`primary-changed`, warning), and two
 *   claimants an alert too (`primary-contested`, critical: the current one is kept). The first
 *   primary of a Service since the start (`initial`, or a first claim in observe mode) raises
 *   nothing: the receiver knew of no primary it could have changed from.
 * - Changing targets ({@linkcode Notifier.targetsChanged}): the Service's tracker learns the
 *   new set, so a removed target never raises a "down" alert; a Service gone from the
 *   configuration is forgotten with every pending alert of it.
 * - Each alert goes to every channel's queue with a way to fold in an older alert of the same
 *   subject that is still undelivered ({@linkcode combineAlerts}).
 *
 * @module
 */

import type { AgentListener, TargetsChange, TargetTransition } from "../agent.ts";
import type { PrimaryChange } from "../publish/primary_tracker.ts";
import type { Millis, ServiceConfig } from "../config/schema.ts";
import type { SourceStatus } from "../discovery/mod.ts";
import type { ReloadResult } from "../reload.ts";
import type { Clock } from "../health/scheduler.ts";
import type { Logger } from "../observe/log.ts";
import type { BlockedReason, PublishState } from "../publish/reconciler.ts";
import {
  type Alert,
  alertFingerprint,
  alertKey,
  alertSubject,
  BLOCKED_REASON_LABEL,
  BLOCKED_REASON_TEXT,
  formatSpan,
  PRIMARY_REASON_TEXT,
} from "./alert.ts";
import { combineAlerts } from "./combine.ts";
import type { Delivery, DeliveryQueue, DeliveryStats } from "./queue.ts";
import { ServiceTracker } from "./tracker.ts";

/** A channel: how an alert is rendered, and the queue that delivers it. */
export interface NotifierChannel {
  /** `teams` or `webhook`: the `channel` label of metrics and logs. */
  readonly name: string;
  /** The request body of an alert. */
  readonly render: (alert: Alert) => string;
  /** Delivers the rendered alerts. */
  readonly queue: DeliveryQueue;
}

/** Options of {@linkcode Notifier}. */
export interface NotifierOptions {
  /** The configured Services (the alerts' target counts start from them). */
  readonly services: readonly ServiceConfig[];
  /** Where each alert goes. */
  readonly channels: readonly NotifierChannel[];
  /** Cluster or context name the alerts carry. */
  readonly cluster: string;
  /** Times the windows and write thresholds. */
  readonly clock: Clock;
  /** Receives the `alert` lines (never a URL). */
  readonly log: Logger;
  /** Coalescing window of a Service's transitions (0: one alert per transition). */
  readonly coalesce: Millis;
  /** How long writes must fail, or a Service be blocked (but for a conflict), before an alert. */
  readonly writeFailureThreshold: Millis;
  /** Alert on Services that still have healthy targets. */
  readonly degraded: boolean;
  /** The configuration file, named by reload alerts (default `configuration`). */
  readonly configPath?: string;
  /**
   * Every running source's state now (the discovery's `statuses`). When given, a failure
   * that comes due is alerted only if its source still runs and still fails: a source a
   * reload removed while failing reports nothing more.
   */
  readonly sources?: () => readonly SourceStatus[];
}

/** Issues a reload alert lists at most ("and N more" after them). */
export const MAX_ALERT_ISSUES = 10;
/** Characters of one issue a reload alert shows at most. */
const MAX_ISSUE_LENGTH = 300;

interface _Source {
  /** Its latest state. */
  last: SourceStatus;
  /** The failure: since when, its last error, its timer, whether it was reported. */
  failing?: { since: number; error: string; timer?: unknown; reported: boolean };
  /** The hold reported (its start), to report its end. */
  held?: { since: number; from: number; to: number; until: number };
}

interface _Window {
  readonly tracker: ServiceTracker;
  timer?: unknown;
}

interface _Writes {
  since: number;
  /** The cluster of the writes (issue 14), when the agent publishes into several. */
  readonly cluster?: string;
  error?: string;
  timer?: unknown;
  reported: boolean;
}

type _Reason = Exclude<BlockedReason, "waiting-first-checks">;

interface _Blocked {
  readonly since: number;
  /** The cluster of the block (issue 14), when the agent publishes into several. */
  readonly cluster?: string;
  reason: _Reason;
  detail?: string;
  writer?: string;
  timer?: unknown;
  /** What the last alert said (reason and writer), once one went out. */
  reported?: string;
}

/** Alerts on health transitions and API write failures; see the module documentation. */
export class Notifier implements AgentListener {
  readonly #options: NotifierOptions;
  readonly #windows = new Map<string, _Window>();
  readonly #writes = new Map<string, _Writes>();
  readonly #blocked = new Map<string, _Blocked>();
  /** By `namespace/name|source`. */
  readonly #sources = new Map<string, _Source>();
  /** Services (`namespace/name`) that have had a primary since the start. */
  readonly #primaries = new Set<string>();
  /** The rejected reload reported, until a reload succeeds. */
  #reloadFailed?: ReloadResult;
  /** The alert each queued delivery renders, to fold it into a newer one. */
  readonly #alerts = new WeakMap<Delivery, Alert>();
  #closed?: Promise<void>;

  /** Creates a notifier; it does nothing until told of transitions or publishing states. */
  constructor(options: NotifierOptions) {
    this.#options = options;
    for (const service of options.services) {
      const key = `${service.namespace}/${service.name}`;
      this.#windows.set(key, { tracker: this.#tracker(service) });
    }
  }

  /** The counters of each channel, by channel name. */
  stats(): Record<string, DeliveryStats> {
    return Object.fromEntries(
      this.#options.channels.map((channel) => [channel.name, channel.queue.stats()]),
    );
  }

  /** Records a transition; the Service's alert goes out when its window ends. */
  transition(event: TargetTransition): void {
    if (this.#closed) return;
    try {
      const key = `${event.service.namespace}/${event.service.name}`;
      let window = this.#windows.get(key);
      if (window === undefined) {
        window = { tracker: this.#tracker(event.service) };
        this.#windows.set(key, window);
      }
      window.tracker.observe(event);
      if (window.timer === undefined) {
        const current = window;
        window.timer = this.#options.clock.setTimeout(() => {
          current.timer = undefined;
          this.#flush(current);
        }, this.#options.coalesce);
      }
    } catch (error) {
      this.#options.log.error("cannot record the transition for alerts", { error });
    }
  }

  /**
   * Watches a Service's writes and blocks: alerts when they fail or block for too long (a
   * conflict at once) and when they recover.
   */
  publishState(state: PublishState): void {
    if (this.#closed) return;
    try {
      this.#watchBlocked(state);
    } catch (error) {
      this.#options.log.error("cannot record the blocked state for alerts", { error });
    }
    try {
      const failing = state.failures > 0 && state.failingSince !== undefined;
      let writes = this.#writes.get(_stateKey(state));
      if (!failing) {
        if (writes === undefined) return;
        this.#writes.delete(_stateKey(state));
        if (writes.timer !== undefined) this.#options.clock.clearTimeout(writes.timer);
        if (writes.reported) this.#emit(this.#writeAlert(state.service, writes, "recovered"));
        return;
      }
      if (writes === undefined) {
        writes = { since: state.failingSince!, reported: false, ..._clusterOf(state) };
        this.#writes.set(_stateKey(state), writes);
      }
      writes.error = _lastWriteError(state) ?? writes.error;
      // A block (403, a missing Service, ...) explains the failed writes: its own alert says it
      // with the detail, so the writes wait; if they still fail after it, their alert is due.
      if (state.blocked !== undefined && state.blocked !== "waiting-first-checks") {
        if (writes.timer !== undefined) this.#options.clock.clearTimeout(writes.timer);
        writes.timer = undefined;
        return;
      }
      if (writes.reported || writes.timer !== undefined) return;
      const current = writes;
      const delay = Math.max(
        0,
        current.since + this.#options.writeFailureThreshold - this.#options.clock.now(),
      );
      current.timer = this.#options.clock.setTimeout(() => {
        current.timer = undefined;
        if (this.#writes.get(_stateKey(state)) !== current || this.#closed) return;
        current.reported = true;
        this.#emit(this.#writeAlert(state.service, current, "failing"));
      }, delay);
    } catch (error) {
      this.#options.log.error("cannot record the publishing state for alerts", { error });
    }
  }

  /**
   * Follows a Service's target set: its tracker learns the added (unknown) and removed
   * (forgotten, never "down") targets. A Service gone from the configuration is forgotten
   * entirely: its window, write, block and source alerts that were not due yet are dropped.
   */
  targetsChanged(event: TargetsChange): void {
    if (this.#closed) return;
    try {
      const { clock } = this.#options;
      const key = `${event.service.namespace}/${event.service.name}`;
      if (event.gone) {
        const window = this.#windows.get(key);
        if (window?.timer !== undefined) clock.clearTimeout(window.timer);
        this.#windows.delete(key);
        for (const pending of [this.#writes.get(key), this.#blocked.get(key)]) {
          if (pending?.timer !== undefined) clock.clearTimeout(pending.timer);
        }
        this.#writes.delete(key);
        this.#blocked.delete(key);
        this.#primaries.delete(key);
        for (const [name, source] of this.#sources) {
          if (!name.startsWith(`${key}|`)) continue;
          if (source.failing?.timer !== undefined) clock.clearTimeout(source.failing.timer);
          this.#sources.delete(name);
        }
        return;
      }
      const window = this.#windows.get(key);
      if (window === undefined) {
        this.#windows.set(key, { tracker: this.#tracker(event.service) });
      } else {
        window.tracker.update(event.service, event);
      }
    } catch (error) {
      this.#options.log.error("cannot record the targets change for alerts", { error });
    }
  }

  /**
   * Watches a target source's state (the discovery's `onStatus`): alerts when it fails for
   * `writeFailureThreshold` and when it recovers, when a sudden shrink is held and when the
   * hold ends.
   */
  sourceStatus(status: SourceStatus): void {
    if (this.#closed) return;
    try {
      const key = `${status.service}|${status.source}`;
      let source = this.#sources.get(key);
      if (source === undefined) {
        if (status.error === undefined && status.held === undefined) return;
        source = { last: status };
        this.#sources.set(key, source);
      }
      source.last = status;
      this.#watchFailing(status, source);
      this.#watchHeld(status, source);
      if (source.failing === undefined && source.held === undefined) this.#sources.delete(key);
    } catch (error) {
      this.#options.log.error("cannot record the source state for alerts", { error });
    }
  }

  /**
   * A Service's primary changed, or more than one target claims it (the agent's
   * `primaryChanged`): `primary-changed` or `primary-contested` at once, but nothing for the
   * Service's first primary since the start.
   */
  primaryChanged(event: PrimaryChange): void {
    if (this.#closed) return;
    try {
      const key = `${event.service.namespace}/${event.service.name}`;
      const first = !this.#primaries.has(key);
      if (event.to !== undefined) this.#primaries.add(key);
      if (event.reason !== "contested" && first && event.from === undefined) return;
      this.#emit(this.#primaryAlert(key, event));
    } catch (error) {
      this.#options.log.error("cannot record the primary change for alerts", { error });
    }
  }

  #primaryAlert(key: string, event: PrimaryChange): Alert {
    const { base } = this.#serviceAlertBase(key, event.at);
    const companion = event.service.primary?.service ?? `${event.service.name}-primary`;
    const primary = {
      service: companion,
      ...(event.from === undefined ? {} : { from: event.from }),
      ...(event.to === undefined ? {} : { to: event.to }),
      reason: event.reason,
      ...(event.claimants === undefined ? {} : { claimants: event.claimants }),
    };
    if (event.reason === "contested") {
      const claimants = event.claimants === undefined ? "" : ` (${event.claimants.join(", ")})`;
      return {
        ...base,
        event: "primary-contested",
        severity: "critical",
        title: `More than one target of ${key} claims to be primary${claimants}: keeping ${
          event.from ?? "none"
        } in ${companion}`,
        primary,
      };
    }
    return {
      ...base,
      event: "primary-changed",
      severity: "warning",
      title: `Primary of ${key} moved from ${event.from ?? "none"} to ${event.to ?? "none"}: ${
        PRIMARY_REASON_TEXT[event.reason]
      }`,
      primary,
    };
  }

  /**
   * Takes a reload's outcome (the reloader's `onResult`): a rejected configuration is alerted
   * at once with its issues; the next good reload after one is a recovery alert.
   */
  reload(result: ReloadResult): void {
    if (this.#closed) return;
    try {
      if (result.ok) {
        const failed = this.#reloadFailed;
        this.#reloadFailed = undefined;
        if (failed !== undefined) this.#emit(this.#reloadAlert(result, failed));
        return;
      }
      this.#reloadFailed ??= result;
      this.#emit(this.#reloadAlert(result, this.#reloadFailed));
    } catch (error) {
      this.#options.log.error("cannot record the reload for alerts", { error });
    }
  }

  /**
   * Sends the alerts of open windows now, then lets each channel deliver within `timeoutMs`
   * (default 5s). Write alerts not yet due are not sent. Idempotent.
   */
  close(timeoutMs: Millis = 5000): Promise<void> {
    if (this.#closed) return this.#closed;
    const { clock } = this.#options;
    for (const pending of [...this.#writes.values(), ...this.#blocked.values()]) {
      if (pending.timer !== undefined) clock.clearTimeout(pending.timer);
      pending.timer = undefined;
    }
    for (const source of this.#sources.values()) {
      if (source.failing?.timer !== undefined) clock.clearTimeout(source.failing.timer);
      if (source.failing) source.failing.timer = undefined;
    }
    for (const window of this.#windows.values()) {
      if (window.timer === undefined) continue;
      clock.clearTimeout(window.timer);
      window.timer = undefined;
      this.#flush(window);
    }
    this.#closed = Promise.all(
      this.#options.channels.map((channel) => channel.queue.close(timeoutMs)),
    ).then(() => {});
    return this.#closed;
  }

  /** The failure half of {@linkcode Notifier.sourceStatus}. */
  #watchFailing(status: SourceStatus, source: _Source): void {
    const { clock } = this.#options;
    const failing = source.failing;
    if (status.error === undefined) {
      if (failing === undefined) return;
      source.failing = undefined;
      if (failing.timer !== undefined) clock.clearTimeout(failing.timer);
      if (failing.reported) this.#emit(this.#sourceAlert(status, "source-recovered", failing));
      return;
    }
    if (failing !== undefined) {
      failing.error = status.error;
      return;
    }
    const current: NonNullable<_Source["failing"]> = {
      since: status.failingSince ?? clock.now(),
      error: status.error,
      reported: false,
    };
    source.failing = current;
    const delay = Math.max(0, current.since + this.#options.writeFailureThreshold - clock.now());
    current.timer = clock.setTimeout(() => {
      current.timer = undefined;
      if (source.failing !== current || this.#closed) return;
      if (!this.#stillFailing(source.last)) {
        this.#sources.delete(`${source.last.service}|${source.last.source}`);
        return;
      }
      current.reported = true;
      this.#emit(this.#sourceAlert(source.last, "source-failing", current));
    }, delay);
  }

  /** Whether a source still runs and fails (true when the sources cannot be asked). */
  #stillFailing(status: SourceStatus): boolean {
    const sources = this.#options.sources?.();
    if (sources === undefined) return true;
    return sources.some((s) =>
      s.service === status.service && s.source === status.source && s.error !== undefined
    );
  }

  /** The hold half of {@linkcode Notifier.sourceStatus}. */
  #watchHeld(status: SourceStatus, source: _Source): void {
    const held = status.held;
    const was = source.held;
    if (held !== undefined) {
      if (was !== undefined && was.since === held.since) return;
      source.held = { since: held.since, from: held.from, to: held.to, until: held.until };
      this.#emit(this.#sourceAlert(status, "source-held"));
      return;
    }
    if (was === undefined) return;
    source.held = undefined;
    // The discovery applies the held set once the hold is over; earlier, the source recovered.
    const ended = this.#options.clock.now() >= was.until ? "applied" : "dropped";
    this.#emit(this.#sourceAlert(status, "source-hold-ended", undefined, { was, ended }));
  }

  #sourceAlert(
    status: SourceStatus,
    event: "source-failing" | "source-recovered" | "source-held" | "source-hold-ended",
    failing?: { since: number; error: string },
    hold?: {
      was: { since: number; from: number; to: number; until: number };
      ended: "applied" | "dropped";
    },
  ): Alert {
    const since = failing?.since ?? status.held?.since ?? hold?.was.since ??
      this.#options.clock.now();
    const { base, lasted } = this.#serviceAlertBase(status.service, since);
    const name = `${status.source} of ${status.service}`;
    const held = status.held ?? hold?.was;
    const source = {
      name: status.source,
      type: status.type,
      targets: status.targets,
      ...(held ? { held: { from: held.from, to: held.to, until: held.until } } : {}),
      ...(hold ? { holdEnded: hold.ended } : {}),
    };
    const set = _plural(status.targets, "target");
    switch (event) {
      case "source-failing":
        return {
          ...base,
          event,
          severity: "warning",
          title: `Target source ${name} has failed for ${formatSpan(lasted)}: ` +
            `its last good set (${set}) stays in force`,
          error: failing?.error ?? status.error ?? "failing",
          source,
        };
      case "source-recovered":
        return {
          ...base,
          event,
          severity: "resolved",
          title: `Target source ${name} answers again after ${formatSpan(lasted)}: ${set}`,
          lasted,
          source,
        };
      case "source-held":
        return {
          ...base,
          event,
          severity: "warning",
          title: `Target source ${name} shrank from ${held!.from} to ${held!.to} targets: ` +
            `the change is held until ${new Date(held!.until).toISOString()}`,
          ...(status.error === undefined ? {} : { error: status.error }),
          source,
        };
      case "source-hold-ended":
        return {
          ...base,
          event,
          severity: "resolved",
          title: hold?.ended === "applied"
            ? `The held shrink of target source ${name} is applied after ${
              formatSpan(lasted)
            }: ${set}`
            : `Target source ${name} recovered within its hold: the shrink from ${
              hold?.was.from ?? 0
            } to ${hold?.was.to ?? 0} targets is dropped (${set})`,
          lasted,
          source,
        };
    }
  }

  #reloadAlert(result: ReloadResult, failed: ReloadResult): Alert {
    const path = this.#options.configPath ?? "configuration";
    const now = this.#options.clock.now();
    const trigger = result.trigger === "signal" ? "SIGHUP" : "file change";
    const base = {
      cluster: this.#options.cluster,
      service: { namespace: "", name: path },
      targets: [],
      healthy: 0,
      unhealthy: 0,
      total: 0,
      panic: false,
      since: failed.at,
      at: now,
    };
    if (result.ok) {
      const lasted = Math.max(0, result.at - failed.at);
      return {
        ...base,
        event: "config-reload-recovered",
        severity: "resolved",
        title: `The configuration ${path} reloads again (${trigger}) after ${
          formatSpan(lasted)
        } of rejected reloads`,
        lasted,
        config: {
          ...(this.#options.configPath === undefined ? {} : { path: this.#options.configPath }),
          hash: result.hash,
          trigger: result.trigger,
        },
      };
    }
    const issues = result.issues ?? [];
    const shown = issues.slice(0, MAX_ALERT_ISSUES).map((issue) => _shorten(issue));
    return {
      ...base,
      since: result.at,
      event: "config-reload-failed",
      severity: "warning",
      title: `Reloading the configuration ${path} (${trigger}) failed with ${
        _plural(issues.length, "issue")
      }: the previous configuration keeps running`,
      config: {
        ...(this.#options.configPath === undefined ? {} : { path: this.#options.configPath }),
        hash: result.hash,
        trigger: result.trigger,
        issues: shown,
        ...(issues.length > shown.length ? { issuesOmitted: issues.length - shown.length } : {}),
      },
    };
  }

  /** The blocked half of {@linkcode Notifier.publishState}. */
  #watchBlocked(state: PublishState): void {
    const { clock } = this.#options;
    const reason = state.blocked === "waiting-first-checks" ? undefined : state.blocked;
    let blocked = this.#blocked.get(_stateKey(state));
    if (reason === undefined) {
      if (blocked === undefined) return;
      this.#blocked.delete(_stateKey(state));
      if (blocked.timer !== undefined) clock.clearTimeout(blocked.timer);
      if (blocked.reported !== undefined) {
        this.#emit(this.#blockedAlert(state.service, blocked, "recovered"));
      }
      return;
    }
    if (blocked === undefined) {
      blocked = { since: state.blockedSince ?? clock.now(), reason, ..._clusterOf(state) };
      this.#blocked.set(_stateKey(state), blocked);
    }
    blocked.reason = reason;
    blocked.detail = state.detail;
    blocked.writer = reason === "conflict" ? state.conflict?.writer : undefined;
    const says = `${reason}|${blocked.writer ?? ""}`;
    const report = (current: _Blocked) => {
      current.reported = `${current.reason}|${current.writer ?? ""}`;
      this.#emit(this.#blockedAlert(state.service, current, "blocked"));
    };
    // Reported already: one more alert only when it would say something else.
    if (blocked.reported !== undefined) {
      if (blocked.reported !== says) report(blocked);
      return;
    }
    // Another writer is news at once: each agent stops writing until it looks again.
    if (reason === "conflict") {
      if (blocked.timer !== undefined) clock.clearTimeout(blocked.timer);
      blocked.timer = undefined;
      report(blocked);
      return;
    }
    if (blocked.timer !== undefined) return;
    const current = blocked;
    const delay = Math.max(0, current.since + this.#options.writeFailureThreshold - clock.now());
    current.timer = clock.setTimeout(() => {
      current.timer = undefined;
      if (this.#blocked.get(_stateKey(state)) !== current || this.#closed) return;
      report(current);
    }, delay);
  }

  /**
   * What every Service-wide alert (blocked, writes failing) starts from: the Service, its current
   * target counts, no targets listed, `since` → now, and how long that lasted.
   */
  #serviceAlertBase(key: string, since: number, cluster?: string) {
    const now = this.#options.clock.now();
    const [namespace = "", name = key] = key.split("/");
    const counts = this.#windows.get(key)?.tracker.counts ?? { healthy: 0, unhealthy: 0, total: 0 };
    const base = {
      cluster: cluster ?? this.#options.cluster,
      service: { namespace, name },
      targets: [],
      ...counts,
      panic: false,
      since,
      at: now,
    };
    return { base, lasted: now - since };
  }

  #blockedAlert(key: string, blocked: _Blocked, change: "blocked" | "recovered"): Alert {
    const common = this.#serviceAlertBase(key, blocked.since, blocked.cluster);
    const lasted = common.lasted;
    const base = {
      ...common.base,
      reason: blocked.reason,
      ...(blocked.writer === undefined ? {} : { writer: blocked.writer }),
    };
    if (change === "recovered") {
      return {
        ...base,
        event: "blocked-recovered",
        severity: "resolved",
        title: `${key} is no longer blocked (${BLOCKED_REASON_LABEL[blocked.reason]}) after ${
          formatSpan(lasted)
        }`,
        lasted,
      };
    }
    const title = blocked.reason === "conflict"
      ? `Another HELASEID writer rewrites the endpoints of ${key}` +
        (blocked.writer === undefined ? "" : ` (${blocked.writer})`) + ": not writing them"
      : `Cannot publish the endpoints of ${key} for ${formatSpan(lasted)}: ${
        BLOCKED_REASON_TEXT[blocked.reason]
      }`;
    return {
      ...base,
      event: "blocked",
      severity: "critical",
      title,
      ...(blocked.detail === undefined ? {} : { error: blocked.detail }),
    };
  }

  #flush(window: _Window): void {
    const alert = window.tracker.flush(this.#options.clock.now());
    if (alert !== undefined) this.#emit(alert);
  }

  #writeAlert(key: string, writes: _Writes, change: "failing" | "recovered"): Alert {
    const { base, lasted } = this.#serviceAlertBase(key, writes.since, writes.cluster);
    return change === "failing"
      ? {
        ...base,
        event: "writes-failing",
        severity: "critical",
        title: `Cannot write the endpoints of ${key} to the Kubernetes API for ${
          formatSpan(lasted)
        }: they may be stale`,
        ...(writes.error === undefined ? {} : { error: writes.error }),
      }
      : {
        ...base,
        event: "writes-recovered",
        severity: "resolved",
        title: `Writes of ${key} to the Kubernetes API succeed again after ${formatSpan(lasted)}`,
        lasted,
      };
  }

  #tracker(service: ServiceConfig): ServiceTracker {
    return new ServiceTracker(service, {
      cluster: this.#options.cluster,
      degraded: this.#options.degraded,
    });
  }

  #emit(alert: Alert): void {
    this.#options.log.info("alert", {
      event: alert.event,
      severity: alert.severity,
      service: alertSubject(alert),
      title: alert.title,
      targets: alert.targets.length,
    });
    for (const channel of this.#options.channels) {
      const delivery = this.#delivery(alert, channel);
      if (delivery !== undefined) channel.queue.push(delivery);
    }
  }

  /** An alert rendered for a channel, able to fold in an older undelivered one. */
  #delivery(alert: Alert, channel: NotifierChannel): Delivery | undefined {
    let body: string;
    try {
      body = channel.render(alert);
    } catch (error) {
      this.#options.log.error("cannot render the alert", { channel: channel.name, error });
      return undefined;
    }
    const delivery: Delivery = {
      key: alertKey(alert),
      fingerprint: alertFingerprint(alert),
      body,
      label: `${alert.event} ${alertSubject(alert)}`,
      at: alert.at,
      combine: (older) => {
        const before = this.#alerts.get(older);
        if (before === undefined) return delivery;
        return this.#delivery(combineAlerts(before, alert), channel) ?? delivery;
      },
    };
    this.#alerts.set(delivery, alert);
    return delivery;
  }
}

function _plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function _shorten(text: string): string {
  return text.length <= MAX_ISSUE_LENGTH ? text : `${text.slice(0, MAX_ISSUE_LENGTH - 1)}…`;
}

/** The error of the most recent failed write of a publishing state. */
function _lastWriteError(state: PublishState): string | undefined {
  let last: { at: number; text: string } | undefined;
  for (const [object, result] of state.writes) {
    if (result.ok || (last !== undefined && result.at < last.at)) continue;
    const status = result.status ? ` (HTTP ${result.status})` : "";
    last = {
      at: result.at,
      text: `${result.verb} ${object}${status}: ${result.error ?? "failed"}`,
    };
  }
  return last?.text;
}

/** A publishing state's subject: its Service, in its cluster when the agent has several. */
function _stateKey(state: PublishState): string {
  return state.cluster === undefined ? state.service : `${state.service}|${state.cluster}`;
}

/** The cluster of a publishing state, to carry into its alerts. */
function _clusterOf(state: PublishState): { cluster?: string } {
  return state.cluster === undefined ? {} : { cluster: state.cluster };
}
