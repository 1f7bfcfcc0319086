/**
 * The probe scheduler: one timer per target and a cap on checks in flight (Deno.connect
 * starves past about 128 concurrent attempts). Each target is checked on a fixed grid —
 * its phase plus whole intervals — and each check is moved randomly by up to ±jitter ×
 * interval around its grid point. The jitter does not accumulate, so targets given nearby
 * phases stay together: a simultaneous outage of a Service's targets is then seen within a
 * few milliseconds and published in one or two writes, instead of being spread over a whole
 * interval. A target that times out holds one slot for one timeout and delays nobody else;
 * its next check starts at its next grid point, or as soon as it finished if it overran.
 *
 * Cadences (issue 17): after each result, `cadence` says how the target is checked next
 * (src/health/state.ts `cadenceOf`). `fast` checks follow `fastInterval` after the start of the
 * previous one (never before it finished: one check per target in flight at most), so a
 * confirmation takes `(fall - 1) × fastInterval` instead of `(fall - 1) × interval`. `down`
 * checks keep a grid of `downInterval` steps from the target's phase. A return to the interval
 * rejoins the target's own grid at its first point after the last check, so targets of a
 * Service stay together after a confirmation, and a flapping target gets at most one check on
 * the interval plus its confirmation (`max(fall, rise) - 1` fast checks) per interval.
 *
 * @module
 */

import type { Millis } from "../config/schema.ts";
import type { Prober, ProbeRequest, ProbeResult } from "../probe/mod.ts";
import type { Cadence } from "./state.ts";

/** Time and timers, injected so that tests run on a fake clock. */
export interface Clock {
  /** Milliseconds since the epoch, monotonic within the process. */
  now(): number;
  setTimeout(callback: () => void, delay: Millis): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: epoch-based, but never jumps with wall-clock corrections. */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (callback, delay) => setTimeout(callback, delay),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** One target to check periodically. */
export interface Check {
  /** Unique key (service and target), handed back with each result. */
  readonly key: string;
  readonly request: ProbeRequest;
  readonly interval: Millis;
  /**
   * Time between the starts of the checks that confirm a change (`fast` cadence); none, or
   * one not shorter than the interval, checks on the interval.
   */
  readonly fastInterval?: Millis;
  /** Time between two checks of an unhealthy target (`down` cadence; default the interval). */
  readonly downInterval?: Millis;
  /** Fraction of the interval by which each check moves randomly around its grid point. */
  readonly jitter: number;
  /**
   * Where in the interval the target's grid lies, as a fraction (0 to 1) of the interval
   * from now. Defaults to a random phase.
   */
  readonly phase?: number;
}

/** A finished check. */
export interface CheckOutcome {
  readonly key: string;
  readonly result: ProbeResult;
  /** When the check was due. */
  readonly planned: number;
  /** When it actually started (later than planned when the in-flight cap was reached). */
  readonly started: number;
  /** When its result arrived. */
  readonly finished: number;
  /** The cadence it was scheduled on (`fast`: a confirming check). */
  readonly cadence: Cadence;
}

/** Construction options of {@linkcode Scheduler}. */
export interface SchedulerOptions {
  readonly prober: Prober;
  /** Receives every result; exceptions it throws are reported to `onError` and ignored. */
  readonly onResult: (outcome: CheckOutcome) => void;
  /**
   * Asked after each result how the target is checked next (default: always `normal`).
   * Must not throw.
   */
  readonly cadence?: (key: string) => Cadence;
  /** Defaults to {@linkcode systemClock}. */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1) (default `Math.random`). */
  readonly random?: () => number;
  /** Checks in flight at most (default 128). */
  readonly maxInFlight?: number;
  /** Called when `onResult` throws (default: rethrown asynchronously). */
  readonly onError?: (error: unknown) => void;
  /** Called when a check starts (after any wait behind the in-flight cap). Must not throw. */
  readonly onStart?: (key: string, started: number) => void;
}

interface Entry {
  check: Check;
  /** Where the target's grids start: its phase in its first interval. */
  origin: number;
  /** The current grid point (without jitter) of the interval or down interval. */
  grid: number;
  /** The step of `grid`: the interval or the down interval (0 while checking fast). */
  step: Millis;
  /** The cadence of the next (or running) check. */
  cadence: Cadence;
  /** The running check was moved forward by `expedite`: it does not use up its grid point. */
  extra: boolean;
  planned: number;
  timer?: unknown;
  running: boolean;
  removed: boolean;
}

