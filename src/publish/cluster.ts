/**
 * One cluster the agent publishes into (issue 14): its own object store (lists and watches),
 * reconciler (plans, writer queue, retries, repair, conflicts) and Lease view. The agent probes
 * once and tells every cluster that publishes a Service; nothing here waits for another
 * cluster, so an API server that is down or refusing in one cluster delays no other.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";
import type { Clock } from "../health/scheduler.ts";
import type { KubeClient } from "../kube/client.ts";
import { ObjectStore } from "../kube/store.ts";
import type { Logger } from "../observe/log.ts";
import type { LeaseView } from "./ownership_loop.ts";
import { type HealthSource, type PublishState, Reconciler } from "./reconciler.ts";
import type { WriteResult } from "./writer.ts";

/** Whether `service` is published into the cluster `name` (`isDefault`: the first cluster). */
export function publishesInto(service: ServiceConfig, name: string, isDefault: boolean): boolean {
  return service.clusters === undefined ? isDefault : service.clusters.includes(name);
}

/** Options of {@linkcode ClusterPublisher}. */
export interface ClusterPublisherOptions {
  /** The cluster's name (`clusters[].name`, else the client's context). */
  readonly name: string;
  /** Whether it is the first cluster, where Services without `clusters` are published. */
  readonly isDefault: boolean;
  readonly client: KubeClient;
  /** With Leases: which Services this replica may write in this cluster. */
  readonly ownership?: LeaseView;
  /** Every configured Service (those published here are picked out). */
  readonly services: readonly ServiceConfig[];
  readonly health: HealthSource;
  readonly clock: Clock;
  readonly log: Logger;
  readonly coalesce?: number;
  readonly writer?: string;
  /** Every write attempted here, with the cluster's name. */
  readonly onWrite: (result: WriteResult & { readonly cluster: string }) => void;
  /** Every publish state change here, with the cluster's name. */
  readonly onState: (state: PublishState & { readonly cluster: string }) => void;
}

/** The store and reconciler of one cluster. */
export class ClusterPublisher {
  readonly name: string;
  readonly isDefault: boolean;
  readonly ownership?: LeaseView;
  readonly store: ObjectStore;
  readonly reconciler: Reconciler;

  constructor(options: ClusterPublisherOptions) {
    const { name, clock, ownership } = options;
    this.name = name;
    this.isDefault = options.isDefault;
    if (ownership) this.ownership = ownership;
    const services = options.services.filter((service) => this.has(service));
    this.store = new ObjectStore({
      client: options.client,
      clock,
      log: options.log.with({ component: "store", cluster: name }),
      onChange: (change) => this.reconciler.storeChanged(change),
      onFailure: (resource, namespace) => this.reconciler.storeFailed(resource, namespace),
    });
    this.reconciler = new Reconciler({
      services,
      health: options.health,
      client: options.client,
      store: this.store,
      clock,
      log: options.log.with({ component: "publisher", cluster: name }),
      coalesce: options.coalesce,
      writer: options.writer,
      mayWrite: ownership && ((service) => ownership.mayWrite(service)),
      onWrite: (result) => options.onWrite({ ...result, cluster: name }),
      onState: (state) => options.onState({ ...state, cluster: name }),
    });
    Reconciler.track(this.store, services);
  }

  /** Whether `service` is published into this cluster. */
  has(service: ServiceConfig): boolean {
    return publishesInto(service, this.name, this.isDefault);
  }

  /** Takes a new set of Services: those published here, as a diff. */
  reconfigure(
    services: readonly ServiceConfig[],
    options: { readonly removed?: "keep" | "delete" },
  ): Promise<void> {
    return this.reconciler.reconfigure(services.filter((service) => this.has(service)), options);
  }

  /** Stops the reconciler (writes in flight finish), then the watches. */
  async stop(): Promise<void> {
    await this.reconciler.stop();
    await this.store.stop();
  }
}
