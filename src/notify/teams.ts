/**
 * Microsoft Teams payloads: an Adaptive Card per alert, for a Workflows webhook (Office 365
 * connectors are retired). The card has a coloured title (attention, warning, good), a FactSet
 * with cluster, service, state, since and error, and a FactSet with one line per target.
 *
 * Teams refuses messages over 28 KB: long target lists are cut and end with "and N more", long
 * errors are shortened, until the serialized payload fits.
 *
 * @module
 */

import type { TeamsCardShape } from "../config/schema.ts";
import {
  type Alert,
  alertFamily,
  type AlertTarget,
  BLOCKED_REASON_TEXT,
  describeState,
  describeTarget,
  formatSpan,
  PRIMARY_REASON_TEXT,
  type Severity,
  targetName,
} from "./alert.ts";

/** The largest serialized payload sent to Teams, in bytes (Teams allows 28 KB). */
export const MAX_TEAMS_BYTES = 28_000;

/** The Adaptive Card schema version used: the newest that Teams renders everywhere. */
const ADAPTIVE_CARD_VERSION = "1.4";

/** An Adaptive Card (the subset HELASEID writes). */
export interface AdaptiveCard {
  readonly type: "AdaptiveCard";
  readonly $schema: string;
  readonly version: string;
  readonly msteams: { readonly width: "Full" };
  readonly fallbackText: string;
  readonly body: readonly Record<string, unknown>[];
}

/** The message a Workflows webhook expects: the card as the only attachment. */
export interface TeamsMessage {
  readonly type: "message";
  readonly attachments: readonly [{
    readonly contentType: "application/vnd.microsoft.card.adaptive";
    readonly content: AdaptiveCard;
  }];
}

/** One Adaptive Card fact. */
export interface Fact {
  readonly title: string;
  readonly value: string;
}

/** Targets a card lists at most before "and N more". */
const MAX_CARD_TARGETS = 50;
/** Characters of an error a card shows at most. */
const MAX_CARD_ERROR = 300;

/** Options of {@linkcode teamsCard}. */
export interface CardOptions {
  /**
   * Targets listed at most before "and N more".
   *
   * @default {50}
   */
  readonly maxTargets?: number;
  /**
   * Characters of an error shown at most.
   *
   * @default {300}
   */
  readonly maxError?: number;
}

const STYLES: Record<Severity, { container: string; color: string }> = {
  critical: { container: "attention", color: "Attention" },
  warning: { container: "warning", color: "Warning" },
  resolved: { container: "good", color: "Good" },
};

/** The Adaptive Card of an alert. */
function teamsCard(alert: Alert, options: CardOptions = {}): AdaptiveCard {
  const maxTargets = options.maxTargets ?? MAX_CARD_TARGETS;
  const maxError = options.maxError ?? MAX_CARD_ERROR;
  const style = STYLES[alert.severity];
  const body: Record<string, unknown>[] = [
    {
      type: "Container",
      style: style.container,
      bleed: true,
      items: [{
        type: "TextBlock",
        text: _shorten(alert.title, 400),
        weight: "Bolder",
        size: "Medium",
        color: style.color,
        wrap: true,
      }],
    },
    { type: "FactSet", facts: summaryFacts(alert, { maxError }) },
  ];
  const issues = alert.config?.issues ?? [];
  if (issues.length > 0) {
    const more = alert.config?.issuesOmitted ?? 0;
    const lines = issues.map((issue) => `- ${_shorten(issue, maxError)}`);
    if (more > 0) lines.push(`- and ${more} more`);
    // Adaptive Card markdown: list items separated by "\r".
    body.push({ type: "TextBlock", text: lines.join("\r"), wrap: true, spacing: "Medium" });
  }
  if (alert.targets.length > 0) {
    body.push({
      type: "FactSet",
      spacing: "Medium",
      separator: true,
      facts: targetFacts(alert.targets, { maxTargets, maxError }),
    });
  }
  return {
    type: "AdaptiveCard",
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    version: ADAPTIVE_CARD_VERSION,
    msteams: { width: "Full" },
    fallbackText: _shorten(alert.title, 400),
    body,
  };
}

