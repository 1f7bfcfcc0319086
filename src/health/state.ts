/**
 * The health state machine of one target (Envoy/HAProxy semantics, DESIGN §3.4). Pure: it
 * takes the previous state, one probe outcome and the time, and returns the next state and,
 * when the verdict changed, the transition. Everything downstream (publishing, alerts,
 * metrics) is driven by transitions, never by single probe results.
 *
 * - `unknown` (startup): one success → `healthy`; `fall` consecutive failures → `unhealthy`.
 * - `healthy`: `fall` consecutive failures → `unhealthy`; a success resets the count.
 * - `unhealthy`: `rise` consecutive successes → `healthy`; a failure resets the count.
 *
 * {@linkcode cadenceOf} says how soon a target is checked next: fast while its verdict is in
 * doubt (HAProxy `fastinter`), on the down interval while it is unhealthy (`downinter`).
 *
 * @module
 */

/** A target's verdict. */
export type HealthStatus = "unknown" | "healthy" | "unhealthy";

/** Thresholds of the state machine. */
export interface Thresholds {
  readonly rise: number;
  readonly fall: number;
}

/** The health of one target. Immutable: {@linkcode nextHealth} returns a new one. */
export interface TargetHealth {
  readonly status: HealthStatus;
  /** Consecutive successes (reset by a failure). */
  readonly successes: number;
  /** Consecutive failures (reset by a success). */
  readonly failures: number;
  /** Probe results seen so far (saturates; only "zero or more" matters). */
  readonly checks: number;
  /** When the status last changed (or the target was added). */
  readonly since: number;
  /** The error of the last failed check, kept until the next success. */
  readonly lastError?: string;
}

/** A change of verdict. */
export interface Transition {
  readonly from: HealthStatus;
  readonly to: Exclude<HealthStatus, "unknown">;
  /** When the deciding probe result was observed. */
  readonly at: number;
  /** How long the previous status lasted. */
  readonly after: number;
  /** The deciding probe's error, for transitions to unhealthy. */
  readonly error?: string;
}

/** One probe outcome as the state machine needs it. */
export interface Observation {
  readonly ok: boolean;
  readonly error?: string;
}

/** The health of a target nobody has checked yet. */
export function initialHealth(now: number): TargetHealth {
  return { status: "unknown", successes: 0, failures: 0, checks: 0, since: now };
}

/** Applies one probe outcome at time `now`. */
export function nextHealth(
  health: TargetHealth,
  observation: Observation,
  options: Thresholds & { readonly now: number },
): { readonly health: TargetHealth; readonly transition?: Transition } {
  const checks = Math.min(health.checks + 1, Number.MAX_SAFE_INTEGER);
  const successes = observation.ok ? health.successes + 1 : 0;
  const failures = observation.ok ? 0 : health.failures + 1;
  const lastError = observation.ok ? undefined : observation.error;
  let status = health.status;
  if (observation.ok) {
    if (status === "unknown" || (status === "unhealthy" && successes >= options.rise)) {
      status = "healthy";
    }
  } else if (status !== "unhealthy" && failures >= options.fall) {
    status = "unhealthy";
  }
  if (status === health.status) {
    return { health: { status, successes, failures, checks, since: health.since, lastError } };
  }
  const to = status as Transition["to"];
  return {
    health: { status, successes, failures, checks, since: options.now, lastError },
    transition: {
      from: health.status,
      to,
      at: options.now,
      after: options.now - health.since,
      ...(to === "unhealthy" && lastError !== undefined ? { error: lastError } : {}),
    },
  };
}

/**
 * How a target is checked next: on its `interval` (`normal`), on its `fastInterval` while a
 * change is being confirmed (`fast`), or on its `downInterval` while unhealthy (`down`).
 */
export type Cadence = "normal" | "fast" | "down";

/**
 * The cadence a target's health calls for: `fast` after a healthy (or not yet judged) target
 * failed a check, or an unhealthy one passed, until it falls or recovers; `down` while it is
 * unhealthy and its last check failed; `normal` otherwise. A confirmation is at most
 * `max(fall, rise) - 1` fast checks long, and only a check on the interval starts one.
 */
export function cadenceOf(health: TargetHealth): Cadence {
  if (health.status === "unhealthy") return health.successes > 0 ? "fast" : "down";
  return health.failures > 0 ? "fast" : "normal";
}
