/**
 * TCP connect probe: the target is up if it completes the handshake within the timeout. The
 * connection is closed at once; nothing is sent.
 *
 * @module
 */

import type { Prober, ProbeRequest, ProbeResult } from "./mod.ts";

/** The parts of Deno a TCP probe uses, injectable for tests. */
export interface TcpProberOptions {
  /** Defaults to `Deno.connect`. */
  readonly connect?: (options: Deno.ConnectOptions) => Promise<Deno.Conn>;
  /** Monotonic milliseconds (default `performance.now`). */
  readonly now?: () => number;
}

/** Creates a TCP connect prober. */
export function tcpProber(options: TcpProberOptions = {}): Prober {
  const connect = options.connect ?? Deno.connect;
  const now = options.now ?? (() => performance.now());
  return async (request: ProbeRequest): Promise<ProbeResult> => {
    const started = now();
    // Not AbortSignal.timeout(): its timer cannot be cancelled, so every successful probe
    // would leave one behind until the timeout passes (thousands at 5,000 targets).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), request.timeout);
    try {
      const conn = await connect({
        hostname: request.address,
        port: request.port,
        signal: controller.signal,
      });
      conn.close();
      return { ok: true, latency: now() - started };
    } catch (error) {
      return { ok: false, latency: now() - started, error: describe(error, controller.signal) };
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Maps connect errors to short, stable reasons (they become alert text and metric labels). */
function describe(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return "timeout";
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  if (error instanceof Deno.errors.TimedOut) return "timeout";
  if (error instanceof Deno.errors.ConnectionReset) return "reset";
  const message = error instanceof Error ? error.message : String(error);
  if (/unreachable|no route/i.test(message)) return "unreachable";
  return message.replace(/\s*\(os error \d+\)$/, "");
}
