/**
 * The chaos report as Markdown tables: faults injected, violations, recovery and detection times,
 * totals.
 *
 * @module
 */

import { type ChaosReport, RSS_BOUND_MIB, WRITES_PER_MINUTE_BOUND } from "./chaos.ts";
import { FAULT_KINDS } from "./schedule.ts";
import { percentile } from "./stats.ts";

/** The report as Markdown tables (faults, violations, recoveries, totals). */
export function chaosTable(report: ChaosReport): string[] {
  const lines: string[] = [];
  const s = (ms: number) => Number.isFinite(ms) ? (ms / 1000).toFixed(2) : "–";
  lines.push(
    `seed ${report.seed}, ${report.minutes} min: ${report.episodesRun} of ${report.schedule.episodes} planned episodes in ${
      (report.elapsedMs / 60_000).toFixed(1)
    } min; reload faults ${report.reload ? "on" : "off"}; episodes skipped: ${
      report.skipped.size === 0
        ? "none"
        : [...report.skipped].map(([kind, n]) => `${kind} ${n}`).join(", ")
    }`,
    "",
    "| fault | injected |",
    "| --- | --- |",
  );
  for (const kind of FAULT_KINDS) {
    const count = report.faults.get(kind) ?? 0;
    if (count > 0) lines.push(`| ${kind} | ${count} |`);
  }
  lines.push(`| total | ${[...report.faults.values()].reduce((a, b) => a + b, 0)} |`, "");
  lines.push(`invariant violations: ${report.violations.length}`);
  if (report.violations.length > 0) {
    lines.push("", "| at (s) | invariant | detail |", "| --- | --- | --- |");
    for (const v of report.violations) {
      lines.push(`| ${v.at} | ${v.invariant} | ${v.detail.replaceAll("|", "/")} |`);
    }
  }
  lines.push(
    "",
    "| recovery: fault end → view correct | count | p50 (s) | p99 (s) | max (s) |",
    "| --- | --- | --- | --- | --- |",
  );
  const groups = new Map<string, number[]>();
  for (const r of report.recoveries) {
    const key = `${r.fault}: ${r.what}`;
    groups.set(key, [...groups.get(key) ?? [], r.ms]);
  }
  const row = (name: string, values: number[]) =>
    `| ${name} | ${values.length} | ${s(percentile(values, 0.5))} | ${
      s(percentile(values, 0.99))
    } | ${s(Math.max(...values))} |`;
  for (const [key, values] of [...groups].sort()) lines.push(row(key, values));
  lines.push(row("all", report.recoveries.map((r) => r.ms)));
  const detected = report.detections.map((d) => d.ms);
  lines.push(
    "",
    "| detection: target dead → not ready on the watch | count | p50 (s) | p99 (s) | max (s) |",
    "| --- | --- | --- | --- | --- |",
    row("all deaths seen", detected),
    row(
      "outside API/agent faults",
      report.detections.filter((d) => !/^(api|agent)-/.test(d.fault)).map((d) => d.ms),
    ),
  );
  lines.push(
    "",
    `writes seen: ${report.writes} (busiest minute ${report.busiestMinute}, bound ${WRITES_PER_MINUTE_BOUND}); ` +
      `agent RSS max ${report.rssMaxMiB.toFixed(1)} MiB (bound ${RSS_BOUND_MIB}); ` +
      `agent processes started: ${report.agentStarts}; webhook answers: ${
        Object.entries(report.webhook).map(([k, v]) => `${k} ${v}`).join(", ")
      }`,
  );
  return lines;
}
