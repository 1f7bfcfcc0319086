/**
 * `helaseid check`: probe every target once with its Service's configured checks and tabulate
 * the answers, one line per check. Probes run concurrently (capped), so one black-holed target
 * costs one timeout, not one per target.
 *
 * @module
 */

import { type CheckStatus, checkStatuses } from "./agent.ts";
import type { Config, ServiceConfig } from "./config/schema.ts";
import { proberForChecks } from "./probe/all.ts";
import { type Prober, type ProbeResult, reasonOf } from "./probe/mod.ts";

/** One target's answer. */
export interface CheckRow {
  /** `namespace/name` of the Service. */
  readonly service: string;
  /** The target's address. */
  readonly address: string;
  /** The Service's probe port (a check may have its own). */
  readonly port: number;
  /** The combined result: ok when every check passed, the first failure's reason. */
  readonly result: ProbeResult;
  /** Each check's part of the result, in configuration order. */
  readonly checks: readonly CheckStatus[];
}

/** Options of {@linkcode checkAll}. */
export interface CheckAllOptions {
  /** Checks every target instead of its Service's configured checks (tests). */
  readonly prober?: Prober;
  /** Probes in flight at most (default 128). */
  readonly maxInFlight?: number;
}

/** Probes every target of every Service once, at most `maxInFlight` at a time. */
export async function checkAll(config: Config, options: CheckAllOptions = {}): Promise<CheckRow[]> {
  // One prober per Service, made once and shared by its targets (as the agent does).
  const probers = new Map<ServiceConfig, Prober>(
    config.services.map((service) => [service, options.prober ?? proberForChecks(service.checks)]),
  );
  const jobs = config.services.flatMap((service) =>
    service.targets.map((target) => ({ service, address: target.address }))
  );
  const rows: CheckRow[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      const { service, address } = jobs[index]!;
      const { port, timeout, type } = service.probe;
      const result = await probers.get(service)!({ address, port, timeout });
      const checks = checkStatuses(result, port) ?? [{ type, port, ...result }];
      rows[index] = {
        service: `${service.namespace}/${service.name}`,
        address,
        port,
        result,
        checks,
      };
    }
  };
  const workers = Math.min(options.maxInFlight ?? 128, jobs.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return rows;
}

/** Renders rows as an aligned text table: one line per check of each target. */
export function formatCheckTable(rows: readonly CheckRow[]): string {
  const header = ["SERVICE", "ADDRESS", "CHECK", "PORT", "RESULT", "LATENCY", "REASON"];
  const lines = rows.flatMap((row) =>
    row.checks.map((check) => [
      row.service,
      row.address,
      check.type,
      String(check.port),
      check.ok ? "up" : "down",
      `${check.latency.toFixed(1)}ms`,
      reasonOf(check) ?? "",
    ])
  );
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length))
  );
  return [header, ...lines]
    .map((cells) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd())
    .join("\n");
}
