/**
 * Kubernetes Events (events.k8s.io/v1) on the Service for what an operator should see in
 * `kubectl describe service`: a target going down or coming back, every target down, a
 * publishing failure, a Service that cannot be published (missing, with a selector, refused
 * by the API, in a missing namespace) and another HELASEID writer rewriting its objects; and,
 * as targets change (issue 12), the targets a source or a reload added and removed
 * (`TargetsChanged`, Normal), a target source failing and recovering (`SourceFailing`,
 * `SourceRecovered`) and a sudden shrink held (`SourceShrinkHeld`).
 *
 * Events must not flood etcd when a target flaps, so each (Service, target, reason) keeps one
 * Event per window (default 30 minutes) and repeats only update its `series` (count and last
 * observed time), as client-go's event broadcaster does. The API makes `note`, `eventTime`,
 * `regarding` and the reporting fields immutable, so a series keeps those of its first
 * occurrence. Writes go through server-side apply, are rate-limited per Event and overall,
 * run in the background, and only ever log their failures: the agent never waits on them.
 *
 * @module
 */

import type { AgentListener, TargetsChange, TargetTransition } from "../agent.ts";
import type { SourceStatus } from "../discovery/mod.ts";
import type { Millis } from "../config/schema.ts";
import { type Clock, systemClock } from "../health/scheduler.ts";
import type { Logger } from "../observe/log.ts";
import { systemHostname } from "../publish/identity.ts";
import type { PrimaryChange } from "../publish/primary_tracker.ts";
import type { PublishState } from "../publish/reconciler.ts";
import type { KubeClient } from "./client.ts";
import type { KubeObject } from "./types.ts";

/** `reportingController` of our Events. */
const REPORTING_CONTROLLER = "helaseid";

/** The reasons of our Events. */
export type EventReason =
  | "TargetUnhealthy"
  | "TargetHealthy"
  | "AllTargetsDown"
  | "PublishFailed"
  | "PublishBlocked"
  | "PublishForbidden"
  | "PublishConflict"
  | "LeaseAcquired"
  | "LeaseReleased"
  | "LeaseLost"
  | "TargetsChanged"
  | "SourceFailing"
  | "SourceRecovered"
  | "SourceShrinkHeld"
  | "PrimaryChanged"
  | "PrimaryContested";

/** One thing worth an Event, before rate limiting and series folding. */
export interface Occurrence {
  readonly namespace: string;
  /** The Service's name (the Event regards it). */
  readonly service: string;
  /** `address:port` when the occurrence concerns one target. */
  readonly target?: string;
  readonly reason: EventReason;
  readonly type: "Normal" | "Warning";
  /** What was done or attempted (`HealthCheck`, `Publish`). */
  readonly action: string;
  /** Human-readable; truncated to the API's 1 KB. */
  readonly note: string;
  /** When it happened, epoch ms. */
  readonly at: number;
}

/** Options of {@linkcode EventRecorder}. */
export interface EventRecorderOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** `reportingInstance`: the pod or host name (see {@linkcode reportingInstance}). */
  readonly instance: string;
  /** Defaults to the system clock. */
  readonly clock?: Clock;
  /**
   * The Service's uid for `regarding.uid` (`kubectl describe` only shows Events that carry
   * it). Without this option the recorder lists the namespace's Services itself, at most
   * once a minute per namespace.
   */
  readonly uid?: (namespace: string, name: string) => string | undefined;
  /** How long repeats of one occurrence update the same Event (default 30 min). */
  readonly window?: Millis;
  /** Least time between two writes of one Event (default 2 s). */
  readonly minInterval?: Millis;
  /** Writes per second over all Events, and the burst allowed (default 10/s, 50). */
  readonly rate?: { readonly perSecond: number; readonly burst: number };
  /** Writes in flight at most (default 4). */
  readonly maxInFlight?: number;
  /** Attempts of one write before it is given up (default 4). */
  readonly maxAttempts?: number;
  /** Called after each write attempt (for `helaseid_kube_writes_total`). */
  readonly onWrite?: (
    outcome: { resource: "events"; ok: boolean; status?: number; duration: number },
  ) => void;
}

