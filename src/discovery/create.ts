/**
 * Makes the running source of each kind of source configuration (issue 12): the one place
 * that knows which module runs which `type`.
 *
 * @module
 */

import type { ServiceConfig, SourceConfig } from "../config/schema.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Logger } from "../observe/log.ts";
import { createDnsSource } from "./dns.ts";
import { createFileSource } from "./file.ts";
import { createKubernetesSource } from "./kubernetes.ts";
import type { SourceClock, TargetSource } from "./types.ts";

/** What sources run with. */
export interface SourceDependencies {
  readonly clock: SourceClock;
  readonly log: Logger;
  /**
   * The client of the cluster a Kubernetes source reads (its `cluster`, else the first; under
   * `--dry-run`, the real cluster when one is configured); a string says why there is none, and
   * such a source fails with it. Asked only for Kubernetes sources.
   */
  readonly clientOf: (cluster: string | undefined) => KubeClient | string;
}

/** The running source of `source`, a source of `service`. */
export function createSource(
  source: SourceConfig,
  service: ServiceConfig,
  deps: SourceDependencies,
): TargetSource {
  const log = deps.log.with({
    component: "source",
    service: `${service.namespace}/${service.name}`,
  });
  switch (source.type) {
    case "dns":
      return createDnsSource(source, { clock: deps.clock, log });
    case "file":
      return createFileSource(source, { clock: deps.clock });
    case "nodes":
    case "pods":
    case "endpointslices":
    case "configmap": {
      const client = deps.clientOf(source.cluster);
      if (typeof client === "string") return failingSource(source.type, client);
      return createKubernetesSource(source, {
        client,
        clock: deps.clock,
        log,
        defaultNamespace: service.namespace,
      });
    }
  }
}

/** A source that can only say why it cannot run. */
function failingSource(type: string, why: string): TargetSource {
  return {
    name: type,
    start: (emit) => emit({ ok: false, error: `${type}: ${why}` }),
    stop: () => Promise.resolve(),
  };
}