/** Runs checks on their timers until stopped. */
export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #maxInFlight: number;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: Entry[] = [];
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#maxInFlight = options.maxInFlight ?? 128;
  }

  /** Number of checks in flight now. */
  get inFlight(): number {
    return this.#running.size;
  }

  /** Number of scheduled targets. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Starts checking a target. Its first check is due at its phase of the first interval:
   * phases spread over the interval keep thousands of targets from being checked in one
   * burst (measured: p99 scheduling lag 474 ms with 5,000 targets started within 100 ms).
   */
  add(check: Check): void {
    if (this.#stopped) throw new Error(`Cannot add check '${check.key}' as the scheduler stopped`);
    if (this.#entries.has(check.key)) {
      throw new Error(`Cannot add check '${check.key}' as it is already scheduled`);
    }
    const phase = check.phase ?? this.#random();
    const grid = this.#clock.now() + (phase % 1) * check.interval;
    const entry: Entry = {
      check,
      origin: grid,
      grid,
      step: check.interval,
      cadence: "normal",
      extra: false,
      planned: 0,
      running: false,
      removed: false,
    };
    this.#entries.set(check.key, entry);
    this.#arm(entry, grid);
  }

  /**
   * Checks a target now, as a confirming (`fast`) check, unless a check of it is running or
   * queued; its next check stays at its grid point. For the siblings of a target that fell:
   * are they dead too (src/health/hold.ts)? Returns whether a check was moved forward.
   */
  expedite(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry || entry.running || entry.timer === undefined) return false;
    this.#clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.extra = true;
    entry.cadence = "fast";
    this.#arm(entry, this.#clock.now());
    return true;
  }

  /** Stops checking a target; a check in flight finishes but its result is dropped. */
  remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    entry.removed = true;
    this.#entries.delete(key);
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    const queued = this.#queue.indexOf(entry);
    if (queued >= 0) this.#queue.splice(queued, 1);
  }

  /** Stops all timers and waits for the checks in flight (each ends by its timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const key of [...this.#entries.keys()]) this.remove(key);
    await Promise.all(this.#running);
  }

  #arm(entry: Entry, planned: number): void {
    entry.planned = planned;
    const delay = Math.max(0, planned - this.#clock.now());
    entry.timer = this.#clock.setTimeout(() => {
      entry.timer = undefined;
      this.#due(entry);
    }, delay);
  }

  #due(entry: Entry): void {
    if (entry.removed || this.#stopped) return;
    if (this.#running.size >= this.#maxInFlight) {
      this.#queue.push(entry);
      return;
    }
    this.#run(entry);
  }

  #run(entry: Entry): void {
    entry.running = true;
    const started = this.#clock.now();
    const { check } = entry;
    this.#options.onStart?.(check.key, started);
    const running: Promise<void> = this.#options.prober(check.request)
      .catch((error): ProbeResult => ({
        ok: false,
        latency: this.#clock.now() - started,
        error: error instanceof Error ? error.message : String(error),
      }))
      .then((result) => {
        const finished = this.#clock.now();
        entry.running = false;
        this.#running.delete(running);
        if (!entry.removed && !this.#stopped) {
          const { planned, cadence } = entry;
          this.#report({
            key: check.key,
            result,
            planned,
            started,
            finished,
            cadence,
          });
          const next = this.#options.cadence?.(check.key) ?? "normal";
          this.#arm(entry, this.#next(entry, { cadence: next, started, finished }));
        }
        this.#drain();
      });
    this.#running.add(running);
  }

  /** When the next check is due, on the cadence given (see the module's doc). */
  #next(
    entry: Entry,
    options: { readonly cadence: Cadence; readonly started: number; readonly finished: number },
  ): number {
    const { check } = entry;
    const { started, finished } = options;
    const extra = entry.extra;
    entry.extra = false;
    entry.cadence = effectiveCadence(check, options.cadence);
    if (entry.cadence === "fast") {
      const fast = check.fastInterval!;
      entry.step = 0;
      return Math.max(started + fast + fast * check.jitter * (2 * this.#random() - 1), finished);
    }
    const step = entry.cadence === "down" ? check.downInterval ?? check.interval : check.interval;
    if (entry.step === step) {
      if (!extra) entry.grid += step;
      // A check that ran past its next grid point (a timeout as long as the interval) is
      // followed at once; one that fell more than a step behind (queued behind the in-flight
      // cap) skips the points it missed rather than catching up in a burst.
      const behind = finished - entry.grid;
      if (behind > step) entry.grid += Math.floor(behind / step) * step;
    } else {
      // Back from fast checks, or between the interval and the down interval: the first point
      // of the target's own grid after this check, so its Service's targets stay together.
      entry.step = step;
      entry.grid = entry.origin + Math.ceil((finished - entry.origin) / step) * step;
    }
    return Math.max(entry.grid + step * check.jitter * (2 * this.#random() - 1), finished);
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.#running.size < this.#maxInFlight) {
      this.#run(this.#queue.shift()!);
    }
  }

  #report(outcome: CheckOutcome): void {
    try {
      this.#options.onResult(outcome);
    } catch (error) {
      const onError = this.#options.onError ?? rethrowLater;
      onError(error);
    }
  }
}

/**
 * The cadence a check actually runs on: without a fast interval shorter than the interval, a
 * confirming check stays on the interval's grid (the seed's behaviour). A `down` target without
 * a down interval is checked on the interval's grid too (the same steps as `normal`).
 */
export function effectiveCadence(
  check: Pick<Check, "interval" | "fastInterval" | "downInterval">,
  cadence: Cadence,
): Cadence {
  if (cadence === "fast") {
    return check.fastInterval !== undefined && check.fastInterval < check.interval
      ? "fast"
      : "normal";
  }
  return cadence;
}

/** The interval a check on `cadence` follows. */
export function cadenceInterval(
  check: Pick<Check, "interval" | "fastInterval" | "downInterval">,
  cadence: Cadence,
): Millis {
  const effective = effectiveCadence(check, cadence);
  return effective === "fast"
    ? check.fastInterval!
    : effective === "down"
    ? check.downInterval ?? check.interval
    : check.interval;
}

function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/** The densest burst of first checks a Service's targets may make, in checks per ms. */
const BURST_PER_MS = 10;

/**
 * Phases for the targets of one Service: a random phase for the Service, and the targets
 * close around it — within the jitter window, widened so that a large Service never checks
 * more than {@linkcode BURST_PER_MS} targets per millisecond. Targets of one Service that die
 * together then reach their verdicts together, and Services spread over the interval.
 */
export function servicePhases(
  count: number,
  options: {
    readonly interval: Millis;
    readonly jitter: number;
    readonly random: () => number;
    /** The Service's phase (default random); `0` checks the targets now (added by a source). */
    readonly base?: number;
  },
): number[] {
  const window = Math.min(1, Math.max(options.jitter, count / BURST_PER_MS / options.interval));
  const base = options.base ?? options.random();
  return Array.from({ length: count }, () => (base + options.random() * window) % 1);
}
