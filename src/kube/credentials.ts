/**
 * Kubernetes credentials: a kubeconfig (cluster, user, context) or the pod's service account.
 * The kubeconfig's entries are read by `@kubernetes/client-node`'s own parsers, and its token
 * file and exec-plugin authenticators (EKS `aws eks get-token`, GKE `gke-gcloud-auth-plugin`,
 * rotating service-account tokens) do the authentication. Only those modules of client-node
 * are loaded: its generated API classes, which HELASEID does not use, would cost ~65 MiB of
 * memory at import (measured: 113 MiB RSS for KubeConfig's module graph against 48 MiB).
 *
 * @module
 */

import {
  type Cluster,
  type Context,
  newClusters,
  newContexts,
  newUsers,
  type User,
} from "@kubernetes/client-node/dist/config_types.js";
import { ExecAuth } from "@kubernetes/client-node/dist/exec_auth.js";
import { FileAuth } from "@kubernetes/client-node/dist/file_auth.js";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";

/** What one request needs to authenticate: TLS material and headers. */
export interface RequestAuth {
  /** PEM CA bundle to trust, if the cluster names one. */
  readonly ca?: string;
  /** PEM client certificate and key, if the user authenticates with one. */
  readonly cert?: string;
  readonly key?: string;
  /** Authorization and impersonation headers. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Resolved credentials of one cluster. */
export interface Credentials {
  /** Context (or cluster) name, for logs and alerts. */
  readonly name: string;
  /** API server URL without a trailing slash. */
  readonly server: string;
  /** The context's namespace, if any. */
  readonly namespace?: string;
  /** Authentication for the next request (tokens may rotate, exec plugins may refresh). */
  auth(): Promise<RequestAuth>;
}

/** Credentials cannot be loaded or used. */
export class CredentialsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CredentialsError";
  }
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Loads a kubeconfig file; `context` overrides its current context. */
export function kubeconfigCredentials(path: string, context?: string): Credentials {
  let document: {
    clusters?: unknown;
    users?: unknown;
    contexts?: unknown;
    "current-context"?: string;
  };
  try {
    document = parse(Deno.readTextFileSync(path)) ?? {};
  } catch (error) {
    throw new CredentialsError(`Cannot read kubeconfig '${path}'`, { cause: error });
  }
  let clusters: Cluster[], users: User[], contexts: Context[];
  try {
    clusters = newClusters(document.clusters ?? []);
    users = newUsers(document.users ?? []);
    contexts = newContexts(document.contexts ?? []);
  } catch (error) {
    throw new CredentialsError(`Cannot use kubeconfig '${path}'`, { cause: error });
  }
  const contextName = context ?? document["current-context"];
  if (!contextName) {
    throw new CredentialsError(`Cannot use kubeconfig '${path}' as it has no current context`);
  }
  const selected = contexts.find((c) => c.name === contextName);
  if (!selected) {
    throw new CredentialsError(
      `Cannot use context '${contextName}' as kubeconfig '${path}' has none: it has ` +
        `${contexts.map((c) => `'${c.name}'`).join(", ") || "no contexts"}`,
    );
  }
  const cluster = clusters.find((c) => c.name === selected.cluster);
  if (!cluster) {
    throw new CredentialsError(
      `Cannot use context '${contextName}' as its cluster '${selected.cluster}' is not defined`,
    );
  }
  if (cluster.skipTLSVerify) {
    throw new CredentialsError(
      `Cannot skip TLS verification for cluster '${cluster.name}': give its CA ` +
        "(certificate-authority or certificate-authority-data) in the kubeconfig",
    );
  }
  const user = users.find((u) => u.name === selected.user);
  const base = dirname(path);
  const file = (name?: string | null) =>
    name ? Deno.readTextFileSync(isAbsolute(name) ? name : join(base, name)) : undefined;
  const ca = cluster.caData ? decode(cluster.caData) : file(cluster.caFile);
  return {
    name: contextName,
    server: cluster.server.replace(/\/+$/, ""),
    ...(selected.namespace ? { namespace: selected.namespace } : {}),
    auth: () => userAuth(user, { ca, file }),
  };
}

/**
 * The pod's service account (token re-read as the kubelet rotates it). `dir` holds `token`
 * and `ca.crt` (default the kubelet's mount, /var/run/secrets/kubernetes.io/serviceaccount).
 */
export function inClusterCredentials(
  env: Readonly<Record<string, string | undefined>>,
  dir: string = SERVICE_ACCOUNT_DIR,
): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) {
    throw new CredentialsError("Cannot find the API server: KUBERNETES_SERVICE_HOST is unset");
  }
  const ca = Deno.readTextFileSync(`${dir}/ca.crt`);
  const user = {
    name: "in-cluster",
    authProvider: { name: "tokenFile", config: { tokenFile: `${dir}/token` } },
  } as unknown as User;
  return {
    name: "in-cluster",
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    auth: () => userAuth(user, { ca, file: () => undefined }),
  };
}

const execAuth = new ExecAuth();
const fileAuth = new FileAuth();

async function userAuth(
  user: User | undefined,
  options: { ca?: string; file: (name?: string | null) => string | undefined },
): Promise<RequestAuth> {
  const headers: Record<string, string> = {};
  if (!user) return { ca: options.ca, headers };
  if (user.authProvider && !fileAuth.isAuthProvider(user) && !execAuth.isAuthProvider(user)) {
    const name = (user.authProvider as { name?: string }).name ?? "unknown";
    throw new CredentialsError(
      `Cannot use auth-provider '${name}' of user '${user.name}': use a token, a client ` +
        "certificate or an exec plugin",
    );
  }
  let cert = user.certData ? decode(user.certData) : options.file(user.certFile);
  let key = user.keyData ? decode(user.keyData) : options.file(user.keyFile);
  const opts: { headers: Record<string, string>; cert?: unknown; key?: unknown } = { headers };
  if (execAuth.isAuthProvider(user)) await execAuth.applyAuthentication(user, opts as never);
  else if (fileAuth.isAuthProvider(user)) await fileAuth.applyAuthentication(user, opts as never);
  // An exec plugin may hand out a client certificate instead of a token.
  if (opts.cert) cert = String(opts.cert);
  if (opts.key) key = String(opts.key);
  if (user.token) headers.Authorization = `Bearer ${user.token}`;
  if (user.username && user.password && !headers.Authorization) {
    headers.Authorization = `Basic ${btoa(`${user.username}:${user.password}`)}`;
  }
  if (user.impersonateUser) headers["Impersonate-User"] = user.impersonateUser;
  return { ca: options.ca, cert, key, headers };
}

function decode(base64: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
}
