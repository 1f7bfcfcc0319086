/**
 * The status page at `/` on `--listen`: the `/status` document as a plain HTML table a person
 * can read in a browser. One self-contained page (inline style, no script, no external asset)
 * that reloads itself with a meta refresh. It shows the configuration in force (hash, when it
 * was loaded, a rejected last reload), each Service's target sources (targets, failing, a
 * shrink held) and each target's source. Every value is escaped; the document it renders
 * holds no secret (see `statusDocument`), so neither does the page.
 *
 * @module
 */

import type {
  ConfigStatusDocument,
  ServiceStatusDocument,
  SourceStatusDocument,
  StatusDocument,
  TargetStatusDocument,
} from "./server.ts";

/** Options of {@linkcode statusPage}. */
export interface StatusPageOptions {
  /** Seconds between the page's own reloads (default 5). */
  readonly refreshSeconds?: number;
}

/** The page's HTML for a `/status` document. */
export function statusPage(document: StatusDocument, options: StatusPageOptions = {}): string {
  const refresh = Math.max(1, Math.round(options.refreshSeconds ?? 5));
  const replica = (document as { replica?: unknown }).replica;
  const now = Date.parse(document.time);
  const services = document.services.map((service) => serviceSection(service, now)).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HELASEID status</title>
<style>${STYLE}</style>
</head>
<body>
<h1>HELASEID status</h1>
<p class="meta">At <time id="generated" datetime="${esc(document.time)}">${
    esc(document.time)
  }</time>${document.version ? ` · version ${esc(document.version)}` : ""}${
    typeof replica === "string" ? ` · replica ${esc(replica)}` : ""
  } · reloads every ${refresh} s · <a href="/status">/status</a> (JSON) · <a href="/metrics">/metrics</a></p>
${document.config ? configLine(document.config, now) : ""}
${services || "<p>No Service configured.</p>"}
</body>
</html>
`;
}

/** The configuration in force: hash, file, load time, and a rejected last reload. */
function configLine(config: ConfigStatusDocument, now: number): string {
  const parts = [
    `configuration <code id="config-hash">${esc(config.hash)}</code>`,
    ...(config.path ? [`from ${esc(config.path)}`] : []),
    `loaded <time id="config-loaded" datetime="${esc(config.loadedAt)}">${
      esc(config.loadedAt)
    }</time>${age(now - Date.parse(config.loadedAt))}`,
  ];
  const last = config.lastReload;
  if (last && !last.ok) {
    const issues = last.issues ?? [];
    const shown = issues.slice(0, 5).map(esc).join("; ");
    const more = issues.length > 5 ? `; and ${issues.length - 5} more` : "";
    parts.push(
      `<span class="down" id="config-reload-failed">last reload at ${esc(last.at)} rejected ` +
        `(the configuration above still runs): ${shown}${more}</span>`,
    );
  } else if (last) {
    parts.push(`last reload at ${esc(last.at)}: ok`);
  }
  return `<p class="meta" id="config">${parts.join(" · ")}</p>`;
}

function serviceSection(service: ServiceStatusDocument, now: number): string {
  const id = `${service.namespace}/${service.name}`;
  const publish = service.publish;
  const up = service.targets.filter((t) => t.status === "healthy").length;
  const facts: string[] = [`${up} of ${service.targets.length} targets up`];
  if (!publish) facts.push("not published yet");
  else {
    if (publish.blocked) {
      facts.push(
        `<span class="down">blocked: ${esc(publish.blocked)}${
          publish.detail ? ` (${esc(publish.detail)})` : ""
        }</span>`,
      );
    }
    if (publish.conflict) facts.push(`another writer: ${esc(publish.conflict.writer)}`);
    if (publish.panic) facts.push(`<span class="down">panic: every target published</span>`);
    if (publish.endpoints) {
      facts.push(`published ${publish.endpoints.ready} ready, ${publish.endpoints.notReady} not`);
    }
    if (publish.failures > 0) {
      facts.push(`<span class="down">${publish.failures} failed writes</span>`);
    }
  }
  facts.push(`publisher: ${publisher(service)}`);
  const rows = service.targets.map((target) => targetRow(target, now)).join("\n");
  return `<section data-service="${esc(id)}">
<h2>${esc(id)}</h2>
<p class="meta">${facts.join(" · ")}</p>
${service.sources ? sourcesTable(service.sources) : ""}<table>
<thead><tr><th>target</th><th>state</th><th>since</th><th>last check</th><th>last error</th><th>zone</th><th>source</th><th>schedule</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</section>`;
}

/** A Service's target sources: each one's set, and whether it fails or holds a shrink. */
function sourcesTable(sources: readonly SourceStatusDocument[]): string {
  const rows = sources.map((source) => {
    const state = source.error !== undefined
      ? "failing"
      : source.held
      ? "held"
      : source.answered
      ? "ok"
      : "waiting";
    const notes: string[] = [];
    if (source.error !== undefined) {
      notes.push(
        `${esc(source.error)}${
          source.failingSince ? ` (since ${esc(source.failingSince)})` : ""
        }: last good set kept`,
      );
    }
    if (source.held) {
      notes.push(
        `shrink from ${source.held.from} to ${source.held.to} targets held until ${
          esc(source.held.until)
        }`,
      );
    }
    if (!source.answered) notes.push("no answer yet: nothing published until it answers");
    const css = state === "ok" ? "up" : state === "waiting" ? "unknown" : "down";
    return `<tr data-source="${esc(source.name)}" data-state="${state}">` +
      `<td>${esc(source.name)}</td>` +
      `<td class="${css}">${state}</td>` +
      `<td>${source.targets}</td>` +
      `<td>${source.skipped}</td>` +
      `<td class="error">${notes.join("; ")}</td></tr>`;
  }).join("\n");
  return `<table class="sources">
<thead><tr><th>source</th><th>state</th><th>targets</th><th>skipped</th><th>detail</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
`;
}

/** Which replica writes the Service: with Leases, the holder of its Lease. */
function publisher(service: ServiceStatusDocument): string {
  const lease = service.lease;
  if (!lease) return "this agent";
  if (lease.held) return "this replica (holds the Lease)";
  return lease.holder
    ? `replica ${esc(lease.holder)}`
    : `<span class="down">none: no replica holds the Lease</span>`;
}

function targetRow(target: TargetStatusDocument, now: number): string {
  const state = target.status === "healthy"
    ? "up"
    : target.status === "unhealthy"
    ? "down"
    : "unknown";
  const address = target.address.includes(":")
    ? `[${target.address}]:${target.port}`
    : `${target.address}:${target.port}`;
  const last = target.lastResult
    ? `${target.lastResult.latencyMs} ms ${target.lastResult.ok ? "ok" : "failed"}`
    : "none yet";
  const name = target.hostname ? ` <span class="meta">${esc(target.hostname)}</span>` : "";
  return `<tr data-target="${esc(address)}" data-state="${state}">` +
    `<td>${esc(address)}${name}</td>` +
    `<td class="${state}">${state}</td>` +
    `<td><time datetime="${esc(target.since)}">${esc(target.since)}</time>${
      age(now - Date.parse(target.since))
    }</td>` +
    `<td>${esc(last)}</td>` +
    `<td class="error">${esc(target.error ?? "")}</td>` +
    `<td>${esc([target.zone, target.region].filter((part) => part).join(", "))}</td>` +
    `<td>${esc(target.source ?? "configured")}</td>` +
    `<td>${esc(target.schedule)} ${esc(String(target.intervalMs))} ms</td></tr>`;
}

/** ` (4m 3s ago)`: how long a state has lasted, for a person; empty when unknown. */
function age(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "";
  const seconds = Math.floor(ms / 1000);
  const parts = [
    [Math.floor(seconds / 86400), "d"],
    [Math.floor(seconds / 3600) % 24, "h"],
    [Math.floor(seconds / 60) % 60, "m"],
    [seconds % 60, "s"],
  ] as const;
  const first = parts.findIndex(([value]) => value > 0);
  if (first < 0) return ` <span class="meta">(just now)</span>`;
  const shown = parts.slice(first, first + 2).filter(([value]) => value > 0);
  return ` <span class="meta">(${
    shown.map(([value, unit]) => `${value}${unit}`).join(" ")
  } ago)</span>`;
}

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** HTML-escapes text for element content and quoted attribute values. */
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .2em; font-family: ui-monospace, monospace; }
.meta { color: #555; margin: .2em 0 .6em; }
table { border-collapse: collapse; min-width: 60%; }
table.sources { margin-bottom: .8em; }
th, td { text-align: left; padding: .25em .8em; border-bottom: 1px solid #ddd; white-space: nowrap; }
td.error { white-space: normal; }
th { background: #f3f3f3; }
td:first-child { font-family: ui-monospace, monospace; }
.up { color: #fff; background: #2e7d32; font-weight: bold; text-align: center; }
.down { color: #b71c1c; font-weight: bold; }
td.down { color: #fff; background: #c62828; text-align: center; }
.unknown { color: #fff; background: #757575; text-align: center; }
`;
