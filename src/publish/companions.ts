/**
 * Companion Services of a Service (issue 15): the primary's (`<service>-primary`, at most one
 * ready endpoint, ever) and, with `zones.services`, one per zone (`<service>-<zone>`, the
 * endpoints serving that zone by the zone rule of `zones.ts`). Each is a selector-less Service
 * with its own EndpointSlices and Endpoints, built by the same builders as the Service's own
 * and written after them, by the same reconciler, only by the holder of the Service's Lease.
 *
 * At most one ready primary: a move between addresses of one family is one write per object
 * (the old endpoint out, the new one in). Between families (one slice each) the writes that
 * take a ready endpoint away go first, and the others only once they all succeeded, so no
 * watcher of either collection ever sees two ready endpoints.
 *
 * A companion no longer configured (renamed, `primary` or `zones.services` dropped, a zone left
 * without targets, its Service removed) is forgotten; with `removedServices: delete` the
 * EndpointSlices and Endpoints HELASEID wrote for it are deleted ({@linkcode staleCompanions},
 * {@linkcode Companions.remove}). The companion Service object itself is never deleted, even
 * one HELASEID created: a Service is a name clients resolve, so removing it is left to people.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import { zoneServiceName } from "../config/topology.ts";
import { checkDns1035Label } from "../config/validate.ts";
import type { Clock } from "../health/scheduler.ts";
import type { KubeClient } from "../kube/client.ts";
import type { ObjectStore } from "../kube/store.ts";
import {
  type EndpointSliceObject,
  type EndpointsObject,
  type KubeObject,
  resourceOf,
  type ServiceObject,
} from "../kube/types.ts";
import type { Logger } from "../observe/log.ts";
import { desiredObjects, LABEL_SERVICE_NAME, serviceObject } from "./objects.ts";
import { type Action, planChanges } from "./plan.ts";
import type { PublishedEndpoint, ServiceView } from "./views.ts";
import { executePlan, type WriteResult } from "./writer.ts";
import { planZones } from "./zones.ts";

/** One companion Service: the configuration its objects are built from, and its view. */
export interface Companion {
  /** `primary` or `zone`. */
  readonly kind: "primary" | "zone";
  /** The zone of a per-zone Service. */
  readonly zone?: string;
  /** The Service's configuration under the companion's name. */
  readonly config: ServiceConfig;
  /** What the companion shows. */
  readonly view: ServiceView;
}

/**
 * The companion Services of `config` and what each shows, from the Service's view; `primary`
 * is the primary's address (none: the primary Service shows nothing). Pure.
 */
export function companionViews(
  config: ServiceConfig,
  view: ServiceView,
  options: { readonly primary?: string | undefined } = {},
): Companion[] {
  const { primary } = options;
  const result: Companion[] = [];
  const plain = (endpoint: PublishedEndpoint, ready: boolean): PublishedEndpoint => ({
    address: endpoint.address,
    ready,
    serving: ready,
    ...(endpoint.zone === undefined ? {} : { zone: endpoint.zone }),
    ...(endpoint.hostname === undefined ? {} : { hostname: endpoint.hostname }),
  });
  const counts = { panic: false, healthy: 0, unhealthy: 0, unknown: 0 };
  const base = (name: string): ServiceConfig => {
    const { zones: _zones, primary: _primary, ...rest } = config;
    return { ...rest, name };
  };
  if (config.primary) {
    const endpoint = view.endpoints.find((e) => e.address === primary);
    // Ready only when ready on every port: a port subset would be a second slice.
    const endpoints = endpoint
      ? [plain(endpoint, endpoint.ready && endpoint.readyPorts === undefined)]
      : [];
    result.push({
      kind: "primary",
      config: base(config.primary.service),
      view: { ...counts, endpoints },
    });
  }
  if (config.zones?.services) {
    const plan = planZones(config.targets, view.endpoints, config.zones);
    const zones = [...new Set(config.targets.flatMap((t) => t.zone === undefined ? [] : [t.zone]))]
      .sort();
    for (const zone of zones) {
      // A zone whose name cannot be part of a Service name has no Service (the API would
      // refuse it); configured zones are checked when the configuration is loaded.
      if (!checkDns1035Label(zoneServiceName(config.name, zone), { what: "name" }).ok) continue;
      const serving = plan.serving.get(zone) ?? [];
      // The zone's own endpoints, ready or not, and the ready ones of the zones it borrows.
      const endpoints = view.endpoints.filter((e) =>
        e.zone === zone || (e.ready && e.zone !== undefined && serving.includes(e.zone))
      ).map((e) => plain(e, e.ready && (e.zone === zone ? serving.includes(zone) : true)));
      result.push({
        kind: "zone",
        zone,
        config: base(zoneServiceName(config.name, zone)),
        view: { ...counts, endpoints },
      });
    }
  }
  return result;
}

