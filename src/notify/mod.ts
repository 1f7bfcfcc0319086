/**
 * Alerts: Microsoft Teams (Workflows webhook, Adaptive Cards) and a generic JSON webhook, fed
 * by the agent's transitions and publishing states (DESIGN §3.5).
 *
 * ```ts
 * const notifier = createNotifier(config, { log, cluster: client.name });
 * const agent = new Agent({ config, client, log, listeners: notifier ? [notifier] : [] });
 * // ... on shutdown, after agent.stop():
 * await notifier?.close(5000);
 * ```
 *
 * @module
 */

import { ALERT_DEFAULTS, type Config, resolveAlertSettings } from "../config/schema.ts";
import { type Clock, systemClock } from "../health/scheduler.ts";
import type { Logger } from "../observe/log.ts";
import { Notifier, type NotifierChannel, type NotifierOptions } from "./notifier.ts";
import { postJson } from "./post.ts";
import {
  type DeliveryOptions,
  DeliveryQueue,
  type DeliveryResult,
  type DropReason,
} from "./queue.ts";
import { teamsPayload } from "./teams.ts";
import { webhookPayload } from "./webhook.ts";

export {
  type Alert,
  ALERT_EVENTS,
  type AlertConfig,
  type AlertEvent,
  type AlertSource,
  type AlertTarget,
  type Severity,
  type TargetChange,
} from "./alert.ts";
export {
  MAX_ALERT_ISSUES,
  Notifier,
  type NotifierChannel,
  type NotifierOptions,
} from "./notifier.ts";
export { combineAlerts } from "./combine.ts";
export {
  DEFAULT_MAX_AGE,
  DeliveryAbortedError,
  type DeliveryOptions,
  DeliveryQueue,
  type DeliveryQueueOptions,
  type DeliveryResult,
  type DeliveryStats,
  DeliveryTimeoutError,
  DROP_REASONS,
  type DropReason,
  type RetryPolicy,
} from "./queue.ts";
export { MAX_TEAMS_BYTES, teamsPayload } from "./teams.ts";
export { ServiceTracker, type TrackerOptions } from "./tracker.ts";
export { type WebhookPayload, webhookPayload, type WebhookTarget } from "./webhook.ts";

/** The channels HELASEID can alert on: the `channel` label of `helaseid_notifications_total`. */
const CHANNELS = ["teams", "webhook"] as const;
/** A channel name. */
export type ChannelName = typeof CHANNELS[number];

/**
 * The channels a configuration alerts on, in {@linkcode CHANNELS} order: the `channel` values
 * whose notification series exist from the start.
 */
export function configuredChannels(config: Pick<Config, "alerts">): ChannelName[] {
  return CHANNELS.filter((channel) => config.alerts[channel] !== undefined);
}

/** Options of {@linkcode createNotifier}. */
export interface CreateNotifierOptions {
  /** Where delivery problems are logged (with `component: "notify"`); URLs never are. */
  readonly log: Logger;
  /** Cluster or kubeconfig context name shown in alerts. */
  readonly cluster: string;
  /** Default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1) for retry jitter (default `Math.random`). */
  readonly random?: () => number;
  /**
   * Called for every delivery outcome, to count `helaseid_notifications_total` and, with the
   * reason of a drop, `helaseid_notifications_dropped_total`. Must not throw.
   */
  readonly onResult?: (channel: ChannelName, result: DeliveryResult, reason?: DropReason) => void;
  /** The configuration file, named by reload alerts (default `configuration`). */
  readonly configPath?: string;
  /** Every running source's state (`discovery.statuses()`): see {@linkcode NotifierOptions}. */
  readonly sources?: NotifierOptions["sources"];
  /** Queue, rate limit, timeout and retry tunables of every channel (defaults in {@linkcode DeliveryOptions}). */
  readonly delivery?: DeliveryOptions;
}

/**
 * The notifier for the alert channels of a configuration, or `undefined` when none is
 * configured. Register it as an agent listener; `close()` it after the agent stopped.
 */
export function createNotifier(
  config: Config,
  options: CreateNotifierOptions,
): Notifier | undefined {
  const { alerts } = config;
  const clock = options.clock ?? systemClock;
  const log = options.log.with({ component: "notify" });
  const fetch = options.fetch;
  const channels: NotifierChannel[] = [];
  const queue = (channel: ChannelName, url: NonNullable<Config["alerts"]["webhook"]>["url"]) =>
    new DeliveryQueue({
      ...options.delivery,
      channel,
      clock,
      random: options.random,
      log,
      send: (body, signal) => postJson(url, body, { fetch, signal, now: clock.now() }),
      onResult: options.onResult &&
        ((result, reason) => options.onResult!(channel, result, reason)),
    });
  if (alerts.teams !== undefined) {
    const shape = alerts.teams.shape ?? ALERT_DEFAULTS.shape;
    channels.push({
      name: "teams",
      render: (alert) => teamsPayload(alert, { shape }),
      queue: queue("teams", alerts.teams.url),
    });
  }
  if (alerts.webhook !== undefined) {
    channels.push({
      name: "webhook",
      render: (alert) => JSON.stringify(webhookPayload(alert)),
      queue: queue("webhook", alerts.webhook.url),
    });
  }
  if (channels.length === 0) return undefined;
  const { coalesce, writeFailureThreshold, degraded } = resolveAlertSettings(alerts);
  return new Notifier({
    services: config.services,
    channels,
    cluster: options.cluster,
    clock,
    log,
    coalesce,
    writeFailureThreshold,
    degraded,
    ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
    ...(options.sources === undefined ? {} : { sources: options.sources }),
  });
}
