/**
 * Redpanda readiness probe: `GET /v1/status/ready` on the admin port (9644 unless configured)
 * answers `{"status":"ready"}` once the broker's Kafka listener has started and
 * `{"status":"booting"}` before, both with HTTP 200 — so the body decides. The signal is
 * startup-only (nothing sets it back to booting): pair it with a `kafka` check on the Kafka port.
 *
 * @module
 */

import { REDPANDA_ADMIN_PORT } from "../config/checks.ts";
import { runCheck } from "./conn.ts";
import { exchange, hostHeader, type HttpProberOptions, openHttpStream } from "./http.ts";
import { ProbeFailure } from "./reason.ts";
import type { ProbeCheck, Prober, ProbeRequest } from "./types.ts";

/** Decodes readiness bodies (stateless: shared by every check). */
const UTF8 = new TextDecoder();

/** The readiness path of the Redpanda admin API. */
const REDPANDA_READY_PATH = "/v1/status/ready";

/** The verdict on a readiness response: `undefined` when ready, else the reason. */
export function redpandaVerdict(status: number, body: Uint8Array): string | undefined {
  if (status !== 200) return `http ${status}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(UTF8.decode(body));
  } catch {
    return "redpanda: malformed status";
  }
  const state = (parsed as { status?: unknown } | null)?.status;
  if (state === "ready") return undefined;
  if (state === "booting") return "redpanda booting";
  return "redpanda: malformed status";
}

/** Creates a `redpanda` prober for a validated check. */
export function redpandaProber(check: ProbeCheck, options: HttpProberOptions = {}): Prober {
  const now = options.now ?? (() => performance.now());
  const port = check.port ?? REDPANDA_ADMIN_PORT;
  return (request: ProbeRequest) =>
    runCheck(request.timeout, now, async (deadline) => {
      const endpoint = { address: request.address, port };
      const stream = await openHttpStream(endpoint, undefined, deadline, options);
      const response = await exchange(stream, {
        method: "GET",
        path: check.path ?? REDPANDA_READY_PATH,
        host: hostHeader(request.address, port, false),
      }, true);
      const failure = redpandaVerdict(response.status, response.body);
      if (failure !== undefined) throw new ProbeFailure(failure);
    });
}
