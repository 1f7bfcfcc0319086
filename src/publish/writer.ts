/**
 * The writer executes a plan, and nothing else: server-side apply or delete through the
 * {@linkcode KubeClient}, recording each result in the store so the next plan sees it. Each
 * action's failure is collected, not fatal (the EndpointSlice reconciler's way): the other
 * writes of the plan still happen.
 *
 * @module
 */

import type { Clock } from "../health/scheduler.ts";
import type { KubeClient } from "../kube/client.ts";
import type { ObjectStore } from "../kube/store.ts";
import { resourceOf, RESOURCES } from "../kube/types.ts";
import type { Action } from "./plan.ts";

/** The outcome of one write. */
export interface WriteResult {
  readonly service: string;
  /** The cluster written to (issue 14), set by the agent for its listeners. */
  readonly cluster?: string;
  readonly verb: "apply" | "delete";
  readonly reason: Action["reason"];
  readonly resource: string;
  readonly kind: string;
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
  /** HTTP status of a failure (0 when the server was not reached). */
  readonly status?: number;
  /** When the write was acknowledged (or failed), epoch ms. */
  readonly at: number;
  /** How long the API call took, ms. */
  readonly duration: number;
  /** From the probe result behind the change to the acknowledgement, ms (when known). */
  readonly latency?: number;
}

/** Options of {@linkcode executePlan}. */
export interface ExecuteOptions {
  readonly client: KubeClient;
  readonly store: ObjectStore;
  readonly clock: Clock;
  /** `namespace/name` of the Service, for the results. */
  readonly service: string;
  /** Epoch ms of the probe result behind this plan, to measure publish latency. */
  readonly trigger?: number;
}

/**
 * Runs a plan and reports each outcome: the EndpointSlice writes first, concurrently, then
 * the others (legacy Endpoints). Slices are what kube-proxy and CoreDNS read; on a small API
 * server the Endpoints write would only slow them down.
 */
export async function executePlan(
  actions: readonly Action[],
  options: ExecuteOptions,
): Promise<WriteResult[]> {
  const isSlice = (action: Action) =>
    action.type === "apply"
      ? action.object.kind === "EndpointSlice"
      : action.ref.resource === "endpointslices";
  const first = await Promise.all(
    actions.filter(isSlice).map((action) => execute(action, options)),
  );
  const rest = await Promise.all(
    actions.filter((action) => !isSlice(action)).map((action) => execute(action, options)),
  );
  return [...first, ...rest];
}

async function execute(action: Action, options: ExecuteOptions): Promise<WriteResult> {
  const { client, store, clock } = options;
  const started = clock.now();
  const target = action.type === "apply"
    ? {
      resource: resourceOf(action.object),
      kind: action.object.kind,
      name: action.object.metadata.name,
    }
    : {
      resource: action.ref.resource,
      kind: RESOURCES[action.ref.resource].kind,
      name: action.ref.name,
    };
  const base = { service: options.service, verb: action.type, reason: action.reason, ...target };
  try {
    if (action.type === "apply") {
      store.record(target.resource, await client.apply(action.object));
    } else {
      await client.delete(action.ref);
      store.forget(action.ref.resource, action.ref.namespace, action.ref.name);
    }
    const at = clock.now();
    return {
      ...base,
      ok: true,
      at,
      duration: at - started,
      ...(options.trigger !== undefined ? { latency: at - options.trigger } : {}),
    };
  } catch (error) {
    const at = clock.now();
    const status = (error as { status?: number }).status;
    return {
      ...base,
      ok: false,
      error: error instanceof Error ? error.message : String(error),
      ...(typeof status === "number" ? { status } : {}),
      at,
      duration: at - started,
    };
  }
}
