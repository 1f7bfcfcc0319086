/**
 * The HTTP endpoints on `--listen` (DESIGN §3.5): `/metrics` (Prometheus text), `/healthz`
 * (the process answers), `/readyz` (the agent can be trusted: configuration loaded, every
 * target checked once, the API reachable unless `--dry-run`, no Service blocked, no target
 * source failing or silent past its first-answer grace; 503 and the reasons otherwise, each
 * naming what to fix) and `/status` (JSON of every Service, target, source and last write,
 * and the configuration in force with its last reload).
 *
 * The handler is a plain function of a request, so tests call it without a socket.
 *
 * @module
 */

import type { CheckStatus, ServiceStatus } from "../agent.ts";
import type { SourceStatus } from "../discovery/mod.ts";
import type { PublishState } from "../publish/reconciler.ts";
import type { ConfigStatus } from "../reload.ts";
import { type Logger, redactUrls } from "./log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
import { statusPage } from "./status_page.ts";

/** Whether the agent is ready, and why not. */
export interface Readiness {
  /** True when every condition of `/readyz` holds. */
  readonly ready: boolean;
  /** What is missing, one short sentence each (empty when ready). */
  readonly reasons: readonly string[];
}

/** What the endpoints serve; each function is called per request. */
export interface EndpointSources {
  /** Renders `/metrics`. */
  readonly metrics: { render(): string };
  /** The `/status` document (serialized as JSON). */
  readonly status: () => unknown;
  /** Decides `/readyz`. */
  readonly ready: () => Readiness;
  /** Where a failing endpoint is reported. */
  readonly log: Logger;
}

/** Options of {@linkcode startServer}. */
export interface ServerOptions extends EndpointSources {
  /** Where to listen (from `parseListen` of `--listen`); port 0 picks a free port. */
  readonly listen: { readonly hostname: string; readonly port: number };
}

/** A running server. */
export interface ObserveServer {
  /** The address actually bound (the port picked when asked for 0). */
  readonly addr: Deno.NetAddr;
  /** Stops accepting, lets the requests in flight finish, and closes. */
  shutdown(): Promise<void>;
}

/** The server could not listen on the address asked for. */
export class ListenError extends Error {
  /** Creates the error; `options.cause` is the error of the bind. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenError";
  }
}

/**
 * Starts serving the endpoints.
 *
 * @throws {ListenError} when the address is taken or cannot be bound.
 */
export function startServer(options: ServerOptions): ObserveServer {
  const { hostname, port } = options.listen;
  const handler = observeHandler(options);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port,
      onListen: () => {},
      onError: (error) => {
        options.log.error("HTTP handler failed", { error });
        return new Response("internal error\n", { status: 500 });
      },
    }, handler);
  } catch (error) {
    const where = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
    throw new ListenError(`Cannot listen on '${where}': ${(error as Error).message}`, {
      cause: error,
    });
  }
  options.log.info("listening", {
    address: `${server.addr.hostname}:${server.addr.port}`,
    endpoints: ["/", "/metrics", "/healthz", "/readyz", "/status"],
  });
  return {
    addr: server.addr,
    shutdown: () => server.shutdown(),
  };
}

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";

/** The request handler of the endpoints (GET and HEAD only). */
export function observeHandler(sources: EndpointSources): (request: Request) => Response {
  return (request) => {
    const { pathname } = new URL(request.url);
    const route = ROUTES[pathname];
    if (!route) return text(404, `not found: try ${Object.keys(ROUTES).join(" ")}\n`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "method not allowed\n", { allow: "GET, HEAD" });
    }
    let response: Response;
    try {
      response = route(sources);
    } catch (error) {
      sources.log.error("endpoint failed", { path: pathname, error });
      response = text(500, "internal error\n");
    }
    // HEAD: same status and headers, no body.
    return request.method === "HEAD"
      ? new Response(null, { status: response.status, headers: response.headers })
      : response;
  };
}

const ROUTES: Readonly<Record<string, (sources: EndpointSources) => Response>> = {
  "/metrics": (sources) =>
    new Response(sources.metrics.render(), {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
    }),
  "/healthz": () => text(200, "ok\n"),
  "/readyz": (sources) => {
    const readiness = sources.ready();
    return readiness.ready
      ? text(200, "ok\n")
      : text(503, `not ready:\n${readiness.reasons.map((reason) => `- ${reason}\n`).join("")}`);
  },
  "/status": (sources) =>
    new Response(JSON.stringify(sources.status(), null, 2) + "\n", {
      headers: { "content-type": JSON_TYPE, "cache-control": "no-store" },
    }),
  // The status page: the same document as HTML for a browser.
  "/": (sources) =>
    new Response(statusPage(sources.status() as StatusDocument), {
      headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
    }),
};

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": TEXT, "cache-control": "no-store", ...headers },
  });
}

