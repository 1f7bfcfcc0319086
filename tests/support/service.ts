/**
 * The Service an integration test publishes into: a selector-less Service (HELASEID writes its
 * EndpointSlices), and a watch recording those slices as a client sees them.
 *
 * @module
 */

import type { ClusterAccess } from "./cluster.ts";
import { readiness, record, type Recorder } from "./watch.ts";

/** One port of the Service. */
export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  readonly targetPort: number;
  readonly protocol: "TCP";
}

/** The usual port: `kafka` on 9092. */
export const KAFKA_PORT: ServicePort = {
  name: "kafka",
  port: 9092,
  targetPort: 9092,
  protocol: "TCP",
};

/** An unnamed port 9092 (a Service with one port may leave it unnamed). */
export const UNNAMED_PORT: ServicePort = { port: 9092, targetPort: 9092, protocol: "TCP" };

/** Applies a selector-less Service `name` (default `brokers`) with `ports` (default: kafka 9092). */
export async function createService(
  cluster: ClusterAccess,
  namespace: string,
  options: { name?: string; ports?: readonly ServicePort[] } = {},
): Promise<void> {
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: options.name ?? "brokers", namespace },
      spec: { ports: options.ports ?? [KAFKA_PORT] },
    }),
  });
}

/** An API object as parsed JSON (tests read its fields as the API spells them). */
// deno-lint-ignore no-explicit-any
export type Json = any;

/** The EndpointSlice `name` of `namespace` as the API serves it now (fails when it is missing). */
export async function getSlice(
  cluster: ClusterAccess,
  namespace: string,
  name: string,
): Promise<Json> {
  return JSON.parse(
    await cluster.kubectlOk(["get", "endpointslice", name, "-n", namespace, "-o", "json"]),
  );
}

/** Records every EndpointSlice event of `namespace` from now on (dispose to stop). */
export function recordSlices(cluster: ClusterAccess, namespace: string): Promise<Recorder> {
  return record(
    cluster.kubeconfigPath,
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
  );
}

/**
 * An EndpointSlice as the API serves it now: who wrote it (`helaseid.io/writer`) and its
 * readiness by address; undefined while it does not exist (or the API does not answer).
 */
export async function sliceNow(
  cluster: ClusterAccess,
  namespace: string,
  name: string,
): Promise<{ writer?: string; ready: Record<string, boolean> } | undefined> {
  const result = await cluster.kubectl([
    "get",
    "endpointslice",
    name,
    "-n",
    namespace,
    "-o",
    "json",
  ]);
  if (result.code !== 0) return undefined;
  const object = JSON.parse(result.stdout);
  const writer = object.metadata.annotations?.["helaseid.io/writer"] as string | undefined;
  return { ...(writer ? { writer } : {}), ready: readiness(object) };
}
