/**
 * Probers answer one question about one target: does it pass a check right now? They never
 * retry, never sleep past their timeout and never throw: a failure is a result with a short
 * reason. One file per protocol; this registry makes the prober of a validated check, and
 * `all.ts` combines the checks of a target.
 *
 * ```ts
 * const prober = proberFor({ type: "kafka" });
 * const result = await prober({ address: "10.188.2.3", port: 9092, timeout: 1000 });
 * // { ok: true, latency: 1.7 } or { ok: false, latency: 1000, error: "timeout" }
 * ```
 *
 * @module
 */

import type { ProbeType } from "../config/schema.ts";
import { httpProber, type HttpProberOptions } from "./http.ts";
import { kafkaProber, type KafkaProberOptions } from "./kafka.ts";
import { redpandaProber } from "./redpanda.ts";
import { tcpProber } from "./tcp.ts";
import { tlsProber, type TlsProberOptions } from "./tls.ts";
import type { ProbeCheck, Prober } from "./types.ts";

export type {
  CertificateInfo,
  Matcher,
  ProbeCheck,
  Prober,
  ProbeRequest,
  ProbeResult,
  StatusRange,
} from "./types.ts";
export { reasonOf } from "./types.ts";

/** Side effects every prober may take, injectable for tests. */
export type ProberDeps = HttpProberOptions & TlsProberOptions & KafkaProberOptions;

/**
 * The prober of a validated check (or of a bare probe type with its defaults). Probers keep
 * no state between checks but their CA certificates and correlation counter: make one per
 * check spec and share it between targets.
 */
export function proberFor(check: ProbeCheck | ProbeType, deps: ProberDeps = {}): Prober {
  const spec: ProbeCheck = typeof check === "string" ? { type: check } : check;
  switch (spec.type) {
    case "tcp":
      return tcpProber({
        ...deps,
        ...(spec.port === undefined ? {} : { port: spec.port }),
        ...(spec.send === undefined ? {} : { send: spec.send }),
        ...(spec.expect === undefined ? {} : { expect: spec.expect }),
      });
    case "http":
    case "https":
      return httpProber(spec, deps);
    case "tls":
      return tlsProber(spec, deps);
    case "kafka":
      return kafkaProber(spec, deps);
    case "redpanda":
      return redpandaProber(spec, deps);
  }
}