/** What `/readyz` needs to know about the agent. */
export interface ReadinessSource {
  /** Every target has been checked at least once. */
  readonly checked: boolean;
  /** The API's watches are running. */
  readonly connected: boolean;
  /** Every Service's state (its publishing state names any block). */
  status?(): readonly ServiceStatus[];
}

/** How long a Service may wait for a target source's first answer before `/readyz` fails. */
export const SOURCE_FIRST_ANSWER_GRACE = 30_000;

/** Options of {@linkcode agentReadiness}. */
export interface ReadinessOptions {
  /** No cluster to reach: the API's reachability is not a condition. */
  readonly dryRun: boolean;
  /** Every target source's state (default: no sources). */
  readonly sources?: () => readonly SourceStatus[];
  /**
   * The configuration in force: a source that has not answered is counted as waiting since the
   * configuration was loaded (the discovery starts a Service's new sources with it).
   */
  readonly config?: () => ConfigStatus;
  /** The time now, epoch ms (default `Date.now()`). */
  readonly now?: number;
  /**
   * How long a source may stay silent before its first answer, ms (default
   * {@linkcode SOURCE_FIRST_ANSWER_GRACE}): a DNS or API answer takes milliseconds, so a
   * source still silent after it is stuck, while a short wait after a reload does not flap
   * readiness.
   */
  readonly sourceGrace?: number;
}

/**
 * The agent's readiness: every target checked at least once, no Service blocked (a missing
 * Service, a selector, a refused call, a missing namespace, another writer), no target source
 * failing and none silent for longer than its grace since the configuration was loaded, and,
 * unless in `--dry-run` (no cluster to reach), the Kubernetes API reachable. Each reason names
 * the Service and what is wrong: `shop/brokers: access-denied: watch endpointslices in
 * namespace 'shop': 403 Forbidden`, `shop/brokers: source dns kafka.test failing since
 * 2026-12-03T10:00:00.000Z: SERVFAIL`. A failed reload is no reason: the configuration in
 * force keeps running (`/status` and `helaseid_config_reload_success` show it).
 */
export function agentReadiness(agent: ReadinessSource, options: ReadinessOptions): Readiness {
  const reasons: string[] = [];
  if (!agent.checked) reasons.push("waiting for the first check of every target");
  let refused = false;
  for (const service of agent.status?.() ?? []) {
    const publish = service.publish;
    if (!publish?.blocked || publish.blocked === "waiting-first-checks") continue;
    refused ||= publish.blocked === "access-denied" || publish.blocked === "namespace-missing";
    const retry = publish.conflict ? `; looking again at ${iso(publish.conflict.retryAt)}` : "";
    reasons.push(
      `${service.namespace}/${service.name}: ${publish.blocked}` +
        (publish.detail ? `: ${publish.detail}` : "") + retry,
    );
  }
  // A refused list or watch stops the watches too; the Service's reason already says why.
  if (!options.dryRun && !agent.connected && !refused) {
    reasons.push("Kubernetes API not reachable: the watches are not running");
  }
  reasons.push(...sourceReasons(options));
  return { ready: reasons.length === 0, reasons };
}

/** The `/readyz` reasons of target sources: failing ones, and ones silent past their grace. */
function sourceReasons(options: ReadinessOptions): string[] {
  const sources = options.sources?.() ?? [];
  if (sources.length === 0) return [];
  const now = options.now ?? Date.now();
  const grace = options.sourceGrace ?? SOURCE_FIRST_ANSWER_GRACE;
  const loadedAt = options.config?.().loadedAt;
  const reasons: string[] = [];
  for (const source of sources) {
    const waitingSince = source.startedAt ?? loadedAt;
    if (source.error !== undefined) {
      const since = source.failingSince === undefined ? "" : ` since ${iso(source.failingSince)}`;
      reasons.push(
        `${source.service}: source ${source.source} failing${since}: ` +
          `${redactUrls(source.error)} (its last good set stays in force)`,
      );
    } else if (
      !source.answered && (waitingSince === undefined || now - waitingSince >= grace)
    ) {
      reasons.push(
        `${source.service}: waiting for the first answer of source ${source.source}` +
          (waitingSince === undefined ? "" : ` since ${iso(waitingSince)}`) +
          ": nothing is published for the Service until it answers",
      );
    }
  }
  return reasons;
}

