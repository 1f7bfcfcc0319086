/**
 * The role checks of `observe` mode (issue 15): for each Service whose primary is observed, a
 * round every probe interval runs the role check (`primary.check`, such as Patroni's
 * `GET :8008/primary` → 200, or Redis `ROLE` → `master`) against each healthy target and
 * reports the claimants: the targets whose check passed. A claimant keeps its claim through
 * fewer than `fall` failed rounds in a row (the health checks' hysteresis), so one lost answer
 * does not empty the primary Service. Rounds of one Service never overlap; the prober and the
 * clock are injected.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import type { Clock } from "../health/scheduler.ts";
import type { Logger } from "../observe/log.ts";
import type { Prober } from "../probe/types.ts";

/** Options of {@linkcode RoleChecker}. */
export interface RoleCheckerOptions {
  readonly clock: Clock;
  /** The prober of a Service's role check (made once per configuration). */
  readonly prober: (service: ServiceConfig) => Prober;
  /** The addresses of a Service's healthy targets now. */
  readonly healthy: (service: ServiceConfig) => readonly string[];
  /** After each round: the addresses that claim to be primary. */
  readonly onClaims: (service: ServiceConfig, claimants: readonly string[]) => void;
  readonly log?: Logger;
}

interface Loop {
  config: ServiceConfig;
  prober: Prober;
  timer?: unknown;
  running?: Promise<void>;
  stopped: boolean;
  /** Claimants, with their failed rounds in a row since the last pass. */
  readonly claims: Map<string, number>;
}

/** Runs the role checks of every Service in `observe` mode. */
export class RoleChecker {
  readonly #options: RoleCheckerOptions;
  readonly #loops = new Map<string, Loop>();

  constructor(options: RoleCheckerOptions) {
    this.#options = options;
  }

  /** Takes the configured Services: starts, updates or stops their rounds. */
  set(services: readonly ServiceConfig[]): void {
    const wanted = new Map<string, ServiceConfig>();
    for (const config of services) {
      if (config.primary?.mode === "observe" && config.primary.check) {
        wanted.set(`${config.namespace}/${config.name}`, config);
      }
    }
    for (const [key, loop] of this.#loops) {
      if (!wanted.has(key)) this.#end(key, loop);
    }
    for (const [key, config] of wanted) {
      const loop = this.#loops.get(key);
      if (loop) {
        if (loop.config !== config) {
          loop.config = config;
          loop.prober = this.#options.prober(config);
        }
        continue;
      }
      const fresh: Loop = {
        config,
        prober: this.#options.prober(config),
        stopped: false,
        claims: new Map(),
      };
      this.#loops.set(key, fresh);
      this.#schedule(fresh, 0);
    }
  }

  /** Stops every round and waits for those in flight. */
  async stop(): Promise<void> {
    const running = [...this.#loops.values()].map((loop) => loop.running);
    for (const [key, loop] of [...this.#loops]) this.#end(key, loop);
    await Promise.all(running);
  }

  #end(key: string, loop: Loop): void {
    loop.stopped = true;
    if (loop.timer !== undefined) this.#options.clock.clearTimeout(loop.timer);
    loop.timer = undefined;
    this.#loops.delete(key);
  }

  #schedule(loop: Loop, delay: number): void {
    if (loop.stopped) return;
    loop.timer = this.#options.clock.setTimeout(() => {
      loop.timer = undefined;
      loop.running = this.#round(loop).finally(() => {
        loop.running = undefined;
        this.#schedule(loop, loop.config.probe.interval);
      });
    }, delay);
  }

  /** One round: the role check of every healthy target, then the claimants. */
  async #round(loop: Loop): Promise<void> {
    const { config } = loop;
    const { probe } = config;
    const addresses = this.#options.healthy(config);
    const results = await Promise.all(addresses.map(async (address) => {
      try {
        return await loop.prober({ address, port: probe.port, timeout: probe.timeout });
      } catch (error) {
        this.#options.log?.warn("role check failed", { address, error });
        return { ok: false, latency: 0 };
      }
    }));
    if (loop.stopped) return;
    const healthy = new Set(addresses);
    for (const address of [...loop.claims.keys()]) {
      if (!healthy.has(address)) loop.claims.delete(address);
    }
    addresses.forEach((address, i) => {
      if (results[i]!.ok) loop.claims.set(address, 0);
      else if (loop.claims.has(address)) {
        const misses = loop.claims.get(address)! + 1;
        if (misses >= probe.fall) loop.claims.delete(address);
        else loop.claims.set(address, misses);
      }
    });
    this.#options.onClaims(config, [...loop.claims.keys()].sort());
  }
}
