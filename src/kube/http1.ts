/**
 * A small HTTP/1.1 client for the API server, over TCP with `TCP_NODELAY` and TLS (node:tls,
 * which can present a client certificate). Why not Deno's fetch: after a quiet period past the
 * 90 s idle timeout of the API server and of fetch's pool, the first write went out on a new
 * connection and its change reached watchers 53 ms after the verdict instead of 10 ms
 * (bench "sparse outages"); a TLS socket with Nagle on waits 44–48 ms for the server's delayed
 * ACK on a fresh connection (measured against the test API server). Here every request is one
 * write that leaves at once. Keep-alive connections are pooled; a request on a pooled
 * connection the server closed meanwhile is sent again on a new one.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import { connectSocket } from "../net/connect.ts";

/** TLS material of the connections (PEM). */
export interface Http1Tls {
  readonly caCerts?: readonly string[];
  readonly cert?: string;
  readonly key?: string;
}

/** Options of {@linkcode Http1Client}. */
export interface Http1ClientOptions {
  /** `https://host:port` (or `http://` for plain TCP, tests only). */
  readonly server: string;
  readonly tls?: Http1Tls;
  /** How long an idle connection is kept for reuse (default 30 s, below Go's 90 s). */
  readonly idleTimeout?: number;
  /** Most idle connections kept (default 4). */
  readonly maxIdle?: number;
}

/** One request. The body is sent in the same write as the head. */
export interface Http1Request {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Aborting closes the connection, failing the request or ending its body. */
  readonly signal?: AbortSignal;
}

/** An answer whose body is read as it arrives. */
export interface Http1Response {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  /** The body; the connection goes back to the pool once it is read to the end. */
  readonly body: AsyncIterable<Uint8Array>;
  /** Reads the whole body as text. */
  text(): Promise<string>;
  /** Stops reading the body and closes the connection. */
  cancel(): void;
}

/** The connection failed or ended early; the request may not have reached the server. */
class Http1Error extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Http1Error";
  }
}

const encoder = new TextEncoder();
const CRLF_CRLF = [13, 10, 13, 10];

/** A pool of keep-alive HTTP/1.1 connections to one server. */
export class Http1Client {
  readonly #url: URL;
  readonly #tls: Http1Tls;
  readonly #idleTimeout: number;
  readonly #maxIdle: number;
  readonly #idle: { connection: Connection; timer: ReturnType<typeof setTimeout> }[] = [];
  readonly #open = new Set<Connection>();
  #closed = false;

  constructor(options: Http1ClientOptions) {
    this.#url = new URL(options.server);
    this.#tls = options.tls ?? {};
    this.#idleTimeout = options.idleTimeout ?? 30_000;
    this.#maxIdle = options.maxIdle ?? 4;
  }

  /** Sends a request and resolves once the status line and headers have arrived. */
  async request(request: Http1Request): Promise<Http1Response> {
    // A pooled connection may have been closed by the server while idle: a failure before
    // any byte of the answer is retried once on a fresh connection.
    const pooled = this.#takeIdle();
    if (pooled) {
      try {
        return await this.#exchange(pooled, request);
      } catch (error) {
        if (!(error instanceof StaleConnection) || request.signal?.aborted) {
          throw unwrap(error);
        }
      }
    }
    const connection = await this.#connect(request.signal);
    try {
      return await this.#exchange(connection, request);
    } catch (error) {
      throw unwrap(error);
    }
  }

  /** Closes every connection, idle or busy. Later requests fail. */
  close(): void {
    this.#closed = true;
    for (const { timer } of this.#idle.splice(0)) clearTimeout(timer);
    for (const connection of this.#open) connection.close();
    this.#open.clear();
  }

  #takeIdle(): Connection | undefined {
    const entry = this.#idle.pop();
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    return entry.connection;
  }

  #release(connection: Connection): void {
    if (this.#closed || connection.closed || this.#idle.length >= this.#maxIdle) {
      this.#drop(connection);
      return;
    }
    const timer = setTimeout(() => {
      const index = this.#idle.findIndex((entry) => entry.connection === connection);
      if (index >= 0) this.#idle.splice(index, 1);
      this.#drop(connection);
    }, this.#idleTimeout);
    this.#idle.push({ connection, timer });
  }

  #drop(connection: Connection): void {
    connection.close();
    this.#open.delete(connection);
  }

