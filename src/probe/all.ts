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

/** A reason that already names its protocol (`http 503`, `tls: certificate expired`). */
const PROTOCOL_REASON = /^(tcp|http|https|tls|kafka|redpanda)\b/;

/**
 * A prober of every check in `checks` (none: a bare TCP connect on the request's port). The
 * combined latency is the slowest check's; the error is the first failed check's reason (in
 * configuration order), so that `kafka` then `redpanda` reports the Kafka failure first; with
 * several checks a network reason is prefixed with its check's type (`kafka: timeout`).
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
      const reason = failed.result.error ?? "failed";
      // Among several checks a bare network reason ('timeout') names its check: 'kafka: timeout'.
      const error = list.length > 1 && !PROTOCOL_REASON.test(reason)
        ? `${failed.check.type}: ${reason}`
        : reason;
      return { ok: false, latency, error, results: outcomes };
    }
    const note = results.find((result) => result.note !== undefined)?.note;
    return { ok: true, latency, ...(note === undefined ? {} : { note }), results: outcomes };
  };
}
