/**
 * Delivery to one webhook: one lane per subject ({@linkcode Delivery.key}: a Service's targets,
 * writes or blocking), all lanes sharing the webhook's rate limit. Nothing waits for the
 * webhook but the lanes themselves, and no lane waits for another.
 *
 * - Lanes: each subject holds at most the alert being delivered and one newer alert. A subject
 *   whose deliveries fail (5xx, timeouts) retries on its own; other subjects go on within the
 *   rate limit, so one Service's failing card never holds up another Service's.
 * - Superseded: a newer alert of a subject replaces its older one that is still waiting (for
 *   its first try or for a retry); the older one is folded into it
 *   ({@linkcode Delivery.combine}), so the card that goes out tells the current state and
 *   what happened since the last card delivered. A stale card never arrives after a newer one.
 * - Bounded in age: an alert older than `maxAge` (default 1m) is not tried again, nor is a
 *   retry whose wait would end past it (dropped, counted with reason `expired`, logged).
 * - Bounded in size: when `capacity` alerts wait, the oldest waiting one is dropped.
 * - Deduplicated: an alert equal to the last one queued for the same subject (same key and
 *   {@linkcode Delivery.fingerprint}) within `dedupeWindow` is not sent again.
 * - Rate limited: at most `perSecond` request starts in any second (Teams throttles above 4).
 * - Retried: 429 after `Retry-After` (seconds or HTTP date, capped by `maxRetryAfter`), 408,
 *   5xx, network errors and timeouts with exponential backoff and jitter; other answers are
 *   refusals. After `attempts` tries the alert is given up (counted, logged).
 * - Bounded in time: every request has a timeout; {@linkcode DeliveryQueue.close} delivers what
 *   it can before a deadline, then aborts and drops the rest.
 *
 * @module
 */

import type { Millis } from "../config/schema.ts";
import type { Clock } from "../health/scheduler.ts";
import type { Logger } from "../observe/log.ts";
import type { PostOutcome } from "./post.ts";

/** What became of one alert on one channel, for `helaseid_notifications_total{result}`. */
export type DeliveryResult = "sent" | "failed" | "retried" | "dropped";

/**
 * Why an alert was dropped unsent, for `helaseid_notifications_dropped_total{reason}`:
 * - `superseded`: a newer alert of its subject replaced it (its news went out in that one);
 * - `expired`: older than `maxAge` before it could be delivered;
 * - `queue-full`: `capacity` alerts were waiting;
 * - `shutdown`: still waiting at the end of shutdown.
 */
export type DropReason = "superseded" | "expired" | "queue-full" | "shutdown";

/** Every {@linkcode DropReason}, for metrics and documentation. */
export const DROP_REASONS: readonly DropReason[] = [
  "superseded",
  "expired",
  "queue-full",
  "shutdown",
];

/** Counters of one channel. */
export interface DeliveryStats {
  /** Alerts the webhook accepted. */
  readonly sent: number;
  /** Alerts refused by the webhook or given up after the last retry. */
  readonly failed: number;
  /** Attempts that are tried again. */
  readonly retried: number;
  /** Alerts dropped unsent, for any {@linkcode DropReason}. */
  readonly dropped: number;
  /** Of the dropped ones: how many for each reason. */
  readonly droppedBy: Readonly<Record<DropReason, number>>;
  /** Alerts not queued because they repeat the previous one. */
  readonly deduplicated: number;
  /** Alerts waiting now (those in flight excluded). */
  readonly pending: number;
}

/** One alert rendered for a channel. */
export interface Delivery {
  /** The subject: a later alert with the same key supersedes this one. */
  readonly key: string;
  /** What it says, without times: equal fingerprints of one key are repeats. */
  readonly fingerprint: string;
  /** The request body (JSON). */
  readonly body: string;
  /** Short description for log lines (never a URL). */
  readonly label: string;
  /** When the alert was raised (epoch ms), its age's origin (default: when it is pushed). */
  readonly at?: number;
  /**
   * This alert with an older, undelivered one of its subject folded in (default: this alert
   * alone replaces the older one). Must not throw.
   */
  readonly combine?: (older: Delivery) => Delivery;
}

