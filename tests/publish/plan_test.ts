import assert from "node:assert/strict";
import type { EndpointSliceObject, KubeObject, ServiceObject } from "../../src/kube/types.ts";
import { desiredObjects } from "../../src/publish/objects.ts";
import { planChanges } from "../../src/publish/plan.ts";
import { serviceView } from "../../src/publish/views.ts";
import { serviceConfig } from "../support/fakes.ts";

const service: ServiceObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "brokers", namespace: "datastream", uid: "uid-1" },
  spec: { ports: [{ port: 9092 }] },
};

function desired(addresses: string[], down: string[] = [], trigger = 1) {
  const config = serviceConfig(addresses);
  const view = serviceView(
    config,
    (a) => down.includes(a) ? "unhealthy" : "healthy",
    new Map(),
  );
  return desiredObjects(config, view, { service, triggerTime: trigger });
}

/** What the API would hand back: server fields added, lists in another order. */
function asObserved(objects: KubeObject[]): KubeObject[] {
  return structuredClone(objects).reverse().map((object, i) => {
    const copy = structuredClone(object) as Record<string, unknown> & KubeObject;
    const metadata = {
      ...object.metadata,
      resourceVersion: String(100 + i),
      uid: `obj-${i}`,
      labels: { ...object.metadata.labels, "team": "someone-else" },
      annotations: {
        ...object.metadata.annotations,
        "endpoints.kubernetes.io/last-change-trigger-time": "2020-01-01T00:00:00Z",
      },
      managedFields: [{ manager: "helaseid" }],
    };
    if (object.kind === "EndpointSlice") {
      const slice = copy as unknown as { endpoints: unknown[] };
      slice.endpoints = [...slice.endpoints].reverse();
    }
    return { ...copy, metadata };
  });
}

Deno.test("plan: steady state gives an empty plan", () => {
  const objects = desired(["192.0.2.1", "192.0.2.2", "192.0.2.3"], ["192.0.2.2"]);
  assert.deepEqual(planChanges(objects, asObserved(objects)), []);
});

Deno.test("plan: reordered targets give an empty plan", () => {
  const one = desired(["192.0.2.1", "192.0.2.2", "192.0.2.3"], ["192.0.2.3"]);
  const other = desired(["192.0.2.3", "192.0.2.1", "192.0.2.2"], ["192.0.2.3"], 99);
  assert.deepEqual(planChanges(other, asObserved(one)), []);
});

Deno.test("plan: a changed readiness applies exactly the objects that changed", () => {
  const before = desired(["192.0.2.1", "192.0.2.2", "2001:db8::1"]);
  const after = desired(["192.0.2.1", "192.0.2.2", "2001:db8::1"], ["192.0.2.2"]);
  const actions = planChanges(after, asObserved(before));
  assert.deepEqual(
    actions.map((a) =>
      a.type === "apply" ? [a.type, a.object.kind, a.object.metadata.name, a.reason] : a
    ),
    [
      ["apply", "EndpointSlice", "brokers-helaseid-ipv4", "changed"],
      ["apply", "Endpoints", "brokers", "changed"],
    ],
  );
});

Deno.test("plan: missing objects are applied, unwanted owned ones deleted", () => {
  const before = desired(["192.0.2.1", "2001:db8::1"]);
  const after = desired(["192.0.2.1"]);
  const observed = asObserved(before).filter((o) => o.kind !== "Endpoints");
  const actions = planChanges(after, observed);
  assert.deepEqual(
    actions.map((a) =>
      a.type === "apply"
        ? `apply ${a.object.kind} ${a.reason}`
        : `delete ${a.ref.resource} ${a.ref.name}`
    ),
    [
      "apply Endpoints missing",
      "delete endpointslices brokers-helaseid-ipv6",
    ],
  );
});

Deno.test("plan: someone else's edit of our slice is seen as a change (repair)", () => {
  const objects = desired(["192.0.2.1", "192.0.2.2"], ["192.0.2.2"]);
  const observed = asObserved(objects);
  const slice = observed.find((o) => o.kind === "EndpointSlice") as EndpointSliceObject;
  const edited = {
    ...slice,
    endpoints: slice.endpoints!.map((e) => ({ ...e, conditions: { ready: true, serving: true } })),
  };
  const actions = planChanges(objects, observed.map((o) => o === slice ? edited : o));
  assert.equal(actions.length, 1);
  assert.equal(actions[0]!.type === "apply" && actions[0]!.reason, "changed");
});

Deno.test("plan: a removed managed-by label on our object makes us apply it again", () => {
  const objects = desired(["192.0.2.1"]);
  const observed = asObserved(objects).map((o) => ({
    ...o,
    metadata: { ...o.metadata, labels: { "kubernetes.io/service-name": "brokers" } },
  }));
  assert.equal(planChanges(objects, observed).filter((a) => a.type === "apply").length, 2);
});

Deno.test("plan: the planner never modifies its inputs", () => {
  const objects = desired(["192.0.2.1", "192.0.2.2"], ["192.0.2.1"]);
  const observed = asObserved(desired(["192.0.2.1", "192.0.2.2", "2001:db8::1"]));
  const deepFreeze = (value: unknown): void => {
    if (value && typeof value === "object") {
      Object.freeze(value);
      for (const inner of Object.values(value)) deepFreeze(inner);
    }
  };
  const snapshot = structuredClone([objects, observed]);
  deepFreeze(objects);
  deepFreeze(observed);
  planChanges(objects, observed);
  assert.deepEqual([objects, observed], snapshot);
});

Deno.test("plan: who wrote an object and with which configuration is not a change", () => {
  const config = serviceConfig(["192.0.2.1", "192.0.2.2"]);
  const view = serviceView(config, () => "healthy", new Map());
  const ours = desiredObjects(config, view, {
    service,
    writer: { id: "pod-new/1", configHash: "aaaaaaaaaaaaaaaa" },
  });
  const theirs = desiredObjects(config, view, {
    service,
    triggerTime: 5,
    writer: { id: "pod-old/1", configHash: "bbbbbbbbbbbbbbbb" },
  });
  assert.deepEqual(planChanges(ours, theirs), []);
  const fewer = serviceConfig(["192.0.2.1"]);
  const changed = desiredObjects(fewer, serviceView(fewer, () => "healthy", new Map()), {
    service,
    writer: { id: "pod-new/1", configHash: "aaaaaaaaaaaaaaaa" },
  });
  assert.deepEqual(
    planChanges(changed, theirs).map((a) => a.type === "apply" ? a.object.kind : a.type),
    ["EndpointSlice", "Endpoints"],
    "a real change is written, with the new writer",
  );
});
