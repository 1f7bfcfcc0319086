/**
 * Kafka probe: an ApiVersions v0 request over a fresh connection; healthy when a well-formed
 * response with the request's correlation id arrives with error code 0, or 35
 * (UNSUPPORTED_VERSION: alive, answered in the v0 format by old brokers). Any other error code,
 * a malformed or oversized response, or a close fails the check with a reason.
 *
 * @module
 */

import { type ConnectDeps, openTcp, readUntil, runCheck, writeAll } from "./conn.ts";
import {
  decodeApiVersionsResponse,
  encodeApiVersionsRequest,
  frameSize,
  UNSUPPORTED_VERSION,
} from "./kafka_codec.ts";
import { ProbeFailure } from "./reason.ts";
import type { ProbeCheck, Prober, ProbeRequest } from "./types.ts";

/** Side effects of a Kafka prober, injectable for tests. */
export interface KafkaProberOptions extends Pick<ConnectDeps, "connect"> {
  /** Monotonic milliseconds (default `performance.now`). */
  readonly now?: () => number;
  /** Correlation ids of successive checks (default: a counter starting at a random value). */
  readonly nextCorrelationId?: () => number;
}

/** Creates a `kafka` prober for a validated check. */
export function kafkaProber(check: ProbeCheck, options: KafkaProberOptions = {}): Prober {
  const now = options.now ?? (() => performance.now());
  let counter = Math.floor(Math.random() * 0x7fff_ffff);
  const next = options.nextCorrelationId ?? (() => (counter = (counter + 1) & 0x7fff_ffff));
  return (request: ProbeRequest) =>
    runCheck(request.timeout, now, async (deadline) => {
      const correlationId = next();
      const stream = await openTcp(
        { address: request.address, port: check.port ?? request.port },
        deadline,
        options,
      );
      await writeAll(stream, encodeApiVersionsRequest(correlationId));
      const prefix = await readUntil(stream, 4, () => false);
      if (prefix.bytes.length < 4) {
        throw new ProbeFailure(
          prefix.bytes.length === 0
            ? "kafka: closed without a response"
            : "kafka: truncated response",
        );
      }
      const size = frameSize(prefix.bytes);
      if (!size.ok) throw new ProbeFailure(size.reason);
      const frame = await readUntil(stream, size.size, () => false);
      if (frame.bytes.length < size.size) throw new ProbeFailure("kafka: truncated response");
      const decoded = decodeApiVersionsResponse(frame.bytes, correlationId);
      if (!decoded.ok) throw new ProbeFailure(decoded.reason);
      if (decoded.errorCode === UNSUPPORTED_VERSION) return { note: "kafka error 35" };
      if (decoded.errorCode !== 0) throw new ProbeFailure(`kafka error ${decoded.errorCode}`);
    });
}