/** Retry policy of {@linkcode DeliveryQueue}. */
export interface RetryPolicy {
  /** First backoff (default 1s); each retry doubles it. */
  readonly initial?: Millis;
  /** Longest backoff (default 1m). */
  readonly max?: Millis;
  /** Tries at most, the first included (default 8). */
  readonly attempts?: number;
}

/** Tunables of {@linkcode DeliveryQueue}; each field documents its default. */
export interface DeliveryOptions {
  /** Alerts waiting at most, over all subjects (default 100). */
  readonly capacity?: number;
  /** Request starts per second at most (default 4). */
  readonly perSecond?: number;
  /** Timeout of one request (default 10s). */
  readonly timeout?: Millis;
  /** Backoff and give-up limit of retries (defaults in {@linkcode RetryPolicy}). */
  readonly retry?: RetryPolicy;
  /** Longest `Retry-After` honoured; longer ones are shortened to it (default 5m). */
  readonly maxRetryAfter?: Millis;
  /** How long an alert repeating the previous one of its subject is suppressed (default 5m). */
  readonly dedupeWindow?: Millis;
  /**
   * Age (since raised) past which an alert is no longer tried: it is dropped as `expired`
   * (default 1m, {@linkcode DEFAULT_MAX_AGE}).
   */
  readonly maxAge?: Millis;
}

/**
 * The default {@linkcode DeliveryOptions.maxAge}: one minute. It leaves room for six tries with
 * the default backoff (1+2+4+8+16+32 s at most) and for Teams' usual `Retry-After`; past it a
 * card is history (the state is in `/status`, metrics and Events, and every later change of
 * the Service raises a fresh card, which supersedes it anyway).
 */
export const DEFAULT_MAX_AGE: Millis = 60_000;

/** Options of {@linkcode DeliveryQueue}. */
export interface DeliveryQueueOptions extends DeliveryOptions {
  /** The channel's name, for logs and stats (`teams`, `webhook`). */
  readonly channel: string;
  /** Makes one attempt; must not throw, and must stop when `signal` aborts. */
  readonly send: (body: string, signal: AbortSignal) => Promise<PostOutcome>;
  readonly clock: Clock;
  /** Uniform random numbers in [0, 1) for the jitter (default `Math.random`). */
  readonly random?: () => number;
  readonly log: Logger;
  /** Called for every counted outcome (with the reason of a drop). Must not throw. */
  readonly onResult?: (result: DeliveryResult, reason?: DropReason) => void;
}

/** Why a request was aborted: it took longer than the timeout. */
export class DeliveryTimeoutError extends Error {
  /** Creates the error for a request that took longer than `timeout` ms. */
  constructor(timeout: Millis) {
    super(`Webhook request timed out after ${timeout} ms`);
    this.name = "DeliveryTimeoutError";
  }
}

/** Why a request or a wait was cut short: the queue's shutdown deadline passed. */
export class DeliveryAbortedError extends Error {
  /** Creates the error. */
  constructor() {
    super("Webhook request aborted as the shutdown deadline passed");
    this.name = "DeliveryAbortedError";
  }
}

interface _Entry {
  readonly delivery: Delivery;
  /** When the alert was raised: its age counts from here. */
  readonly at: number;
  /** Set when the entry must not be tried again; the lane drops it when it next looks. */
  cancel?: DropReason;
}

interface _Lane {
  readonly key: string;
  /** The alert being delivered: in a request, or waiting for a rate slot or a retry. */
  current?: _Entry;
  /** A newer alert of the subject, waiting for `current` to end. */
  next?: _Entry;
  /** A request of `current` is in flight (it cannot be superseded until it ends). */
  requesting: boolean;
  /** Cuts short the lane's wait (rate slot or backoff). */
  wake?: () => void;
  timer?: unknown;
  /** The lane's sender runs. */
  active: boolean;
}

