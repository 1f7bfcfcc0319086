/**
 * The Kubernetes API as HELASEID uses it: a handful of verbs behind the {@linkcode KubeClient}
 * interface (server-side apply, create, delete, list, watch). Credentials come from
 * `credentials.ts` (kubeconfig or in-cluster, read with client-node's parsers and
 * authenticators); requests go through Deno's fetch. Tests and `--dry-run` use the in-memory implementation in `memory.ts`.
 *
 * @module
 */

import {
  type Credentials,
  inClusterCredentials,
  kubeconfigCredentials,
  type RequestAuth,
} from "./credentials.ts";
import {
  collectionPath,
  type KubeObject,
  type ObjectRef,
  type Resource,
  resourceOf,
  RESOURCES,
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
  let resolved: Credentials;
  try {
    resolved = credentials.kind === "file"
      ? kubeconfigCredentials(credentials.path, options.context)
      : inClusterCredentials(options.env ?? Deno.env.toObject());
  } catch (error) {
    const where = credentials.kind === "file" ? `'${credentials.path}'` : "the service account";
    const message = error instanceof Error ? error.message : String(error);
    throw new KubeError(
      message.startsWith("Cannot") ? message : `Cannot load Kubernetes credentials from ${where}`,
      { status: 0, cause: error },
    );
  }
  return new FetchKube(resolved, options.fieldManager ?? "helaseid");
}

/**
 * The transport: Deno's own fetch with a TLS client built from the credentials.
 * client-node's undici-based HTTP stack is not used: under Deno it crashed the process
 * (SIGSEGV) when the API server closed pooled connections, and its watches did not notice a
 * server that went away.
 */
class FetchKube implements KubeClient {
  readonly name: string;
  readonly #credentials: Credentials;
  readonly #fieldManager: string;
  #http?: { key: string; client: Deno.HttpClient };

  constructor(credentials: Credentials, fieldManager: string) {
    this.#credentials = credentials;
    this.#fieldManager = fieldManager;
    this.name = credentials.name;
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

  async list(resource: Resource, namespace: string, labelSelector?: string) {
    const { apiVersion, kind } = RESOURCES[resource];
    const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : "";
    const list = await this.#json<
      { items?: KubeObject[]; metadata?: { resourceVersion?: string } }
    >(
      `list ${kind} in ${namespace}`,
      { method: "GET", path: collectionPath(resource, namespace) + query },
    );
    // List items carry no kind/apiVersion: put them back.
    const items = (list.items ?? []).map((item) => ({ ...item, apiVersion, kind }));
    return { items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  async watch(resource: Resource, namespace: string, options: WatchOptions): Promise<WatchHandle> {
    const { apiVersion, kind } = RESOURCES[resource];
    const params = new URLSearchParams({
      watch: "true",
      resourceVersion: options.resourceVersion,
      allowWatchBookmarks: "true",
      // The server ends each watch after a while; the store then lists and watches again.
      timeoutSeconds: String(240 + Math.floor(Math.random() * 120)),
    });
    if (options.labelSelector) params.set("labelSelector", options.labelSelector);
    const abort = new AbortController();
    const response = await this.#request(`watch ${kind} in ${namespace}`, {
      method: "GET",
      path: `${collectionPath(resource, namespace)}?${params}`,
      signal: abort.signal,
    });
    let stopped = false;
    const finish = (error?: unknown) => {
      if (stopped) return;
      stopped = true;
      options.onDone(error);
    };
    (async () => {
      let buffer = "";
      for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (!line || stopped) continue;
          const event = JSON.parse(line) as { type: string; object: KubeObject };
          if (event.type === "ERROR") {
            const status = event.object as unknown as {
              code?: number;
              reason?: string;
              message?: string;
            };
            abort.abort();
            return finish(
              new KubeError(`Watch of ${kind} in ${namespace} ended: ${status.message ?? ""}`, {
                status: status.code ?? 500,
                reason: status.reason,
              }),
            );
          }
          if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") {
            options.onEvent(event.type, { ...event.object, apiVersion, kind });
          }
        }
      }
      finish();
    })().catch((error) => finish(stopped ? undefined : toKubeError(`watch ${kind}`, error)));
    return {
      stop() {
        stopped = true;
        abort.abort();
      },
    };
  }

  async #json<T = KubeObject>(what: string, request: ApiRequest): Promise<T> {
    const response = await this.#request(what, request);
    return await response.json() as T;
  }

  /** Sends a request with fresh credentials; a non-2xx answer becomes a KubeError. */
  async #request(what: string, request: ApiRequest): Promise<Response> {
    let response: Response;
    try {
      const auth = await this.#credentials.auth();
      const headers: Record<string, string> = { accept: "application/json", ...auth.headers };
      if (request.contentType) headers["content-type"] = request.contentType;
      response = await fetch(this.#credentials.server + request.path, {
        method: request.method,
        headers,
        body: request.body,
        signal: request.signal ?? AbortSignal.timeout(30_000),
        client: this.#client(auth),
      });
    } catch (error) {
      throw toKubeError(what, error);
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => "");
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
  }

  /** One TLS client per distinct CA/certificate/key (they change only on rotation). */
  #client(auth: RequestAuth): Deno.HttpClient {
    const { ca, cert, key } = auth;
    const id = `${ca}\u0000${cert}\u0000${key}`;
    if (this.#http?.key !== id) {
      this.#http?.client.close();
      this.#http = {
        key: id,
        client: Deno.createHttpClient({
          ...(ca ? { caCerts: [ca] } : {}),
          ...(cert && key ? { cert, key } : {}),
          // HTTP/1.1: over HTTP/2 Deno's client held every request body above ~1 KB for a
          // delayed ACK (measured: EndpointSlice apply p50 48 ms on h2, 5 ms on h1).
          http2: false,
        }),
      };
    }
    return this.#http.client;
  }
}

interface ApiRequest {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE";
  readonly path: string;
  readonly contentType?: string;
  readonly body?: string;
  readonly signal?: AbortSignal;
}

function toKubeError(what: string, error: unknown): KubeError {
  if (error instanceof KubeError) return error;
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
