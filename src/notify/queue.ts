/**
 * Delivery to one webhook: a bounded in-memory queue drained by one sender, so alerts arrive in
 * the order they were raised and nothing waits for the webhook but the queue itself.
 *
 * - Bounded: when full, the oldest waiting alert is dropped (counted, logged).
 * - Deduplicated: an alert equal to the last one queued for the same subject (same
 *   {@linkcode Delivery.key} and {@linkcode Delivery.fingerprint}) within `dedupeWindow` is
 *   not sent again.
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

/** Counters of one channel. */
export interface DeliveryStats {
  /** Alerts the webhook accepted. */
  readonly sent: number;
  /** Alerts refused by the webhook or given up after the last retry. */
  readonly failed: number;
  /** Attempts that are tried again. */
  readonly retried: number;
  /** Alerts dropped unsent: queue full, or still queued at the end of shutdown. */
  readonly dropped: number;
  /** Alerts not queued because they repeat the previous one. */
  readonly deduplicated: number;
  /** Alerts waiting now (the one in flight excluded). */
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
  /** Alerts waiting at most (default 100). */
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
}

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
  /** Called for every counted outcome. Must not throw. */
  readonly onResult?: (result: DeliveryResult) => void;
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

/** A bounded, rate-limited, retrying queue in front of one webhook. */
export class DeliveryQueue {
  readonly #options: DeliveryQueueOptions;
  readonly #random: () => number;
  readonly #items: Delivery[] = [];
  /** The last alert queued per subject, for deduplication. */
  readonly #last = new Map<string, { fingerprint: string; at: number }>();
  /** Start times of the latest requests, oldest first (at most `perSecond`). */
  readonly #starts: number[] = [];
  readonly #counts = { sent: 0, failed: 0, retried: 0, dropped: 0, deduplicated: 0 };
  #running?: Promise<void>;
  #inFlight?: AbortController;
  #sleeping?: { timer: unknown; wake: () => void };
  #closing?: { deadline: number; done: Promise<void> };
  #aborted = false;

  /** Creates an idle queue; the first {@linkcode DeliveryQueue.push} starts the sender. */
  constructor(options: DeliveryQueueOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** The counters so far. */
  stats(): DeliveryStats {
    return { ...this.#counts, pending: this.#items.length };
  }

  /** Queues an alert and returns at once; delivery happens in the background. */
  push(delivery: Delivery): void {
    const { clock, log, channel } = this.#options;
    const now = clock.now();
    if (this.#aborted) {
      this.#count("dropped");
      log.warn("alert dropped: shutting down", { channel, alert: delivery.label });
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
    if (this.#items.length >= (this.#options.capacity ?? 100)) {
      const oldest = this.#items.shift()!;
      this.#count("dropped");
      log.warn("alert queue full: dropped the oldest alert", {
        channel,
        alert: oldest.label,
        capacity: this.#options.capacity ?? 100,
      });
    }
    this.#items.push(delivery);
    this.#running ??= this.#drain().finally(() => this.#running = undefined);
  }

  /**
   * Delivers what is queued, giving up at `timeoutMs` (default 5s): then the request in flight
   * is aborted and what is left is dropped. Resolves when nothing runs any more.
   */
  close(timeoutMs: Millis = 5000): Promise<void> {
    if (this.#closing) return this.#closing.done;
    const { clock } = this.#options;
    const deadline = clock.now() + Math.max(0, timeoutMs);
    const timer = clock.setTimeout(() => this.#abort(), Math.max(0, timeoutMs));
    const done = (async () => {
      await this.#running;
      clock.clearTimeout(timer);
      this.#aborted = true;
    })();
    this.#closing = { deadline, done };
    return done;
  }

  /** Sends queued alerts one at a time until none is left or the queue is aborted. */
  async #drain(): Promise<void> {
    for (;;) {
      const delivery = this.#items.shift();
      if (delivery === undefined || this.#aborted) return;
      await this.#deliver(delivery);
    }
  }

  /** Tries one alert until it is sent, refused, given up, or the queue is aborted. */
  async #deliver(delivery: Delivery): Promise<void> {
    const { channel, clock, log } = this.#options;
    const attempts = this.#options.retry?.attempts ?? 8;
    for (let attempt = 1;; attempt++) {
      await this.#sleep(this.#rateDelay());
      if (this.#aborted) return this.#drop(delivery);
      this.#starts.push(clock.now());
      if (this.#starts.length > this.#perSecond) this.#starts.shift();
      const outcome = await this.#attempt(delivery.body);
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
      if (this.#aborted) return this.#drop(delivery);
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
      this.#count("retried");
      const message = outcome.status === 429
        ? "webhook throttled the alert: retrying"
        : "alert delivery failed: retrying";
      log[outcome.status === 429 ? "info" : "warn"](message, {
        ...fields,
        retryInMs: Math.round(delay),
      });
      await this.#sleep(delay);
      if (this.#aborted) return this.#drop(delivery);
    }
  }

  /** One request, aborted after the timeout or at the shutdown deadline. */
  async #attempt(body: string): Promise<PostOutcome> {
    const { clock, send } = this.#options;
    const timeout = this.#options.timeout ?? 10_000;
    const controller = new AbortController();
    this.#inFlight = controller;
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
      this.#inFlight = undefined;
    }
  }

  get #perSecond(): number {
    return Math.max(1, this.#options.perSecond ?? 4);
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

  /** Waits `ms` on the clock; {@linkcode DeliveryQueue.close}'s deadline wakes it early. */
  #sleep(ms: Millis): Promise<void> {
    if (ms <= 0 || this.#aborted) return Promise.resolve();
    const { clock } = this.#options;
    return new Promise((resolve) => {
      const wake = () => {
        this.#sleeping = undefined;
        resolve();
      };
      this.#sleeping = { timer: clock.setTimeout(wake, ms), wake };
    });
  }

  /** The shutdown deadline passed: abort the request in flight, drop everything queued. */
  #abort(): void {
    this.#aborted = true;
    this.#inFlight?.abort(new DeliveryAbortedError());
    if (this.#sleeping) {
      this.#options.clock.clearTimeout(this.#sleeping.timer);
      this.#sleeping.wake();
    }
    const left = this.#items.splice(0);
    for (const _ of left) this.#count("dropped");
    if (left.length > 0) {
      this.#options.log.warn("alerts dropped at shutdown", {
        channel: this.#options.channel,
        count: left.length,
        alerts: left.map((delivery) => delivery.label),
      });
    }
  }

  #drop(delivery: Delivery): void {
    this.#count("dropped");
    this.#options.log.warn("alert dropped at shutdown", {
      channel: this.#options.channel,
      alert: delivery.label,
    });
  }

  #count(result: DeliveryResult): void {
    this.#counts[result]++;
    try {
      this.#options.onResult?.(result);
    } catch (error) {
      this.#options.log.error("notification result hook failed", { error });
    }
  }
}
