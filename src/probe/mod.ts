/**
 * Probers answer one question about one target: does it accept a check right now? They never
 * retry, never sleep and never throw: a failure is a result with an error text.
 *
 * @module
 */

import type { Millis, ProbeType } from "../config/schema.ts";
import { tcpProber } from "./tcp.ts";

/** What to check. */
export interface ProbeRequest {
  readonly address: string;
  readonly port: number;
  /** The check fails if it has not answered by then. */
  readonly timeout: Millis;
}

/** The outcome of one check. */
export interface ProbeResult {
  readonly ok: boolean;
  /** Time from the start of the check to its answer (or to the timeout). */
  readonly latency: Millis;
  /** Short, stable reason of a failure: `refused`, `timeout`, `unreachable`, or the OS text. */
  readonly error?: string;
}

/** A way of checking targets. */
export type Prober = (request: ProbeRequest) => Promise<ProbeResult>;

/** The prober of a probe type. */
export function proberFor(type: ProbeType): Prober {
  switch (type) {
    case "tcp":
      return tcpProber();
  }
}
