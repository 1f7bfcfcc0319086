/**
 * HTTP and HTTPS probes, spoken by hand over one fresh connection per check (TLS through
 * `node:tls`, see `conn.ts`): `fetch` cannot set SNI (an IP target checked against a name), pools connections (a stale pooled connection
 * would hide a refused connect) and drops a `Host` header without a special client. The
 * request asks the server to close; the response is read only as far as the verdict needs
 * (the head, and the body only when it is matched), at most 16 KiB of head and 64 KiB of body.
 *
 * Verdict: the status is in the accepted ranges (default 200-399, the kubelet's rule) and, when
 * configured, the body contains the text or matches the regular expression.
 *
 * @module
 */

import { DEFAULT_STATUS, matcherTest, MAX_READ_BYTES } from "../config/checks.ts";
import {
  type ByteStream,
  caLoader,
  type ConnectDeps,
  type Deadline,
  type Endpoint,
  openTcp,
  openTls,
  readUntil,
  runCheck,
  type TlsSettings,
  tlsSettings,
  writeAll,
} from "./conn.ts";
import {
  encodeRequest,
  type HttpHead,
  type HttpRequestLine,
  MAX_HEAD_BYTES,
  parseBody,
  parseHead,
} from "./http_response.ts";
import { ProbeFailure } from "./reason.ts";
import type { ProbeCheck, Prober, ProbeRequest, StatusRange } from "./types.ts";

/** Decodes bodies to match (stateless: shared by every check). */
const UTF8 = new TextDecoder();

/** Side effects of an HTTP prober, injectable for tests. */
export interface HttpProberOptions extends ConnectDeps {
  /** Monotonic milliseconds (default `performance.now`). */
  readonly now?: () => number;
}

/** A response as far as it was read. */
export interface HttpResponse {
  /** The status code. */
  readonly status: number;
  /** Header names lower case. */
  readonly headers: ReadonlyMap<string, string>;
  /** The body (at most 64 KiB), empty unless it was asked for. */
  readonly body: Uint8Array;
}

/**
 * Sends `request` and reads the response: the head, plus the body when `withBody`.
 *
 * @throws {ProbeFailure} `http: empty response`, `http: malformed response`.
 */
export async function exchange(
  stream: ByteStream,
  request: HttpRequestLine,
  withBody: boolean,
): Promise<HttpResponse> {
  await writeAll(stream, encodeRequest(request));
  let head: HttpHead | undefined;
  let malformed = false;
  const { bytes, eof } = await readUntil(stream, MAX_HEAD_BYTES + MAX_READ_BYTES, (bytes) => {
    if (head === undefined) {
      const parsed = parseHead(bytes);
      if (parsed.kind === "malformed") malformed = true;
      if (parsed.kind !== "head") return malformed;
      head = parsed.head;
    }
    if (!withBody) return true;
    const body = parseBody(head, bytes, { method: request.method, eof: false });
    return body.complete || body.malformed;
  });
  if (head === undefined && !malformed) {
    const parsed = parseHead(bytes);
    if (parsed.kind === "head") head = parsed.head;
  }
  if (head === undefined) {
    throw new ProbeFailure(
      bytes.length === 0 ? "http: empty response" : "http: malformed response",
    );
  }
  if (!withBody) return { status: head.status, headers: head.headers, body: new Uint8Array(0) };
  const body = parseBody(head, bytes, { method: request.method, eof });
  if (body.malformed) throw new ProbeFailure("http: malformed response");
  // A body cut at the read limit is matched as far as it was read.
  return { status: head.status, headers: head.headers, body: body.body };
}

/** Whether `status` is in one of `ranges`. */
function statusAccepted(status: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some((range) => status >= range.from && status <= range.to);
}

/** The `Host` header for an address and port: IPv6 in brackets, the port unless the default. */
export function hostHeader(address: string, port: number, secure: boolean): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return port === (secure ? 443 : 80) ? host : `${host}:${port}`;
}

/** Opens the connection of an HTTP(S) check: plain TCP, or TLS (see `conn.ts`). */
export async function openHttpStream(
  endpoint: Endpoint,
  tls: (TlsSettings & { readonly caCerts?: string[] }) | undefined,
  deadline: Deadline,
  deps: ConnectDeps,
): Promise<ByteStream> {
  if (tls === undefined) return await openTcp(endpoint, deadline, deps);
  return await openTls(endpoint, tls, deadline);
}

/** Creates an `http` or `https` prober for a validated check. */
export function httpProber(check: ProbeCheck, options: HttpProberOptions = {}): Prober {
  const now = options.now ?? (() => performance.now());
  const secure = check.type === "https";
  const method = check.method ?? "GET";
  const statuses = check.status ?? DEFAULT_STATUS;
  const loadCa = caLoader(options.readTextFile);
  const bodyMatches = check.body === undefined ? undefined : matcherTest(check.body);
  return (request: ProbeRequest) =>
    runCheck(request.timeout, now, async (deadline) => {
      const endpoint = { address: request.address, port: check.port ?? request.port };
      const tls = secure ? tlsSettings(check, await loadCa(check.caFile)) : undefined;
      const stream = await openHttpStream(endpoint, tls, deadline, options);
      const response = await exchange(stream, {
        method,
        path: check.path ?? "/",
        host: check.host ?? hostHeader(endpoint.address, endpoint.port, secure),
        ...(check.headers === undefined ? {} : { headers: check.headers }),
      }, bodyMatches !== undefined);
      if (!statusAccepted(response.status, statuses)) {
        throw new ProbeFailure(`http ${response.status}`);
      }
      if (bodyMatches !== undefined && !bodyMatches(UTF8.decode(response.body))) {
        throw new ProbeFailure("http: body did not match");
      }
    });
}
