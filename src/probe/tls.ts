/**
 * TLS probe: the handshake completes and the certificate verifies for `serverName` (default:
 * the address) against the runtime's roots or the CA file, unless `insecureSkipVerify`. It
 * reports the peer certificate's days to expiry (through `node:tls` `getPeerCertificate()`,
 * which Deno 2.9.6 implements) and fails when fewer than `minDaysToExpiry` days are left.
 *
 * @module
 */

import { caLoader, type ConnectDeps, openNodeTls, runCheck, tlsSettings } from "./conn.ts";
import { ProbeFailure } from "./reason.ts";
import type { ProbeCheck, Prober, ProbeRequest } from "./types.ts";

/** Side effects of a TLS prober, injectable for tests. */
export interface TlsProberOptions extends Pick<ConnectDeps, "readTextFile"> {
  /** Monotonic milliseconds for the latency (default `performance.now`). */
  readonly now?: () => number;
  /** Wall-clock epoch milliseconds for the days to expiry (default `Date.now`). */
  readonly wallClock?: () => number;
}

/** Creates a `tls` prober for a validated check. */
export function tlsProber(check: ProbeCheck, options: TlsProberOptions = {}): Prober {
  const now = options.now ?? (() => performance.now());
  const loadCa = caLoader(options.readTextFile);
  return (request: ProbeRequest) =>
    runCheck(request.timeout, now, async (deadline) => {
      const caCerts = await loadCa(check.caFile);
      const { stream, certificate } = await openNodeTls(
        { address: request.address, port: check.port ?? request.port },
        tlsSettings(check, caCerts),
        deadline,
        options.wallClock,
      );
      stream.close();
      if (certificate === undefined) return {};
      const min = check.minDaysToExpiry;
      if (certificate.daysLeft < 0) {
        throw new ProbeFailure("tls: certificate expired", { certificate });
      }
      if (min !== undefined && certificate.daysLeft < min) {
        throw new ProbeFailure("tls: certificate expires soon", { certificate });
      }
      return { certificate, note: `tls: certificate expires in ${certificate.daysLeft} days` };
    });
}
