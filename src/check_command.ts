/**
 * `helaseid check`: probe every target once and tabulate the answers. Probes run
 * concurrently (capped), so one black-holed target costs one timeout, not one per target.
 *
 * @module
 */

import type { Config } from "./config/schema.ts";
import type { Prober, ProbeResult } from "./probe/mod.ts";

/** One row of the table. */
export interface CheckRow {
  /** `namespace/name` of the Service. */
  readonly service: string;
  /** The target's address. */
  readonly address: string;
  /** The port checked. */
  readonly port: number;
  /** What the one check answered. */
  readonly result: ProbeResult;
}

/** Probes every target of every Service once, at most `maxInFlight` at a time. */
export async function checkAll(
  config: Config,
  options: { readonly prober: Prober; readonly maxInFlight?: number },
): Promise<CheckRow[]> {
  const jobs = config.services.flatMap((service) =>
    service.targets.map((target) => ({
      service: `${service.namespace}/${service.name}`,
      address: target.address,
      port: service.probe.port,
      timeout: service.probe.timeout,
    }))
  );
  const rows: CheckRow[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      const job = jobs[index]!;
      const result = await options.prober({
        address: job.address,
        port: job.port,
        timeout: job.timeout,
      });
      rows[index] = { service: job.service, address: job.address, port: job.port, result };
    }
  };
  const workers = Math.min(options.maxInFlight ?? 128, jobs.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return rows;
}

/** Renders rows as an aligned text table. */
export function formatCheckTable(rows: readonly CheckRow[]): string {
  const header = ["SERVICE", "ADDRESS", "PORT", "RESULT", "LATENCY", "ERROR"];
  const lines = rows.map((row) => [
    row.service,
    row.address,
    String(row.port),
    row.result.ok ? "up" : "down",
    `${row.result.latency.toFixed(1)}ms`,
    row.result.error ?? "",
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length))
  );
  return [header, ...lines]
    .map((cells) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd())
    .join("\n");
}
