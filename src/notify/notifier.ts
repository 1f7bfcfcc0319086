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
 * - Each alert goes to every channel's queue with a way to fold in an older alert of the same
 *   subject that is still undelivered ({@linkcode combineAlerts}).
 *
 * @module
 */

import type { AgentListener, TargetTransition } from "../agent.ts";
import type { Millis, ServiceConfig } from "../config/schema.ts";
import type { Clock } from "../health/scheduler.ts";
import type { Logger } from "../observe/log.ts";
import type { BlockedReason, PublishState } from "../publish/reconciler.ts";
import {
  type Alert,
  alertFingerprint,
  alertKey,
  BLOCKED_REASON_LABEL,
  BLOCKED_REASON_TEXT,
  formatSpan,
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
}

interface _Window {
  readonly tracker: ServiceTracker;
  timer?: unknown;
}

interface _Writes {
  since: number;
  error?: string;
  timer?: unknown;
  reported: boolean;
}

type _Reason = Exclude<BlockedReason, "waiting-first-checks">;

interface _Blocked {
  readonly since: number;
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
      let writes = this.#writes.get(state.service);
      if (!failing) {
        if (writes === undefined) return;
        this.#writes.delete(state.service);
        if (writes.timer !== undefined) this.#options.clock.clearTimeout(writes.timer);
        if (writes.reported) this.#emit(this.#writeAlert(state.service, writes, "recovered"));
        return;
      }
      if (writes === undefined) {
        writes = { since: state.failingSince!, reported: false };
        this.#writes.set(state.service, writes);
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
        if (this.#writes.get(state.service) !== current || this.#closed) return;
        current.reported = true;
        this.#emit(this.#writeAlert(state.service, current, "failing"));
      }, delay);
    } catch (error) {
      this.#options.log.error("cannot record the publishing state for alerts", { error });
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

  /** The blocked half of {@linkcode Notifier.publishState}. */
  #watchBlocked(state: PublishState): void {
    const { clock } = this.#options;
    const reason = state.blocked === "waiting-first-checks" ? undefined : state.blocked;
    let blocked = this.#blocked.get(state.service);
    if (reason === undefined) {
      if (blocked === undefined) return;
      this.#blocked.delete(state.service);
      if (blocked.timer !== undefined) clock.clearTimeout(blocked.timer);
      if (blocked.reported !== undefined) {
        this.#emit(this.#blockedAlert(state.service, blocked, "recovered"));
      }
      return;
    }
    if (blocked === undefined) {
      blocked = { since: state.blockedSince ?? clock.now(), reason };
      this.#blocked.set(state.service, blocked);
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
      if (this.#blocked.get(state.service) !== current || this.#closed) return;
      report(current);
    }, delay);
  }

  /**
   * What every Service-wide alert (blocked, writes failing) starts from: the Service, its current
   * target counts, no targets listed, `since` → now, and how long that lasted.
   */
  #serviceAlertBase(key: string, since: number) {
    const now = this.#options.clock.now();
    const [namespace = "", name = key] = key.split("/");
    const counts = this.#windows.get(key)?.tracker.counts ?? { healthy: 0, unhealthy: 0, total: 0 };
    const base = {
      cluster: this.#options.cluster,
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
    const common = this.#serviceAlertBase(key, blocked.since);
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
    const { base, lasted } = this.#serviceAlertBase(key, writes.since);
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
      service: `${alert.service.namespace}/${alert.service.name}`,
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
      label: `${alert.event} ${alert.service.namespace}/${alert.service.name}`,
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