  async #connect(signal?: AbortSignal): Promise<Connection> {
    if (this.#closed) throw new Http1Error("Cannot send a request on a closed client");
    signal?.throwIfAborted();
    const hostname = this.#url.hostname.replace(/^\[|\]$/g, "");
    const secure = this.#url.protocol === "https:";
    const port = Number(this.#url.port || (secure ? 443 : 80));
    const conn = secure
      ? await connectTls(hostname, port, this.#tls, signal)
      : await connectTcp(hostname, port, signal);
    const connection = new Connection(conn);
    this.#open.add(connection);
    if (this.#closed) {
      this.#drop(connection);
      throw new Http1Error("Cannot send a request on a closed client");
    }
    return connection;
  }

  async #exchange(connection: Connection, request: Http1Request): Promise<Http1Response> {
    const { signal } = request;
    const onAbort = () => this.#drop(connection);
    signal?.addEventListener("abort", onAbort, { once: true });
    let handedOver = false;
    try {
      signal?.throwIfAborted();
      const body = request.body === undefined ? undefined : encoder.encode(request.body);
      const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: ${this.#url.host}`];
      for (const [name, value] of Object.entries(request.headers ?? {})) {
        lines.push(`${name}: ${value}`);
      }
      if (body) lines.push(`content-length: ${body.length}`);
      const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
      const message = new Uint8Array(head.length + (body?.length ?? 0));
      message.set(head);
      if (body) message.set(body, head.length);
      const fresh = connection.requests === 0;
      connection.requests++;
      try {
        await connection.writeAll(message);
      } catch (error) {
        throw fresh ? error : new StaleConnection(error);
      }
      const parsed = await connection.readHead().catch((error) => {
        throw fresh || connection.received > 0 ? error : new StaleConnection(error);
      });
      const response = this.#response(connection, parsed, request.method, () => {
        signal?.removeEventListener("abort", onAbort);
      });
      handedOver = true;
      return response;
    } catch (error) {
      this.#drop(connection);
      if (signal?.aborted) throw signal.reason;
      throw error;
    } finally {
      if (!handedOver) signal?.removeEventListener("abort", onAbort);
    }
  }

  #response(
    connection: Connection,
    head: ResponseHead,
    method: string,
    done: () => void,
  ): Http1Response {
    const { status, headers } = head;
    const chunked = headers.get("transfer-encoding")?.toLowerCase().includes("chunked") ?? false;
    const length = headers.has("content-length")
      ? Number(headers.get("content-length"))
      : undefined;
    const empty = method === "HEAD" || status === 204 || status === 304 || length === 0;
    const keepAlive = headers.get("connection")?.toLowerCase() !== "close" &&
      (chunked || length !== undefined || empty);
    let finished = false;
    const finish = (reusable: boolean) => {
      if (finished) return;
      finished = true;
      done();
      if (reusable && keepAlive) this.#release(connection);
      else this.#drop(connection);
    };
    const source = empty
      ? (async function* () {})()
      : chunked
      ? connection.chunkedBody()
      : connection.fixedBody(length);
    const body = (async function* () {
      try {
        for await (const chunk of source) yield chunk;
        finish(true);
      } finally {
        finish(false);
      }
    })();
    if (empty) void body.next();
    return {
      status,
      headers,
      body,
      async text() {
        const parts: Uint8Array[] = [];
        for await (const chunk of body) parts.push(chunk);
        return new TextDecoder().decode(concat(parts));
      },
      cancel() {
        finish(false);
        void body.return(undefined);
      },
    };
  }
}

interface ResponseHead {
  readonly status: number;
  readonly headers: Map<string, string>;
}

/** Thrown inside the client for a pooled connection that failed before any answer. */
class StaleConnection extends Error {
  constructor(cause: unknown) {
    super("The pooled connection was closed", { cause });
  }
}

function unwrap(error: unknown): unknown {
  return error instanceof StaleConnection ? error.cause : error;
}

/** The three things a connection does: what Deno.Conn and the TLS adapter below share. */
interface ByteStream {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** Plain TCP (tests, and API servers behind a local proxy), Nagle off. */
async function connectTcp(hostname: string, port: number, signal?: AbortSignal) {
  const tcp = await Deno.connect({ hostname, port, signal });
  tcp.setNoDelay(true);
  tcp.setKeepAlive(true);
  return tcp;
}

/**
 * TLS over a TCP socket with Nagle off (one write per request leaves at once). node:tls rather
 * than Deno.startTls: startTls cannot present a client certificate (kubeconfigs often use
 * one), and Deno.connectTls, which can, offers no way to turn Nagle off (measured: 48 ms per
 * request on a fresh connection). node:tls is loaded by client-node's modules already.
 * TLS wraps the socket once TCP is connected (`connectSocket`: Deno's node:tls keeps every TLS
 * socket whose TCP connect failed).
 */
async function connectTls(
  hostname: string,
  port: number,
  options: Http1Tls,
  signal?: AbortSignal,
): Promise<ByteStream> {
  const socket = await connectSocket(hostname, port, signal).catch((error) => {
    throw signal?.aborted ? new Http1Error("The connection was closed") : error;
  });
  socket.setKeepAlive(true);
  const stream = tls.connect({
    socket,
    host: hostname,
    ...(net.isIP(hostname) ? {} : { servername: hostname }),
    ...(options.caCerts ? { ca: [...options.caCerts] } : {}),
    ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
  });
  const adapter = new TlsStream(stream);
  // An 'error' without a listener would end the process: the adapter reports it instead.
  socket.on("error", (error: Error) => adapter.fail(error));
  const onAbort = () => adapter.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await adapter.connected;
    signal?.throwIfAborted();
    return adapter;
  } catch (error) {
    adapter.close();
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** A node:tls socket read and written like a Deno.Conn. */
class TlsStream implements ByteStream {
  readonly connected: Promise<void>;
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error?: Error;
  #wake?: () => void;
  readonly #reject: (error: Error) => void;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.connected = promise;
    this.#reject = reject;
    promise.catch(() => {}); // Read by connectTls; a late rejection is nobody's concern.
    socket.once("secureConnect", () => resolve());
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#wake?.();
    });
    socket.once("end", () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.once("close", () => {
      this.#ended = true;
      reject(this.#error ?? new Http1Error("The connection closed during the TLS handshake"));
      this.#wake?.();
    });
    socket.on("error", (error: Error) => this.fail(error));
  }

  /** Ends the stream with an error (of the TLS socket or the TCP socket under it). */
  fail(error: Error): void {
    this.#error ??= error;
    this.#reject(error);
    this.#socket.destroy();
    this.#wake?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#wake = undefined;
    }
    const chunk = this.#chunks[0]!;
    const size = Math.min(buffer.length, chunk.length);
    buffer.set(chunk.subarray(0, size));
    if (size === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(size);
    return size;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error?: Error | null) => {
        if (error) reject(error);
        else resolve(bytes.length);
      });
    });
  }

  close(): void {
    this.#ended = true;
    this.#reject(new Http1Error("The connection was closed"));
    this.#socket.destroy();
    this.#wake?.();
  }
}

