/**
 * The Kubernetes API as HELASEID uses it: a handful of verbs behind the {@linkcode KubeClient}
 * interface (server-side apply, create, delete, list, watch). Credentials come from
 * `credentials.ts` (kubeconfig or in-cluster, read with client-node's parsers and
 * authenticators); requests go through a small HTTP/1.1 client (`http1.ts`). Tests and
 * `--dry-run` use the in-memory implementation in `memory.ts`.
 *
 * @module
 */

import {
  type Credentials,
  inClusterCredentials,
  kubeconfigCredentials,
  type RequestAuth,
} from "./credentials.ts";
import { Http1Client, type Http1Response } from "./http1.ts";
import {
  collectionPath,
  isClusterScoped,
  type KubeObject,
  type ObjectRef,
  type Resource,
  resourceOf,
  RESOURCES,
} from "./types.ts";
import { WatchStreamDecoder } from "./watch_stream.ts";

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
  /** `metadata.name=<name>`: one object, which RBAC can grant by `resourceNames`. */
  readonly fieldSelector?: string;
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
  /** Reads one object; undefined when it does not exist. */
  read(ref: ObjectRef): Promise<KubeObject | undefined>;
  /**
   * Replaces an object (PUT): fails with 409 when its `metadata.resourceVersion` is no longer
   * the stored one (optimistic concurrency, what Lease elections rely on).
   */
  replace(object: KubeObject): Promise<KubeObject>;
  /**
   * Lists a resource in a namespace (of a cluster-scoped resource like Nodes: all of them,
   * `namespace` is ignored), optionally narrowed by a label and a field selector.
   */
  list(
    resource: Resource,
    namespace: string,
    labelSelector?: string,
    fieldSelector?: string,
  ): Promise<{ items: KubeObject[]; resourceVersion: string }>;
  /** Watches a resource in a namespace (or cluster-wide) from a list's resourceVersion. */
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
  /** Where the pod's service account is mounted (default the kubelet's path; for tests). */
  readonly serviceAccountDir?: string;
  /** Deadline of each request, in ms; of a watch, until its first byte (default 10 s). */
  readonly requestTimeout?: number;
  /**
   * A watch that shows no event or bookmark for this long (ms) is taken for dead and ends
   * with an error (default 180 s: the API server sends a bookmark about once a minute, the first after up to two; measured).
   */
  readonly watchIdleTimeout?: number;
  /** Aborting it fails every request in flight and every later one at once (shutdown). */
  readonly signal?: AbortSignal;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * Finds the credentials the way kubectl does: `--kubeconfig`, then `KUBECONFIG`, then
 * `~/.kube/config`, then the pod's service account. Returns undefined when there are none.
 */
