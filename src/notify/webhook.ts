/**
 * The generic JSON webhook payload, version 1: the same alerts as Teams, as a stable JSON
 * document for Slack-style receivers (it has a `text` field), Alertmanager-style relays
 * (`status` is `firing` or `resolved`) or anything that reads JSON.
 *
 * ```json
 * {
 *   "version": 1,
 *   "kind": "helaseid.alert",
 *   "event": "targets-down",
 *   "severity": "warning",
 *   "status": "firing",
 *   "title": "2 targets of datastream/brokers are down: 1 of 3 healthy",
 *   "text": "2 targets of datastream/brokers are down: 1 of 3 healthy\n• 10.188.2.3:9092 down: ...",
 *   "cluster": "prod-eu",
 *   "service": { "namespace": "datastream", "name": "brokers" },
 *   "targets": [{ "address": "10.188.2.3", "port": 9092, "zone": "zone-a", "state": "down",
 *                 "error": "connection refused", "since": "2026-11-26T10:00:00.000Z" }],
 *   "targetsOmitted": 0,
 *   "healthy": 1, "unhealthy": 2, "total": 3,
 *   "panic": false,
 *   "since": "2026-11-26T10:00:00.000Z",
 *   "at": "2026-11-26T10:00:02.000Z"
 * }
 * ```
 *
 * Target sources (`source-failing`, `source-recovered`, `source-held`, `source-hold-ended`) add
 * `source`:
 *
 * ```json
 * "source": { "name": "dns kafka.test", "type": "dns", "targets": 3,
 *             "held": { "from": 3, "to": 0, "until": "2026-11-26T10:05:00.000Z" },
 *             "holdEnded": "applied" }
 * ```
 *
 * Reloads (`config-reload-failed`, `config-reload-recovered`) concern no Service: `service` is
 * `{ "namespace": "", "name": "<the configuration file's path>" }`, the counts are 0, and
 * `config` says what happened (at most 10 issues, each cut to 300 characters, and
 * `issuesOmitted` when more were left out; never a secret):
 *
 * ```json
 * "config": { "path": "/etc/helaseid/config.yaml", "hash": "9f2c41d07a3b5e88",
 *             "trigger": "file", "issues": ["services[0].probe.port: ..."] }
 * ```
 *
 * Primaries (`primary-changed`, `primary-contested`, issue 15) add `primary`: the companion
 * Service, the primary before and after (absent: none), the reason, and for a contested claim
 * every claimant (`from` and `to` are then the primary kept):
 *
 * ```json
 * "primary": { "service": "postgres-primary", "from": "10.188.3.1", "to": "10.188.3.2",
 *              "reason": "failover" }
 * ```
 *
 * Fields are only ever added within version 1; optional fields are left out, never null.
 *
 * @module
 */

import type { Millis } from "../config/schema.ts";
import {
  type Alert,
  type AlertEvent,
  alertStatus,
  describeTarget,
  type Severity,
  type TargetChange,
  targetName,
} from "./alert.ts";

/** One target of a {@linkcode WebhookPayload}. */
export interface WebhookTarget {
  readonly address: string;
  readonly port: number;
  readonly zone?: string;
  readonly hostname?: string;
  /** `down`, `recovered`, or `flapped` (down and back within the coalescing window). */
  readonly state: TargetChange;
  /** The deciding probe's error (down and flapped targets). */
  readonly error?: string;
  /** When the target went down, ISO 8601. */
  readonly since?: string;
  /** How long it was down, in seconds (recovered and flapped targets). */
  readonly downSeconds?: number;
}

/** The JSON document (version 1) posted to a generic webhook. */
export interface WebhookPayload {
  readonly version: 1;
  readonly kind: "helaseid.alert";
  readonly event: AlertEvent;
  readonly severity: Severity;
  readonly status: "firing" | "resolved";
  readonly title: string;
  /** The title and one line per target (at most 20), for chat receivers. */
  readonly text: string;
  readonly cluster: string;
  readonly service: { readonly namespace: string; readonly name: string };
  readonly targets: readonly WebhookTarget[];
  /** Targets left out of `targets` to keep the document small. */
  readonly targetsOmitted: number;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly total: number;
  /** True while the panic guard publishes every target as ready. */
  readonly panic: boolean;
  /** When the condition began, ISO 8601. */
  readonly since: string;
  /** When the alert was raised, ISO 8601. */
  readonly at: string;
  /** What failed (`writes-failing`), or what blocks the Service (`blocked`). */
  readonly error?: string;
  /** How long the condition lasted, in seconds (`writes-recovered`, `blocked-recovered`). */
  readonly lastedSeconds?: number;
  /** Why the Service is or was not published (`blocked`, `blocked-recovered`). */
  readonly reason?: NonNullable<Alert["reason"]>;
  /** The other HELASEID writer of a `conflict`. */
  readonly writer?: string;
  /** The target source of a `source-*` alert. */
  readonly source?: {
    readonly name: string;
    readonly type: string;
    /** Targets of its set in force. */
    readonly targets: number;
    /** The shrink held: from and to how many targets, held until when (ISO 8601). */
    readonly held?: { readonly from: number; readonly to: number; readonly until: string };
    /** `source-hold-ended`: `applied` after the hold, or `dropped` as the source recovered. */
    readonly holdEnded?: "applied" | "dropped";
  };
  /** The configuration of a `config-reload-*` alert. */
  readonly config?: {
    readonly path?: string;
    /** The hash of the configuration in force. */
    readonly hash: string;
    /** `file` (the file changed) or `signal` (SIGHUP). */
    readonly trigger: "file" | "signal";
    /** Why the reload was rejected, at most 10 lines. */
    readonly issues?: readonly string[];
    /** Issues left out of `issues`. */
    readonly issuesOmitted?: number;
  };
  /** The primary of a `primary-*` alert. */
  readonly primary?: {
    /** The companion Service showing the primary, in the Service's namespace. */
    readonly service: string;
    /** The primary before (absent: none). */
    readonly from?: string;
    /** The primary now (absent: none); the one kept for `primary-contested`. */
    readonly to?: string;
    /**
     * `failover`, `failback`, `removed`, `none`, `claimed`, `unclaimed`, `initial` (a primary
     * again after none) or `contested`.
     */
    readonly reason: NonNullable<Alert["primary"]>["reason"];
    /** `primary-contested`: every target claiming to be primary. */
    readonly claimants?: readonly string[];
  };
}

