/**
 * TCP probe: the target is up if it completes the handshake within the timeout. Without `send`
 * and `expect` nothing is sent and the connection is closed at once; with them (HAProxy's
 * `tcp-check send` / `expect`), the bytes are sent and the reply must contain the expected
 * text (or match the regular expression) within the first 64 KiB, before the timeout.
 *
 * @module
 */

import { matcherTest, MAX_READ_BYTES, sendBytes } from "../config/checks.ts";
import { openTcp, readUntil, runCheck, writeAll } from "./conn.ts";
import { ProbeFailure } from "./reason.ts";
import type { Matcher, Prober, ProbeRequest, ProbeResult } from "./types.ts";

/** The parts of Deno a TCP probe uses, injectable for tests, and what it sends and expects. */
export interface TcpProberOptions {
  /** Defaults to `Deno.connect`. */
  readonly connect?: (options: Deno.ConnectOptions) => Promise<Deno.Conn>;
  /** Monotonic milliseconds (default `performance.now`). */
  readonly now?: () => number;
  /** Bytes to send once connected (a decoded `send`: characters up to U+00FF are bytes). */
  readonly send?: string;
  /** What the reply must contain. */
  readonly expect?: Matcher;
  /** The port to check instead of the request's. */
  readonly port?: number;
}

/** Creates a TCP connect prober (with send/expect when given). */
export function tcpProber(options: TcpProberOptions = {}): Prober {
  const now = options.now ?? (() => performance.now());
  const send = options.send === undefined ? undefined : sendBytes(options.send);
  const expectMatches = options.expect === undefined ? undefined : matcherTest(options.expect);
  return (request: ProbeRequest): Promise<ProbeResult> =>
    runCheck(request.timeout, now, async (deadline) => {
      const conn = await openTcp(
        { address: request.address, port: options.port ?? request.port },
        deadline,
        options,
      );
      if (send !== undefined) await writeAll(conn, send);
      if (expectMatches === undefined) return;
      // The verdict on everything read so far (the empty reply until the first read), kept
      // from the last test so that the reply is not decoded and matched a second time.
      let matched = expectMatches("");
      const { eof } = await readUntil(
        conn,
        MAX_READ_BYTES,
        (bytes) => matched = expectMatches(latin1(bytes)),
      );
      if (!matched) {
        throw new ProbeFailure(
          eof ? "tcp: closed before the expected reply" : "tcp: reply did not match",
        );
      }
    });
}

/** Bytes as text, one character per byte, so that binary replies match byte for byte. */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}
