/**
 * The Kubernetes API as HELASEID uses it: a handful of verbs behind the {@linkcode KubeClient}
 * interface, implemented here with `@kubernetes/client-node` (kubeconfig or in-cluster
 * credentials, server-side apply, list and watch). Tests and `--dry-run` use the in-memory
 * implementation in `memory.ts` instead.
 *
 * @module
 */

import {
  ApiException,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
} from "@kubernetes/client-node";
import {
  collectionPath,
  type KubeObject,
  type ObjectRef,
  RESOURCES,
  type Resource,
} from "./types.ts";

/** A change seen on a watch. */
export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

/** A running watch. */
export interface WatchHandle {
  /** Ends the watch; `onDone` is not called for a stop requested here. */
  stop(): void;
}

/** Options of {@linkcode KubeClient.watch}. */
export interface WatchOptions {
  readonly labelSelector?: string;
  /** Start after this version (from a list); events before it are not replayed. */
  readonly resourceVersion: string;
  readonly onEvent: (type: WatchEventType, object: KubeObject) => void;
  /** The watch ended on its own (server closed it, or an error). */
  readonly onDone: (error?: unknown) => void;
}

/** The verbs HELASEID needs. Every method may throw {@linkcode KubeError}. */
export interface KubeClient {
  /** Cluster or context name, for alerts and logs. */
  readonly name: string;
  /** Server-side apply with our field manager, taking ownership of conflicting fields. */
  apply(object: KubeObject): Promise<KubeObject>;
  /** Creates an object; fails with 409 when it exists. */
  create(object: KubeObject): Promise<KubeObject>;
  /** Deletes an object; an object already gone is not an error. */
  delete(ref: ObjectRef): Promise<void>;
  /** Lists a resource in a namespace. */
  list(
    resource: Resource,
    namespace: string,
    labelSelector?: string,
  ): Promise<{ items: KubeObject[]; resourceVersion: string }>;
  /** Watches a resource in a namespace from a list's resourceVersion. */
  watch(resource: Resource, namespace: string, options: WatchOptions): Promise<WatchHandle>;
}

