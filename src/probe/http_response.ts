/**
 * HTTP/1.1 for probes, pure: the request bytes, and the parse of a response read so far (status
 * line, headers, and a body framed by Content-Length, chunked encoding or the end of the
 * stream). It never throws on what a peer sends: garbage is a `malformed` outcome.
 *
 * @module
 */

/** Decodes heads and chunk sizes (stateless: shared by every check). */
const UTF8 = new TextDecoder();
/** Encodes requests (stateless: shared by every check). */
const UTF8_ENCODER = new TextEncoder();

/** Response headers are at most this long. */
export const MAX_HEAD_BYTES = 16 * 1024;

/** What to send. */
export interface HttpRequestLine {
  /** The method, such as `GET`. */
  readonly method: string;
  /** The request target, such as `/healthz`. */
  readonly path: string;
  /** The `Host` header. */
  readonly host: string;
  /** Extra headers; a `Host` or `User-Agent` here replaces the default one. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The bytes of a request that asks the server to close the connection after answering. */
export function encodeRequest(request: HttpRequestLine): Uint8Array {
  const extra = Object.entries(request.headers ?? {});
  const has = (name: string) => extra.some(([key]) => key.toLowerCase() === name);
  const lines = [`${request.method} ${request.path} HTTP/1.1`];
  if (!has("host")) lines.push(`Host: ${request.host}`);
  if (!has("user-agent")) lines.push("User-Agent: helaseid-probe");
  if (!has("accept")) lines.push("Accept: */*");
  lines.push("Connection: close");
  for (const [name, value] of extra) lines.push(`${name}: ${value}`);
  return UTF8_ENCODER.encode(lines.join("\r\n") + "\r\n\r\n");
}

/** A response head. */
export interface HttpHead {
  /** The status code. */
  readonly status: number;
  /** Header names lower case; repeated headers joined with `, `. */
  readonly headers: ReadonlyMap<string, string>;
  /** Offset of the body in the bytes read. */
  readonly bodyStart: number;
}

/** The parse of the bytes read so far. */
export type HeadParse =
  | { readonly kind: "incomplete" }
  | { readonly kind: "malformed" }
  | { readonly kind: "head"; readonly head: HttpHead };

const PREFIX = "HTTP/1.";
const STATUS_LINE = /^HTTP\/1\.[01] ([1-5]\d\d)(?: [^\r\n]*)?$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

/** Parses the head of a response from the bytes read so far. */
export function parseHead(bytes: Uint8Array): HeadParse {
  // Reject garbage as soon as the first bytes show it is not HTTP.
  for (let i = 0; i < Math.min(bytes.length, PREFIX.length); i++) {
    if (bytes[i] !== PREFIX.charCodeAt(i)) return { kind: "malformed" };
  }
  const end = _headEnd(bytes);
  if (end < 0) {
    return bytes.length >= MAX_HEAD_BYTES ? { kind: "malformed" } : { kind: "incomplete" };
  }
  const text = UTF8.decode(bytes.subarray(0, end));
  const [statusLine = "", ...lines] = text.split("\r\n");
  const status = STATUS_LINE.exec(statusLine);
  if (status === null) return { kind: "malformed" };
  const headers = new Map<string, string>();
  for (const line of lines) {
    const header = HEADER_LINE.exec(line);
    if (header === null) return { kind: "malformed" };
    const name = header[1]!.toLowerCase();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? header[2]! : `${previous}, ${header[2]}`);
  }
  return { kind: "head", head: { status: Number(status[1]), headers, bodyStart: end + 4 } };
}

function _headEnd(bytes: Uint8Array): number {
  const limit = Math.min(bytes.length, MAX_HEAD_BYTES);
  for (let i = 3; i < limit; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) {
      return i - 3;
    }
  }
  return -1;
}

/** A body read so far. */
export interface BodyParse {
  /** The body bytes decoded so far (chunked framing removed). */
  readonly body: Uint8Array;
  /** Whether the framing says the body is complete. */
  readonly complete: boolean;
  /** Whether the framing is broken (a bad chunk size, a bad Content-Length). */
  readonly malformed: boolean;
}

/**
 * The body of a response from the bytes read so far: `eof` tells whether the peer closed, which
 * ends a body framed by the end of the stream.
 */
export function parseBody(
  head: HttpHead,
  bytes: Uint8Array,
  options: { readonly method: string; readonly eof: boolean },
): BodyParse {
  const rest = bytes.subarray(head.bodyStart);
  if (
    options.method === "HEAD" || head.status === 204 || head.status === 304 || head.status < 200
  ) {
    return { body: new Uint8Array(0), complete: true, malformed: false };
  }
  const encoding = head.headers.get("transfer-encoding");
  if (encoding !== undefined && /(^|,)\s*chunked\s*$/i.test(encoding)) return decodeChunked(rest);
  const length = head.headers.get("content-length");
  if (length !== undefined) {
    if (!/^\d{1,15}$/.test(length)) return { body: rest, complete: true, malformed: true };
    const n = Number(length);
    return { body: rest.subarray(0, n), complete: rest.length >= n, malformed: false };
  }
  return { body: rest, complete: options.eof, malformed: false };
}

/** Removes chunked framing from what was read so far. */
export function decodeChunked(bytes: Uint8Array): BodyParse {
  const parts: Uint8Array[] = [];
  let size = 0;
  let at = 0;
  const result = (complete: boolean, malformed: boolean): BodyParse => {
    const body = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      body.set(part, offset);
      offset += part.length;
    }
    return { body, complete, malformed };
  };
  while (true) {
    const lineEnd = _indexOfCrlf(bytes, at);
    // A chunk-size line still without its CRLF after 1 KiB is not HTTP.
    if (lineEnd < 0) return result(false, bytes.length - at > 1024);
    const line = UTF8.decode(bytes.subarray(at, lineEnd)).split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(line)) return result(false, true);
    const chunk = parseInt(line, 16);
    const start = lineEnd + 2;
    if (chunk === 0) return result(true, false);
    const available = bytes.subarray(start, Math.min(start + chunk, bytes.length));
    parts.push(available);
    size += available.length;
    if (available.length < chunk || start + chunk + 2 > bytes.length) return result(false, false);
    at = start + chunk + 2;
  }
}

function _indexOfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from + 1; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13) return i - 1;
  }
  return -1;
}