/** A target in `/status`. Times are ISO 8601, durations milliseconds. */
export interface TargetStatusDocument {
  /** The target's address. */
  readonly address: string;
  /** The Service's probe port. */
  readonly port: number;
  /** The configured zone. */
  readonly zone?: string;
  /** The configured hostname. */
  readonly hostname?: string;
  /** The target's region (a Node source's topology label, or configured). */
  readonly region?: string;
  /** The source that found it (`dns kafka.test`); absent for a configured target. */
  readonly source?: string;
  /** `healthy`, `unhealthy` or `unknown` (no verdict yet). */
  readonly status: string;
  /** When the verdict last changed. */
  readonly since: string;
  /** Checks finished so far. */
  readonly checks: number;
  /** The last result of the target (all its checks together). */
  readonly lastResult?: {
    readonly ok: boolean;
    readonly latencyMs: number;
    readonly error?: string;
    readonly at: string;
  };
  /** The error of the last failed check, kept until a check succeeds. */
  readonly error?: string;
  /** Each configured check's part of the last result, in configuration order. */
  readonly results?: readonly CheckStatusDocument[];
  /** How the target is checked now: `normal`, `fast` (confirming a change) or `down`. */
  readonly schedule: string;
  /** The interval of that schedule, in milliseconds. */
  readonly intervalMs: number;
}

/** One check's part of a target's last result in `/status`. */
export interface CheckStatusDocument {
  /** `tcp`, `http`, `https`, `tls`, `kafka` or `redpanda`. */
  readonly type: string;
  /** The port it checked (its own, or the probe port). */
  readonly port: number;
  /** Whether it passed. */
  readonly ok: boolean;
  /** Its latency. */
  readonly latencyMs: number;
  /** Why it failed: `http 503`, `kafka error 35`, `tls: certificate expired`, ... */
  readonly error?: string;
  /** What a passed check noted (`kafka error 35` of an old broker). */
  readonly note?: string;
  /** `tls`: the peer certificate's expiry, ISO 8601, and whole days left. */
  readonly certificate?: { readonly notAfter: string; readonly daysLeft: number };
}

/** The last write of one object in `/status`. */
export interface WriteStatusDocument {
  /** `Kind/name`. */
  readonly object: string;
  /** `apply` or `delete`. */
  readonly verb: string;
  /** Why it was written: `missing`, `changed` (apply) or `unwanted` (delete). */
  readonly reason: string;
  /** Whether the API accepted it. */
  readonly ok: boolean;
  /** What failed, URL credentials redacted. */
  readonly error?: string;
  /** The HTTP status of a failure (0: the server was not reached). */
  readonly httpStatus?: number;
  /** When it was attempted. */
  readonly at: string;
  /** How long the call took. */
  readonly durationMs: number;
  /** From the probe result that caused it to the API's answer. */
  readonly latencyMs?: number;
}

/** One target source of a Service in `/status`. */
export interface SourceStatusDocument {
  /** The source's name (`dns kafka.test`, `nodes role=kafka`). */
  readonly name: string;
  /** `dns`, `nodes`, `pods`, `endpointslices`, `configmap` or `file`. */
  readonly type: string;
  /** Whether it has answered at least once (nothing is published for the Service before). */
  readonly answered: boolean;
  /** Targets of its set in force (the last good one while it fails). */
  readonly targets: number;
  /** Addresses it found that are not published (loopback, link-local, ...). */
  readonly skipped: number;
  /** Its last failure while it fails, URL credentials redacted. */
  readonly error?: string;
  /** When the current failure began. */
  readonly failingSince?: string;
  /** A sudden shrink held: from how many targets to how many, since and until when. */
  readonly held?: {
    readonly from: number;
    readonly to: number;
    readonly since: string;
    readonly until: string;
  };
  /** When its last answer or failure came. */
  readonly updatedAt?: string;
}

