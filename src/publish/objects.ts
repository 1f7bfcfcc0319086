/**
 * Pure builders of the objects HELASEID publishes for a Service (DESIGN §3.3): one
 * EndpointSlice per address family (a numbered one per further 1000 endpoints) and, unless
 * switched off, the legacy Endpoints object. Deterministic: the same inputs give the same
 * objects, whatever order the targets came in.
 *
 * Per-port health: an endpoint ready on some ports only (`readyPorts`) goes into a slice of
 * its family whose ports are just those, named after them (`<service>-helaseid-ipv4.kafka`;
 * port names are DNS labels, so the dot keeps these apart from the numbered slices), and into
 * an Endpoints subset with those ports. Every other endpoint stays in the full-port slice
 * (`<service>-helaseid-ipv4`). Slices of a port set are made only while some endpoint is ready
 * on exactly that set; the plan deletes them when none is any more.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import type {
  EndpointAddress,
  EndpointPort,
  EndpointSliceObject,
  EndpointsObject,
  KubeObject,
  ServiceObject,
  SliceEndpoint,
} from "../kube/types.ts";
import { ANNOTATION_CONFIG_HASH, ANNOTATION_WRITER } from "./identity.ts";
import type { PublishedEndpoint, ServiceView } from "./views.ts";

/** Who manages our objects (the EndpointSlice convention); also the field manager name. */
export const MANAGER = "helaseid";
/** Label naming the manager of an EndpointSlice. */
export const LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by";
/** Label tying an EndpointSlice to its Service. */
export const LABEL_SERVICE_NAME = "kubernetes.io/service-name";
/** Label that keeps the mirroring controller from copying our Endpoints into more slices. */
export const LABEL_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror";
/** Annotation recording when the probe result that caused a write was observed. */
export const ANNOTATION_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time";
/** The API's limit of endpoints per EndpointSlice. */
const MAX_ENDPOINTS_PER_SLICE = 1000;
/** Addresses the legacy Endpoints object keeps at most (the endpoints controller's limit). */
const MAX_ENDPOINTS_ADDRESSES = 1000;
/** Annotation the endpoints controller sets on an Endpoints object it truncated. */
export const ANNOTATION_OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity";

/** Inputs of {@linkcode desiredObjects} beyond the view. */
export interface DesiredOptions {
  /** The Service as the API shows it (its UID owns our objects; its ports name ours). */
  readonly service: ServiceObject;
  /** Epoch milliseconds of the probe result behind this change, if any. */
  readonly triggerTime?: number;
  /** Who writes, recorded in annotations (see `identity.ts`); absent in some tests. */
  readonly writer?: { readonly id: string; readonly configHash: string };
}

/** The objects a Service should have, given its view. */
export function desiredObjects(
  config: ServiceConfig,
  view: ServiceView,
  options: DesiredOptions,
): KubeObject[] {
  const ports = endpointPorts(config, options.service);
  const objects: KubeObject[] = [];
  if (config.publish.endpointSlices) {
    objects.push(...endpointSlices(config, view, ports, options));
  }
  if (config.publish.endpoints) objects.push(endpoints(config, view, ports, options));
  return objects;
}

/**
 * Endpoint ports named as the Service names them (kube-proxy matches by name). A configured
 * port matches a Service port whose targetPort (or, without one, port) is the same number, or
 * whose named targetPort equals the configured name.
 */
export function endpointPorts(config: ServiceConfig, service: ServiceObject): EndpointPort[] {
  return sortPorts([...namedEndpointPorts(config, service).values()]);
}

/** Each configured port (by configured name) as the endpoints publish it. */
function namedEndpointPorts(
  config: ServiceConfig,
  service: ServiceObject,
): Map<string, EndpointPort> {
  const servicePorts = service.spec?.ports ?? [];
  return new Map(config.ports.map((port) => {
    const match = servicePorts.find((candidate) =>
      (candidate.protocol ?? "TCP") === port.protocol &&
      (typeof candidate.targetPort === "string"
        ? candidate.targetPort === port.name
        : (candidate.targetPort ?? candidate.port) === port.port)
    );
    const appProtocol = port.appProtocol ?? match?.appProtocol;
    return [port.name, {
      name: match ? match.name ?? "" : port.name,
      port: port.port,
      protocol: port.protocol,
      ...(appProtocol !== undefined ? { appProtocol } : {}),
    }];
  }));
}