/**
 * The names of the companion Services of `config`: the primary's, and with `zones.services`
 * one per zone of its targets (but zones whose name cannot make a Service name). Pure.
 */
export function companionNames(config: ServiceConfig): string[] {
  const names: string[] = [];
  if (config.primary) names.push(config.primary.service);
  if (config.zones?.services) {
    const zones = new Set(config.targets.flatMap((t) => t.zone === undefined ? [] : [t.zone]));
    for (const zone of [...zones].sort()) {
      const name = zoneServiceName(config.name, zone);
      if (checkDns1035Label(name, { what: "name" }).ok) names.push(name);
    }
  }
  return names;
}

/** A companion Service no longer configured. */
export interface StaleCompanion {
  /** The Service (`namespace/name`) it was a companion of: its Lease decides who deletes. */
  readonly service: string;
  /** The namespace of both. */
  readonly namespace: string;
  /** The companion Service's name. */
  readonly name: string;
}

/**
 * The companion Services the configurations `before` had and `after` has not: renamed, their
 * `primary` or `zones.services` dropped, a zone left without targets, or their Service
 * removed. A name `after` uses, as a Service or as a companion, is never stale (its objects
 * are that Service's now). Pure.
 */
export function staleCompanions(
  before: readonly ServiceConfig[],
  after: readonly ServiceConfig[],
): StaleCompanion[] {
  const used = namesInUse(after);
  const stale = new Map<string, StaleCompanion>();
  for (const config of before) {
    for (const name of companionNames(config)) {
      const key = `${config.namespace}/${name}`;
      if (used.has(key) || stale.has(key)) continue;
      stale.set(key, {
        service: `${config.namespace}/${config.name}`,
        namespace: config.namespace,
        name,
      });
    }
  }
  return [...stale.values()];
}

/**
 * Of stale companions found earlier (and not deleted: this replica did not hold their
 * Service's Lease), those still to delete under `after`: their Service is still configured
 * (only its Lease holder deletes, and a replica campaigns only for configured Services), and
 * no Service or companion of `after` uses their name. Each once. Pure.
 */
export function stillStale(
  pending: readonly StaleCompanion[],
  after: readonly ServiceConfig[],
): StaleCompanion[] {
  const used = namesInUse(after);
  const services = new Set(after.map((config) => `${config.namespace}/${config.name}`));
  const kept = new Map<string, StaleCompanion>();
  for (const companion of pending) {
    const key = `${companion.namespace}/${companion.name}`;
    if (used.has(key) || !services.has(companion.service)) continue;
    kept.set(key, companion);
  }
  return [...kept.values()];
}

/** Every `namespace/name` the Services of `configs` and their companions use. */
function namesInUse(configs: readonly ServiceConfig[]): Set<string> {
  const used = new Set<string>();
  for (const config of configs) {
    used.add(`${config.namespace}/${config.name}`);
    for (const name of companionNames(config)) used.add(`${config.namespace}/${name}`);
  }
  return used;
}

/** What {@linkcode Companions.remove} needs from the reconciler. */
export interface RemoveContext {
  /** The reconciler's view of our objects (only objects managed by HELASEID). */
  readonly store: ObjectStore;
  /** Deletes them. */
  readonly client: KubeClient;
  /** Receives a line per deletion, or per failed one. */
  readonly log: Logger;
  /** Whether this replica may write the Service (its Lease), by `namespace/name`. */
  readonly mayWrite: (service: string) => boolean;
}

/** Ready endpoints an object shows (a slice's or an Endpoints object's). */
export function readyCount(object: KubeObject | undefined): number {
  if (object === undefined) return 0;
  if (object.kind === "EndpointSlice") {
    return ((object as EndpointSliceObject).endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false).length;
  }
  if (object.kind === "Endpoints") {
    return ((object as EndpointsObject).subsets ?? [])
      .reduce((sum, subset) => sum + (subset.addresses?.length ?? 0), 0);
  }
  return 0;
}

