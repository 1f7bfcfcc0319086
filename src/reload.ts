/**
 * Live reload of the configuration file (issue 12): on a change of the file or SIGHUP
 * (`config/watch.ts` says when), the file is loaded and validated whole. Invalid, and the
 * running configuration goes on untouched: an ERROR line with every issue, a failed
 * {@linkcode ReloadResult} (metric `helaseid_config_reload_success 0`, an alert). Valid, and it
 * is applied as a diff by the caller's `apply` (targets, sources, probes, publishing; a
 * Service removed is kept or deleted per `removedServices`). Settings read only at start
 * (leases, alert channels, ...) are named in the result as needing a restart.
 *
 * Reloads never overlap: a trigger during a reload runs one more reload after it.
 *
 * @module
 */

import { type Config, ConfigError, describeConfig, type LoadedConfig } from "./config/mod.ts";
import type { Logger } from "./observe/log.ts";
import { fnv1a64 } from "./publish/identity.ts";

/** The outcome of one reload. */
export interface ReloadResult {
  /** Whether the new configuration was valid and applied. */
  readonly ok: boolean;
  /** When the reload finished (epoch ms). */
  readonly at: number;
  /** What asked for it. */
  readonly trigger: "file" | "signal";
  /** The hash of the configuration in force after it. */
  readonly hash: string;
  /** Not ok: why, one line per issue (`services[0].ports: ...`); never a secret. */
  readonly issues?: readonly string[];
  /** Ok: what changed (`added shop/a`, `changed shop/b`, `removed shop/c`); empty = nothing. */
  readonly changes?: readonly string[];
  /** Ok: changed settings that take effect only at the next start. */
  readonly restartNeeded?: readonly string[];
}

/** The configuration in force, for `/status` and metrics. */
export interface ConfigStatus {
  /** The file it was read from (absent: environment only, nothing to reload). */
  readonly path?: string;
  /** A hash of the configuration in force (its `validate` form: secrets are not in it). */
  readonly hash: string;
  /** When it was loaded (epoch ms). */
  readonly loadedAt: number;
  /** The last reload, if any. */
  readonly lastReload?: ReloadResult;
}

/** Options of {@linkcode Reloader}. */
export interface ReloaderOptions {
  /** The configuration the agent started with. */
  readonly initial: Config;
  /** Where it came from. */
  readonly path?: string;
  /** Loads and validates the file again (throws a `ConfigError` when it is invalid). */
  readonly load: () => Promise<LoadedConfig>;
  /** Applies a valid new configuration (a diff against the one in force). */
  readonly apply: (next: Config, previous: Config) => Promise<void>;
  readonly log: Logger;
  readonly now: () => number;
  /** Called after every reload, valid or not. */
  readonly onResult?: (result: ReloadResult) => void;
}

/** Global settings read only at start: a change is applied at the next start. */
const START_ONLY = [
  "leases",
  "leaseDuration",
  "leaseRenewDeadline",
  "leaseRetryPeriod",
  "leaseNamespace",
  "watchConfig",
  "alerts",
] as const;

/** Reloads the configuration on demand; see the module documentation. */
export class Reloader {
  readonly #options: ReloaderOptions;
  #config: Config;
  #status: ConfigStatus;
  #running?: Promise<ReloadResult>;
  #again?: "file" | "signal";

