/**
 * Turns one Service's target transitions into alerts, one per coalescing window. Pure: it
 * keeps what it was told and what it last reported, and {@linkcode ServiceTracker.flush} takes
 * the time as an argument. The notifier owns the window timer.
 *
 * Alerts report the net change since the last alert, not every transition: thirty targets lost
 * in a zone outage make one alert, a transition repeated makes none, and a target that went
 * down and came back within the window is reported once as `flapped`.
 *
 * The set of targets changes with sources and reloads ({@linkcode ServiceTracker.update}): a
 * new target starts unknown, a removed one is forgotten with whatever it was (a removed target
 * never makes a "down" alert, nor a "recovered" one), and the counts follow.
 *
 * @module
 */

import type { ServiceConfig, Target } from "../config/schema.ts";
import type { HealthStatus, Transition } from "../health/state.ts";
import type { Alert, AlertEvent, AlertTarget, Severity } from "./alert.ts";

/** Options of {@linkcode ServiceTracker}. */
export interface TrackerOptions {
  /** Cluster or context name the alerts carry. */
  readonly cluster: string;
  /**
   * Alert on targets lost or back while the Service still has healthy ones (default true).
   * When false only "no healthy target left", its end and write failures are reported.
   */
  readonly degraded?: boolean;
}

interface _TargetState {
  target: Target;
  status: HealthStatus;
  /** When the target last went down. */
  downAt?: number;
  /** The deciding probe's error of the last time it went down. */
  error?: string;
  /** How long it was down before it last recovered. */
  downFor?: number;
  /** It went down within the current window. */
  wentDown: boolean;
  /** It was down in the last alert (or the last flush, when alerts are suppressed). */
  reportedDown: boolean;
}

/** The alert state of one Service. */
export class ServiceTracker {
  #service: ServiceConfig;
  readonly #options: TrackerOptions;
  readonly #targets = new Map<string, _TargetState>();
  #reportedAllDown = false;
  #allDownSince?: number;
  #dirty = false;

