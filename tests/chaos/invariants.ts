/**
 * The chaos run's invariants as pure functions of what was done and what a client sees: the
 * view of a Service (ready addresses in its EndpointSlices, as DNS serves them, and in its
 * legacy Endpoints), the view it should show given the targets' states, and the latest time by
 * which a dead target must have left the ready addresses.
 *
 * @module
 */

/** What a client sees of one Service. */
export interface ServiceView {
  /** Ready addresses of every EndpointSlice of the Service (what DNS would resolve). */
  readonly sliceReady: ReadonlySet<string>;
  /** Addresses listed not ready in its EndpointSlices. */
  readonly sliceNotReady: ReadonlySet<string>;
  /** `subsets[].addresses` of its Endpoints object (undefined while there is none). */
  readonly endpointsReady?: ReadonlySet<string>;
  /** `subsets[].notReadyAddresses` of its Endpoints object. */
  readonly endpointsNotReady?: ReadonlySet<string>;
}

/** An API object as parsed JSON. */
// deno-lint-ignore no-explicit-any
export type Json = any;

/**
 * The view of Service `service` from the EndpointSlices and Endpoints objects of its namespace
 * (slices are matched by their `kubernetes.io/service-name` label, Endpoints by name). An
 * endpoint whose `ready` is absent counts as ready, as the API documents.
 */
export function serviceView(
  service: string,
  slices: Iterable<Json>,
  endpoints: Iterable<Json>,
): ServiceView {
  const sliceReady = new Set<string>();
  const sliceNotReady = new Set<string>();
  for (const slice of slices) {
    if (slice?.metadata?.labels?.["kubernetes.io/service-name"] !== service) continue;
    for (const endpoint of slice.endpoints ?? []) {
      const into = endpoint.conditions?.ready === false ? sliceNotReady : sliceReady;
      for (const address of endpoint.addresses ?? []) into.add(address);
    }
  }
  const object = [...endpoints].find((e) => e?.metadata?.name === service);
  if (object === undefined) return { sliceReady, sliceNotReady };
  const endpointsReady = new Set<string>();
  const endpointsNotReady = new Set<string>();
  for (const subset of object.subsets ?? []) {
    for (const a of subset.addresses ?? []) endpointsReady.add(a.ip);
    for (const a of subset.notReadyAddresses ?? []) endpointsNotReady.add(a.ip);
  }
  return { sliceReady, sliceNotReady, endpointsReady, endpointsNotReady };
}

/** Whether two sets hold the same items. */
export function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

/** The sorted items of a set, for messages. */
export function listed(set: ReadonlySet<string> | undefined): string {
  return set === undefined ? "(none)" : `[${[...set].sort().join(" ")}]`;
}

/** Whether the slices and the legacy Endpoints say the same (ready and not-ready alike). */
export function agree(view: ServiceView): boolean {
  return view.endpointsReady !== undefined && view.endpointsNotReady !== undefined &&
    sameSet(view.sliceReady, view.endpointsReady) &&
    sameSet(view.sliceNotReady, view.endpointsNotReady);
}

/**
 * The ready addresses a Service should show when each of `alive` says whether that target
 * answers: the live ones; with none alive, every one under `allDown: publishAll` (the panic
 * guard) and none under `empty`.
 */
export function expectedReady(
  alive: ReadonlyMap<string, boolean>,
  allDown: "publishAll" | "empty",
): Set<string> {
  const up = [...alive].filter(([, ok]) => ok).map(([address]) => address);
  if (up.length > 0) return new Set(up);
  return allDown === "publishAll" ? new Set(alive.keys()) : new Set();
}

/** Whether the view shows exactly `expected` as ready, in the slices and in the Endpoints. */
export function viewCorrect(view: ServiceView, expected: ReadonlySet<string>): boolean {
  return sameSet(view.sliceReady, expected) && agree(view);
}

/** A time when publishing could not work (API server down or hung, an agent stopped). */
export interface Disruption {
  readonly start: number;
  /** When it ended; undefined while it lasts. */
  readonly end?: number;
  /** How long after its end the agents may still need to catch up, ms. */
  readonly allowanceMs: number;
}

/**
 * The time by which a target dead since `deadSince` must have left the ready addresses:
 * `deadSince + detectMs`, pushed to `end + allowanceMs` by every disruption that began before
 * that time (repeatedly, as one push may reach into the next disruption). Undefined while a
 * disruption that matters still lasts: no deadline yet.
 */
export function readyDeadline(
  deadSince: number,
  detectMs: number,
  disruptions: readonly Disruption[],
): number | undefined {
  let deadline = deadSince + detectMs;
  const sorted = [...disruptions].sort((a, b) => a.start - b.start);
  for (const d of sorted) {
    if (d.start >= deadline) break;
    if (d.end === undefined) return undefined;
    if (d.end + d.allowanceMs <= deadSince) continue;
    deadline = Math.max(deadline, d.end + d.allowanceMs);
  }
  return deadline;
}