/** Cluster, service, targets, state, reason, other writer, error and since of an alert. */
function summaryFacts(alert: Alert, options: { maxError: number }): Fact[] {
  if (alert.config !== undefined && alertFamily(alert) === "config") {
    return configFacts(alert, alert.config);
  }
  const facts: Fact[] = [
    { title: "Cluster", value: alert.cluster },
    { title: "Service", value: `${alert.service.namespace}/${alert.service.name}` },
  ];
  if (alert.source !== undefined) {
    const { source } = alert;
    facts.push({ title: "Source", value: `${source.name} (${source.type})` });
    facts.push({ title: "Source targets", value: String(source.targets) });
    if (source.held !== undefined) {
      const until = new Date(source.held.until).toISOString();
      facts.push({
        title: "Held shrink",
        value: `${source.held.from} → ${source.held.to} targets` +
          (source.holdEnded === undefined
            ? `, held until ${until}`
            : source.holdEnded === "applied"
            ? ", applied after the hold"
            : ", dropped: the source recovered"),
      });
    }
  }
  if (alert.primary !== undefined) facts.push(...primaryFacts(alert, alert.primary));
  if (alert.targets.length > 0) {
    const names = alert.targets.slice(0, 5).map(targetName);
    const more = alert.targets.length - names.length;
    facts.push({
      title: alert.targets.length === 1 ? "Target" : "Targets",
      value: more > 0 ? `${names.join(", ")} and ${more} more` : names.join(", "),
    });
  }
  facts.push({ title: "State", value: describeState(alert) });
  if (alert.reason !== undefined) {
    facts.push({ title: "Reason", value: BLOCKED_REASON_TEXT[alert.reason] });
  }
  if (alert.writer !== undefined) {
    facts.push({ title: "Other writer", value: _shorten(alert.writer, options.maxError) });
  }
  const error = alert.error ?? _commonError(alert.targets);
  if (error !== undefined) {
    // A blocked Service's error is the detail of what blocks it (verb, resource, status).
    const title = alert.reason === undefined ? "Error" : "Detail";
    facts.push({ title, value: _shorten(error, options.maxError) });
  }
  const since = new Date(alert.since).toISOString();
  facts.push({
    title: "Since",
    value: alert.lasted !== undefined
      ? `${since} (${formatSpan(alert.lasted)})`
      : alert.severity === "resolved" || alert.primary !== undefined
      ? since
      : `${since} (${formatSpan(alert.at - alert.since)} ago)`,
  });
  return facts;
}

/** The facts of a primary alert: the primary Service, the move (or the claimants), why. */
function primaryFacts(alert: Alert, primary: NonNullable<Alert["primary"]>): Fact[] {
  const facts: Fact[] = [
    { title: "Primary Service", value: `${alert.service.namespace}/${primary.service}` },
  ];
  if (primary.reason === "contested") {
    facts.push({ title: "Kept", value: primary.from ?? "none" });
    if (primary.claimants !== undefined) {
      facts.push({ title: "Claimants", value: primary.claimants.join(", ") });
    }
  } else {
    facts.push({ title: "Primary", value: `${primary.from ?? "none"} → ${primary.to ?? "none"}` });
  }
  facts.push({ title: "Reason", value: PRIMARY_REASON_TEXT[primary.reason] });
  return facts;
}

/** The facts of a reload alert: the file, the trigger, the hash in force and the time. */
function configFacts(alert: Alert, config: NonNullable<Alert["config"]>): Fact[] {
  const facts: Fact[] = [
    { title: "Cluster", value: alert.cluster },
    { title: "Configuration", value: config.path ?? alert.service.name },
    { title: "Trigger", value: config.trigger === "signal" ? "SIGHUP" : "file change" },
    { title: "Hash in force", value: config.hash },
  ];
  const since = new Date(alert.since).toISOString();
  facts.push({
    title: "Since",
    value: alert.lasted !== undefined ? `${since} (${formatSpan(alert.lasted)})` : since,
  });
  return facts;
}

/** One fact per target, cut at `maxTargets` with a last "and N more". */
function targetFacts(
  targets: readonly AlertTarget[],
  options: { maxTargets: number; maxError: number },
): Fact[] {
  const shown = targets.slice(0, Math.max(0, options.maxTargets));
  const facts: Fact[] = shown.map((target) => {
    const where = [target.zone, target.hostname].filter((part) => part !== undefined);
    return {
      title: where.length > 0 ? `${targetName(target)} (${where.join(", ")})` : targetName(target),
      value: _shorten(describeTarget(target), options.maxError + 40),
    };
  });
  const more = targets.length - shown.length;
  if (more > 0) facts.push({ title: "…", value: `and ${more} more` });
  return facts;
}

/**
 * The serialized payload of an alert in the given shape, at most `maxBytes` (default
 * {@linkcode MAX_TEAMS_BYTES}) of UTF-8: fewer targets and shorter errors until it fits.
 */
export function teamsPayload(
  alert: Alert,
  options: { readonly shape: TeamsCardShape; readonly maxBytes?: number },
): string {
  const maxBytes = options.maxBytes ?? MAX_TEAMS_BYTES;
  const encoder = new TextEncoder();
  let maxTargets = MAX_CARD_TARGETS;
  let maxError = MAX_CARD_ERROR;
  // Halve the listed targets (then the error length) until the payload fits; a card with no
  // target listed and 40-character errors is a few hundred bytes.
  for (;;) {
    const card = teamsCard(alert, { maxTargets, maxError });
    const text = JSON.stringify(options.shape === "card" ? card : teamsMessage(card));
    if (encoder.encode(text).length <= maxBytes || (maxTargets === 0 && maxError <= 40)) {
      return text;
    }
    if (maxTargets > 0) maxTargets = Math.floor(maxTargets / 2);
    else maxError = Math.max(40, Math.floor(maxError / 2));
  }
}

/** The Workflows message carrying a card. */
function teamsMessage(card: AdaptiveCard): TeamsMessage {
  return {
    type: "message",
    attachments: [{ contentType: "application/vnd.microsoft.card.adaptive", content: card }],
  };
}

/** The error every target shares, if they all have the same one. */
function _commonError(targets: readonly AlertTarget[]): string | undefined {
  const errors = new Set(targets.filter((t) => t.state !== "recovered").map((t) => t.error));
  if (errors.size !== 1) return undefined;
  const [error] = errors;
  return error;
}

function _shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
