/**
 * Fakes for pure-logic unit tests, in one typed module (STYLE §5): a manual clock, a scripted
 * prober, and builders of configuration. Nothing here claims Kubernetes behaviour; that is
 * tested against the real API server.
 *
 * @module
 */

import type { ServiceConfig, Target } from "../../src/config/schema.ts";
import { PUBLISH_DEFAULTS } from "../../src/config/schema.ts";
import type { Clock } from "../../src/health/scheduler.ts";
import { MemoryKube } from "../../src/kube/memory.ts";
import { serviceObject } from "../../src/publish/objects.ts";
import type { Prober, ProbeRequest, ProbeResult } from "../../src/probe/mod.ts";

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/** A clock that only moves when told to; timers fire in order as it moves. */
export class FakeClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #ids = 0;

  constructor(start = Date.UTC(2026, 10, 26)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delay: number): unknown {
    const timer = { id: ++this.#ids, at: this.#now + Math.max(0, delay), callback };
    this.#timers.push(timer);
    this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle);
  }

  /** Timers still pending. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order and settling promises between. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    while (true) {
      const next = this.#timers[0];
      if (!next || next.at > end) break;
      this.#timers.shift();
      this.#now = next.at;
      next.callback();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

/** Lets pending promise callbacks run (enough microtask turns for the agent's chains). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 100; i++) await null;
}

/** What the scripted prober answers for an address: up, down with an error, or pending. */
export type Answer = { ok: true } | { ok: false; error: string } | "hang";

/** A prober whose answers a test sets per address; it records every request. */
export class ScriptedProber {
  readonly requests: ProbeRequest[] = [];
  readonly #answers = new Map<string, Answer>();
  readonly #hanging: (() => void)[] = [];
  readonly #clock: Clock;

  constructor(clock: Clock, answers: Record<string, Answer> = {}) {
    this.#clock = clock;
    for (const [address, answer] of Object.entries(answers)) this.#answers.set(address, answer);
  }

  /** Sets the answer for an address (default: up). */
  set(address: string, answer: Answer): void {
    this.#answers.set(address, answer);
  }

  /** Requests for one address so far. */
  count(address: string): number {
    return this.requests.filter((request) => request.address === address).length;
  }

  /** Resolves every hanging probe as a timeout. */
  release(): void {
    for (const resolve of this.#hanging.splice(0)) resolve();
  }

  readonly probe: Prober = (request) => {
    this.requests.push(request);
    const answer = this.#answers.get(request.address) ?? { ok: true };
    if (answer === "hang") {
      // Resolves as a timeout when the clock reaches the request's timeout.
      const started = this.#clock.now();
      return new Promise<ProbeResult>((resolve) => {
        const done = () => resolve({ ok: false, latency: request.timeout, error: "timeout" });
        this.#hanging.push(done);
        this.#clock.setTimeout(done, request.timeout - (this.#clock.now() - started));
      });
    }
    return Promise.resolve(
      answer.ok ? { ok: true, latency: 1 } : { ok: false, latency: 1, error: answer.error },
    );
  };
}

/** A Service configuration for tests; `overrides` replace whole sections. */
export function serviceConfig(
  addresses: readonly (string | Target)[],
  overrides: Partial<ServiceConfig> = {},
): ServiceConfig {
  return {
    name: "brokers",
    namespace: "datastream",
    ports: [{ name: "", port: 9092, protocol: "TCP" }],
    targets: addresses.map((address) => typeof address === "string" ? { address } : address),
    probe: {
      type: "tcp",
      port: 9092,
      interval: 100,
      timeout: 50,
      rise: 2,
      fall: 3,
      jitter: 0,
    },
    publish: PUBLISH_DEFAULTS,
    ...overrides,
  };
}

/** An in-memory API that already holds a selector-less Service for `service`. */
export function kubeWithService(service: ServiceConfig, uid = "svc-uid"): MemoryKube {
  const kube = new MemoryKube();
  kube.seed(serviceObject(service, { uid }));
  return kube;
}
