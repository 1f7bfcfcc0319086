/**
 * Several checks of one target that must all pass (`probes:`): one prober per check, made once
 * and shared by every target, run side by side under the same timeout, combined into one
 * result that still carries each check's own.
 *
 * @module
 */

import { type ProberDeps, proberFor } from "./mod.ts";
import type { ProbeCheck, Prober, ProbeRequest, ProbeResult } from "./types.ts";

/** One check's outcome within a combined result. */
export interface CheckOutcome {
  /** The check, its port resolved as configured. */
  readonly check: ProbeCheck;
  /** Its own result. */
  readonly result: ProbeResult;
}

/** The combined result: ok when every check passed. */
export interface CheckSetResult extends ProbeResult {
  /** Each check's outcome, in configuration order. */
  readonly results: readonly CheckOutcome[];
}

/**
 * A prober of every check in `checks` (none: a bare TCP connect on the request's port). The
 * combined latency is the slowest check's; the error is the first failed check's reason (in
 * configuration order), so that `kafka` then `redpanda` reports the Kafka failure first.
 */
export function proberForChecks(
  checks: readonly ProbeCheck[] | undefined,
  deps: ProberDeps = {},
  make: (check: ProbeCheck, deps: ProberDeps) => Prober = proberFor,
): (request: ProbeRequest) => Promise<CheckSetResult> {
  const list: readonly ProbeCheck[] = checks === undefined || checks.length === 0
    ? [{ type: "tcp" }]
    : checks;
  const probers = list.map((check) => make(check, deps));
  return async (request) => {
    const results = await Promise.all(probers.map((prober) => prober(request)));
    const outcomes = results.map((result, i) => ({ check: list[i]!, result }));
    const failed = outcomes.find((outcome) => !outcome.result.ok);
    const latency = Math.max(...results.map((result) => result.latency));
    if (failed !== undefined) {
      return { ok: false, latency, error: failed.result.error ?? "failed", results: outcomes };
    }
    const note = results.find((result) => result.note !== undefined)?.note;
    return { ok: true, latency, ...(note === undefined ? {} : { note }), results: outcomes };
  };
}
