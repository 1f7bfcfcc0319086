/**
 * The probe scheduler: one timer per target, start-to-start cadence with jitter, and a cap on
 * checks in flight (Deno.connect starves past about 128 concurrent attempts). A target that
 * times out holds one slot for one timeout and delays nobody else; its own next check starts
 * when its interval says, or as soon as it finished if it overran.
 *
 * @module
 */

import type { Millis } from "../config/schema.ts";
import type { Prober, ProbeRequest, ProbeResult } from "../probe/mod.ts";

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
  /** Fraction of the interval by which each wait is randomly shortened or lengthened. */
  readonly jitter: number;
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
}

/** Construction options of {@linkcode Scheduler}. */
export interface SchedulerOptions {
  readonly prober: Prober;
  /** Receives every result; exceptions it throws are reported to `onError` and ignored. */
  readonly onResult: (outcome: CheckOutcome) => void;
  /** Defaults to {@linkcode systemClock}. */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1) (default `Math.random`). */
  readonly random?: () => number;
  /** Checks in flight at most (default 128). */
  readonly maxInFlight?: number;
  /** Called when `onResult` throws (default: rethrown asynchronously). */
  readonly onError?: (error: unknown) => void;
}

interface Entry {
  check: Check;
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
   * Starts checking a target. The first check is due within the first jitter window (at
   * most `jitter × interval` from now), so that verdicts come quickly but not all at once.
   */
  add(check: Check): void {
    if (this.#stopped) throw new Error(`Cannot add check '${check.key}' as the scheduler stopped`);
    if (this.#entries.has(check.key)) {
      throw new Error(`Cannot add check '${check.key}' as it is already scheduled`);
    }
    const entry: Entry = { check, planned: 0, running: false, removed: false };
    this.#entries.set(check.key, entry);
    this.#arm(entry, this.#clock.now() + this.#random() * check.jitter * check.interval);
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
          this.#report({ key: check.key, result, planned: entry.planned, started, finished });
          this.#arm(entry, Math.max(entry.planned + this.#wait(check), finished));
        }
        this.#drain();
      });
    this.#running.add(running);
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.#running.size < this.#maxInFlight) {
      this.#run(this.#queue.shift()!);
    }
  }

  #wait(check: Check): Millis {
    return check.interval * (1 + check.jitter * (2 * this.#random() - 1));
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

function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