/** A bounded, rate-limited, retrying queue in front of one webhook, one lane per subject. */
export class DeliveryQueue {
  readonly #options: DeliveryQueueOptions;
  readonly #random: () => number;
  readonly #lanes = new Map<string, _Lane>();
  /** The last alert queued per subject, for deduplication. */
  readonly #last = new Map<string, { fingerprint: string; at: number }>();
  /** Start times of the latest requests, oldest first (at most `perSecond`). */
  readonly #starts: number[] = [];
  readonly #inFlight = new Set<AbortController>();
  /** The lanes' senders that run. */
  readonly #running = new Set<Promise<void>>();
  readonly #counts = { sent: 0, failed: 0, retried: 0, deduplicated: 0 };
  readonly #droppedBy: Record<DropReason, number> = {
    superseded: 0,
    expired: 0,
    "queue-full": 0,
    shutdown: 0,
  };
  #closing?: { deadline: number; done: Promise<void> };
  #aborted = false;

  /** Creates an idle queue; the first {@linkcode DeliveryQueue.push} starts a lane. */
  constructor(options: DeliveryQueueOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** The counters so far. */
  stats(): DeliveryStats {
    const droppedBy = { ...this.#droppedBy };
    const dropped = Object.values(droppedBy).reduce((sum, n) => sum + n, 0);
    return { ...this.#counts, dropped, droppedBy, pending: this.#waiting().length };
  }

  /** Queues an alert and returns at once; delivery happens in the background. */
  push(delivery: Delivery): void {
    const { clock, log, channel } = this.#options;
    const now = clock.now();
    if (this.#aborted) {
      this.#dropped("shutdown", delivery, "alert dropped: shutting down");
      return;
    }
    const last = this.#last.get(delivery.key);
    const dedupeWindow = this.#options.dedupeWindow ?? 300_000;
    if (last?.fingerprint === delivery.fingerprint && now - last.at < dedupeWindow) {
      this.#counts.deduplicated++;
      log.debug("alert repeats the previous one: not sent", { channel, alert: delivery.label });
      return;
    }
    this.#last.set(delivery.key, { fingerprint: delivery.fingerprint, at: now });
    let lane = this.#lanes.get(delivery.key);
    if (lane === undefined) {
      lane = { key: delivery.key, requesting: false, active: false };
      this.#lanes.set(delivery.key, lane);
    }
    // The newest alert of a subject absorbs whatever of it is still waiting: the previous
    // newer alert, and the one being delivered unless a request of it is in flight.
    let entry: _Entry = { delivery, at: delivery.at ?? now };
    if (lane.next !== undefined) entry = this.#supersede(lane.next, entry);
    const current = lane.current;
    if (current !== undefined && !lane.requesting && current.cancel === undefined) {
      entry = this.#supersede(current, entry);
      current.cancel = "superseded";
    }
    lane.next = entry;
    lane.wake?.();
    this.#makeRoom();
    if (!lane.active) {
      lane.active = true;
      const run = this.#run(lane);
      this.#running.add(run);
      run.then(() => this.#running.delete(run));
    }
  }

  /**
   * Delivers what is queued, giving up at `timeoutMs` (default 5s): then the requests in
   * flight are aborted and what is left is dropped. Resolves when nothing runs any more.
   */
  close(timeoutMs: Millis = 5000): Promise<void> {
    if (this.#closing) return this.#closing.done;
    const { clock } = this.#options;
    const deadline = clock.now() + Math.max(0, timeoutMs);
    const timer = clock.setTimeout(() => this.#abort(), Math.max(0, timeoutMs));
    const done = (async () => {
      while (this.#running.size > 0) await Promise.all([...this.#running]);
      clock.clearTimeout(timer);
      this.#aborted = true;
    })();
    this.#closing = { deadline, done };
    return done;
  }

  /**
   * Delivers a lane's alerts, oldest first, until none is left or the queue is aborted; then
   * forgets the lane (synchronously, so that a push never finds a lane whose sender ended).
   */
  async #run(lane: _Lane): Promise<void> {
    for (;;) {
      if (lane.current === undefined || lane.current.cancel !== undefined) {
        lane.current = lane.next;
        lane.next = undefined;
      }
      const entry = lane.current;
      if (entry === undefined) {
        lane.active = false;
        if (this.#lanes.get(lane.key) === lane) this.#lanes.delete(lane.key);
        return;
      }
      if (this.#aborted) {
        lane.current = undefined;
        this.#dropped("shutdown", entry.delivery, "alert dropped at shutdown");
        continue;
      }
      await this.#deliver(lane, entry);
      if (lane.current === entry) lane.current = undefined;
    }
  }

  /** Tries one alert until it is sent, refused, given up, superseded, expired or aborted. */
  async #deliver(lane: _Lane, entry: _Entry): Promise<void> {
    const { channel, clock, log } = this.#options;
    const { delivery } = entry;
    const attempts = this.#options.retry?.attempts ?? 8;
    for (let attempt = 1;; attempt++) {
      // Wait for a rate slot; a newer alert of the subject or the shutdown cuts the wait short.
      for (let wait = this.#rateDelay(); wait > 0; wait = this.#rateDelay()) {
        if (this.#aborted || entry.cancel !== undefined) break;
        await this.#sleep(lane, wait);
      }
      if (this.#aborted) return this.#dropped("shutdown", delivery, "alert dropped at shutdown");
      if (entry.cancel !== undefined) return this.#cancelled(entry);
      if (clock.now() - entry.at > this.#maxAge) return this.#expired(entry, attempt - 1);
      this.#starts.push(clock.now());
      if (this.#starts.length > this.#perSecond) this.#starts.shift();
      lane.requesting = true;
      const outcome = await this.#attempt(delivery.body).finally(() => lane.requesting = false);
      if (outcome.ok) {
        this.#count("sent");
        log.debug("alert sent", {
          channel,
          alert: delivery.label,
          status: outcome.status,
          attempt,
        });
        return;
      }
      if (this.#aborted) return this.#dropped("shutdown", delivery, "alert dropped at shutdown");
      const fields = {
        channel,
        alert: delivery.label,
        attempt,
        status: outcome.status,
        error: outcome.error,
      };
      if (!outcome.retry) {
        this.#count("failed");
        log.error(
          "webhook refused the alert: check the webhook URL and the flow behind it",
          fields,
        );
        return;
      }
      // A newer alert arrived during the request: it goes next, carrying this one's news.
      if (lane.next !== undefined) {
        lane.next = this.#supersede(entry, lane.next);
        return;
      }
      if (attempt >= attempts) {
        this.#count("failed");
        log.error("gave up delivering the alert", fields);
        return;
      }
      const delay = this.#retryDelay(attempt, outcome.retryAfter);
      if (this.#closing && clock.now() + delay > this.#closing.deadline) {
        this.#count("failed");
        log.error("gave up delivering the alert: shutting down", fields);
        return;
      }
      if (clock.now() + delay - entry.at > this.#maxAge) return this.#expired(entry, attempt);
      this.#count("retried");
      const message = outcome.status === 429
        ? "webhook throttled the alert: retrying"
        : "alert delivery failed: retrying";
      log[outcome.status === 429 ? "info" : "warn"](message, {
        ...fields,
        retryInMs: Math.round(delay),
      });
      await this.#sleep(lane, delay);
      if (this.#aborted) return this.#dropped("shutdown", delivery, "alert dropped at shutdown");
      if (entry.cancel !== undefined) return this.#cancelled(entry);
    }
  }

  /** One request, aborted after the timeout or at the shutdown deadline. */
  async #attempt(body: string): Promise<PostOutcome> {
    const { clock, send } = this.#options;
    const timeout = this.#options.timeout ?? 10_000;
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const timer = clock.setTimeout(
      () => controller.abort(new DeliveryTimeoutError(timeout)),
      timeout,
    );
    try {
      return await send(body, controller.signal);
    } catch (error) {
      // `send` must not throw; if it does, say what kind of error it was and nothing more.
      const name = error instanceof Error ? error.name : typeof error;
      return { ok: false, retry: true, error: `${name} in the sender` };
    } finally {
      clock.clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }

  get #perSecond(): number {
    return Math.max(1, this.#options.perSecond ?? 4);
  }

  get #maxAge(): Millis {
    return this.#options.maxAge ?? DEFAULT_MAX_AGE;
  }

  /** How long until one more request may start within the rate limit. */
  #rateDelay(): Millis {
    if (this.#starts.length < this.#perSecond) return 0;
    return Math.max(0, this.#starts[0]! + 1000 - this.#options.clock.now());
  }

  /**
   * The wait before retry `attempt + 1`: what the server asked for (never less), else
   * exponential backoff with "equal jitter" (half fixed, half random) so that agents that
   * failed together do not retry together.
   */
  #retryDelay(attempt: number, retryAfter: Millis | undefined): Millis {
    if (retryAfter !== undefined) {
      return Math.min(retryAfter, this.#options.maxRetryAfter ?? 300_000);
    }
    const initial = this.#options.retry?.initial ?? 1000;
    const max = this.#options.retry?.max ?? 60_000;
    const base = Math.min(max, initial * 2 ** Math.min(attempt - 1, 30));
    return base / 2 + (base / 2) * this.#random();
  }

  /** Waits `ms` on the clock; a newer alert of the lane or the shutdown wakes it early. */
  #sleep(lane: _Lane, ms: Millis): Promise<void> {
    if (ms <= 0 || this.#aborted) return Promise.resolve();
    const { clock } = this.#options;
    return new Promise((resolve) => {
      const wake = () => {
        clock.clearTimeout(lane.timer);
        lane.timer = undefined;
        lane.wake = undefined;
        resolve();
      };
      lane.wake = wake;
      lane.timer = clock.setTimeout(wake, ms);
    });
  }

  /** `newer` with `older` folded in; the older alert counts as superseded by the caller. */
  #supersede(older: _Entry, newer: _Entry): _Entry {
    let delivery = newer.delivery;
    try {
      delivery = newer.delivery.combine?.(older.delivery) ?? newer.delivery;
    } catch (error) {
      this.#options.log.error("cannot combine alerts: the newer one is sent alone", { error });
    }
    if (older.cancel === undefined && older !== newer) {
      this.#dropped("superseded", older.delivery, "alert superseded by a newer one", "debug");
    }
    return { delivery, at: newer.at };
  }

  /** Ends an entry that was cancelled while it waited (its drop is counted already). */
  #cancelled(entry: _Entry): void {
    if (entry.cancel === "superseded") return;
    if (entry.cancel !== undefined) {
      this.#dropped(entry.cancel, entry.delivery, "alert dropped: the queue is full");
    }
  }

  #expired(entry: _Entry, attempts: number): void {
    this.#dropped("expired", entry.delivery, "alert dropped: too old to deliver", "warn", {
      attempts,
      ageMs: Math.round(this.#options.clock.now() - entry.at),
      maxAgeMs: this.#maxAge,
    });
  }

  /** The entries waiting (not in a request, not cancelled), oldest first. */
  #waiting(): { lane: _Lane; entry: _Entry }[] {
    const waiting: { lane: _Lane; entry: _Entry }[] = [];
    for (const lane of this.#lanes.values()) {
      const { current, next } = lane;
      if (current && !lane.requesting && current.cancel === undefined) {
        waiting.push({ lane, entry: current });
      }
      if (next) waiting.push({ lane, entry: next });
    }
    return waiting.sort((a, b) => a.entry.at - b.entry.at);
  }

  /** Drops the oldest waiting alerts while more than `capacity` wait. */
  #makeRoom(): void {
    const capacity = Math.max(1, this.#options.capacity ?? 100);
    const waiting = this.#waiting();
    for (const { lane, entry } of waiting.slice(0, Math.max(0, waiting.length - capacity))) {
      if (lane.next === entry) {
        lane.next = undefined;
        this.#dropped("queue-full", entry.delivery, "alert dropped: the queue is full");
      } else {
        // The lane drops it (and counts it) when it next looks.
        entry.cancel = "queue-full";
        lane.wake?.();
      }
    }
  }

  /** The shutdown deadline passed: abort the requests in flight, drop everything waiting. */
  #abort(): void {
    this.#aborted = true;
    for (const controller of this.#inFlight) controller.abort(new DeliveryAbortedError());
    let count = 0;
    for (const lane of this.#lanes.values()) {
      if (lane.next !== undefined) {
        count++;
        this.#count("dropped", "shutdown");
        lane.next = undefined;
      }
      lane.wake?.();
    }
    if (count > 0) {
      this.#options.log.warn("alerts dropped at shutdown", {
        channel: this.#options.channel,
        count,
      });
    }
  }

  #dropped(
    reason: DropReason,
    delivery: Delivery,
    message: string,
    level: "debug" | "warn" = "warn",
    fields: Record<string, unknown> = {},
  ): void {
    this.#count("dropped", reason);
    this.#options.log[level](message, {
      channel: this.#options.channel,
      alert: delivery.label,
      reason,
      ...fields,
    });
  }

  #count(result: DeliveryResult, reason?: DropReason): void {
    if (result === "dropped") this.#droppedBy[reason ?? "shutdown"]++;
    else this.#counts[result]++;
    try {
      this.#options.onResult?.(result, reason);
    } catch (error) {
      this.#options.log.error("notification result hook failed", { error });
    }
  }
}
