/**
 * The plan: desired objects against observed ones, compared by identity, not representation
 * (external-dns `plan`, the EndpointSlice reconciler). Pure: a steady state gives an empty
 * plan, whatever order the API returned things in and whatever it added (resourceVersion,
 * managedFields, a trigger-time annotation, labels of other managers).
 *
 * @module
 */

import {
  type EndpointSliceObject,
  type EndpointsObject,
  type KubeObject,
  objectKey,
  type ObjectRef,
  resourceOf,
} from "../kube/types.ts";
import { ANNOTATION_CONFIG_HASH, ANNOTATION_WRITER } from "./identity.ts";
import { ANNOTATION_TRIGGER_TIME } from "./objects.ts";
import { compareAddresses } from "./views.ts";

/** One write. */
export type Action =
  | { readonly type: "apply"; readonly object: KubeObject; readonly reason: "missing" | "changed" }
  | { readonly type: "delete"; readonly ref: ObjectRef; readonly reason: "unwanted" };

/**
 * The writes that turn `observed` into `desired`: apply what is missing or differs, delete
 * what is observed (and ours) but no longer desired. `observed` must hold only objects that
 * belong to the same Service and carry our managed-by label (plus, for adoption, a same-named
 * object of a desired kind).
 */
export function planChanges(
  desired: readonly KubeObject[],
  observed: readonly KubeObject[],
): Action[] {
  const seen = new Map<string, KubeObject>();
  for (const object of observed) seen.set(identity(object), object);
  const actions: Action[] = [];
  const wanted = new Set<string>();
  for (const object of desired) {
    const id = identity(object);
    wanted.add(id);
    const current = seen.get(id);
    if (!current || current.metadata.deletionTimestamp) {
      actions.push({ type: "apply", object, reason: "missing" });
    } else if (fingerprint(current, object) !== fingerprint(object, object)) {
      actions.push({ type: "apply", object, reason: "changed" });
    }
  }
  for (const [id, object] of seen) {
    if (wanted.has(id) || object.metadata.deletionTimestamp) continue;
    actions.push({
      type: "delete",
      ref: {
        resource: resourceOf(object),
        namespace: object.metadata.namespace ?? "",
        name: object.metadata.name,
      },
      reason: "unwanted",
    });
  }
  return actions;
}

/** Annotations that record a write rather than describe the contents. */
const PROVENANCE = new Set([ANNOTATION_TRIGGER_TIME, ANNOTATION_WRITER, ANNOTATION_CONFIG_HASH]);

function identity(object: KubeObject): string {
  return `${resourceOf(object)}:${
    objectKey(object.metadata.namespace ?? "", object.metadata.name)
  }`;
}

/**
 * A canonical text of what matters in `object`, reading only the labels and annotations that
 * `reference` (the desired object) sets, so other managers' additions do not count. The
 * annotations that say when and by whom an object was written are not contents: they are
 * written with a change, never cause one (else two agents of one configuration, or a
 * restarted agent with a new identity, would rewrite objects that are already right).
 */
export function fingerprint(object: KubeObject, reference: KubeObject): string {
  const meta = object.metadata;
  const labels = Object.keys(reference.metadata.labels ?? {}).sort()
    .map((key) => [key, meta.labels?.[key] ?? null]);
  const annotations = Object.keys(reference.metadata.annotations ?? {})
    .filter((key) => !PROVENANCE.has(key)).sort()
    .map((key) => [key, meta.annotations?.[key] ?? null]);
  const owners = (meta.ownerReferences ?? [])
    .filter((owner) =>
      (reference.metadata.ownerReferences ?? []).some((wanted) => wanted.uid === owner.uid)
    )
    .map((owner) => [owner.kind, owner.name, owner.uid, owner.controller ?? false]);
  const body = object.kind === "EndpointSlice"
    ? sliceBody(object as EndpointSliceObject)
    : object.kind === "Endpoints"
    ? endpointsBody(object as EndpointsObject)
    : null;
  return JSON.stringify({ labels, annotations, owners, body });
}

function sliceBody(slice: EndpointSliceObject): unknown {
  return {
    addressType: slice.addressType,
    ports: portsKey(slice.ports ?? []),
    endpoints: (slice.endpoints ?? []).map((endpoint) => [
      [...endpoint.addresses].sort(compareAddresses).join(","),
      endpoint.conditions?.ready ?? null,
      endpoint.conditions?.serving ?? null,
      endpoint.conditions?.terminating ?? false,
      endpoint.hostname ?? null,
      endpoint.zone ?? null,
      endpoint.hints?.forZones?.map((zone) => zone.name).sort().join(",") ?? null,
    ]).sort((a, b) => compareAddresses(String(a[0]), String(b[0]))),
  };
}

/** Legacy Endpoints compared as sets of (address, readiness, hostname) and ports. */
function endpointsBody(endpoints: EndpointsObject): unknown {
  const addresses: [string, boolean, string | null, string][] = [];
  for (const subset of endpoints.subsets ?? []) {
    const ports = JSON.stringify(portsKey(subset.ports ?? []));
    for (const address of subset.addresses ?? []) {
      addresses.push([address.ip, true, address.hostname ?? null, ports]);
    }
    for (const address of subset.notReadyAddresses ?? []) {
      addresses.push([address.ip, false, address.hostname ?? null, ports]);
    }
  }
  return addresses.sort((a, b) => compareAddresses(a[0], b[0]) || a[3].localeCompare(b[3]));
}

function portsKey(
  ports: readonly { name?: string; port?: number; protocol?: string; appProtocol?: string }[],
) {
  return ports
    .map((
      port,
    ) => [port.name ?? "", port.port ?? 0, port.protocol ?? "TCP", port.appProtocol ?? null])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])) || Number(a[1]) - Number(b[1]));
}