/** An API call failed. `status` is the HTTP status, 0 when the server was not reached. */
export class KubeError extends Error {
  readonly status: number;
  /** The API's reason (`NotFound`, `Conflict`, `Forbidden`, ...) when it gave one. */
  readonly reason?: string;
  constructor(message: string, options: { status: number; reason?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "KubeError";
    this.status = options.status;
    this.reason = options.reason;
  }
}

/** Where the credentials come from. */
export interface KubeClientOptions {
  /** Path of a kubeconfig file (the `--kubeconfig` flag). */
  readonly kubeconfig?: string;
  /** Context to use instead of the current one (the `--context` flag). */
  readonly context?: string;
  /** Field manager of server-side apply (default "helaseid"). */
  readonly fieldManager?: string;
  /** Environment, to find KUBECONFIG, HOME and the in-cluster variables (default Deno.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * Finds the credentials the way kubectl does: `--kubeconfig`, then `KUBECONFIG`, then
 * `~/.kube/config`, then the pod's service account. Returns undefined when there are none.
 */
export function locateCredentials(
  options: KubeClientOptions = {},
): { kind: "file"; path: string } | { kind: "in-cluster" } | undefined {
  const env = options.env ?? Deno.env.toObject();
  if (options.kubeconfig) return { kind: "file", path: options.kubeconfig };
  const fromEnv = env.KUBECONFIG?.split(":").find((path) => path.length > 0);
  if (fromEnv) return { kind: "file", path: fromEnv };
  const home = env.HOME;
  if (home && exists(`${home}/.kube/config`)) return { kind: "file", path: `${home}/.kube/config` };
  if (env.KUBERNETES_SERVICE_HOST && exists(`${SERVICE_ACCOUNT_DIR}/token`)) {
    return { kind: "in-cluster" };
  }
  return undefined;
}

/** The namespace of the pod we run in, if we run in one. */
export function inClusterNamespace(): string | undefined {
  try {
    return Deno.readTextFileSync(`${SERVICE_ACCOUNT_DIR}/namespace`).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Creates a client from kubeconfig or in-cluster credentials. */
export function createKubeClient(options: KubeClientOptions = {}): KubeClient {
  const credentials = locateCredentials(options);
  if (!credentials) {
    throw new KubeError(
      "Cannot find Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, create " +
        "~/.kube/config, run in a pod, or use --dry-run",
      { status: 0 },
    );
  }
  const config = new KubeConfig();
  try {
    if (credentials.kind === "file") config.loadFromFile(credentials.path);
    else config.loadFromCluster();
    if (options.context) config.setCurrentContext(options.context);
  } catch (error) {
    const where = credentials.kind === "file" ? `'${credentials.path}'` : "the service account";
    throw new KubeError(`Cannot load Kubernetes credentials from ${where}`, {
      status: 0,
      cause: error,
    });
  }
  if (options.context && !config.getContextObject(options.context)) {
    throw new KubeError(`Cannot use context '${options.context}' as the kubeconfig has none`, {
      status: 0,
    });
  }
  if (!config.getCurrentCluster()) {
    throw new KubeError("Cannot use the kubeconfig as its current context names no cluster", {
      status: 0,
    });
  }
  return new ClientNodeKube(config, options.fieldManager ?? "helaseid");
}

class ClientNodeKube implements KubeClient {
  readonly name: string;
  readonly #config: KubeConfig;
  readonly #objects: KubernetesObjectApi;
  readonly #fieldManager: string;

  constructor(config: KubeConfig, fieldManager: string) {
    this.#config = config;
    this.#objects = KubernetesObjectApi.makeApiClient(config);
    this.#fieldManager = fieldManager;
    this.name = config.getCurrentContext() || config.getCurrentCluster()?.name || "in-cluster";
  }

  apply(object: KubeObject): Promise<KubeObject> {
    return call(`apply ${describe(object)}`, () =>
      this.#objects.patch<KubernetesObject>(
        object as unknown as KubernetesObject,
        undefined,
        undefined,
        this.#fieldManager,
        true,
        PatchStrategy.ServerSideApply,
      ) as Promise<unknown> as Promise<KubeObject>);
  }

  create(object: KubeObject): Promise<KubeObject> {
    return call(
      `create ${describe(object)}`,
      () =>
        this.#objects.create(
          object as unknown as KubernetesObject,
          undefined,
          undefined,
          this.#fieldManager,
        ) as Promise<unknown> as Promise<KubeObject>,
    );
  }

  async delete(ref: ObjectRef): Promise<void> {
    const { apiVersion, kind } = RESOURCES[ref.resource];
    try {
      await call(
        `delete ${kind} ${ref.namespace}/${ref.name}`,
        () => this.#objects.delete({ apiVersion, kind, metadata: ref }),
      );
    } catch (error) {
      if (error instanceof KubeError && error.status === 404) return;
      throw error;
    }
  }

  async list(resource: Resource, namespace: string, labelSelector?: string) {
    const { apiVersion, kind } = RESOURCES[resource];
    const list = await call(
      `list ${kind} in ${namespace}`,
      () =>
        this.#objects.list(
          apiVersion,
          kind,
          namespace,
          undefined,
          undefined,
          undefined,
          undefined,
          labelSelector,
        ),
    );
    // The generic list leaves kind/apiVersion off the items: put them back.
    const items = (list.items as unknown as KubeObject[]).map((item) => ({
      ...item,
      apiVersion,
      kind,
    }));
    return { items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  async watch(resource: Resource, namespace: string, options: WatchOptions): Promise<WatchHandle> {
    const { apiVersion, kind } = RESOURCES[resource];
    let stopped = false;
    const controller = await call(
      `watch ${kind} in ${namespace}`,
      () =>
        new Watch(this.#config).watch(
          collectionPath(resource, namespace),
          {
            resourceVersion: options.resourceVersion,
            allowWatchBookmarks: true,
            ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
          },
          (phase, object) => {
            if (stopped) return;
            if (phase === "ERROR") {
              stopped = true;
              const status = (object as { code?: number; reason?: string; message?: string }) ??
                {};
              options.onDone(
                new KubeError(`Watch of ${kind} in ${namespace} ended: ${status.message ?? ""}`, {
                  status: status.code ?? 500,
                  reason: status.reason,
                }),
              );
              return;
            }
            if (phase === "ADDED" || phase === "MODIFIED" || phase === "DELETED") {
              options.onEvent(phase, { ...(object as KubeObject), apiVersion, kind });
            }
          },
          (error) => {
            if (stopped) return;
            stopped = true;
            options.onDone(error ?? undefined);
          },
        ),
    );
    return {
      stop() {
        stopped = true;
        controller.abort();
      },
    };
  }
}

async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toKubeError(what, error);
  }
}

/** Turns client-node's exceptions into a {@linkcode KubeError} with status and reason. */
function toKubeError(what: string, error: unknown): KubeError {
  if (error instanceof KubeError) return error;
  if (error instanceof ApiException) {
    let body: { reason?: string; message?: string } = {};
    try {
      body = typeof error.body === "string" ? JSON.parse(error.body) : error.body ?? {};
    } catch {
      // Not JSON: keep the status alone.
    }
    return new KubeError(
      `Cannot ${what}: ${body.message ?? `HTTP ${error.code}`}`,
      { status: error.code, reason: body.reason, cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new KubeError(`Cannot ${what}: ${message}`, { status: 0, cause: error });
}

function describe(object: KubeObject): string {
  return `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
