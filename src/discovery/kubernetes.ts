/**
 * Kubernetes target sources (issue 12): Nodes, Pods, another Service's EndpointSlices or a
 * ConfigMap key, watched through the API, never polled. Each source keeps one collection in an
 * {@linkcode ObjectStore} (list, then watch from the list's version; relist when the watch
 * ends; back off on failure) and turns it into targets with the pure functions of
 * `kube_targets.ts` on every change.
 *
 * Updates follow the rule of `types.ts`:
 * - the first update comes after the first list (or its failure);
 * - a list or watch that fails (403 after a Role was removed, the API server down) emits one
 *   failure naming the verb, resource and status, again only when the failure changes; the
 *   merge keeps the last good set meanwhile. Once list and watch work again, a fresh set;
 * - a set equal to the last one sent is not sent again (a routine relist is silent).
 *
 * What each object kind gives, and what counts as "nothing" or as a failure (a missing
 * ConfigMap is an empty set; a missing key or a malformed list is a failure), is documented in
 * `kube_targets.ts`.
 *
 * RBAC: each kind needs `get, list, watch` on its resource only; the ConfigMap is listed and
 * watched with the field selector `metadata.name=<name>`, so a Role can grant that one
 * ConfigMap by `resourceNames` (manifests/optional/rbac-source-*.yaml).
 *
 * @module
 */

import type {
  ConfigMapSourceConfig,
  EndpointSlicesSourceConfig,
  NodesSourceConfig,
  PodsSourceConfig,
  SourceConfig,
} from "../config/schema.ts";
import type { KubeClient } from "../kube/client.ts";
import { ObjectStore, type StoreFailure } from "../kube/store.ts";
import {
  type ConfigMapObject,
  type EndpointSliceObject,
  isClusterScoped,
  type KubeObject,
  type NodeObject,
  type PodObject,
  type Resource,
} from "../kube/types.ts";
import type { Logger } from "../observe/log.ts";
import { LABEL_SERVICE_NAME } from "../publish/objects.ts";
import {
  configMapTargets,
  endpointSliceTargets,
  nodeTargets,
  podTargets,
  targetFields,
} from "./kube_targets.ts";
import type { SourceClock, SourceUpdate, TargetSource } from "./types.ts";

/** The source kinds read from the Kubernetes API. */
export type KubernetesSourceConfig =
  | NodesSourceConfig
  | PodsSourceConfig
  | EndpointSlicesSourceConfig
  | ConfigMapSourceConfig;

/** What a Kubernetes source runs with. */
export interface KubernetesSourceOptions {
  /** The cluster's client (the memory client under `--dry-run`). */
  readonly client: KubeClient;
  readonly clock: SourceClock;
  readonly log: Logger;
  /** Namespace of a source whose `namespace` is empty (the Service's); default "default". */
  readonly defaultNamespace?: string;
  /** First and longest wait before listing again after a failure (default 200 ms, 10 s). */
  readonly backoff?: { readonly initial: number; readonly max: number };
}

/** True for a source configuration that {@linkcode createKubernetesSource} runs. */
export function isKubernetesSource(config: SourceConfig): config is KubernetesSourceConfig {
  return ["nodes", "pods", "endpointslices", "configmap"].includes(config.type);
}

/**
 * The name of a source in logs, metrics and `/status`: `nodes role=kafka`, `pods shop/app=db`,
 * `endpointslices shop/other`, `configmap shop/targets:list`.
 */
export function kubernetesSourceName(
  config: KubernetesSourceConfig,
  defaultNamespace?: string,
): string {
  const namespace = _namespace(config, defaultNamespace);
  switch (config.type) {
    case "nodes":
      return config.labelSelector ? `nodes ${config.labelSelector}` : "nodes";
    case "pods":
      return config.labelSelector
        ? `pods ${namespace}/${config.labelSelector}`
        : `pods ${namespace}`;
    case "endpointslices":
      return `endpointslices ${namespace}/${config.service}`;
    case "configmap":
      return `configmap ${namespace}/${config.name}:${config.key}`;
  }
}

/** Creates a watched source of targets from Nodes, Pods, EndpointSlices or a ConfigMap. */
export function createKubernetesSource(
  config: KubernetesSourceConfig,
  options: KubernetesSourceOptions,
): TargetSource {
  return new KubernetesSource(config, options);
}

/** What one source watches and how it reads what it sees. */
interface Watched {
  readonly resource: Resource;
  readonly namespace: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly targets: (objects: readonly KubeObject[]) => SourceUpdate;
}