function locateCredentials(
  options: KubeClientOptions = {},
): { kind: "file"; path: string } | { kind: "in-cluster" } | undefined {
  const env = options.env ?? Deno.env.toObject();
  if (options.kubeconfig) return { kind: "file", path: options.kubeconfig };
  const fromEnv = env.KUBECONFIG?.split(":").find((path) => path.length > 0);
  if (fromEnv) return { kind: "file", path: fromEnv };
  const home = env.HOME;
  if (home && exists(`${home}/.kube/config`)) return { kind: "file", path: `${home}/.kube/config` };
  const serviceAccount = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (env.KUBERNETES_SERVICE_HOST && exists(`${serviceAccount}/token`)) {
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
  let resolved: Credentials;
  try {
    resolved = credentials.kind === "file"
      ? kubeconfigCredentials(credentials.path, options.context)
      : inClusterCredentials(options.env ?? Deno.env.toObject(), options.serviceAccountDir);
  } catch (error) {
    const where = credentials.kind === "file" ? `'${credentials.path}'` : "the service account";
    const message = error instanceof Error ? error.message : String(error);
    throw new KubeError(
      message.startsWith("Cannot") ? message : `Cannot load Kubernetes credentials from ${where}`,
      { status: 0, cause: error },
    );
  }
  return new Http1Kube(resolved, options);
}

/**
 * The transport: a small HTTP/1.1 client (`http1.ts`) with TCP_NODELAY, with a TLS client
 * built from the credentials. client-node's undici-based HTTP stack is not used: under Deno it
 * crashed the process (SIGSEGV) when the API server closed pooled connections, and its watches
 * did not notice a server that went away. Deno's fetch is not used either: it leaves Nagle's
 * algorithm on, so the first write after a quiet period waited for a delayed ACK (54–116 ms
 * against 10–24 ms on a warm connection), and over HTTP/2 it held request bodies above ~1 KB
 * for one too (EndpointSlice apply p50 48 ms on h2, 5 ms on h1).
 *
 * Every request has a deadline ({@linkcode KubeClientOptions.requestTimeout}); a watch must
 * show a sign of life (an event or a bookmark) within
 * {@linkcode KubeClientOptions.watchIdleTimeout}; the `signal` of the options ends everything.
 */
class Http1Kube implements KubeClient {
  readonly name: string;
  readonly #credentials: Credentials;
  readonly #fieldManager: string;
  readonly #host: string;
  readonly #timeout: number;
  readonly #watchIdle: number;
  readonly #signal?: AbortSignal;
  #http?: { key: string; client: Http1Client };

  constructor(credentials: Credentials, options: KubeClientOptions) {
    this.#credentials = credentials;
    this.#fieldManager = options.fieldManager ?? "helaseid";
    this.name = credentials.name;
    this.#host = new URL(credentials.server).host;
    this.#timeout = options.requestTimeout ?? 10_000;
    this.#watchIdle = options.watchIdleTimeout ?? 180_000;
    this.#signal = options.signal;
    this.#signal?.addEventListener("abort", () => this.#http?.client.close(), { once: true });
  }

  apply(object: KubeObject): Promise<KubeObject> {
    const { namespace = "", name } = object.metadata;
    const resource = resourceOf(object);
    const query = `?fieldManager=${encodeURIComponent(this.#fieldManager)}&force=true`;
    return this.#json(`apply ${describe(object)}`, {
      method: "PATCH",
      path: `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}${query}`,
      contentType: "application/apply-patch+yaml",
      body: JSON.stringify(object),
    });
  }

  create(object: KubeObject): Promise<KubeObject> {
    const query = `?fieldManager=${encodeURIComponent(this.#fieldManager)}`;
    return this.#json(`create ${describe(object)}`, {
      method: "POST",
      path: collectionPath(resourceOf(object), object.metadata.namespace ?? "") + query,
      contentType: "application/json",
      body: JSON.stringify(object),
    });
  }

  async delete(ref: ObjectRef): Promise<void> {
    const { kind } = RESOURCES[ref.resource];
    try {
      await this.#json(`delete ${kind} ${ref.namespace}/${ref.name}`, {
        method: "DELETE",
        path: `${collectionPath(ref.resource, ref.namespace)}/${encodeURIComponent(ref.name)}`,
      });
    } catch (error) {
      if (error instanceof KubeError && error.status === 404) return;
      throw error;
    }
  }

  async read(ref: ObjectRef): Promise<KubeObject | undefined> {
    const { apiVersion, kind } = RESOURCES[ref.resource];
    try {
      const object = await this.#json(`get ${kind} ${ref.namespace}/${ref.name}`, {
        method: "GET",
        path: `${collectionPath(ref.resource, ref.namespace)}/${encodeURIComponent(ref.name)}`,
      });
      return { ...object, apiVersion, kind };
    } catch (error) {
      if (error instanceof KubeError && error.status === 404) return undefined;
      throw error;
    }
  }

  replace(object: KubeObject): Promise<KubeObject> {
    const { namespace = "", name } = object.metadata;
    const query = `?fieldManager=${encodeURIComponent(this.#fieldManager)}`;
    return this.#json(`update ${describe(object)}`, {
      method: "PUT",
      path: `${collectionPath(resourceOf(object), namespace)}/${encodeURIComponent(name)}${query}`,
      contentType: "application/json",
      body: JSON.stringify(object),
    });
  }

  async list(
    resource: Resource,
    namespace: string,
    labelSelector?: string,
    fieldSelector?: string,
  ) {
    const { apiVersion, kind } = RESOURCES[resource];
    const params = new URLSearchParams();
    if (labelSelector) params.set("labelSelector", labelSelector);
    if (fieldSelector) params.set("fieldSelector", fieldSelector);
    const query = params.size > 0 ? `?${params}` : "";
    const list = await this.#json<
      { items?: KubeObject[]; metadata?: { resourceVersion?: string } }
    >(
      `list ${kind} ${scope(resource, namespace)}`,
      { method: "GET", path: collectionPath(resource, namespace) + query },
    );
    // List items carry no kind/apiVersion: put them back.
    const items = (list.items ?? []).map((item) => ({ ...item, apiVersion, kind }));
    return { items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  async watch(resource: Resource, namespace: string, options: WatchOptions): Promise<WatchHandle> {
    const { apiVersion, kind } = RESOURCES[resource];
    const what = `watch ${kind} ${scope(resource, namespace)}`;
    const params = new URLSearchParams({
      watch: "true",
      resourceVersion: options.resourceVersion,
      // Bookmarks (about once a minute) are the sign of life of a quiet watch.
      allowWatchBookmarks: "true",
      // The server ends each watch after a while; the store then lists and watches again.
      timeoutSeconds: String(240 + Math.floor(Math.random() * 120)),
    });
    if (options.labelSelector) params.set("labelSelector", options.labelSelector);
    if (options.fieldSelector) params.set("fieldSelector", options.fieldSelector);
    const exchange = await this.#request(what, {
      method: "GET",
      path: `${collectionPath(resource, namespace)}?${params}`,
    }, { stream: true });
    const { response } = exchange;
    let stopped = false;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const finish = (error?: unknown) => {
      clearTimeout(idle);
      if (stopped) return;
      stopped = true;
      exchange.end();
      options.onDone(error);
    };
    const alive = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        finish(
          new KubeError(
            `Cannot ${what}: no event or bookmark from ${this.#host} within ` +
              `${seconds(this.#watchIdle)}`,
            { status: 0 },
          ),
        );
      }, this.#watchIdle);
    };
    alive();
    (async () => {
      const decoder = new WatchStreamDecoder();
      for await (const chunk of response.body) {
        if (stopped) return;
        alive();
        for (const event of decoder.push(chunk)) {
          if (stopped) return;
          if (event.type === "ERROR") {
            const { code, reason, message } = event.status;
            return finish(
              new KubeError(
                `Watch of ${kind} ${scope(resource, namespace)} ended: ${message ?? ""}`,
                {
                  status: code ?? 500,
                  reason,
                },
              ),
            );
          }
          if (event.type !== "BOOKMARK") {
            options.onEvent(event.type, { ...event.object, apiVersion, kind });
          }
        }
      }
      finish();
    })().catch((error) => finish(stopped ? undefined : this.#error(what, error)));
    return {
      stop() {
        clearTimeout(idle);
        stopped = true;
        exchange.end();
      },
    };
  }

  async #json<T = KubeObject>(what: string, request: ApiRequest): Promise<T> {
    const { text } = await this.#request(what, request, { stream: false });
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new KubeError(`Cannot ${what}: the answer of ${this.#host} is not JSON`, {
        status: 0,
        cause: error,
      });
    }
  }

  /**
   * Sends a request with fresh credentials, within the request timeout and the client's
   * signal. A non-2xx answer becomes a KubeError. `stream` answers keep their body open (the
   * deadline then covers only the head) until `end()`.
   */
  #request(
    what: string,
    request: ApiRequest,
    mode: { stream: true },
  ): Promise<{ response: Http1Response; end: () => void }>;
  #request(what: string, request: ApiRequest, mode: { stream: false }): Promise<{ text: string }>;
  async #request(
    what: string,
    request: ApiRequest,
    mode: { stream: boolean },
  ): Promise<{ response?: Http1Response; text?: string; end?: () => void }> {
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.#timeout);
    const onClose = () => abort.abort();
    this.#signal?.addEventListener("abort", onClose, { once: true });
    const end = () => {
      clearTimeout(timer);
      this.#signal?.removeEventListener("abort", onClose);
      abort.abort();
    };
    try {
      if (this.#signal?.aborted) throw new ClientClosed();
      const auth = await this.#credentials.auth();
      const headers: Record<string, string> = { accept: "application/json", ...auth.headers };
      if (request.contentType) headers["content-type"] = request.contentType;
      const response = await this.#client(auth).request({
        method: request.method,
        path: request.path,
        headers,
        body: request.body,
        signal: abort.signal,
      });
      if (response.status >= 200 && response.status < 300) {
        if (mode.stream) {
          clearTimeout(timer);
          return { response, end };
        }
        const text = await response.text();
        end();
        return { text };
      }
      const text = await response.text().catch(() => "");
      end();
      let status: { reason?: string; message?: string } = {};
      try {
        status = JSON.parse(text);
      } catch {
        // Not a Status object: keep the HTTP status alone.
      }
      throw new KubeError(`Cannot ${what}: ${status.message ?? `HTTP ${response.status}`}`, {
        status: response.status,
        reason: status.reason,
      });
    } catch (error) {
      end();
      if (error instanceof KubeError) throw error;
      if (timedOut) {
        throw new KubeError(
          `Cannot ${what}: no answer from ${this.#host} within ${seconds(this.#timeout)}`,
          { status: 0 },
        );
      }
      throw this.#error(what, error);
    }
  }

  #error(what: string, error: unknown): KubeError {
    if (error instanceof KubeError) return error;
    if (error instanceof ClientClosed || this.#signal?.aborted) {
      return new KubeError(`Cannot ${what}: the client is shutting down`, {
        status: 0,
        cause: error,
      });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new KubeError(`Cannot ${what} at ${this.#host}: ${message}`, {
      status: 0,
      cause: error,
    });
  }

  /** One connection pool per distinct CA/certificate/key (they change only on rotation). */
  #client(auth: RequestAuth): Http1Client {
    const { ca, cert, key } = auth;
    const id = `${ca}\u0000${cert}\u0000${key}`;
    if (this.#http?.key !== id) {
      this.#http?.client.close();
      this.#http = {
        key: id,
        client: new Http1Client({
          server: this.#credentials.server,
          tls: { ...(ca ? { caCerts: [ca] } : {}), ...(cert && key ? { cert, key } : {}) },
        }),
      };
    }
    return this.#http.client;
  }
}

/** The client's signal was aborted: nothing is sent any more. */
class ClientClosed extends Error {
  constructor() {
    super("The Kubernetes client is closed");
  }
}

interface ApiRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  readonly path: string;
  readonly contentType?: string;
  readonly body?: string;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** `in <namespace>`, or `in the cluster` for a cluster-scoped resource. */
function scope(resource: Resource, namespace: string): string {
  return isClusterScoped(resource) ? "in the cluster" : `in ${namespace}`;
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
