/**
 * Kubernetes objects → targets, for the `nodes`, `pods`, `endpointslices` and `configmap`
 * sources (`kubernetes.ts` lists and watches the objects). Pure: objects in, targets out, each
 * set deduplicated by address and sorted, so a relist that changes nothing gives the same set.
 *
 * The rules, and why:
 * - **Node**: every address of the configured type (`InternalIP` by default; a dual-stack Node
 *   has one per family), with no fallback to another type: a Node without such an address is
 *   skipped rather than published on a network the operator did not choose (external-dns
 *   falls back from ExternalIP to InternalIP because a DNS name is better than none; an
 *   endpoint on the wrong network is not). `zone` and `region` come from the labels
 *   `topology.kubernetes.io/zone` and `/region` (what kube-proxy reads); `hostname` is the
 *   Node's name when that is a DNS label. A cordoned Node (`spec.unschedulable`) is skipped
 *   when `skipUnschedulable` is set (external-dns' rule).
 * - **Pod**: its IPs (`status.podIPs`, else `status.podIP`); a Pod that has finished
 *   (`Succeeded`, `Failed`) never counts, its IP may already be another Pod's. With
 *   `readyOnly`, only a `Running` Pod whose condition `Ready` is `True` and that is not being
 *   deleted (the endpoint controller's rule). No zone (a Pod has no zone label); `hostname` is
 *   `spec.hostname`, else the Pod's name, when a DNS label.
 * - **EndpointSlices of another Service**: every address of every endpoint (slices of type
 *   FQDN hold names, not addresses, and are skipped); with `readyOnly`, only endpoints whose
 *   `conditions.ready` is not `false` ("a nil value should be interpreted as true"). `zone`
 *   and `hostname` are the endpoint's. An address in several slices counts once.
 * - **ConfigMap**: the key's value is a target list (`parseTargetList`; a key ending in `.yaml`,
 *   `.yml` or `.json` is read as YAML, else the format is sniffed), from `data`, or from
 *   `binaryData` as UTF-8. A missing ConfigMap is an empty set, the API's way of saying
 *   "nothing" (as NXDOMAIN is DNS'): deleting it empties the source, which the shrink guard
 *   holds and alerts. A ConfigMap without the key, or a list with any malformed entry, is a
 *   failure and the last good set stays: a typo in the key or in one line must not drop every
 *   target (an empty value is how to say "none").
 *
 * @module
 */

import { checkDns1123Label } from "../config/validate.ts";
import type {
  ConfigMapObject,
  EndpointSliceObject,
  KubeObject,
  NodeObject,
  PodObject,
} from "../kube/types.ts";
import { parseTargetList } from "./target_list.ts";
import type { DiscoveredTarget } from "./types.ts";

/** The label naming a Node's zone (kube-proxy's `v1.LabelTopologyZone`). */
export const LABEL_ZONE = "topology.kubernetes.io/zone";
/** The label naming a Node's region. */
export const LABEL_REGION = "topology.kubernetes.io/region";

/** Options of {@linkcode nodeTargets}. */
export interface NodeTargetOptions {
  /** Which address of a Node is its target. */
  readonly addressType: "InternalIP" | "ExternalIP";
  /** Leave out cordoned Nodes. */
  readonly skipUnschedulable: boolean;
}

/** The targets of Nodes (already narrowed by the source's label selector). */
export function nodeTargets(
  nodes: readonly NodeObject[],
  options: NodeTargetOptions,
): DiscoveredTarget[] {
  const targets: DiscoveredTarget[] = [];
  for (const node of _byName(nodes)) {
    if (options.skipUnschedulable && node.spec?.unschedulable === true) continue;
    const labels = node.metadata.labels ?? {};
    const topology = {
      ..._text("zone", labels[LABEL_ZONE]),
      ..._text("region", labels[LABEL_REGION]),
      ..._hostname(node.metadata.name),
    };
    for (const { type, address } of node.status?.addresses ?? []) {
      if (type === options.addressType && address) targets.push({ address, ...topology });
    }
  }
  return _unique(targets);
}

/** Options of {@linkcode podTargets}. */
export interface PodTargetOptions {
  /** Only Pods that are Running, Ready and not being deleted. */
  readonly readyOnly: boolean;
}

/** The targets of Pods (already narrowed by the source's namespace and label selector). */
export function podTargets(
  pods: readonly PodObject[],
  options: PodTargetOptions,
): DiscoveredTarget[] {
  const targets: DiscoveredTarget[] = [];
  for (const pod of _byName(pods)) {
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") continue;
    if (options.readyOnly && !_podReady(pod)) continue;
    const fromList = (pod.status?.podIPs ?? []).map((entry) => entry.ip);
    const ips = fromList.length > 0 ? fromList : [pod.status?.podIP];
    const hostname = _hostname(pod.spec?.hostname).hostname ??
      _hostname(pod.metadata.name).hostname;
    for (const address of ips) {
      if (address) targets.push({ address, ...(hostname ? { hostname } : {}) });
    }
  }
  return _unique(targets);
}

/** Options of {@linkcode endpointSliceTargets}. */
export interface EndpointSliceTargetOptions {
  /** Only endpoints whose `conditions.ready` is not false. */
  readonly readyOnly: boolean;
}

/** The targets of another Service's EndpointSlices (those labelled with its name). */
export function endpointSliceTargets(
  slices: readonly EndpointSliceObject[],
  options: EndpointSliceTargetOptions,
): DiscoveredTarget[] {
  const targets: DiscoveredTarget[] = [];
  for (const slice of _byName(slices)) {
    if (slice.addressType === "FQDN") continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (options.readyOnly && endpoint.conditions?.ready === false) continue;
      const topology = { ..._text("zone", endpoint.zone), ..._hostname(endpoint.hostname) };
      for (const address of endpoint.addresses) targets.push({ address, ...topology });
    }
  }
  return _unique(targets);
}

