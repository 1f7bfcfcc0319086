/**
 * Property-based tests of the planner: random desired and observed object sets for one
 * Service (built by `desiredObjects` from random targets, verdicts and publish settings), with
 * the noise the API adds. Applied to an in-memory API the plan converges in one round, a second
 * plan is empty, nothing that is already right is written, and input order never changes the
 * plan. Each property has a fixed seed: a failure prints the seed and the counterexample.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ALL_DOWN_MODES,
  PUBLISH_DEFAULTS,
  type ServiceConfig,
  type Target,
  UNHEALTHY_MODES,
} from "../../src/config/mod.ts";
import { MemoryKube } from "../../src/kube/memory.ts";
import type { KubeObject, ServiceObject } from "../../src/kube/types.ts";
import { desiredObjects } from "../../src/publish/objects.ts";
import { type Action, fingerprint, planChanges } from "../../src/publish/plan.ts";
import { serviceView, type ViewStatus } from "../../src/publish/views.ts";
import { serviceConfig } from "../support/fakes.ts";

const RUNS = { numRuns: 150 } as const;

const service: ServiceObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "brokers", namespace: "datastream", uid: "uid-1" },
  spec: { ports: [{ port: 9092 }] },
};

const ADDRESSES = [
  ...Array.from({ length: 12 }, (_, i) => `192.0.2.${i + 1}`),
  ...Array.from({ length: 6 }, (_, i) => `2001:db8::${i + 1}`),
];
const STATUSES: readonly ViewStatus[] = ["healthy", "unhealthy", "unknown", "failing"];

/** One Service's configuration and the verdict of each of its targets. */
interface World {
  readonly config: ServiceConfig;
  readonly status: ReadonlyMap<string, ViewStatus>;
  readonly trigger: number;
}

const targetArb = fc.record({
  address: fc.constantFrom(...ADDRESSES),
  zone: fc.option(fc.constantFrom("zone-a", "zone-b"), { nil: undefined }),
  hostname: fc.option(fc.constantFrom("broker-1", "broker-2"), { nil: undefined }),
}).map(({ address, zone, hostname }): Target => ({
  address,
  ...(zone === undefined ? {} : { zone }),
  ...(hostname === undefined ? {} : { hostname }),
}));

const worldArb: fc.Arbitrary<World> = fc.record({
  targets: fc.uniqueArray(targetArb, { minLength: 1, maxLength: 10, selector: (t) => t.address }),
  statuses: fc.array(fc.constantFrom(...STATUSES), { minLength: 10, maxLength: 10 }),
  endpointSlices: fc.boolean(),
  endpoints: fc.boolean(),
  unhealthy: fc.constantFrom(...UNHEALTHY_MODES),
  allDown: fc.constantFrom(...ALL_DOWN_MODES),
  trigger: fc.integer({ min: 1, max: 2 ** 40 }),
}).map((w) => ({
  config: serviceConfig(w.targets, {
    publish: {
      ...PUBLISH_DEFAULTS,
      endpointSlices: w.endpointSlices,
      endpoints: w.endpoints,
      unhealthy: w.unhealthy,
      allDown: w.allDown,
    },
  }),
  status: new Map(w.targets.map((t, i) => [t.address, w.statuses[i]!])),
  trigger: w.trigger,
}));

function objectsOf(world: World, targets = world.config.targets): KubeObject[] {
  const config = { ...world.config, targets };
  const view = serviceView(config, (a) => world.status.get(a) ?? "unknown", new Map());
  return desiredObjects(config, view, { service, triggerTime: world.trigger });
}

function identity(object: KubeObject): string {
  return `${object.kind}:${object.metadata.namespace}/${object.metadata.name}`;
}

/** What the API hands back: server fields, another manager's label, lists in another order. */
function asObserved(object: KubeObject, i: number): KubeObject {
  const copy = structuredClone(object) as KubeObject & {
    endpoints?: { addresses: string[] }[];
    subsets?: { addresses?: unknown[]; notReadyAddresses?: unknown[] }[];
  };
  copy.endpoints?.reverse();
  for (const subset of copy.subsets ?? []) {
    subset.addresses?.reverse();
    subset.notReadyAddresses?.reverse();
  }
  return {
    ...copy,
    metadata: {
      ...copy.metadata,
      resourceVersion: String(100 + i),
      uid: `obj-${i}`,
      labels: { ...copy.metadata.labels, team: "someone-else" },
      annotations: {
        ...copy.metadata.annotations,
        "endpoints.kubernetes.io/last-change-trigger-time": "2020-01-01T00:00:00Z",
      },
      managedFields: [{ manager: "helaseid" }],
    },
  } as KubeObject;
}

/** Where each observed object comes from: the desired one, a stale one, or nowhere. */
type Source = "desired" | "stale" | "absent";

