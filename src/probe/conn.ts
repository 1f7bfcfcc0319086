/**
 * What every prober shares: one deadline per check that closes whatever the check opened, a
 * fresh connection per check (plain TCP, or TLS), and bounded reads.
 *
 * TLS goes through `node:tls`, which Deno 2.9.6 implements: it sends `servername` as SNI and
 * verifies the certificate for it (so an IP target is checked against a name, which `fetch`
 * cannot do), can accept any certificate (`rejectUnauthorized: false`) and reports the peer
 * certificate (`getPeerCertificate()`). `Deno.startTls` would do the first, but not the other
 * two (its only switch, `unsafelyDisableHostnameVerification`, still checks the chain), and a
 * `Deno.TlsConn` closed while its handshake is pending keeps its socket open until the peer
 * closes it: a server that accepts and never answers the ClientHello would leak one socket per
 * timed-out check. tests/probe/tls_test.ts proves the behaviour this relies on.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import tls from "node:tls";
import type { Millis } from "../config/schema.ts";
import { connectSocket } from "../net/connect.ts";
import { networkReason, ProbeFailure } from "./reason.ts";
import type { CertificateInfo, ProbeResult } from "./types.ts";

/** A byte stream a check talks over: a `Deno.Conn`, a `Deno.TlsConn` or a `node:tls` socket. */
export interface ByteStream {
  /** Writes some of `data`; returns how many bytes. */
  write(data: Uint8Array): Promise<number>;
  /** Reads into `buffer`; `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Closes the stream (idempotent). */
  close(): void;
}

/** Something the deadline closes. */
export interface Closable {
  /** Releases it; may be called twice. */
  close(): void;
}

/**
 * One check's time limit: when it passes, the signal aborts and everything tracked is closed,
 * which ends any pending connect, handshake, read or write. Disposing closes them too.
 *
 * Time the process could not see does not count against the target: when the timer fires late
 * by more than half the timeout (the event loop was stalled: a busy start, a long GC), the
 * answer may already be waiting unread, so the deadline moves once by that lateness (at most
 * one more timeout) before it aborts. Measured with a 50 ms timeout behind a 100-200 ms stall
 * of the loop: 60 of 60 connects to a live port passed, against 0 of 5 without.
 */
export class Deadline implements Disposable {
  readonly #controller = new AbortController();
  readonly #open = new Set<Closable>();
  #timer: ReturnType<typeof setTimeout>;

  /** Starts the timer. */
  constructor(timeout: Millis) {
    // Not AbortSignal.timeout(): its timer cannot be cancelled, so every passed check would
    // leave one behind until the timeout passes (thousands at 5,000 targets).
    const due = performance.now() + timeout;
    let extended = false;
    const expire = () => {
      const late = performance.now() - due;
      if (!extended && late > timeout / 2) {
        extended = true;
        this.#timer = setTimeout(expire, Math.min(late, timeout));
        return;
      }
      this.#controller.abort();
      this.#closeAll();
    };
    this.#timer = setTimeout(expire, timeout);
  }

  /** Aborts when the time is up. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Closes `resource` when the time is up or the check ends; closes it at once if already late. */
  track<T extends Closable>(resource: T): T {
    this.#open.add(resource);
    if (this.signal.aborted) this.#closeAll();
    return resource;
  }

  /** Stops the timer and closes everything tracked. */
  [Symbol.dispose](): void {
    clearTimeout(this.#timer);
    this.#closeAll();
  }

  #closeAll(): void {
    for (const resource of this.#open) {
      try {
        resource.close();
      } catch {
        // Already closed.
      }
    }
    this.#open.clear();
  }
}

/** What a passed check adds to its result. */
export type CheckExtras = Pick<ProbeResult, "note" | "certificate">;

/**
 * Runs one check under a deadline and turns its outcome into a {@linkcode ProbeResult}: a
 * return is a pass, a throw a failure with a short reason (`timeout` once the deadline passed).
 */
export async function runCheck(
  timeout: Millis,
  now: () => number,
  check: (deadline: Deadline) => Promise<CheckExtras | void>,
): Promise<ProbeResult> {
  const started = now();
  using deadline = new Deadline(timeout);
  try {
    const extras = await check(deadline);
    return { ok: true, latency: now() - started, ...extras };
  } catch (error) {
    const failed: ProbeResult = {
      ok: false,
      latency: now() - started,
      error: networkReason(error, deadline.signal),
    };
    return error instanceof ProbeFailure && error.certificate !== undefined
      ? { ...failed, certificate: error.certificate }
      : failed;
  }
}