/** One Event and its series, as last decided (not necessarily written yet). */
interface Series {
  readonly key: string;
  readonly name: string;
  readonly first: Occurrence;
  /** Found before the first write; fixed once the Event exists (`regarding` is immutable). */
  uid?: string;
  count: number;
  lastObserved: number;
  /** The count the API has (0 before the first successful write). */
  written: number;
  lastWrite: number;
  failures: number;
  timer?: unknown;
  queued: boolean;
  writing: boolean;
}

/** Writes Events for the agent's transitions and publishing failures. */
export class EventRecorder implements AgentListener {
  readonly #options: EventRecorderOptions;
  readonly #clock: Clock;
  readonly #window: Millis;
  readonly #minInterval: Millis;
  readonly #rate: { readonly perSecond: number; readonly burst: number };
  readonly #series = new Map<string, Series>();
  readonly #queue: Series[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #failing = new Map<string, number>();
  readonly #blocked = new Map<string, string>();
  /** Each source's state as last recorded (`namespace/name|source`): failing, held since. */
  readonly #sources = new Map<string, { failing: boolean; heldSince?: number }>();
  readonly #uids = new Map<
    string,
    { readonly at: number; readonly uids: Promise<Map<string, string | undefined>> }
  >();
  #tokens: number;
  #refilled: number;
  #pumpTimer?: unknown;
  #stopped = false;
  /** The map size at which expired series are swept next. */
  #sweepAt = SWEEP_MIN;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#window = options.window ?? 30 * 60_000;
    this.#minInterval = options.minInterval ?? 2000;
    this.#rate = options.rate ?? { perSecond: 10, burst: 50 };
    this.#tokens = this.#rate.burst;
    this.#refilled = this.#clock.now();
  }

  /**
   * A target's verdict changed: `TargetUnhealthy`, `TargetHealthy` (a recovery; the first
   * verdict of a healthy target at startup is not news), and `AllTargetsDown` when the last
   * healthy target of the Service went.
   */
  transition(event: TargetTransition): void {
    const { service, target } = event;
    const where = `${target.address}:${service.probe.port}`;
    const base = { namespace: service.namespace, service: service.name, action: "HealthCheck" };
    if (event.to === "unhealthy") {
      this.record({
        ...base,
        target: where,
        reason: "TargetUnhealthy",
        type: "Warning",
        note: `Target ${where} failed ${service.probe.fall} consecutive checks` +
          (event.error ? `: ${event.error}` : ""),
        at: event.at,
      });
      if (event.healthy === 0 && event.unhealthy === event.total) {
        this.record({
          ...base,
          reason: "AllTargetsDown",
          type: "Warning",
          note: `No target of the Service is healthy (${event.total} unhealthy): ` +
            (service.publish.allDown === "publishAll"
              ? "publishing all of them as ready (panic guard)"
              : "publishing no ready endpoint"),
          at: event.at,
        });
      }
    } else if (event.from === "unhealthy") {
      this.record({
        ...base,
        target: where,
        reason: "TargetHealthy",
        type: "Normal",
        note: `Target ${where} is healthy again after ${formatDuration(event.after)} down`,
        at: event.at,
      });
    }
  }

  /**
   * A Service's primary changed (issue 15): `PrimaryChanged` with the reason (Normal for the
   * first choice, else Warning), or `PrimaryContested` when more than one target claims it.
   */
  primaryChanged(event: PrimaryChange): void {
    const { service } = event;
    const contested = event.reason === "contested";
    const note = contested
      ? `More than one target claims to be primary: keeping ${event.from ?? "none"}`
      : `Primary ${event.from ?? "none"} → ${event.to ?? "none"}: ${event.reason}`;
    this.record({
      namespace: service.namespace,
      service: service.name,
      // Each move is its own Event; the same move again folds into its series.
      target: fnv1a(note),
      reason: contested ? "PrimaryContested" : "PrimaryChanged",
      type: event.reason === "initial" ? "Normal" : "Warning",
      action: "Primary",
      note,
      at: event.at,
    });
  }

  /**
   * A Service's publishing state changed: `PublishFailed` when writes start failing;
   * `PublishBlocked` (missing Service or namespace, a selector), `PublishForbidden` (401/403)
   * or `PublishConflict` (another HELASEID writer) when a block starts or its detail changes.
   */
  publishState(state: PublishState): void {
    const slash = state.service.indexOf("/");
    const base = {
      namespace: state.service.slice(0, slash),
      service: state.service.slice(slash + 1),
      action: "Publish",
      type: "Warning" as const,
      at: this.#clock.now(),
    };
    const before = this.#failing.get(state.service) ?? 0;
    this.#failing.set(state.service, state.failures);
    // A refused or namespace-less write is a block: its own Event below says what to fix.
    if (state.failures > 0 && before === 0 && !state.blocked) {
      const failed = [...state.writes.values()].filter((write) => !write.ok);
      const detail = failed.map((write) =>
        `${write.kind}/${write.name}: ${write.error ?? "failed"}`
      )
        .join("; ");
      this.record({
        ...base,
        reason: "PublishFailed",
        note: `Cannot publish the Service's endpoints${detail ? `: ${detail}` : ""}`,
      });
    }
    const blocked = state.blocked && state.blocked !== "waiting-first-checks"
      ? `${state.blocked}|${state.detail ?? ""}`
      : "";
    const was = this.#blocked.get(state.service) ?? "";
    this.#blocked.set(state.service, blocked);
    if (!blocked || blocked === was) return;
    const detail = state.detail ? `: ${state.detail}` : "";
    switch (state.blocked) {
      case "service-has-selector":
        this.record({
          ...base,
          reason: "PublishBlocked",
          note: "The Service has a selector, so the endpoint controller owns its endpoints: " +
            "remove the selector for HELASEID to publish them",
        });
        break;
      case "service-missing":
        this.record({
          ...base,
          reason: "PublishBlocked",
          note: `Cannot publish${detail}: create the Service without selector, or enable ` +
            "createService",
        });
        break;
      case "namespace-missing":
        this.record({ ...base, reason: "PublishBlocked", note: `Cannot publish${detail}` });
        break;
      case "access-denied":
        this.record({
          ...base,
          reason: "PublishForbidden",
          note: `The API refuses access${detail}: check the Role and the credentials`,
        });
        break;
      case "conflict":
        this.record({
          ...base,
          reason: "PublishConflict",
          note: `Not writing while ${
            state.detail ?? "another HELASEID writer rewrites the " +
                "Service's objects"
          }: give each Service one writer (see Troubleshooting)`,
        });
        break;
    }
  }

  /**
   * A Service's targets changed: a Normal `TargetsChanged` naming what was added and removed
   * and by which source (`added 192.0.2.5 (dns kafka.test); removed 192.0.2.4`), at most
   * {@linkcode MAX_LISTED_TARGETS} addresses each. Removed targets are news, not a failure.
   * A Service gone from the configuration gets none (its Events would regard an object
   * HELASEID no longer manages) and its sources are forgotten.
   */
  targetsChanged(event: TargetsChange): void {
    const { service } = event;
    if (event.gone) {
      const prefix = `${service.namespace}/${service.name}|`;
      for (const key of [...this.#sources.keys()]) {
        if (key.startsWith(prefix)) this.#sources.delete(key);
      }
      return;
    }
    if (event.added.length === 0 && event.removed.length === 0) return;
    const note = targetsChangedNote(event);
    this.record({
      namespace: service.namespace,
      service: service.name,
      // Each distinct change is its own Event; the same change again (a flapping address)
      // folds into its series.
      target: fnv1a(note),
      reason: "TargetsChanged",
      type: "Normal",
      action: "Discover",
      note,
      at: this.#clock.now(),
    });
  }

  /**
   * A target source's state changed (the discovery's `onStatus`): a Warning `SourceFailing`
   * when it starts failing (its last good set stays in force), a Normal `SourceRecovered`
   * when it answers again, a Warning `SourceShrinkHeld` when a sudden shrink is held.
   */
  sourceStatus(status: SourceStatus): void {
    const slash = status.service.indexOf("/");
    const base = {
      namespace: status.service.slice(0, slash),
      service: status.service.slice(slash + 1),
      target: status.source,
      action: "Discover",
      at: status.updatedAt ?? this.#clock.now(),
    };
    const key = `${status.service}|${status.source}`;
    const was = this.#sources.get(key) ?? { failing: false };
    const failing = status.error !== undefined;
    if (failing && !was.failing) {
      this.record({
        ...base,
        reason: "SourceFailing",
        type: "Warning",
        note: `Target source ${status.source} fails: ${status.error}; its last good set ` +
          `(${status.targets} targets) stays in force`,
      });
    } else if (!failing && was.failing) {
      this.record({
        ...base,
        reason: "SourceRecovered",
        type: "Normal",
        note: `Target source ${status.source} answers again: ${status.targets} targets`,
      });
    }
    const held = status.held;
    if (held !== undefined && held.since !== was.heldSince) {
      this.record({
        ...base,
        reason: "SourceShrinkHeld",
        type: "Warning",
        note: `Target source ${status.source} shrank from ${held.from} to ${held.to} targets: ` +
          `the change is held until ${new Date(held.until).toISOString()}`,
      });
    }
    const next = { failing, ...(held ? { heldSince: held.since } : {}) };
    if (!next.failing && next.heldSince === undefined) this.#sources.delete(key);
    else this.#sources.set(key, next);
  }

  /** Records an occurrence: a new Event, or one more in the series of an existing one. */
  record(occurrence: Occurrence): void {
    if (this.#stopped) return;
    const key = seriesKey(occurrence);
    let series = this.#series.get(key);
    if (series && occurrence.at - series.first.at <= this.#window) {
      series.count++;
      series.lastObserved = Math.max(series.lastObserved, occurrence.at);
    } else {
      // A new window: a new Event. A repeat of the old one not yet written is given up.
      if (series) this.#retire(series);
      series = {
        key,
        name: eventName(occurrence, occurrence.at),
        first: { ...occurrence, note: truncateBytes(occurrence.note, NOTE_LIMIT) },
        count: 1,
        lastObserved: occurrence.at,
        written: 0,
        lastWrite: -Infinity,
        failures: 0,
        queued: false,
        writing: false,
      };
      this.#series.set(key, series);
      if (this.#series.size >= this.#sweepAt) this.#sweep(occurrence.at);
    }
    this.#schedule(series);
  }

  /** Event series kept in memory (bounded: idle ones past their window are dropped). */
  get seriesCount(): number {
    return this.#series.size;
  }

  /**
   * Drops series whose window is over and that have nothing left to write: a repeat would
   * start a new Event anyway. Without it, churning targets (a Pod source) and their distinct
   * `TargetsChanged` notes would grow the map forever. Runs when the map doubled since the
   * last sweep, so it costs O(1) per record on average.
   */
  #sweep(now: number): void {
    for (const [key, series] of this.#series) {
      const idle = !series.queued && !series.writing && series.timer === undefined;
      if (idle && now - series.first.at > this.#window) this.#series.delete(key);
    }
    this.#sweepAt = Math.max(SWEEP_MIN, this.#series.size * 2);
  }

  /** Stops writing: pending updates are dropped, writes in flight are waited for. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#pumpTimer !== undefined) this.#clock.clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    for (const series of this.#series.values()) this.#retire(series);
    this.#queue.length = 0;
    await Promise.all(this.#inFlight);
  }

  /** Queues a write of `series` once its own minimum interval (and backoff) has passed. */
  #schedule(series: Series): void {
    if (this.#stopped || series.queued || series.writing || series.timer !== undefined) return;
    if (series.count <= series.written) return;
    const backoff = this.#minInterval * 2 ** Math.min(series.failures, 10);
    const wait = series.lastWrite + (series.failures > 0 ? backoff : this.#minInterval) -
      this.#clock.now();
    if (wait > 0) {
      series.timer = this.#clock.setTimeout(() => {
        series.timer = undefined;
        this.#schedule(series);
      }, wait);
      return;
    }
    series.queued = true;
    this.#queue.push(series);
    this.#pump();
  }

  /** Starts queued writes while the in-flight cap and the overall rate allow. */
  #pump(): void {
    const maxInFlight = this.#options.maxInFlight ?? 4;
    while (!this.#stopped && this.#queue.length > 0 && this.#inFlight.size < maxInFlight) {
      const next = this.#queue[0]!;
      if (this.#series.get(next.key) !== next) {
        // Replaced by a new window since it was queued.
        this.#queue.shift();
        next.queued = false;
        continue;
      }
      const now = this.#clock.now();
      const { perSecond, burst } = this.#rate;
      this.#tokens = Math.min(burst, this.#tokens + (now - this.#refilled) * perSecond / 1000);
      this.#refilled = now;
      if (this.#tokens < 1) {
        if (this.#pumpTimer === undefined) {
          this.#pumpTimer = this.#clock.setTimeout(() => {
            this.#pumpTimer = undefined;
            this.#pump();
          }, Math.ceil((1 - this.#tokens) * 1000 / perSecond));
        }
        return;
      }
      this.#tokens--;
      const series = this.#queue.shift()!;
      series.queued = false;
      const write = this.#write(series).catch((error) => {
        // Only a throwing onWrite callback gets here; the recorder must not take the agent down.
        this.#options.log.error("event recorder failed", { error });
      }).finally(() => {
        this.#inFlight.delete(write);
        this.#schedule(series);
        this.#pump();
      });
      this.#inFlight.add(write);
    }
  }

  async #write(series: Series): Promise<void> {
    const { client, log, onWrite } = this.#options;
    const count = series.count;
    let started = this.#clock.now();
    series.writing = true;
    series.lastWrite = started;
    try {
      if (series.written === 0) {
        series.uid = await this.#uidOf(series.first.namespace, series.first.service);
        started = this.#clock.now();
      }
      await client.apply(eventObject(series, count, this.#options.instance));
      onWrite?.({ resource: "events", ok: true, duration: this.#clock.now() - started });
      series.written = count;
      series.failures = 0;
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      const code = typeof status === "number" ? status : undefined;
      onWrite?.({
        resource: "events",
        ok: false,
        ...(code !== undefined ? { status: code } : {}),
        duration: this.#clock.now() - started,
      });
      series.failures++;
      // Unreachable, throttled, conflicting or failing servers may recover; a refusal won't.
      const retry = code === undefined || code === 0 || code === 409 || code === 429 ||
        code >= 500;
      const fields = {
        event: `${series.first.namespace}/${series.name}`,
        reason: series.first.reason,
        attempt: series.failures,
        error,
      };
      if (retry && series.failures < (this.#options.maxAttempts ?? 4)) {
        log.debug("cannot write event, will retry", fields);
      } else {
        log.warn("cannot write event, giving up", fields);
        series.written = count;
        series.failures = 0;
      }
    } finally {
      series.writing = false;
    }
  }

  /** The uid of a Service: from the `uid` option, else from a (cached) list of Services. */
  async #uidOf(namespace: string, name: string): Promise<string | undefined> {
    if (this.#options.uid) return this.#options.uid(namespace, name);
    const now = this.#clock.now();
    let cached = this.#uids.get(namespace);
    if (!cached || now - cached.at > UID_CACHE_TTL) {
      const uids = this.#options.client.list("services", namespace).then(
        (list) => new Map(list.items.map((item) => [item.metadata.name, item.metadata.uid])),
        () => {
          // Not cached: the next Event asks again (its write will likely fail too).
          this.#uids.delete(namespace);
          return new Map<string, string | undefined>();
        },
      );
      cached = { at: now, uids };
      this.#uids.set(namespace, cached);
    }
    return (await cached.uids).get(name) || undefined;
  }

  #retire(series: Series): void {
    if (series.timer !== undefined) this.#clock.clearTimeout(series.timer);
    series.timer = undefined;
    series.written = series.count;
  }
}

/** The fewest series kept before expired ones are swept. */
const SWEEP_MIN = 256;

/** Addresses a `TargetsChanged` note lists at most per side, before "and N more". */
export const MAX_LISTED_TARGETS = 10;

/** `added 192.0.2.5 (dns kafka.test), 192.0.2.6; removed 192.0.2.4`, bounded. */
export function targetsChangedNote(event: Pick<TargetsChange, "added" | "removed">): string {
  const list = (targets: TargetsChange["added"]) => {
    const shown = targets.slice(0, MAX_LISTED_TARGETS).map((target) =>
      target.source === undefined ? target.address : `${target.address} (${target.source})`
    );
    const more = targets.length - shown.length;
    return shown.join(", ") + (more > 0 ? ` and ${more} more` : "");
  };
  const parts: string[] = [];
  if (event.added.length > 0) parts.push(`added ${list(event.added)}`);
  if (event.removed.length > 0) parts.push(`removed ${list(event.removed)}`);
  return parts.join("; ");
}

/** How long a namespace's Service uids are reused without the `uid` option. */
const UID_CACHE_TTL = 60_000;
/** The API's limit on `note`, in bytes. */
const NOTE_LIMIT = 1024;
/** The API's limit on `reportingInstance`. */
const INSTANCE_LIMIT = 128;

/** The Event object for `series` at `count` occurrences. */
function eventObject(series: Series, count: number, instance: string): KubeObject {
  const { first } = series;
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: series.name, namespace: first.namespace },
    eventTime: microTime(first.at),
    // The API requires a series to count at least 2: the first occurrence has none.
    ...(count > 1 ? { series: { count, lastObservedTime: microTime(series.lastObserved) } } : {}),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: instance,
    action: first.action,
    reason: first.reason,
    type: first.type,
    note: first.note,
    regarding: {
      apiVersion: "v1",
      kind: "Service",
      namespace: first.namespace,
      name: first.service,
      ...(series.uid ? { uid: series.uid } : {}),
    },
  };
}