/** The configuration in force in `/status`. */
export interface ConfigStatusDocument {
  /** The file it was read from (absent: environment only). */
  readonly path?: string;
  /** A hash of the configuration in force (as `helaseid_config_info{hash}`). */
  readonly hash: string;
  /** When it was loaded. */
  readonly loadedAt: string;
  /** The last reload, if any: a failed one left the configuration above running. */
  readonly lastReload?: {
    readonly ok: boolean;
    readonly at: string;
    /** `file` (the file changed) or `signal` (SIGHUP). */
    readonly trigger: string;
    /** Failed: why, one line per issue. */
    readonly issues?: readonly string[];
    /** Succeeded: what changed (empty: nothing). */
    readonly changes?: readonly string[];
    /** Succeeded: changed settings that take effect only at the next start. */
    readonly restartNeeded?: readonly string[];
  };
}

/** A Service in `/status`. */
export interface ServiceStatusDocument {
  /** The Service's namespace. */
  readonly namespace: string;
  /** The Service's name. */
  readonly name: string;
  /** Its targets, in configuration order. */
  readonly targets: readonly TargetStatusDocument[];
  /** Its target sources (absent when it has none: its targets are all configured). */
  readonly sources?: readonly SourceStatusDocument[];
  /** With Leases on: whether this replica holds the Service's Lease (writes it), and who does. */
  readonly lease?: { readonly held: boolean; readonly holder?: string };
  /** Absent until the publisher first looked at the Service. */
  readonly publish?: {
    readonly blocked?: string;
    /** What blocks it, one line (verb, resource and status; or the other writer). */
    readonly detail?: string;
    readonly blockedSince?: string;
    /** While another writer rewrites our objects: who, and when we look again. */
    readonly conflict?: { readonly writer: string; readonly retryAt: string };
    /** With Leases on: another replica holds the Service's Lease, so this one does not write. */
    readonly standby?: boolean;
    readonly panic: boolean;
    readonly endpoints?: { readonly ready: number; readonly notReady: number };
    readonly failures: number;
    readonly failingSince?: string;
    readonly writes: readonly WriteStatusDocument[];
  };
}

/** The `/status` document. */
export interface StatusDocument {
  /** When the document was made. */
  readonly time: string;
  /** The agent's version. */
  readonly version?: string;
  /** The git commit of this build. */
  readonly commit?: string;
  /** The configuration in force and its last reload. */
  readonly config?: ConfigStatusDocument;
  /** Every configured Service. */
  readonly services: readonly ServiceStatusDocument[];
}

/** Options of {@linkcode statusDocument}. */
export interface StatusDocumentOptions {
  /** The time of the document, epoch ms (default `Date.now()`). */
  readonly now?: number;
  /** The agent's version. */
  readonly version?: string;
  /** The git commit of this build. */
  readonly commit?: string;
  /** Every target source's state; each Service lists its own. */
  readonly sources?: readonly SourceStatus[];
  /** The configuration in force and its last reload. */
  readonly config?: ConfigStatus;
}

/**
 * Turns the agent's status into the `/status` document: epoch times become ISO strings, maps
 * become arrays, free-form error texts lose any URL credentials. Nothing of the alert
 * configuration is part of the agent's status, so no secret can appear.
 */
export function statusDocument(
  services: readonly ServiceStatus[],
  options: StatusDocumentOptions = {},
): StatusDocument {
  const sources = new Map<string, SourceStatusDocument[]>();
  for (const source of options.sources ?? []) {
    const list = sources.get(source.service) ?? [];
    list.push(sourceDocument(source));
    sources.set(source.service, list);
  }
  return {
    time: iso(options.now ?? Date.now()),
    ...(options.version !== undefined ? { version: options.version } : {}),
    ...(options.commit !== undefined ? { commit: options.commit } : {}),
    ...(options.config ? { config: configDocument(options.config) } : {}),
    services: services.map((service) => {
      const publish = service.publish;
      const own = sources.get(`${service.namespace}/${service.name}`);
      return {
        namespace: service.namespace,
        name: service.name,
        targets: service.targets.map((target) => ({
          address: target.address,
          port: target.port,
          ...(target.zone !== undefined ? { zone: target.zone } : {}),
          ...(target.hostname !== undefined ? { hostname: target.hostname } : {}),
          ...(target.region !== undefined ? { region: target.region } : {}),
          ...(target.source !== undefined ? { source: target.source } : {}),
          status: target.status,
          since: iso(target.since),
          checks: target.checks,
          ...(target.lastResult
            ? {
              lastResult: {
                ok: target.lastResult.ok,
                latencyMs: round(target.lastResult.latency),
                ...(target.lastResult.error !== undefined
                  ? { error: redactUrls(target.lastResult.error) }
                  : {}),
                at: iso(target.lastResult.at),
              },
            }
            : {}),
          ...(target.error !== undefined ? { error: redactUrls(target.error) } : {}),
          ...(target.results ? { results: target.results.map(checkDocument) } : {}),
          schedule: target.schedule,
          intervalMs: target.interval,
        })),
        ...(own ? { sources: own } : {}),
        ...(service.lease ? { lease: service.lease } : {}),
        ...(publish ? { publish: publishDocument(publish) } : {}),
        ...(service.clusters
          ? {
            clusters: service.clusters.map((cluster) => ({
              name: cluster.name,
              ...(cluster.lease ? { lease: cluster.lease } : {}),
              ...(cluster.publish ? { publish: publishDocument(cluster.publish) } : {}),
            })),
          }
          : {}),
      };
    }),
  };
}

