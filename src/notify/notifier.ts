/**
 * The notifier: an {@linkcode AgentListener} that turns transitions and publishing states into
 * alerts and hands them to one delivery queue per channel. Its listener methods only record
 * and set timers, so a slow or dead webhook never delays probing or publishing.
 *
 * - Target alerts: each Service's transitions are gathered for a window (`coalesce`, from the
 *   first transition) and reported as one alert of the net change ({@linkcode ServiceTracker}).
 * - Write alerts: when a Service's writes have failed for `writeFailureThreshold`, one alert;
 *   when they succeed again, one recovery alert (only if the failure was reported).
 *
 * @module
 */

import type { AgentListener, TargetTransition } from "../agent.ts";
import type { Millis, ServiceConfig } from "../config/schema.ts";
import type { Clock } from "../health/scheduler.ts";
import type { Logger } from "../observe/log.ts";
import type { PublishState } from "../publish/reconciler.ts";
import { type Alert, alertFingerprint, alertKey, formatSpan } from "./alert.ts";
import type { DeliveryQueue, DeliveryStats } from "./queue.ts";
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
  /** How long writes must fail before an alert. */
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

/** Alerts on health transitions and API write failures; see the module documentation. */
export class Notifier implements AgentListener {
  readonly #options: NotifierOptions;
  readonly #windows = new Map<string, _Window>();
  readonly #writes = new Map<string, _Writes>();
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

  /** Watches a Service's writes: alerts when they fail for too long and when they recover. */
  publishState(state: PublishState): void {
    if (this.#closed) return;
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
    for (const writes of this.#writes.values()) {
      if (writes.timer !== undefined) clock.clearTimeout(writes.timer);
      writes.timer = undefined;
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

  #flush(window: _Window): void {
    const alert = window.tracker.flush(this.#options.clock.now());
    if (alert !== undefined) this.#emit(alert);
  }

  #writeAlert(key: string, writes: _Writes, change: "failing" | "recovered"): Alert {
    const now = this.#options.clock.now();
    const [namespace = "", name = key] = key.split("/");
    const lasted = now - writes.since;
    const counts = this.#windows.get(key)?.tracker.counts ?? { healthy: 0, unhealthy: 0, total: 0 };
    const base = {
      cluster: this.#options.cluster,
      service: { namespace, name },
      targets: [],
      ...counts,
      panic: false,
      since: writes.since,
      at: now,
    };
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
    const key = alertKey(alert);
    const fingerprint = alertFingerprint(alert);
    const label = `${alert.event} ${alert.service.namespace}/${alert.service.name}`;
    this.#options.log.info("alert", {
      event: alert.event,
      severity: alert.severity,
      service: `${alert.service.namespace}/${alert.service.name}`,
      title: alert.title,
      targets: alert.targets.length,
    });
    for (const channel of this.#options.channels) {
      let body: string;
      try {
        body = channel.render(alert);
      } catch (error) {
        this.#options.log.error("cannot render the alert", { channel: channel.name, error });
        continue;
      }
      channel.queue.push({ key, fingerprint, body, label });
    }
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