/** What a ConfigMap's key gives: a set, or why there is none (the last good set stays). */
export type ConfigMapTargets =
  | { readonly ok: true; readonly targets: DiscoveredTarget[] }
  | { readonly ok: false; readonly error: string };

/** At most this many of a malformed list's errors are quoted; the rest are counted. */
const MAX_QUOTED_ERRORS = 3;

/**
 * The targets listed in a ConfigMap's key; `configMap` undefined = the ConfigMap does not
 * exist (an empty set). See the module documentation for what is a failure.
 */
export function configMapTargets(
  configMap: ConfigMapObject | undefined,
  key: string,
): ConfigMapTargets {
  if (configMap === undefined) return { ok: true, targets: [] };
  const text = _value(configMap, key);
  if (text === undefined) {
    return {
      ok: false,
      error: `ConfigMap '${configMap.metadata.name}' has no key '${key}'`,
    };
  }
  const format = /\.(ya?ml|json)$/i.test(key) ? "yaml" : undefined;
  const list = parseTargetList(text, { format });
  if (list.errors.length > 0) {
    const quoted = list.errors.slice(0, MAX_QUOTED_ERRORS).join("; ");
    const more = list.errors.length - MAX_QUOTED_ERRORS;
    return {
      ok: false,
      error: `key '${key}' of ConfigMap '${configMap.metadata.name}' is not a valid target ` +
        `list: ${quoted}${more > 0 ? `; and ${more} more` : ""}`,
    };
  }
  return { ok: true, targets: _unique(list.targets) };
}

/** The text of `key` in `data`, or in `binaryData` decoded as UTF-8; undefined when absent. */
function _value(configMap: ConfigMapObject, key: string): string | undefined {
  const text = configMap.data?.[key];
  if (text !== undefined && text !== null) return text;
  const binary = configMap.binaryData?.[key];
  if (binary === undefined || binary === null) return undefined;
  const bytes = Uint8Array.from(atob(binary), (char) => char.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * The fields of a Node, Pod, EndpointSlice or ConfigMap that the functions above read, and
 * nothing else: what a source keeps of each watched object (a Node's image list and every
 * object's managedFields would otherwise stay in memory). Other kinds are returned as given.
 */
export function targetFields(object: KubeObject): KubeObject {
  const { apiVersion, kind } = object;
  const { name, namespace, labels, deletionTimestamp } = object.metadata;
  const metadata = {
    name,
    ...(namespace ? { namespace } : {}),
    ...(labels ? { labels } : {}),
    ...(deletionTimestamp ? { deletionTimestamp } : {}),
  };
  switch (kind) {
    case "Node": {
      const node = object as NodeObject;
      return {
        apiVersion,
        kind,
        metadata,
        spec: { unschedulable: node.spec?.unschedulable },
        status: { addresses: node.status?.addresses },
      } satisfies NodeObject;
    }
    case "Pod": {
      const { spec, status } = object as PodObject;
      return {
        apiVersion,
        kind,
        metadata,
        spec: { hostname: spec?.hostname },
        status: {
          phase: status?.phase,
          podIP: status?.podIP,
          podIPs: status?.podIPs?.map(({ ip }) => ({ ip })),
          conditions: status?.conditions?.map(({ type, status }) => ({ type, status })),
        },
      } satisfies PodObject;
    }
    case "EndpointSlice": {
      const slice = object as EndpointSliceObject;
      return {
        apiVersion,
        kind,
        metadata,
        addressType: slice.addressType,
        endpoints: slice.endpoints?.map(({ addresses, conditions, zone, hostname }) => ({
          addresses,
          ...(conditions ? { conditions: { ready: conditions.ready } } : {}),
          ...(zone ? { zone } : {}),
          ...(hostname ? { hostname } : {}),
        })),
      } satisfies EndpointSliceObject;
    }
    case "ConfigMap": {
      const { data, binaryData } = object as ConfigMapObject;
      return { apiVersion, kind, metadata, data, binaryData } satisfies ConfigMapObject;
    }
    default:
      return object;
  }
}

/** Running, Ready=True and not being deleted: what the endpoint controller calls ready. */
function _podReady(pod: PodObject): boolean {
  if (pod.status?.phase !== "Running" || pod.metadata.deletionTimestamp) return false;
  return (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

/** `{ [field]: value }` for a non-empty value, else nothing. */
function _text(field: "zone" | "region", value: string | undefined): Partial<DiscoveredTarget> {
  return value ? { [field]: value } : {};
}

/** `{ hostname }` when `name` is a DNS label (all an endpoint's hostname may be), else nothing. */
function _hostname(name: string | undefined): { hostname?: string } {
  if (!name || !checkDns1123Label(name, { what: "hostname" }).ok) return {};
  return { hostname: name };
}

/**
 * Objects in name order, so that which object's zone or hostname an address shared by two gets
 * never depends on the order the API listed them in.
 */
function _byName<T extends KubeObject>(objects: readonly T[]): T[] {
  return [...objects].sort((a, b) => _compare(a.metadata.name, b.metadata.name));
}

/** The first target of each address, in address order. */
function _unique(targets: readonly DiscoveredTarget[]): DiscoveredTarget[] {
  const seen = new Map<string, DiscoveredTarget>();
  for (const target of targets) {
    if (!seen.has(target.address)) seen.set(target.address, target);
  }
  return [...seen.values()].sort((a, b) => _compare(a.address, b.address));
}

function _compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