/** Targets listed at most in a JSON alert. */
const MAX_WEBHOOK_TARGETS = 200;

/** The JSON alert of an alert. */
export function webhookPayload(alert: Alert): WebhookPayload {
  const listed = alert.targets.slice(0, MAX_WEBHOOK_TARGETS);
  const lines = alert.targets.slice(0, 20).map((t) => `• ${targetName(t)} ${describeTarget(t)}`);
  if (alert.targets.length > 20) lines.push(`• and ${alert.targets.length - 20} more`);
  if (alert.writer !== undefined) lines.push(`other writer: ${alert.writer}`);
  if (alert.error !== undefined) lines.push(alert.error);
  for (const issue of alert.config?.issues ?? []) lines.push(`• ${issue}`);
  if (alert.primary?.claimants) lines.push(`claimants: ${alert.primary.claimants.join(", ")}`);
  if (alert.config?.issuesOmitted) lines.push(`• and ${alert.config.issuesOmitted} more`);
  return {
    version: 1,
    kind: "helaseid.alert",
    event: alert.event,
    severity: alert.severity,
    status: alertStatus(alert),
    title: alert.title,
    text: [alert.title, ...lines].join("\n"),
    cluster: alert.cluster,
    service: { namespace: alert.service.namespace, name: alert.service.name },
    targets: listed.map((target) => ({
      address: target.address,
      port: target.port,
      ...(target.zone === undefined ? {} : { zone: target.zone }),
      ...(target.hostname === undefined ? {} : { hostname: target.hostname }),
      state: target.state,
      ...(target.error === undefined ? {} : { error: target.error }),
      ...(target.since === undefined ? {} : { since: new Date(target.since).toISOString() }),
      ...(target.downFor === undefined ? {} : { downSeconds: _seconds(target.downFor) }),
    })),
    targetsOmitted: alert.targets.length - listed.length,
    healthy: alert.healthy,
    unhealthy: alert.unhealthy,
    total: alert.total,
    panic: alert.panic,
    since: new Date(alert.since).toISOString(),
    at: new Date(alert.at).toISOString(),
    ...(alert.error === undefined ? {} : { error: alert.error }),
    ...(alert.lasted === undefined ? {} : { lastedSeconds: _seconds(alert.lasted) }),
    ...(alert.reason === undefined ? {} : { reason: alert.reason }),
    ...(alert.writer === undefined ? {} : { writer: alert.writer }),
    ...(alert.source === undefined ? {} : {
      source: {
        name: alert.source.name,
        type: alert.source.type,
        targets: alert.source.targets,
        ...(alert.source.held === undefined ? {} : {
          held: {
            from: alert.source.held.from,
            to: alert.source.held.to,
            until: new Date(alert.source.held.until).toISOString(),
          },
        }),
        ...(alert.source.holdEnded === undefined ? {} : { holdEnded: alert.source.holdEnded }),
      },
    }),
    ...(alert.config === undefined ? {} : {
      config: {
        ...(alert.config.path === undefined ? {} : { path: alert.config.path }),
        hash: alert.config.hash,
        trigger: alert.config.trigger,
        ...(alert.config.issues === undefined ? {} : { issues: alert.config.issues }),
        ...(alert.config.issuesOmitted === undefined
          ? {}
          : { issuesOmitted: alert.config.issuesOmitted }),
      },
    }),
    ...(alert.primary === undefined ? {} : {
      primary: {
        service: alert.primary.service,
        ...(alert.primary.from === undefined ? {} : { from: alert.primary.from }),
        ...(alert.primary.to === undefined ? {} : { to: alert.primary.to }),
        reason: alert.primary.reason,
        ...(alert.primary.claimants === undefined ? {} : { claimants: alert.primary.claimants }),
      },
    }),
  };
}

/** Seconds with millisecond precision. */
function _seconds(ms: Millis): number {
  return Math.round(ms) / 1000;
}