/**
 * A plan in two phases: first the writes that take ready endpoints away (deletes, and applies
 * showing fewer ready endpoints than now), then the rest. Pure.
 */
export function demotionsFirst(
  actions: readonly Action[],
  observed: readonly KubeObject[],
): [Action[], Action[]] {
  const current = (kind: string, name: string) =>
    observed.find((o) => o.kind === kind && o.metadata.name === name);
  const first: Action[] = [];
  const then: Action[] = [];
  for (const action of actions) {
    const demotes = action.type === "delete" ||
      readyCount(action.object) <
        readyCount(current(action.object.kind, action.object.metadata.name));
    (demotes ? first : then).push(action);
  }
  return [first, then];
}

/** What {@linkcode Companions.reconcile} needs from the reconciler. */
export interface CompanionContext {
  readonly store: ObjectStore;
  readonly client: KubeClient;
  readonly clock: Clock;
  readonly log: Logger;
  /** The writer identity and config hash written on every object. */
  readonly writer: { readonly id: string; readonly configHash: string };
  /** Whether this replica may write the Service (its Lease). */
  readonly mayWrite: boolean;
  /** The primary's address (the agent's decision). */
  readonly primary?: string;
  /**
   * Offers the primary the API shows (the one ready endpoint of the primary Service, if any)
   * before the first choice; returns the primary to publish.
   */
  readonly adopt?: (shown: string | undefined) => string | undefined;
  /** Epoch ms of the probe result behind this change. */
  readonly trigger?: number;
  /** Called after every write attempt. */
  readonly onWrite?: (result: WriteResult) => void;
}

/** Keeps the companion Services of a reconciler's Services (one instance per reconciler). */
export class Companions {
  /** Problems already logged, so each is said once while it lasts. */
  readonly #said = new Set<string>();