interface Scenario {
  readonly desired: KubeObject[];
  readonly observed: KubeObject[];
  readonly sources: ReadonlyMap<string, Source>;
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  now: worldArb,
  before: worldArb,
  choices: fc.array(fc.constantFrom<Source>("desired", "stale", "absent"), {
    minLength: 8,
    maxLength: 8,
  }),
}).map(({ now, before, choices }) => {
  const desired = objectsOf(now);
  const stale = new Map(objectsOf(before).map((o) => [identity(o), o]));
  const wanted = new Map(desired.map((o) => [identity(o), o]));
  const ids = [...new Set([...wanted.keys(), ...stale.keys()])].sort();
  const sources = new Map<string, Source>();
  const observed: KubeObject[] = [];
  ids.forEach((id, i) => {
    let source = choices[i % choices.length]!;
    if (source === "desired" && !wanted.has(id)) source = "absent";
    if (source === "stale" && !stale.has(id)) source = "absent";
    sources.set(id, source);
    const object = source === "desired" ? wanted.get(id) : stale.get(id);
    if (source !== "absent") observed.push(asObserved(object!, i));
  });
  return { desired, observed, sources };
});

async function applyPlan(kube: MemoryKube, actions: readonly Action[]): Promise<void> {
  for (const action of actions) {
    if (action.type === "apply") await kube.apply(action.object);
    else await kube.delete(action.ref);
  }
}

async function stored(kube: MemoryKube): Promise<KubeObject[]> {
  const slices = await kube.list("endpointslices", "datastream");
  const endpoints = await kube.list("endpoints", "datastream");
  return [...slices.items, ...endpoints.items];
}

function actionKey(action: Action): string {
  return action.type === "apply"
    ? `apply ${identity(action.object)} ${action.reason} ${JSON.stringify(action.object)}`
    : `delete ${action.ref.resource} ${action.ref.namespace}/${action.ref.name}`;
}

Deno.test("fuzz plan: applied to the API, the plan makes observed equal desired; again is empty", async () => {
  await fc.assert(
    fc.asyncProperty(scenarioArb, async ({ desired, observed }) => {
      const kube = new MemoryKube();
      for (const object of observed) kube.seed(object);
      await applyPlan(kube, planChanges(desired, observed));
      const after = await stored(kube);
      assert.deepEqual(after.map(identity).sort(), desired.map(identity).sort());
      for (const object of desired) {
        const found = after.find((o) => identity(o) === identity(object))!;
        assert.equal(fingerprint(found, object), fingerprint(object, object));
      }
      assert.deepEqual(planChanges(desired, after), []);
      // Applying the same plan a second time leaves the same contents.
      await applyPlan(kube, planChanges(desired, observed));
      assert.deepEqual(planChanges(desired, await stored(kube)), []);
    }),
    { ...RUNS, seed: 1611 },
  );
});

Deno.test("fuzz plan: nothing already right is written; missing applied, unwanted deleted", () => {
  fc.assert(
    fc.property(scenarioArb, ({ desired, observed, sources }) => {
      const actions = planChanges(desired, observed);
      const wanted = new Set(desired.map(identity));
      const touched = new Map<string, Action>();
      for (const action of actions) {
        const id = action.type === "apply"
          ? identity(action.object)
          : `${
            action.ref.resource === "endpointslices" ? "EndpointSlice" : "Endpoints"
          }:${action.ref.namespace}/${action.ref.name}`;
        assert.ok(!touched.has(id), `two actions for ${id}`);
        touched.set(id, action);
      }
      for (const [id, source] of sources) {
        const action = touched.get(id);
        if (source === "desired") assert.equal(action, undefined, `wrote unchanged ${id}`);
        else if (source === "absent") {
          const expected = wanted.has(id) ? "missing" : undefined;
          assert.equal(action?.type === "apply" ? action.reason : action?.type, expected, id);
        } else if (!wanted.has(id)) assert.equal(action?.type, "delete", id);
        else if (action !== undefined) {
          assert.equal(action.type === "apply" && action.reason, "changed", id);
        }
      }
    }),
    { ...RUNS, seed: 1612 },
  );
});

Deno.test("fuzz plan: the order of desired, observed and targets does not change the plan", () => {
  fc.assert(
    fc.property(
      scenarioArb,
      worldArb,
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      ({ desired, observed }, world, salt) => {
        const shuffle = <T>(items: readonly T[]): T[] =>
          items.map((item, i) => [item, (i * 7919 + salt) % 104729] as const)
            .sort((a, b) => a[1] - b[1]).map(([item]) => item);
        const plan = planChanges(desired, observed).map(actionKey).sort();
        assert.deepEqual(
          planChanges(shuffle(desired), shuffle(observed).reverse()).map(actionKey).sort(),
          plan,
        );
        // Targets listed in another order give the same objects and so the same plan.
        const reordered = objectsOf(world, shuffle(world.config.targets).reverse());
        const objects = objectsOf(world);
        assert.deepEqual(
          reordered.map((o) => JSON.stringify(o)),
          objects.map((o) => JSON.stringify(o)),
        );
        assert.deepEqual(planChanges(reordered, objects.map(asObserved)), []);
      },
    ),
    { ...RUNS, seed: 1613 },
  );
});