function sourceDocument(source: SourceStatus): SourceStatusDocument {
  return {
    name: source.source,
    type: source.type,
    answered: source.answered,
    targets: source.targets,
    skipped: source.skipped,
    ...(source.error !== undefined ? { error: redactUrls(source.error) } : {}),
    ...(source.failingSince !== undefined ? { failingSince: iso(source.failingSince) } : {}),
    ...(source.held
      ? {
        held: {
          from: source.held.from,
          to: source.held.to,
          since: iso(source.held.since),
          until: iso(source.held.until),
        },
      }
      : {}),
    ...(source.updatedAt !== undefined ? { updatedAt: iso(source.updatedAt) } : {}),
  };
}

function configDocument(config: ConfigStatus): ConfigStatusDocument {
  const last = config.lastReload;
  return {
    ...(config.path !== undefined ? { path: config.path } : {}),
    hash: config.hash,
    loadedAt: iso(config.loadedAt),
    ...(last
      ? {
        lastReload: {
          ok: last.ok,
          at: iso(last.at),
          trigger: last.trigger,
          // Configuration issues name fields, never values of secrets; URLs are cut anyway.
          ...(last.issues ? { issues: last.issues.map(redactUrls) } : {}),
          ...(last.changes ? { changes: last.changes } : {}),
          ...(last.restartNeeded ? { restartNeeded: last.restartNeeded } : {}),
        },
      }
      : {}),
  };
}

function checkDocument(check: CheckStatus): CheckStatusDocument {
  return {
    type: check.type,
    port: check.port,
    ok: check.ok,
    latencyMs: round(check.latency),
    ...(check.error !== undefined ? { error: redactUrls(check.error) } : {}),
    ...(check.note !== undefined ? { note: redactUrls(check.note) } : {}),
    ...(check.certificate
      ? {
        certificate: {
          notAfter: iso(check.certificate.notAfter),
          daysLeft: check.certificate.daysLeft,
        },
      }
      : {}),
  };
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** A Service's publishing state in one cluster, as `/status` shows it. */
function publishDocument(publish: PublishState) {
  const view = publish.view;
  const ready = view?.endpoints.filter((endpoint) => endpoint.ready).length ?? 0;
  return {
    ...(publish.blocked ? { blocked: publish.blocked } : {}),
    ...(publish.detail !== undefined ? { detail: redactUrls(publish.detail) } : {}),
    ...(publish.blockedSince !== undefined ? { blockedSince: iso(publish.blockedSince) } : {}),
    ...(publish.conflict
      ? {
        conflict: {
          writer: publish.conflict.writer,
          retryAt: iso(publish.conflict.retryAt),
        },
      }
      : {}),
    ...(publish.standby ? { standby: true } : {}),
    panic: view?.panic ?? false,
    ...(view ? { endpoints: { ready, notReady: view.endpoints.length - ready } } : {}),
    failures: publish.failures,
    ...(publish.failingSince !== undefined ? { failingSince: iso(publish.failingSince) } : {}),
    writes: [...publish.writes.values()].map((write) => ({
      object: `${write.kind}/${write.name}`,
      verb: write.verb,
      reason: write.reason,
      ok: write.ok,
      ...(write.error !== undefined ? { error: redactUrls(write.error) } : {}),
      ...(write.status !== undefined ? { httpStatus: write.status } : {}),
      at: iso(write.at),
      durationMs: round(write.duration),
      ...(write.latency !== undefined ? { latencyMs: round(write.latency) } : {}),
    })),
  };
}
