/**
 * The few Kubernetes shapes HELASEID reads and writes, as plain JSON types, and the resources
 * it knows by name. Observed objects are deeply readonly: nothing may edit what the API sent.
 *
 * @module
 */

/** Object metadata, the parts HELASEID reads or sets. */
export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
  readonly deletionTimestamp?: string;
}

/** A reference from an object to its owner. */
export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

/** Any Kubernetes object. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

/** A Service as HELASEID reads it. */
export interface ServiceObject extends KubeObject {
  readonly spec?: {
    readonly selector?: Readonly<Record<string, string>>;
    readonly type?: string;
    readonly clusterIP?: string;
    readonly ports?: readonly {
      readonly name?: string;
      readonly port: number;
      readonly targetPort?: number | string;
      readonly protocol?: string;
      readonly appProtocol?: string;
    }[];
  };
}

/** An endpoint port (EndpointSlice and Endpoints share the shape). */
export interface EndpointPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly appProtocol?: string;
}

/** One endpoint of an EndpointSlice. */
export interface SliceEndpoint {
  readonly addresses: readonly string[];
  readonly conditions?: {
    readonly ready?: boolean;
    readonly serving?: boolean;
    readonly terminating?: boolean;
  };
  readonly hostname?: string;
  readonly zone?: string;
  /** Where kube-proxy should use the endpoint: `forZones` holds at most 8 zones. */
  readonly hints?: { readonly forZones?: readonly { readonly name: string }[] };
}

/** A discovery.k8s.io/v1 EndpointSlice. */
export interface EndpointSliceObject extends KubeObject {
  readonly addressType: "IPv4" | "IPv6" | "FQDN";
  readonly endpoints?: readonly SliceEndpoint[] | null;
  readonly ports?: readonly EndpointPort[] | null;
}

/** An address of a legacy Endpoints subset. */
export interface EndpointAddress {
  readonly ip: string;
  readonly hostname?: string;
}

/** A legacy v1 Endpoints object. */
export interface EndpointsObject extends KubeObject {
  readonly subsets?: readonly {
    readonly addresses?: readonly EndpointAddress[];
    readonly notReadyAddresses?: readonly EndpointAddress[];
    readonly ports?: readonly EndpointPort[];
  }[];
}

/** A v1 Node, the parts a `nodes` target source reads. */
export interface NodeObject extends KubeObject {
  readonly spec?: { readonly unschedulable?: boolean };
  readonly status?: {
    /** Typed addresses: `InternalIP`, `ExternalIP`, `Hostname`, ... */
    readonly addresses?: readonly { readonly type: string; readonly address: string }[] | null;
  };
}

/** A v1 Pod, the parts a `pods` target source reads. */
export interface PodObject extends KubeObject {
  readonly spec?: { readonly hostname?: string; readonly nodeName?: string };
  readonly status?: {
    /** `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`. */
    readonly phase?: string;
    readonly podIP?: string;
    readonly podIPs?: readonly { readonly ip: string }[] | null;
    readonly conditions?: readonly { readonly type: string; readonly status: string }[] | null;
  };
}

/** A v1 ConfigMap. */
export interface ConfigMapObject extends KubeObject {
  readonly data?: Readonly<Record<string, string>> | null;
  /** Values in base64. */
  readonly binaryData?: Readonly<Record<string, string>> | null;
}

/** The resources HELASEID reads or writes, by their plural name. */
export const RESOURCES = {
  services: { apiVersion: "v1", kind: "Service", plural: "services" },
  endpoints: { apiVersion: "v1", kind: "Endpoints", plural: "endpoints" },
  endpointslices: {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
  },
  events: { apiVersion: "events.k8s.io/v1", kind: "Event", plural: "events" },
  leases: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", plural: "leases" },
  // Read by target sources (issue 12); Nodes have no namespace.
  nodes: { apiVersion: "v1", kind: "Node", plural: "nodes", clusterScoped: true },
  pods: { apiVersion: "v1", kind: "Pod", plural: "pods" },
  configmaps: { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps" },
} as const;

/** A resource HELASEID knows. */
export type Resource = keyof typeof RESOURCES;

/** Names one object. */
export interface ObjectRef {
  readonly resource: Resource;
  readonly namespace: string;
  readonly name: string;
}

/** True for a resource without namespaces (Nodes): its `namespace` arguments are ignored. */
export function isClusterScoped(resource: Resource): boolean {
  return "clusterScoped" in RESOURCES[resource];
}

/**
 * The API path of a resource's collection in a namespace (`/api/v1/nodes` for a
 * cluster-scoped resource, whatever the namespace).
 */
export function collectionPath(resource: Resource, namespace: string): string {
  const { apiVersion, plural } = RESOURCES[resource];
  const group = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  if (isClusterScoped(resource)) return `${group}/${plural}`;
  return `${group}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
}

/** The resource of an object, from its apiVersion and kind. */
export function resourceOf(object: KubeObject): Resource {
  for (const [name, descriptor] of Object.entries(RESOURCES)) {
    if (descriptor.apiVersion === object.apiVersion && descriptor.kind === object.kind) {
      return name as Resource;
    }
  }
  throw new Error(`Cannot handle object of kind '${object.apiVersion}/${object.kind}'`);
}

/** `namespace/name`, the key of an object in a resource. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
