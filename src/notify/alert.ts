/**
 * The alert model every channel renders: what happened to one Service (targets down or back,
 * no healthy target left, writes to the Kubernetes API failing, a target source failing or its
 * sudden shrink held), or to the configuration (a reload rejected), independent of Teams or
 * JSON.
 *
 * A configuration alert concerns no Service: its `service` is `{ namespace: "", name: <the
 * configuration file's path> }` (so every receiver still finds a subject to show), and its
 * `config` says what was rejected.
 *
 * A primary alert (issue 15) concerns the Service with a `primary` block; its `primary` names
 * the companion Service, the primary before and after, and why it moved.
 *
 * @module
 */

import type { Millis } from "../config/schema.ts";
import type { PrimaryChange } from "../publish/primary_tracker.ts";
import type { BlockedReason } from "../publish/reconciler.ts";

/** How bad an alert is; decides the colour of a card and the `status` of a JSON alert. */
export type Severity = "critical" | "warning" | "resolved";

/** Every {@linkcode AlertEvent}, for documentation and validation. */
export const ALERT_EVENTS = [
  "targets-down",
  "targets-recovered",
  "targets-changed",
  "all-down",
  "all-down-recovered",
  "writes-failing",
  "writes-recovered",
  "blocked",
  "blocked-recovered",
  "source-failing",
  "source-recovered",
  "source-held",
  "source-hold-ended",
  "config-reload-failed",
  "config-reload-recovered",
  "primary-changed",
  "primary-contested",
] as const;

/**
 * What an alert reports:
 * - `targets-down`: targets went down (some may have come back within the window) while the
 *   Service still has healthy ones, or more went down while it has none;
 * - `targets-recovered`: targets came back;
 * - `targets-changed`: some went down and others came back in the same window;
 * - `all-down`: no healthy target left (the panic guard publishes all of them, unless
 *   `allDown: empty`);
 * - `all-down-recovered`: healthy targets again after `all-down`;
 * - `writes-failing` / `writes-recovered`: the agent cannot write the Service's objects to the
 *   Kubernetes API for longer than the threshold / can again;
 * - `blocked` / `blocked-recovered`: the Service cannot be published (missing, has a selector,
 *   namespace missing, access denied, another writer) / is no longer blocked;
 * - `source-failing` / `source-recovered`: a target source of the Service has failed for
 *   longer than the write-failure threshold (its last good set stays in force) / answers again;
 * - `source-held` / `source-hold-ended`: a source's set shrank suddenly and the change is held
 *   / the hold ended (the shrink applied, or dropped because the source recovered);
 * - `config-reload-failed` / `config-reload-recovered`: a reloaded configuration was rejected
 *   (the running one stays) / the next reload succeeded;
 * - `primary-changed`: the Service's primary moved (failover, failback, removed, claimed,
 *   unclaimed, none, or a primary again after none), not its first choice;
 * - `primary-contested`: more than one target claims to be primary (observe mode): the current
 *   one is kept.
 */
export type AlertEvent = typeof ALERT_EVENTS[number];

/** What became of a target since the last alert about its Service. */
export type TargetChange = "down" | "recovered" | "flapped";

/** One target named by an alert. */
export interface AlertTarget {
  readonly address: string;
  readonly port: number;
  readonly zone?: string;
  readonly hostname?: string;
  /** `flapped`: went down and came back within one coalescing window. */
  readonly state: TargetChange;
  /** The deciding probe's error (down and flapped targets). */
  readonly error?: string;
  /** When the target went down (epoch ms). */
  readonly since?: number;
  /** How long it was down (recovered and flapped targets). */
  readonly downFor?: Millis;
}

/** The target source an alert is about (`source-*` events). */
export interface AlertSource {
  /** Its name (`dns kafka.test`). */
  readonly name: string;
  /** Its kind (`dns`, `nodes`, ...). */
  readonly type: string;
  /** Targets of its set in force. */
  readonly targets: number;
  /** The shrink held: from how many targets to how many, until when (epoch ms). */
  readonly held?: { readonly from: number; readonly to: number; readonly until: number };
  /** How a hold ended: the shrink `applied` after it, or `dropped` as the source recovered. */
  readonly holdEnded?: "applied" | "dropped";
}