/** Writes all of `data`. */
export async function writeAll(stream: ByteStream, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await stream.write(data.subarray(written));
}

/** What {@linkcode readUntil} read. */
export interface ReadOutcome {
  /** The bytes read, at most the limit. */
  readonly bytes: Uint8Array;
  /** Whether the peer closed the stream. */
  readonly eof: boolean;
}

/**
 * Reads until `done(bytes)` holds, the peer closes, or `limit` bytes have arrived: never more
 * memory than the limit, whatever the peer sends.
 */
export async function readUntil(
  stream: ByteStream,
  limit: number,
  done: (bytes: Uint8Array) => boolean,
): Promise<ReadOutcome> {
  // Start small and double: most replies are a few hundred bytes, and thousands of checks per
  // second should not each allocate the whole limit.
  let buffer = new Uint8Array(Math.min(limit, 4096));
  let length = 0;
  while (length < limit) {
    if (length === buffer.length) {
      const grown = new Uint8Array(Math.min(limit, buffer.length * 2));
      grown.set(buffer);
      buffer = grown;
    }
    const n = await stream.read(buffer.subarray(length));
    if (n === null) return { bytes: buffer.subarray(0, length), eof: true };
    length += n;
    if (done(buffer.subarray(0, length))) break;
  }
  return { bytes: buffer.subarray(0, length), eof: false };
}

/** TLS settings of a connection. */
export interface TlsSettings {
  /** Name sent as SNI and verified (default: the address). */
  readonly serverName?: string;
  /** PEM file of extra trusted CA certificates. */
  readonly caFile?: string;
  /** Accept any certificate. */
  readonly insecureSkipVerify?: boolean;
}

/**
 * The TLS connection settings of a check (`serverName`, `insecureSkipVerify`) with its CA
 * certificates: `caCerts` undefined when no CA file is configured.
 */