  /** Starts with every target of `service` unknown and nothing reported. */
  constructor(service: ServiceConfig, options: TrackerOptions) {
    this.#service = service;
    this.#options = options;
    for (const target of service.targets) {
      this.#targets.set(target.address, {
        target,
        status: "unknown",
        wentDown: false,
        reportedDown: false,
      });
    }
  }

  /**
   * Takes the Service's new configuration and target set: `added` targets start unknown (one
   * already known keeps its state), `removed` ones are forgotten, kept ones take their new
   * fields (zone, hostname).
   */
  update(service: ServiceConfig, change: {
    readonly added: readonly Target[];
    readonly removed: readonly Target[];
  }): void {
    this.#service = service;
    for (const target of change.removed) this.#targets.delete(target.address);
    for (const target of change.added) {
      if (this.#targets.has(target.address)) continue;
      this.#targets.set(target.address, {
        target,
        status: "unknown",
        wentDown: false,
        reportedDown: false,
      });
    }
    for (const target of service.targets) {
      const state = this.#targets.get(target.address);
      if (state !== undefined && state.target !== target) {
        state.target = target;
      }
    }
  }

  /** Targets healthy and unhealthy now, as the transitions said. */
  get counts(): { readonly healthy: number; readonly unhealthy: number; readonly total: number } {
    let healthy = 0;
    let unhealthy = 0;
    for (const state of this.#targets.values()) {
      if (state.status === "healthy") healthy++;
      else if (state.status === "unhealthy") unhealthy++;
    }
    return { healthy, unhealthy, total: this.#targets.size };
  }

  /** True when transitions arrived since the last flush. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** Records a transition of one of the Service's targets. */
  observe(transition: Transition & { readonly target: Target }): void {
    const state = this.#targets.get(transition.target.address);
    if (state === undefined) return;
    state.status = transition.to;
    if (transition.to === "unhealthy") {
      state.downAt = transition.at;
      state.error = transition.error;
      state.wentDown = true;
      state.downFor = undefined;
    } else if (transition.from === "unhealthy") {
      state.downFor = transition.after;
    }
    this.#dirty = true;
  }

  /**
   * Ends the window: the alert for what changed since the last one, if anything did (and
   * degraded alerts are wanted). `now` is the time the alert carries.
   */
  flush(now: number): Alert | undefined {
    this.#dirty = false;
    const states = [...this.#targets.values()];
    const { healthy, unhealthy } = this.counts;
    const down = states.filter((s) => s.status === "unhealthy" && !s.reportedDown);
    const recovered = states.filter((s) => s.status === "healthy" && s.reportedDown);
    const flapped = states.filter((s) => s.wentDown && s.status !== "unhealthy" && !s.reportedDown);
    // The panic guard's condition (views.ts): no healthy target and at least one unhealthy.
    const allDown = healthy === 0 && unhealthy > 0;
    const wasAllDown = this.#reportedAllDown;
    for (const state of states) {
      state.reportedDown = state.status === "unhealthy";
      state.wentDown = false;
    }
    this.#reportedAllDown = allDown;
    if (allDown && !wasAllDown) {
      this.#allDownSince = Math.min(
        ...states.filter((s) => s.status === "unhealthy").map((s) => s.downAt ?? now),
      );
    }
    const changed = down.length + recovered.length + flapped.length > 0;
    if (!changed && allDown === wasAllDown) return undefined;
    if (!allDown && !wasAllDown && this.#options.degraded === false) return undefined;

    const event = targetEvent({ allDown, wasAllDown, down, recovered, flapped });
    // An alert that no target is healthy names every target that is down, not only new ones.
    const listedDown = event === "all-down" ? states.filter((s) => s.status === "unhealthy") : down;
    const targets = [
      ...listedDown.map((s) => this.#alertTarget(s, "down")),
      ...flapped.map((s) => this.#alertTarget(s, "flapped")),
      ...recovered.map((s) => this.#alertTarget(s, "recovered")),
    ];
    const severity = targetSeverity(event, allDown);
    const since = event === "all-down" || event === "all-down-recovered"
      ? this.#allDownSince ?? now
      : Math.min(now, ...targets.map((t) => t.since ?? now));
    const service = { namespace: this.#service.namespace, name: this.#service.name };
    return {
      event,
      severity,
      title: targetTitle(event, {
        service: `${service.namespace}/${service.name}`,
        healthy,
        unhealthy,
        total: states.length,
        down: listedDown.length,
        recovered: recovered.length,
        flapped: flapped.length,
      }),
      cluster: this.#options.cluster,
      service,
      targets,
      healthy,
      unhealthy,
      total: states.length,
      panic: allDown && this.#service.publish.allDown === "publishAll",
      since,
      at: now,
    };
  }

  #alertTarget(state: _TargetState, change: AlertTarget["state"]): AlertTarget {
    const { target } = state;
    return {
      address: target.address,
      port: this.#service.probe.port,
      ...(target.zone === undefined ? {} : { zone: target.zone }),
      ...(target.hostname === undefined ? {} : { hostname: target.hostname }),
      state: change,
      ...(change !== "recovered" && state.error !== undefined ? { error: state.error } : {}),
      ...(state.downAt === undefined ? {} : { since: state.downAt }),
      ...(change !== "down" && state.downFor !== undefined ? { downFor: state.downFor } : {}),
    };
  }
}

/** The event of a net change of a Service's targets. */
export function targetEvent(
  change: {
    allDown: boolean;
    wasAllDown: boolean;
    down: readonly unknown[];
    recovered: readonly unknown[];
    flapped: readonly unknown[];
  },
): AlertEvent {
  const { allDown, wasAllDown, down, recovered, flapped } = change;
  if (allDown && !wasAllDown) return "all-down";
  if (!allDown && wasAllDown) return "all-down-recovered";
  if (down.length > 0 && recovered.length === 0) return "targets-down";
  if (recovered.length > 0 && down.length === 0 && flapped.length === 0) {
    return "targets-recovered";
  }
  return "targets-changed";
}

/** The severity of a target alert: critical while no target is healthy. */
export function targetSeverity(event: AlertEvent, allDown: boolean): Severity {
  if (allDown) return "critical";
  return event === "all-down-recovered" || event === "targets-recovered" ? "resolved" : "warning";
}

function _plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The one-line title of a target alert. */
export function targetTitle(
  event: AlertEvent,
  facts: {
    service: string;
    healthy: number;
    unhealthy: number;
    total: number;
    down: number;
    recovered: number;
    flapped: number;
  },
): string {
  const { service, healthy, unhealthy, total } = facts;
  const state = `${healthy} of ${total} healthy`;
  switch (event) {
    case "all-down":
      if (total === 1) return `The only target of ${service} is down`;
      return unhealthy === total
        ? `All ${total} targets of ${service} are down`
        : `No healthy target left in ${service}: ${unhealthy} down, ${
          total - unhealthy
        } not checked yet`;
    case "all-down-recovered":
      return `${service} is serving again: ${state}`;
    case "targets-recovered":
      return `${_plural(facts.recovered, "target")} of ${service} recovered: ${state}`;
    default: {
      const parts = [
        facts.down > 0 ? `${facts.down} down` : "",
        facts.flapped > 0 ? `${facts.flapped} briefly down` : "",
        facts.recovered > 0 ? `${facts.recovered} recovered` : "",
      ].filter((part) => part !== "");
      if (event === "targets-down" && facts.flapped === 0) {
        const verb = facts.down === 1 ? "is" : "are";
        return `${_plural(facts.down, "target")} of ${service} ${verb} down: ${state}`;
      }
      return `${service}: ${parts.join(", ")}: ${state}`;
    }
  }
}