  constructor(options: ReloaderOptions) {
    this.#options = options;
    this.#config = options.initial;
    this.#status = {
      ...(options.path === undefined ? {} : { path: options.path }),
      hash: configFingerprint(options.initial),
      loadedAt: options.now(),
    };
  }

  /** The configuration in force. */
  get config(): Config {
    return this.#config;
  }

  /** The configuration in force and the last reload. */
  status(): ConfigStatus {
    return this.#status;
  }

  /** Reloads now (after the reload in progress, if any); resolves with its result. */
  reload(trigger: "file" | "signal"): Promise<ReloadResult> {
    if (this.#running) {
      this.#again = trigger;
      return this.#running.then(() => this.#running ?? this.reload(trigger));
    }
    this.#running = this.#reload(trigger).finally(() => {
      this.#running = undefined;
      const again = this.#again;
      this.#again = undefined;
      if (again) this.reload(again);
    });
    return this.#running;
  }

  async #reload(trigger: "file" | "signal"): Promise<ReloadResult> {
    const { log, now } = this.#options;
    const previous = this.#config;
    let loaded: LoadedConfig;
    try {
      loaded = await this.#options.load();
    } catch (error) {
      const issues = error instanceof ConfigError
        ? error.issues.map((issue) => `${issue.path}: ${issue.message}`)
        : [error instanceof Error ? error.message : String(error)];
      log.error("configuration reload failed: keeping the running configuration", {
        trigger,
        path: this.#options.path,
        issues,
      });
      return this.#finish({ ok: false, at: now(), trigger, hash: this.#status.hash, issues });
    }
    const next = loaded.config;
    for (const warning of loaded.warnings) log.warn(warning);
    const { hash, changes, restartNeeded } = compareConfigs(previous, next);
    try {
      await this.#options.apply(next, previous);
    } catch (error) {
      log.error("configuration reload failed while applying it", { trigger, error });
      return this.#finish({
        ok: false,
        at: now(),
        trigger,
        hash: this.#status.hash,
        issues: [error instanceof Error ? error.message : String(error)],
      });
    }
    this.#config = next;
    const result: ReloadResult = {
      ok: true,
      at: now(),
      trigger,
      hash,
      changes,
      ...(restartNeeded.length > 0 ? { restartNeeded } : {}),
    };
    if (hash !== this.#status.hash) this.#status = { ...this.#status, hash, loadedAt: result.at };
    log.info(
      changes.length === 0 ? "configuration reloaded: nothing changed" : "configuration reloaded",
      {
        trigger,
        hash,
        changes,
      },
    );
    if (restartNeeded.length > 0) {
      log.warn("configuration reloaded, but some settings apply only at the next start", {
        settings: restartNeeded,
      });
    }
    return this.#finish(result);
  }

  #finish(result: ReloadResult): ReloadResult {
    this.#status = { ...this.#status, lastReload: result };
    try {
      this.#options.onResult?.(result);
    } catch (error) {
      this.#options.log.error("reload listener failed", { error });
    }
    return result;
  }
}

/** A hash of a configuration's `validate` form (secrets are not in it). */
export function configFingerprint(config: Config): string {
  return fnv1a64(JSON.stringify(describeConfig(config)));
}

/**
 * What changed between two configurations, Service by Service, which of the changed settings
 * are read only at start, and the new configuration's fingerprint: each described once. Pure.
 */
export function compareConfigs(
  previous: Config,
  next: Config,
): { hash: string; changes: string[]; restartNeeded: string[] } {
  const key = (s: { namespace: string; name: string }) => `${s.namespace}/${s.name}`;
  const before = new Map(previous.services.map((s) => [key(s), JSON.stringify(s)]));
  const after = new Map(next.services.map((s) => [key(s), JSON.stringify(s)]));
  const changes: string[] = [];
  for (const [name, text] of after) {
    const old = before.get(name);
    if (old === undefined) changes.push(`added ${name}`);
    else if (old !== text) changes.push(`changed ${name}`);
  }
  for (const name of before.keys()) if (!after.has(name)) changes.push(`removed ${name}`);
  const described = describeConfig(next) as Record<string, unknown>;
  const { services: _a, ...globalsBefore } = describeConfig(previous) as Record<string, unknown>;
  const { services: _b, ...globalsAfter } = described;
  if (JSON.stringify(globalsBefore) !== JSON.stringify(globalsAfter)) {
    changes.push("global settings");
  }
  const restartNeeded = START_ONLY.filter((name) =>
    JSON.stringify(globalsBefore[name]) !== JSON.stringify(globalsAfter[name])
  );
  return { hash: fnv1a64(JSON.stringify(described)), changes, restartNeeded };
}