function sortPorts(ports: EndpointPort[]): EndpointPort[] {
  return ports.sort((a, b) => a.name.localeCompare(b.name) || a.port - b.port);
}

/** The longest object name the API accepts (a DNS subdomain). */
const MAX_NAME = 253;

/**
 * The name of the n-th (0-based) EndpointSlice of a family and port set: the full set has
 * none (`<service>-helaseid-ipv4`, `-ipv4-1`, ...), a subset its port names after a dot, or a
 * hash of them when the name would be too long.
 */
function sliceName(
  service: string,
  family: "ipv4" | "ipv6",
  index: number,
  portSet: readonly string[] | undefined,
): string {
  const base = `${service}-helaseid-${family}${index === 0 ? "" : `-${index}`}`;
  if (portSet === undefined) return base;
  const named = `${base}.${portSet.join(".")}`;
  return named.length <= MAX_NAME ? named : `${base}.h${fnv1a(portSet.join("."))}`;
}

/** FNV-1a (32 bits) in hex: a short stable digest for names. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** Endpoints grouped by the port set they are ready on; `""` is the full set, always first. */
function byPortSet(
  endpoints: readonly PublishedEndpoint[],
): Map<string, PublishedEndpoint[]> {
  const groups = new Map<string, PublishedEndpoint[]>([["", []]]);
  const subsets: [string, PublishedEndpoint][] = [];
  for (const endpoint of endpoints) {
    if (endpoint.readyPorts === undefined) groups.get("")!.push(endpoint);
    else subsets.push([endpoint.readyPorts.join("."), endpoint]);
  }
  // Sorted by key, stable within one: the endpoints keep the view's address order.
  subsets.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  for (const [key, endpoint] of subsets) {
    let group = groups.get(key);
    if (!group) groups.set(key, group = []);
    group.push(endpoint);
  }
  return groups;
}

function endpointSlices(
  config: ServiceConfig,
  view: ServiceView,
  ports: EndpointPort[],
  options: DesiredOptions,
): EndpointSliceObject[] {
  const families = new Set(config.targets.map((t) => familyOf(t.address)));
  const named = view.endpoints.some((endpoint) => endpoint.readyPorts !== undefined)
    ? namedEndpointPorts(config, options.service)
    : undefined;
  const slices: EndpointSliceObject[] = [];
  for (const family of (["ipv4", "ipv6"] as const).filter((f) => families.has(f))) {
    const groups = byPortSet(view.endpoints.filter((e) => familyOf(e.address) === family));
    for (const [key, group] of groups) {
      const portSet = key === "" ? undefined : group[0]!.readyPorts!;
      const endpoints: SliceEndpoint[] = group.map((endpoint) => ({
        addresses: [endpoint.address],
        conditions: { ready: endpoint.ready, serving: endpoint.serving, terminating: false },
        ...(endpoint.hostname !== undefined ? { hostname: endpoint.hostname } : {}),
        ...(endpoint.zone !== undefined ? { zone: endpoint.zone } : {}),
        ...(endpoint.hints !== undefined
          ? { hints: { forZones: endpoint.hints.map((name) => ({ name })) } }
          : {}),
      }));
      const slicePorts = portSet === undefined
        ? ports
        : sortPorts(portSet.map((name) => named!.get(name)!));
      // One slice per family even when empty, so that the family's slice is updated, never
      // deleted and re-created, as targets come and go.
      const chunks = Math.max(1, Math.ceil(endpoints.length / MAX_ENDPOINTS_PER_SLICE));
      for (let index = 0; index < chunks; index++) {
        slices.push({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: metadata(config, sliceName(config.name, family, index, portSet), options, {
            [LABEL_SERVICE_NAME]: config.name,
            [LABEL_MANAGED_BY]: MANAGER,
          }),
          addressType: family === "ipv4" ? "IPv4" : "IPv6",
          endpoints: endpoints.slice(
            index * MAX_ENDPOINTS_PER_SLICE,
            (index + 1) * MAX_ENDPOINTS_PER_SLICE,
          ),
          ports: slicePorts,
        });
      }
    }
  }
  return slices;
}