/** The configuration an alert is about (`config-reload-*` events). */
export interface AlertConfig {
  /** The configuration file. */
  readonly path?: string;
  /** The hash of the configuration in force. */
  readonly hash: string;
  /** What asked for the reload: the file changed, or SIGHUP. */
  readonly trigger: "file" | "signal";
  /** Why it was rejected (field paths and reasons, never a secret), cut to a few lines. */
  readonly issues?: readonly string[];
  /** Issues left out of `issues`. */
  readonly issuesOmitted?: number;
}

/** The primary an alert is about (`primary-*` events, issue 15). */
export interface AlertPrimary {
  /** The companion Service that shows the primary (in the Service's namespace). */
  readonly service: string;
  /** The primary before (absent: none). */
  readonly from?: string;
  /** The primary now (absent: none). */
  readonly to?: string;
  /** Why it moved; `contested` for `primary-contested`. */
  readonly reason: PrimaryChange["reason"];
  /** `primary-contested`: every target that claims to be primary, sorted. */
  readonly claimants?: readonly string[];
}

/** One alert about one Service, or about the configuration. */
export interface Alert {
  readonly event: AlertEvent;
  readonly severity: Severity;
  /** One line, for a card's title or a chat message. */
  readonly title: string;
  /** Cluster or kubeconfig context the agent publishes to. */
  readonly cluster: string;
  readonly service: { readonly namespace: string; readonly name: string };
  /** The targets concerned, down ones first. */
  readonly targets: readonly AlertTarget[];
  readonly healthy: number;
  readonly unhealthy: number;
  readonly total: number;
  /** True while the panic guard publishes every target as ready. */
  readonly panic: boolean;
  /** When the condition began (epoch ms). */
  readonly since: number;
  /** When the alert was raised (epoch ms). */
  readonly at: number;
  /** What failed, for `writes-failing` (the latest failed write). */
  readonly error?: string;
  /** How long the condition lasted, for `writes-recovered` and `blocked-recovered`. */
  readonly lasted?: Millis;
  /** Why the Service is (`blocked`) or was (`blocked-recovered`) not published. */
  readonly reason?: Exclude<BlockedReason, "waiting-first-checks">;
  /** The other HELASEID writer of a `conflict`. */
  readonly writer?: string;
  /** The target source of a `source-*` alert. */
  readonly source?: AlertSource;
  /** The configuration of a `config-reload-*` alert (its `service` is the file's path). */
  readonly config?: AlertConfig;
  /** The primary of a `primary-*` alert. */
  readonly primary?: AlertPrimary;
}

/** The subject of an alert for people and logs: `namespace/name`, or the configuration file. */
export function alertSubject(alert: Alert): string {
  return alertFamily(alert) === "config"
    ? alert.service.name
    : `${alert.service.namespace}/${alert.service.name}`;
}

/** `firing` or `resolved`, as Alertmanager-style receivers expect. */
export function alertStatus(alert: Alert): "firing" | "resolved" {
  return alert.severity === "resolved" ? "resolved" : "firing";
}

/**
 * What makes two alerts the same subject: a later alert with the same key supersedes an earlier
 * one (targets and writes of a Service are separate subjects; its primary is one more, so a
 * newer primary alert replaces one still waiting).
 */
export function alertKey(alert: Alert): string {
  const family = alertFamily(alert);
  // Each source of a Service is a subject of its own; its failure and its hold are two.
  const source = family === "source" || family === "hold" ? `|${alert.source?.name ?? ""}` : "";
  // A Service's writes and block are subjects of their own in each cluster (issue 14).
  const cluster = family === "writes" || family === "blocked" ? `|${alert.cluster}` : "";
  return `${alert.service.namespace}/${alert.service.name}|${family}${source}${cluster}`;
}

/** What an alert is about; see {@linkcode ALERT_EVENTS}. */
export type AlertFamily =
  | "targets"
  | "writes"
  | "blocked"
  | "source"
  | "hold"
  | "config"
  | "primary";

/**
 * The subject an alert is about: the Service's targets, its writes, its being blocked, a
 * source failing, a source's shrink held, the configuration, or the Service's primary.
 */
export function alertFamily(alert: Alert): AlertFamily {
  if (alert.event.startsWith("writes-")) return "writes";
  if (alert.event.startsWith("blocked")) return "blocked";
  if (alert.event === "source-held" || alert.event === "source-hold-ended") return "hold";
  if (alert.event.startsWith("source-")) return "source";
  if (alert.event.startsWith("config-")) return "config";
  if (alert.event.startsWith("primary-")) return "primary";
  return "targets";
}

