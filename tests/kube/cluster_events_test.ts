/**
 * The Events router of several clusters (issue 14) forwards every kind of occurrence the
 * recorder takes: a method added to EventRecorder and not here would silently lose its Events
 * as soon as a second cluster is configured.
 */

import assert from "node:assert/strict";
import { ClusterEvents } from "../../src/kube/cluster_events.ts";
import { EventRecorder } from "../../src/kube/events.ts";

function methods(prototype: object): string[] {
  return Object.getOwnPropertyNames(prototype).filter((name) =>
    name !== "constructor" &&
    typeof Object.getOwnPropertyDescriptor(prototype, name)?.value === "function"
  );
}

Deno.test("cluster events: every listener method of the recorder is routed", () => {
  const routed = new Set(methods(ClusterEvents.prototype));
  // `record` is called by main with a cluster's own recorder; the rest come from listeners.
  const missing = methods(EventRecorder.prototype).filter((name) =>
    name !== "record" && !routed.has(name)
  );
  assert.deepEqual(missing, []);
});

Deno.test("cluster events: a transition goes to each cluster of its Service, a state to its own", () => {
  const seen: string[] = [];
  const recorder = (name: string) =>
    ({
      transition: () => seen.push(`${name}:transition`),
      publishState: () => seen.push(`${name}:state`),
      stop: () => Promise.resolve(),
    }) as unknown as EventRecorder;
  const router = new ClusterEvents({
    recorders: new Map([["a", recorder("a")], ["b", recorder("b")], ["c", recorder("c")]]),
    clustersOf: () => ["a", "c"],
    clustersOfKey: () => ["a", "c"],
  });
  router.transition({ service: {} } as never);
  router.publishState({ service: "ns/s", cluster: "c", writes: new Map(), failures: 0 });
  assert.deepEqual(seen, ["a:transition", "c:transition", "c:state"]);
});
