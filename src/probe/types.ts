/**
 * The shared types of every prober, in their own file so that the registry (`mod.ts`) and the
 * protocol files never import each other in a circle.
 *
 * @module
 */

import type { Millis } from "../config/schema.ts";

export type { Matcher, ProbeCheck, StatusRange } from "../config/checks.ts";

/** What to check. */
export interface ProbeRequest {
  /** The target's IP address. */
  readonly address: string;
  /** The port the scheduler checks; a check's own `port` wins over it. */
  readonly port: number;
  /** The check fails if it has not answered by then. */
  readonly timeout: Millis;
}

/** The peer certificate a TLS check saw. */
export interface CertificateInfo {
  /** Its `notAfter`, in epoch milliseconds. */
  readonly notAfter: number;
  /** Whole days from the check to `notAfter` (negative once expired). */
  readonly daysLeft: number;
}

/** The outcome of one check. */
export interface ProbeResult {
  /** Whether the check passed. */
  readonly ok: boolean;
  /** Time from the start of the check to its answer (or to the timeout). */
  readonly latency: Millis;
  /**
   * Why the check failed: a short, stable, machine-readable reason such as `refused`,
   * `timeout`, `http 503`, `kafka error 7`, `tls: certificate expired`, `redpanda booting`.
   */
  readonly error?: string;
  /** Something worth showing about a passed check, in the same style: `kafka error 35`. */
  readonly note?: string;
  /** `tls` checks: the certificate the peer presented, when it could be read. */
  readonly certificate?: CertificateInfo;
}

/** A way of checking targets: never retries, never sleeps past the timeout, never throws. */
export type Prober = (request: ProbeRequest) => Promise<ProbeResult>;

/** The reason a result shows: its error, else its note, else nothing. */
export function reasonOf(result: ProbeResult): string | undefined {
  return result.error ?? result.note;
}