/** What an alert says, without times: two alerts with equal fingerprints are repeats. */
export function alertFingerprint(alert: Alert): string {
  const targets = alert.targets.map((t) => `${t.address}:${t.port}=${t.state}`).sort();
  return JSON.stringify([
    alert.event,
    alert.healthy,
    alert.total,
    alert.panic,
    targets,
    ...(alert.reason === undefined ? [] : [alert.reason, alert.writer ?? "", alert.error ?? ""]),
    ...(alert.source === undefined ? [] : [alert.source, alert.error ?? ""]),
    ...(alert.config === undefined ? [] : [alert.config.issues ?? [], alert.config.hash]),
    ...(alert.primary === undefined ? [] : [alert.primary]),
  ]);
}

/** What each reason of a primary change means, for titles and a card's "Reason" fact. */
export const PRIMARY_REASON_TEXT: Readonly<Record<AlertPrimary["reason"], string>> = {
  initial: "a primary again after none",
  failover: "the primary fell (failover)",
  failback: "a more preferred target has been healthy for failbackAfter (failback)",
  removed: "the primary left the targets",
  kept: "kept",
  none: "no healthy target to take over",
  claimed: "its role check says it is primary",
  unclaimed: "no target claims to be primary (noPrimary: empty)",
  contested: "more than one target claims to be primary: keeping the current one",
};

/** A blocked reason in a few words, for titles. */
export const BLOCKED_REASON_LABEL: Readonly<
  Record<Exclude<BlockedReason, "waiting-first-checks">, string>
> = {
  "service-missing": "Service missing",
  "service-has-selector": "Service has a selector",
  "namespace-missing": "namespace missing",
  "access-denied": "access denied",
  "conflict": "another writer",
};

/** What a blocked reason means, for a card's "Reason" fact. */
export const BLOCKED_REASON_TEXT: Readonly<
  Record<Exclude<BlockedReason, "waiting-first-checks">, string>
> = {
  "service-missing": "the Service does not exist",
  "service-has-selector":
    "the Service has a selector, so the endpoint controller owns its endpoints",
  "namespace-missing": "the namespace does not exist",
  "access-denied": "the Kubernetes API denies access: check the Role and the credentials",
  "conflict": "another HELASEID writer rewrites the Service's objects: not writing",
};

/** `address:port`, with brackets for IPv6. */
export function targetName(target: { readonly address: string; readonly port: number }): string {
  return target.address.includes(":")
    ? `[${target.address}]:${target.port}`
    : `${target.address}:${target.port}`;
}

/** A span for people: `850ms`, `4.2s`, `1m 5s`, `2h 3m`, `3d 4h`. */
export function formatSpan(ms: Millis): string {
  if (!Number.isFinite(ms) || ms < 0) return "0s";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${Math.floor(ms / 100) / 10}s`;
  const seconds = Math.round(ms / 1000);
  const units: [number, string][] = [[86_400, "d"], [3600, "h"], [60, "m"], [1, "s"]];
  // The two largest non-zero units are precise enough for an alert.
  const parts: string[] = [];
  let rest = seconds;
  for (const [size, unit] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  return parts.filter((part) => !/^0[a-z]$/.test(part)).join(" ");
}

/** What a card or a chat line says about one target. */
export function describeTarget(target: AlertTarget): string {
  switch (target.state) {
    case "down":
      return target.error === undefined ? "down" : `down: ${target.error}`;
    case "recovered":
      return target.downFor === undefined
        ? "recovered"
        : `recovered after ${formatSpan(target.downFor)} down`;
    case "flapped":
      return `down for ${formatSpan(target.downFor ?? 0)}, then recovered` +
        (target.error === undefined ? "" : ` (${target.error})`);
  }
}

/** "2 of 3 targets healthy", with the panic guard when it is on. */
export function describeState(alert: Alert): string {
  const unchecked = alert.total - alert.healthy - alert.unhealthy;
  const counts = `${alert.healthy} of ${alert.total} targets healthy` +
    (unchecked > 0 ? ` (${unchecked} not checked yet)` : "");
  if (alertFamily(alert) !== "targets") return counts;
  if (alert.panic) return `${counts}: panic guard on, every target is published as ready`;
  if (alert.healthy === 0 && alert.unhealthy > 0) {
    return `${counts}: no endpoint is ready (allDown: empty)`;
  }
  return counts;
}
