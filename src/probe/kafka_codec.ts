/**
 * Kafka ApiVersions v0 (API key 18), pure: the request's bytes and a decoder of the response
 * frame that never throws, never reads past its input and never allocates more than the frame
 * holds, whatever a peer sends (research/wave2.md §1.4).
 *
 * Request v0: `size int32 | api_key int16 = 18 | api_version int16 = 0 | correlation_id int32 |
 * client_id int16 length + bytes`, empty body (22 bytes with client id `helaseid`). Response
 * v0: `size int32 | correlation_id int32 | error_code int16 | [api_key int16, min int16, max
 * int16] with an int32 count`. v0 is answered by every broker since Kafka 0.10, before SASL.
 *
 * @module
 */

/** The API key of ApiVersions. */
const API_VERSIONS_KEY = 18;
/** UNSUPPORTED_VERSION: the broker is alive but older than the request (v0 never gets it). */
export const UNSUPPORTED_VERSION = 35;
/** The client id sent. */
const CLIENT_ID = "helaseid";
/**
 * Responses larger than this are refused before they are read: a real v0 answer lists each API
 * in 6 bytes (about 100 APIs today, ~600 bytes), so 64 KiB is ample and bounds memory.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** One API a broker supports. */
export interface ApiVersion {
  /** The API key. */
  readonly key: number;
  /** The oldest version served. */
  readonly min: number;
  /** The newest version served. */
  readonly max: number;
}

/** The decoded response, or why it is malformed. */
export type ApiVersionsDecode =
  | {
    readonly ok: true;
    readonly correlationId: number;
    readonly errorCode: number;
    readonly apiKeys: readonly ApiVersion[];
  }
  | { readonly ok: false; readonly reason: string };

/** The bytes of an ApiVersions v0 request, size prefix included. */
export function encodeApiVersionsRequest(correlationId: number, clientId = CLIENT_ID): Uint8Array {
  const id = new TextEncoder().encode(clientId);
  const size = 2 + 2 + 4 + 2 + id.length;
  const bytes = new Uint8Array(4 + size);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, size);
  view.setInt16(4, API_VERSIONS_KEY);
  view.setInt16(6, 0);
  view.setInt32(8, correlationId);
  view.setInt16(12, id.length);
  bytes.set(id, 14);
  return bytes;
}

/**
 * The frame size announced by a response's first 4 bytes, or why it cannot be a v0 ApiVersions
 * response (shorter than its fixed fields, or over {@linkcode MAX_RESPONSE_BYTES}).
 */
export function frameSize(prefix: Uint8Array): { ok: true; size: number } | {
  ok: false;
  reason: string;
} {
  if (prefix.length < 4) return { ok: false, reason: "kafka: truncated response" };
  const size = new DataView(prefix.buffer, prefix.byteOffset, 4).getInt32(0);
  if (size < 10) return { ok: false, reason: "kafka: malformed response" };
  if (size > MAX_RESPONSE_BYTES) return { ok: false, reason: "kafka: response too large" };
  return { ok: true, size };
}

/**
 * Decodes a v0 response frame (the bytes after the size prefix). Checks the correlation id,
 * the array count against the bytes present, and that nothing trails the last entry.
 */
export function decodeApiVersionsResponse(
  frame: Uint8Array,
  expectedCorrelationId: number,
): ApiVersionsDecode {
  const malformed = { ok: false, reason: "kafka: malformed response" } as const;
  if (frame.length < 10) return malformed;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const correlationId = view.getInt32(0);
  if (correlationId !== expectedCorrelationId) {
    return { ok: false, reason: "kafka: wrong correlation id" };
  }
  const errorCode = view.getInt16(4);
  const count = view.getInt32(6);
  // Every entry is 6 bytes: a count the frame cannot hold is refused before any allocation.
  if (count < 0 || count * 6 !== frame.length - 10) return malformed;
  const apiKeys: ApiVersion[] = [];
  for (let i = 0, at = 10; i < count; i++, at += 6) {
    apiKeys.push({
      key: view.getInt16(at),
      min: view.getInt16(at + 2),
      max: view.getInt16(at + 4),
    });
  }
  return { ok: true, correlationId, errorCode, apiKeys };
}
