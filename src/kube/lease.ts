/**
 * Leases (`coordination.k8s.io/v1`) as HELASEID's ownership uses them: read, create and update
 * with the API's optimistic concurrency. An update carries the `resourceVersion` it was read
 * at, so two replicas that both try to take a Lease cannot both succeed: the second gets 409
 * and must read again (client-go's `resourcelock/leaselock.go` does the same).
 *
 * @module
 */

import type { KubeClient } from "./client.ts";
import type { KubeObject, OwnerReference } from "./types.ts";

/** The parts of a Lease's spec an election reads and writes (times in epoch ms). */
export interface LeaseRecord {
  /** Who holds it; empty when released. */
  readonly holder: string;
  /** How long a holder's claim lasts after it was last seen renewed, in seconds. */
  readonly durationSeconds: number;
  readonly acquireTime?: number;
  readonly renewTime?: number;
  /** How many times the holder changed. */
  readonly transitions: number;
}

/** A Lease as read: its record and the version an update must name. */
export interface ObservedLease {
  readonly namespace: string;
  readonly name: string;
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The object as read: an update keeps everything of it but the record. */
  readonly object: KubeObject;
}

/** Metadata of a Lease created: labels to find it by, an owner to delete it with. */
export interface LeaseMeta {
  readonly labels?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
}

/** A Lease object as the API shows it. */
interface LeaseObject extends KubeObject {
  readonly spec?: {
    readonly holderIdentity?: string | null;
    readonly leaseDurationSeconds?: number | null;
    readonly acquireTime?: string | null;
    readonly renewTime?: string | null;
    readonly leaseTransitions?: number | null;
  };
}

/** Reads and writes Leases through a {@linkcode KubeClient}. Every method may throw `KubeError`. */
export class LeaseClient {
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /** The Lease, or undefined when it does not exist. */
  async get(namespace: string, name: string): Promise<ObservedLease | undefined> {
    const object = await this.#client.read({ resource: "leases", namespace, name });
    return object && observedLease(object);
  }

  /** Every Lease of a namespace carrying the label selector (`a=b`). */
  async list(namespace: string, labelSelector: string): Promise<ObservedLease[]> {
    const { items } = await this.#client.list("leases", namespace, labelSelector);
    return items.map(observedLease);
  }

  /** Creates the Lease; fails with 409 when it exists. */
  async create(
    namespace: string,
    name: string,
    record: LeaseRecord,
    meta: LeaseMeta = {},
  ): Promise<ObservedLease> {
    return observedLease(await this.#client.create(leaseObject(namespace, name, record, meta)));
  }

  /**
   * Writes `record` over the Lease as read, keeping the rest of the object (labels, owners,
   * other fields); fails with 409 when it changed since.
   */
  async update(read: ObservedLease, record: LeaseRecord): Promise<ObservedLease> {
    const spec = (read.object as LeaseObject).spec ?? {};
    const replaced = await this.#client.replace({
      ...read.object,
      metadata: { ...read.object.metadata, resourceVersion: read.resourceVersion },
      spec: { ...spec, ...leaseSpec(record) },
    });
    return observedLease(replaced);
  }
}

/** The Lease object of a record. */
export function leaseObject(
  namespace: string,
  name: string,
  record: LeaseRecord,
  meta: LeaseMeta = {},
): KubeObject {
  const { labels = {}, ownerReferences = [] } = meta;
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name,
      namespace,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(ownerReferences.length > 0 ? { ownerReferences } : {}),
    },
    spec: leaseSpec(record),
  };
}

/** The spec fields of a record. */
function leaseSpec(record: LeaseRecord): Record<string, unknown> {
  return {
    holderIdentity: record.holder,
    leaseDurationSeconds: record.durationSeconds,
    ...(record.acquireTime !== undefined
      ? { acquireTime: formatMicroTime(record.acquireTime) }
      : {}),
    ...(record.renewTime !== undefined ? { renewTime: formatMicroTime(record.renewTime) } : {}),
    leaseTransitions: record.transitions,
  };
}

/** A Lease object as read. */
export function observedLease(object: KubeObject): ObservedLease {
  const spec = (object as LeaseObject).spec ?? {};
  const acquireTime = parseMicroTime(spec.acquireTime);
  const renewTime = parseMicroTime(spec.renewTime);
  return {
    namespace: object.metadata.namespace ?? "",
    name: object.metadata.name,
    resourceVersion: object.metadata.resourceVersion ?? "",
    labels: object.metadata.labels ?? {},
    object,
    record: {
      holder: spec.holderIdentity ?? "",
      durationSeconds: spec.leaseDurationSeconds ?? 0,
      ...(acquireTime !== undefined ? { acquireTime } : {}),
      ...(renewTime !== undefined ? { renewTime } : {}),
      transitions: spec.leaseTransitions ?? 0,
    },
  };
}

/** A `MicroTime` (RFC 3339 with six fractional digits, UTC), as Lease times are written. */
export function formatMicroTime(ms: number): string {
  const iso = new Date(Math.floor(ms)).toISOString(); // 2026-12-03T08:30:00.123Z
  const micros = String(Math.floor((ms % 1) * 1000)).padStart(3, "0");
  return `${iso.slice(0, 23)}${micros}Z`;
}

/** Epoch ms of a `MicroTime` (or any RFC 3339 time); undefined when absent or unreadable. */
export function parseMicroTime(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  const fraction = match[2] ? Number(`0.${match[2]}`) * 1000 : 0;
  return seconds + fraction;
}
