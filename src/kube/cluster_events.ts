/**
 * Kubernetes Events with several clusters (issue 14): each cluster has its own
 * {@linkcode EventRecorder} (Events live beside the Service they are about), and this router
 * hands each occurrence to the recorders of the clusters it concerns: a target's transition to
 * every cluster its Service is published into, a publishing state to the cluster it is from.
 *
 * @module
 */

import type { AgentListener, TargetCheck, TargetsChange, TargetTransition } from "../agent.ts";
import type { ServiceConfig } from "../config/schema.ts";
import type { PrimaryChange } from "../publish/primary_tracker.ts";
import type { PublishState } from "../publish/reconciler.ts";
import type { WriteResult } from "../publish/writer.ts";
import type { EventRecorder } from "./events.ts";

/** Options of {@linkcode ClusterEvents}. */
export interface ClusterEventsOptions {
  /** One recorder per cluster, by cluster name; the first is the default. */
  readonly recorders: ReadonlyMap<string, EventRecorder>;
  /** The clusters a Service is published into. */
  readonly clustersOf: (service: ServiceConfig) => readonly string[];
  /** The same, by `namespace/name`. */
  readonly clustersOfKey: (service: string) => readonly string[];
}

/** Routes the agent's Events to each cluster's recorder; see the module documentation. */
export class ClusterEvents implements AgentListener {
  readonly #options: ClusterEventsOptions;

  constructor(options: ClusterEventsOptions) {
    this.#options = options;
  }

  transition(event: TargetTransition): void {
    for (const recorder of this.#of(this.#options.clustersOf(event.service))) {
      recorder.transition(event);
    }
  }

  check(event: TargetCheck): void {
    for (const recorder of this.#of(this.#options.clustersOf(event.service))) {
      (recorder as AgentListener).check?.(event);
    }
  }

  write(result: WriteResult): void {
    for (const recorder of this.#of(this.#clustersOfState(result))) {
      (recorder as AgentListener).write?.(result);
    }
  }

  publishState(state: PublishState): void {
    for (const recorder of this.#of(this.#clustersOfState(state))) recorder.publishState(state);
  }

  targetsChanged(event: TargetsChange): void {
    for (const recorder of this.#of(this.#options.clustersOf(event.service))) {
      (recorder as AgentListener).targetsChanged?.(event);
    }
  }

  /** A primary changed (issue 15): to every cluster the Service is published into. */
  primaryChanged(event: PrimaryChange): void {
    for (const recorder of this.#of(this.#options.clustersOf(event.service))) {
      recorder.primaryChanged(event);
    }
  }

  /** A source's state (`service` is `namespace/name`): to every cluster of its Service. */
  sourceStatus(status: { readonly service: string }): void {
    for (const recorder of this.#of(this.#options.clustersOfKey(status.service))) {
      (recorder as { sourceStatus?(status: unknown): void }).sourceStatus?.(status);
    }
  }

  /** Stops every recorder. */
  async stop(): Promise<void> {
    await Promise.all([...this.#options.recorders.values()].map((recorder) => recorder.stop()));
  }

  #clustersOfState(state: { readonly cluster?: string; readonly service: string }): string[] {
    return state.cluster !== undefined
      ? [state.cluster]
      : [...this.#options.clustersOfKey(state.service)];
  }

  #of(names: readonly string[]): EventRecorder[] {
    return names.flatMap((name) => {
      const recorder = this.#options.recorders.get(name);
      return recorder ? [recorder] : [];
    });
  }
}