/** One connection and the bytes read from it but not consumed yet. */
class Connection {
  readonly #conn: ByteStream;
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  requests = 0;
  /** Bytes received for the current request. */
  received = 0;
  closed = false;

  constructor(conn: ByteStream) {
    this.#conn = conn;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async writeAll(bytes: Uint8Array): Promise<void> {
    this.received = 0;
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  async readHead(): Promise<ResponseHead> {
    while (true) {
      const end = this.#find(CRLF_CRLF);
      if (end >= 0) {
        const text = new TextDecoder().decode(this.#buffer.subarray(this.#start, end));
        this.#start = end + 4;
        const [statusLine = "", ...lines] = text.split("\r\n");
        const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
        if (!match) throw new Http1Error(`Cannot parse the status line '${statusLine}'`);
        const headers = new Map<string, string>();
        for (const line of lines) {
          const colon = line.indexOf(":");
          if (colon > 0) {
            headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
          }
        }
        const status = Number(match[1]);
        // 1xx answers (100 Continue) precede the real one.
        if (status >= 100 && status < 200) continue;
        return { status, headers };
      }
      if (!await this.#fill()) throw new Http1Error("The connection closed before an answer");
    }
  }

  async *fixedBody(length: number | undefined): AsyncGenerator<Uint8Array> {
    let left = length ?? Infinity;
    while (left > 0) {
      if (this.#start === this.#end && !await this.#fill()) {
        if (length === undefined) return;
        throw new Http1Error("The connection closed in the middle of the answer");
      }
      const take = Math.min(left, this.#end - this.#start);
      yield this.#buffer.slice(this.#start, this.#start + take);
      this.#start += take;
      left -= take;
    }
  }

  async *chunkedBody(): AsyncGenerator<Uint8Array> {
    while (true) {
      const sizeLine = await this.#line();
      const size = parseInt(sizeLine.split(";")[0]!, 16);
      if (!Number.isFinite(size)) throw new Http1Error(`Cannot parse chunk size '${sizeLine}'`);
      if (size === 0) {
        // Trailers, then the empty line.
        while ((await this.#line()) !== "");
        return;
      }
      yield* this.fixedBody(size);
      await this.#line();
    }
  }

  async #line(): Promise<string> {
    while (true) {
      const end = this.#find([13, 10]);
      if (end >= 0) {
        const line = new TextDecoder().decode(this.#buffer.subarray(this.#start, end));
        this.#start = end + 2;
        return line;
      }
      if (!await this.#fill()) {
        throw new Http1Error("The connection closed in the middle of the answer");
      }
    }
  }

  #find(pattern: readonly number[]): number {
    const buffer = this.#buffer;
    outer: for (let i = this.#start; i + pattern.length <= this.#end; i++) {
      for (let j = 0; j < pattern.length; j++) {
        if (buffer[i + j] !== pattern[j]) continue outer;
      }
      return i;
    }
    return -1;
  }

  /** Reads more bytes into the buffer; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buffer.length) {
      const live = this.#end - this.#start;
      if (live * 2 > this.#buffer.length) {
        const bigger = new Uint8Array(this.#buffer.length * 2);
        bigger.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = bigger;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = live;
    }
    let read: number | null;
    try {
      read = await this.#conn.read(this.#buffer.subarray(this.#end));
    } catch (error) {
      if (this.closed) return false;
      throw error;
    }
    if (read === null) return false;
    this.#end += read;
    this.received += read;
    return true;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