/** The collection a source watches. */
function _watched(config: KubernetesSourceConfig, defaultNamespace?: string): Watched {
  const namespace = _namespace(config, defaultNamespace);
  switch (config.type) {
    case "nodes":
      return {
        resource: "nodes",
        namespace: "",
        labelSelector: config.labelSelector || undefined,
        targets: (objects) => ({
          ok: true,
          targets: nodeTargets(objects as readonly NodeObject[], config),
        }),
      };
    case "pods":
      return {
        resource: "pods",
        namespace,
        labelSelector: config.labelSelector || undefined,
        targets: (objects) => ({
          ok: true,
          targets: podTargets(objects as readonly PodObject[], config),
        }),
      };
    case "endpointslices":
      return {
        resource: "endpointslices",
        namespace,
        labelSelector: `${LABEL_SERVICE_NAME}=${config.service}`,
        targets: (objects) => ({
          ok: true,
          targets: endpointSliceTargets(objects as readonly EndpointSliceObject[], config),
        }),
      };
    case "configmap":
      return {
        resource: "configmaps",
        namespace,
        fieldSelector: `metadata.name=${config.name}`,
        targets: (objects) => {
          const found = objects.find((object) => object.metadata.name === config.name);
          return configMapTargets(found as ConfigMapObject | undefined, config.key);
        },
      };
  }
}

/** See the module documentation. */
class KubernetesSource implements TargetSource {
  readonly name: string;
  readonly #options: KubernetesSourceOptions;
  readonly #watched: Watched;
  #store?: ObjectStore;
  #emit?: (update: SourceUpdate) => void;
  /** Listed at least once. */
  #listed = false;
  /** The list or watch failing now (its failure was sent). */
  #failure?: StoreFailure;
  /** The last update sent, as JSON, to send a set only when it changed. */
  #last?: string;
  #stopped = false;

  constructor(config: KubernetesSourceConfig, options: KubernetesSourceOptions) {
    this.name = kubernetesSourceName(config, options.defaultNamespace);
    this.#options = options;
    this.#watched = _watched(config, options.defaultNamespace);
  }

  start(emit: (update: SourceUpdate) => void): void {
    if (this.#store) return;
    this.#emit = emit;
    const { client, clock, log, backoff } = this.#options;
    const { resource, namespace, labelSelector, fieldSelector } = this.#watched;
    this.#store = new ObjectStore({
      client,
      clock,
      log: log.with({ source: this.name }),
      ...(backoff ? { backoff } : {}),
      transform: targetFields,
      onChange: () => {
        this.#listed = true;
        // While a failure stands, a relist whose watch has not started yet is not a recovery.
        if (!this.#failure) this.#publish();
      },
      onFailure: (_resource, _namespace, failure) => {
        this.#failure = failure;
        if (failure) this.#send({ ok: false, error: `${this.name}: ${_describe(failure)}` });
        else if (this.#listed) this.#publish();
      },
    });
    this.#store.track(resource, namespace, labelSelector, { fieldSelector });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#store?.stop();
  }

  /** Sends the set the store holds now (or why it cannot be read, for a ConfigMap). */
  #publish(): void {
    const { resource, namespace, targets } = this.#watched;
    const update = targets(this.#store?.list(resource, namespace) ?? []);
    this.#send(update.ok ? update : { ok: false, error: `${this.name}: ${update.error}` });
  }

  #send(update: SourceUpdate): void {
    if (this.#stopped) return;
    const key = JSON.stringify(update);
    if (key === this.#last) return;
    this.#last = key;
    this.#options.log.debug("source update", {
      source: this.name,
      ...(update.ok ? { targets: update.targets.length } : { error: update.error }),
    });
    this.#emit?.(update);
  }
}

/** The source's namespace: its own, else the Service's, else "default". */
function _namespace(config: KubernetesSourceConfig, defaultNamespace?: string): string {
  if (config.type === "nodes") return "";
  return config.namespace || defaultNamespace || "default";
}

/**
 * A failed list or watch as an operator reads it: `watch pods in namespace 'shop': 403
 * Forbidden`; the API's message is added when the status alone does not say enough.
 */
function _describe(failure: StoreFailure): string {
  const where = isClusterScoped(failure.resource)
    ? `${failure.verb} ${failure.resource}`
    : `${failure.verb} ${failure.resource} in namespace '${failure.namespace}'`;
  const known: Record<number, string> = {
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
  };
  const status = known[failure.status];
  if (status) return `${where}: ${status}`;
  const head = failure.status === 0
    ? "API server not reached"
    : `${failure.status}${failure.reason ? ` ${failure.reason}` : ""}`;
  return `${where}: ${head}: ${failure.message}`;
}