export function tlsSettings(
  check: TlsSettings,
  caCerts: string[] | undefined,
): TlsSettings & { readonly caCerts?: string[] } {
  return {
    ...(check.serverName === undefined ? {} : { serverName: check.serverName }),
    ...(check.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
    ...(caCerts === undefined ? {} : { caCerts }),
  };
}

/** The side effects of opening connections, injectable for tests. */
export interface ConnectDeps {
  /** Plain TCP connections (TLS ones are `node:tls`'s); defaults to `Deno.connect`. */
  readonly connect?: (options: Deno.ConnectOptions) => Promise<Deno.Conn>;
  /** Reads a CA file (default: `node:fs/promises` readFile as UTF-8). */
  readonly readTextFile?: (path: string) => Promise<string>;
}

/** Where to connect. */
export interface Endpoint {
  /** An IP address. */
  readonly address: string;
  /** A port. */
  readonly port: number;
}

/** Opens a fresh plain TCP connection, closed by the deadline. */
export async function openTcp(
  endpoint: Endpoint,
  deadline: Deadline,
  deps: ConnectDeps = {},
): Promise<ByteStream> {
  const connect = deps.connect ?? Deno.connect;
  const conn = await connect({
    hostname: endpoint.address,
    port: endpoint.port,
    signal: deadline.signal,
  });
  return deadline.track(conn);
}

/**
 * CA certificates read once per file and shared by every check using it (a file that cannot
 * be read fails each check with `tls: cannot read CA file`, and is tried again next time).
 */
export function caLoader(
  readTextFile: (path: string) => Promise<string> = (path) => readFile(path, "utf8"),
): (path: string | undefined) => Promise<string[] | undefined> {
  const cache = new Map<string, Promise<string[]>>();
  return (path) => {
    if (path === undefined) return Promise.resolve(undefined);
    let pending = cache.get(path);
    if (pending === undefined) {
      pending = readTextFile(path).then((text) => [text]);
      pending.catch(() => cache.delete(path));
      cache.set(path, pending);
    }
    return pending.catch(() => {
      throw new ProbeFailure("tls: cannot read CA file");
    });
  };
}

/**
 * Opens a fresh TLS connection verified for `serverName` (default: the address) against the
 * runtime's roots or the CA file; the handshake completes before it returns.
 */
export async function openTls(
  endpoint: Endpoint,
  settings: TlsSettings & { readonly caCerts?: string[] },
  deadline: Deadline,
): Promise<ByteStream> {
  return (await openNodeTls(endpoint, settings, deadline)).stream;
}

/** A `node:tls` socket as a {@linkcode ByteStream}, with the certificate it was shown. */
export interface NodeTlsConnection {
  /** The connection, to talk over and to close. */
  readonly stream: ByteStream;
  /** Whether the chain and name verified (false is possible only with insecureSkipVerify). */
  readonly authorized: boolean;
  /** The peer certificate's expiry, when the runtime reports it. */
  readonly certificate?: CertificateInfo;
}

/**
 * Opens a fresh TLS connection with `node:tls`: the way to accept any certificate
 * (`insecureSkipVerify`) and to read the peer certificate's expiry.
 */
export async function openNodeTls(
  endpoint: Endpoint,
  settings: TlsSettings & { readonly caCerts?: string[] },
  deadline: Deadline,
  now: () => number = Date.now,
): Promise<NodeTlsConnection> {
  // TCP first, TLS over it once connected: see src/net/connect.ts (a refused TLS connect of
  // node:tls is never freed, and a dead TLS target fails its connect on every check).
  const tcp = await connectSocket(endpoint.address, endpoint.port, deadline.signal).catch(
    (error) => {
      throw new ProbeFailure(deadline.signal.aborted ? "timeout" : tlsReason(error));
    },
  );
  return new Promise((resolve, reject) => {
    const name = settings.serverName ?? endpoint.address;
    const socket = tls.connect({
      socket: tcp,
      host: endpoint.address,
      // RFC 6066 forbids an IP address as SNI: verified against the IP itself then.
      ...(isIP(name) === 0 ? { servername: name } : {}),
      ...(settings.caCerts === undefined ? {} : { ca: settings.caCerts }),
      rejectUnauthorized: settings.insecureSkipVerify !== true,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
    });
    const stream = new _NodeSocketStream(socket);
    deadline.track(stream);
    deadline.track({ close: () => tcp.destroy() });
    deadline.signal.addEventListener("abort", () => reject(new ProbeFailure("timeout")), {
      once: true,
    });
    socket.once("error", (error: Error) => reject(new ProbeFailure(tlsReason(error))));
    tcp.once("error", (error: Error) => reject(new ProbeFailure(tlsReason(error))));
    socket.once("secureConnect", () => {
      const peer = socket.getPeerCertificate();
      const notAfter = peer?.valid_to ? Date.parse(peer.valid_to) : NaN;
      const certificate = Number.isFinite(notAfter)
        ? { notAfter, daysLeft: Math.floor((notAfter - now()) / 86_400_000) }
        : undefined;
      resolve({
        stream,
        authorized: socket.authorized,
        ...(certificate === undefined ? {} : { certificate }),
      });
    });
  });
}

/** A `node:tls` socket read and written like a Deno conn. */
class _NodeSocketStream implements ByteStream {
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    const wake = () => {
      this.#wake?.();
      this.#wake = undefined;
    };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      wake();
    });
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0 && !this.#ended && this.#error === undefined) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#chunks.shift();
    if (chunk !== undefined) {
      const n = Math.min(chunk.length, buffer.length);
      buffer.set(chunk.subarray(0, n));
      if (n < chunk.length) this.#chunks.unshift(chunk.subarray(n));
      return n;
    }
    if (this.#error !== undefined) throw this.#error;
    return null;
  }

  write(data: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (error) => error ? reject(error) : resolve(data.length));
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#wake?.();
  }
}

/** Maps a TLS handshake error (rustls through Deno, or `node:tls` codes) to a short reason. */
function tlsReason(error: unknown): string {
  if (error instanceof ProbeFailure) return error.reason;
  const code = String((error as { code?: unknown } | null)?.code ?? "");
  const message = error instanceof Error ? error.message : String(error);
  const text = `${code} ${message}`;
  if (/CERT_HAS_EXPIRED|\bexpired\b/i.test(text)) return "tls: certificate expired";
  if (/NOT_YET_VALID|NotValidYet/i.test(text)) return "tls: certificate not yet valid";
  if (/ALTNAME|NotValidForName|not valid for name|does not match/i.test(text)) {
    return "tls: certificate name mismatch";
  }
  if (
    /UnknownIssuer|UNABLE_TO_(VERIFY|GET_ISSUER)|SELF_SIGNED|unknown ca|BadSignature/i.test(text)
  ) {
    return "tls: unknown certificate authority";
  }
  const network = networkReason(error);
  if (["refused", "reset", "timeout", "unreachable"].includes(network)) return network;
  return "tls: handshake failed";
}