  /**
   * Plans and writes the companions of one Service from its view. Resolves `false` when a
   * write failed (the reconciler looks again later).
   */
  async reconcile(
    config: ServiceConfig,
    view: ServiceView,
    ctx: CompanionContext,
  ): Promise<boolean> {
    if (!config.primary && !config.zones?.services) return true;
    const { store, log } = ctx;
    const parent = store.get("services", config.namespace, config.name) as
      | ServiceObject
      | undefined;
    let ok = true;
    let primary = ctx.primary;
    if (config.primary && ctx.adopt) {
      const shown = shownReady(this.#observed(store, config.namespace, config.primary.service));
      primary = ctx.adopt(shown.length === 1 ? shown[0] : undefined);
    }
    for (const companion of companionViews(config, view, { primary })) {
      const { name, namespace } = companion.config;
      const key = `${namespace}/${name}`;
      let service = store.get("services", namespace, name) as ServiceObject | undefined;
      if (!service) {
        if (!ctx.mayWrite) continue;
        if (!config.publish.createService) {
          this.#sayOnce(
            key,
            "missing",
            () =>
              log.error("companion Service not found: create it, or enable createService", {
                service: `${config.namespace}/${config.name}`,
                companion: key,
              }),
          );
          continue;
        }
        try {
          // Per-zone Services serve DNS: headless. The primary's takes the Service's kind.
          const headless = companion.kind === "zone" || parent === undefined ||
            parent.spec?.clusterIP === "None";
          service = await ctx.client.create(
            serviceObject(companion.config, { headless }),
          ) as ServiceObject;
          store.record("services", service);
          log.info("created companion Service", { companion: key, headless });
        } catch (error) {
          log.warn("cannot create companion Service", { companion: key, error });
          ok = false;
          continue;
        }
      }
      this.#said.delete(`${key}|missing`);
      const selector = Object.entries(service.spec?.selector ?? {});
      if (selector.length > 0) {
        this.#sayOnce(
          key,
          "selector",
          () =>
            log.error("companion Service has a selector: remove it", {
              companion: key,
              selector: selector.map(([k, v]) => `${k}=${v}`).join(","),
            }),
        );
        continue;
      }
      this.#said.delete(`${key}|selector`);
      const observed = this.#observed(store, namespace, name);
      const desired = desiredObjects(companion.config, companion.view, {
        service,
        ...(ctx.trigger === undefined ? {} : { triggerTime: ctx.trigger }),
        writer: ctx.writer,
      });
      const actions = planChanges(desired, observed);
      if (actions.length === 0 || !ctx.mayWrite) continue;
      const phases = companion.kind === "primary" ? demotionsFirst(actions, observed) : [actions];
      for (const phase of phases) {
        if (phase.length === 0) continue;
        const results = await executePlan(phase, {
          client: ctx.client,
          store,
          clock: ctx.clock,
          service: key,
        });
        for (const result of results) {
          ctx.onWrite?.(result);
          const fields = { companion: key, object: `${result.kind}/${result.name}` };
          if (result.ok) {
            log.info("published", {
              ...fields,
              ready: companion.view.endpoints.filter((e) => e.ready).map((e) => e.address),
            });
          } else log.warn("write failed", { ...fields, error: result.error });
        }
        // A promotion never follows a demotion that did not happen.
        if (results.some((result) => !result.ok)) {
          ok = false;
          break;
        }
      }
    }
    return ok;
  }

  /**
   * Deletes the EndpointSlices and Endpoints we wrote for companions no longer configured
   * (only ours: the store holds only objects managed by HELASEID, and a slice must carry the
   * companion's service-name label); the Service object stays. Only the holder of the Lease of
   * the Service they belonged to deletes. A failed delete is logged and left.
   */
  async remove(stale: readonly StaleCompanion[], ctx: RemoveContext): Promise<void> {
    for (const companion of stale) {
      const key = `${companion.namespace}/${companion.name}`;
      for (const what of ["missing", "selector"]) this.#said.delete(`${key}|${what}`);
      if (!ctx.mayWrite(companion.service)) continue;
      for (const object of this.#observed(ctx.store, companion.namespace, companion.name)) {
        const ref = {
          resource: resourceOf(object),
          namespace: companion.namespace,
          name: object.metadata.name,
        };
        const fields = {
          service: companion.service,
          companion: key,
          object: `${object.kind}/${object.metadata.name}`,
        };
        try {
          await ctx.client.delete(ref);
          ctx.store.forget(ref.resource, ref.namespace, ref.name);
          ctx.log.info("deleted the objects of a companion Service no longer configured", fields);
        } catch (error) {
          ctx.log.warn("cannot delete an object of a companion Service no longer configured", {
            ...fields,
            error,
          });
        }
      }
    }
  }

  /** Our objects of the companion Service `name` as the store shows them. */
  #observed(store: ObjectStore, namespace: string, name: string): KubeObject[] {
    const observed: KubeObject[] = store.list("endpointslices", namespace)
      .filter((slice) => slice.metadata.labels?.[LABEL_SERVICE_NAME] === name);
    const endpoints = store.get("endpoints", namespace, name);
    if (endpoints) observed.push(endpoints);
    return observed;
  }

  #sayOnce(key: string, what: string, say: () => void): void {
    if (this.#said.has(`${key}|${what}`)) return;
    this.#said.add(`${key}|${what}`);
    say();
  }
}

/** The ready addresses our objects show (the slices', else the Endpoints object's). */
function shownReady(observed: readonly KubeObject[]): string[] {
  const slices = observed.filter((o) => o.kind === "EndpointSlice") as EndpointSliceObject[];
  if (slices.length > 0) {
    return slices.flatMap((slice) =>
      (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false)
        .flatMap((e) => e.addresses)
    );
  }
  return observed.filter((o) => o.kind === "Endpoints").flatMap((o) =>
    ((o as EndpointsObject).subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip))
  );
}

/** Whether a watched object is one of the companion objects of `config`. */
export function companionOwns(config: ServiceConfig, object: KubeObject): boolean {
  if (!config.primary && !config.zones?.services) return false;
  const name = object.kind === "EndpointSlice"
    ? object.metadata.labels?.[LABEL_SERVICE_NAME]
    : object.metadata.name;
  if (name === undefined) return false;
  if (config.primary?.service === name) return true;
  return !!config.zones?.services &&
    config.targets.some((t) =>
      t.zone !== undefined && zoneServiceName(config.name, t.zone) === name
    );
}