/**
 * The legacy Endpoints object: one subset for the full port set (ready and not-ready
 * addresses) and one per port set some addresses are ready on alone. Like the endpoints
 * controller, it keeps at most 1000 addresses, ready ones first, and marks a cut with
 * `endpoints.kubernetes.io/over-capacity: truncated` (the EndpointSlices keep every endpoint).
 */
function endpoints(
  config: ServiceConfig,
  view: ServiceView,
  ports: EndpointPort[],
  options: DesiredOptions,
): EndpointsObject {
  const address = (endpoint: ServiceView["endpoints"][number]): EndpointAddress => ({
    ip: endpoint.address,
    ...(endpoint.hostname !== undefined ? { hostname: endpoint.hostname } : {}),
  });
  const groups = [...byPortSet(view.endpoints).values()];
  const named = groups.length > 1 ? namedEndpointPorts(config, options.service) : undefined;
  let room = MAX_ENDPOINTS_ADDRESSES;
  let total = 0;
  const take = (list: EndpointAddress[]) => {
    total += list.length;
    const kept = list.slice(0, room);
    room -= kept.length;
    return kept;
  };
  // Ready addresses of every subset first, then the not-ready ones (all in the full set).
  const ready = groups.map((group) => take(group.filter((e) => e.ready).map(address)));
  const notReady = take((groups[0] ?? []).filter((e) => !e.ready).map(address));
  const subsets = groups.flatMap((group, index) => {
    const addresses = ready[index]!;
    const notReadyAddresses = index === 0 ? notReady : [];
    if (addresses.length + notReadyAddresses.length === 0) return [];
    const portSet = group[0]?.readyPorts;
    return [{
      ...(addresses.length > 0 ? { addresses } : {}),
      ...(notReadyAddresses.length > 0 ? { notReadyAddresses } : {}),
      ports: index === 0 || portSet === undefined
        ? ports
        : sortPorts(portSet.map((name) => named!.get(name)!)),
    }];
  });
  const truncated = total > MAX_ENDPOINTS_ADDRESSES;
  return {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: metadata(
      config,
      config.name,
      options,
      { [LABEL_MANAGED_BY]: MANAGER, [LABEL_SKIP_MIRROR]: "true" },
      truncated ? { [ANNOTATION_OVER_CAPACITY]: "truncated" } : {},
    ),
    subsets,
  };
}

function metadata(
  config: ServiceConfig,
  name: string,
  options: DesiredOptions,
  labels: Record<string, string>,
  extra: Record<string, string> = {},
): KubeObject["metadata"] {
  const uid = options.service.metadata.uid;
  const annotations: Record<string, string> = {
    ...(options.triggerTime !== undefined
      ? { [ANNOTATION_TRIGGER_TIME]: new Date(options.triggerTime).toISOString() }
      : {}),
    ...(options.writer
      ? {
        [ANNOTATION_WRITER]: options.writer.id,
        [ANNOTATION_CONFIG_HASH]: options.writer.configHash,
      }
      : {}),
    ...extra,
  };
  return {
    name,
    namespace: config.namespace,
    labels,
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    ...(uid
      ? {
        ownerReferences: [{
          apiVersion: "v1",
          kind: "Service",
          name: config.name,
          uid,
          // No blockOwnerDeletion: it would need update rights on services/finalizers.
          controller: true,
        }],
      }
      : {}),
  };
}

/**
 * A selector-less Service for `config`, its ports targeting the same numbers: what
 * `publish.createService` creates (headless) and what `--dry-run` assumes exists.
 */
export function serviceObject(
  config: ServiceConfig,
  options: { readonly headless?: boolean; readonly uid?: string } = {},
): ServiceObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: config.name,
      namespace: config.namespace,
      labels: { "app.kubernetes.io/managed-by": MANAGER },
      ...(options.uid ? { uid: options.uid } : {}),
    },
    spec: {
      ...(options.headless ? { clusterIP: "None" } : {}),
      ports: config.ports.map((port) => ({
        ...(port.name ? { name: port.name } : {}),
        port: port.port,
        targetPort: port.port,
        protocol: port.protocol,
        ...(port.appProtocol ? { appProtocol: port.appProtocol } : {}),
      })),
    },
  };
}

/** The address family of an IP address. */
export function familyOf(address: string): "ipv4" | "ipv6" {
  return address.includes(":") ? "ipv6" : "ipv4";
}