/**
 * The name of an Event: the Service's name, a hash of the (Service, target, reason) key and
 * the start of its window, so it is the same for every repeat within the window and never
 * reused by a later window or a restarted agent.
 */
export function eventName(occurrence: SeriesIdentity, start: number): string {
  return `${occurrence.service}.${fnv1a(seriesKey(occurrence))}.${Math.floor(start).toString(16)}`;
}

/** What makes two occurrences the same series: Service, target and reason. */
export type SeriesIdentity = Pick<Occurrence, "namespace" | "service" | "target" | "reason">;

function seriesKey(occurrence: SeriesIdentity): string {
  return `${occurrence.namespace}/${occurrence.service}|${occurrence.target ?? ""}|` +
    occurrence.reason;
}

/** A `MicroTime`: RFC 3339 in UTC with exactly six fractional digits. */
export function microTime(epochMs: number): string {
  // Whole microseconds are exact integers for any epoch time (below 2^53).
  const total = Math.round(epochMs * 1000);
  const seconds = Math.floor(total / 1e6);
  const micros = total - seconds * 1e6;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  return `${base}.${String(micros).padStart(6, "0")}Z`;
}

/**
 * `reportingInstance`: the pod name (`POD_NAME` from the downward API, else `HOSTNAME`, which
 * Kubernetes sets to it), else the host name, at most 128 characters.
 */
export function reportingInstance(
  env: Readonly<Record<string, string | undefined>>,
  hostname: () => string | undefined = systemHostname,
): string {
  const name = env.POD_NAME || env.HOSTNAME || hostname() || REPORTING_CONTROLLER;
  return name.slice(0, INSTANCE_LIMIT);
}

/** Cuts `text` to at most `limit` UTF-8 bytes, on a character boundary, marking the cut. */
export function truncateBytes(text: string, limit: number): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= limit) return text;
  const marker = "...";
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = encoder.encode(char).length;
    if (bytes + size > limit - marker.length) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end) + marker;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 3_600_000)}h`;
}

/** 32-bit FNV-1a of the UTF-16 code units, as 8 hex digits. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
