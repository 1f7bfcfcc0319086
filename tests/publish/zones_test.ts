import assert from "node:assert/strict";
import type { Target, ZoneSettings } from "../../src/config/schema.ts";
import { desiredObjects, serviceObject } from "../../src/publish/objects.ts";
import { planChanges } from "../../src/publish/plan.ts";
import { serviceView, type ViewStatus } from "../../src/publish/views.ts";
import { MAX_HINT_ZONES, planZones, type ZoneEndpoint } from "../../src/publish/zones.ts";
import { serviceConfig } from "../support/fakes.ts";

/** Three zones of one region, `n` targets each: a1..an in `a`, b1.. in `b`, c1.. in `c`. */
function threeZones(n: number): Target[] {
  return ["a", "b", "c"].flatMap((zone, z) =>
    Array.from({ length: n }, (_, i) => ({
      address: `192.0.2.${z * 10 + i + 1}`,
      zone,
      region: "eu",
    }))
  );
}

/** Endpoints of `targets`, ready unless their address is in `down`. */
function endpoints(targets: readonly Target[], down: readonly string[] = []): ZoneEndpoint[] {
  return targets.map((t) => ({
    address: t.address,
    ready: !down.includes(t.address),
    zone: t.zone,
  }));
}

const ROUTING = { preferences: {}, overprovisioning: 1.4 };

Deno.test("zones: healthy zones serve only themselves", () => {
  const targets = threeZones(2);
  const plan = planZones(targets, endpoints(targets), ROUTING);
  assert.deepEqual(Object.fromEntries(plan.serving), { a: ["a"], b: ["b"], c: ["c"] });
  assert.deepEqual(plan.hints?.get("192.0.2.1"), ["a"]);
  assert.deepEqual(plan.hints?.get("192.0.2.21"), ["c"]);
  assert.equal(plan.off, undefined);
});

Deno.test("zones: a dead zone borrows its first preferred zone; its endpoints list both zones", () => {
  const targets = threeZones(2);
  const plan = planZones(targets, endpoints(targets, ["192.0.2.1", "192.0.2.2"]), {
    preferences: { a: ["c", "b"] },
    overprovisioning: 1.4,
  });
  assert.deepEqual(plan.serving.get("a"), ["c"]);
  assert.deepEqual(plan.hints?.get("192.0.2.21"), ["a", "c"]);
  assert.deepEqual(plan.hints?.get("192.0.2.11"), ["b"]);
  // Not-ready endpoints carry no hints: kube-proxy looks only at ready ones.
  assert.equal(plan.hints?.has("192.0.2.1"), false);
});

Deno.test("zones: overprovisioning 1.4 keeps a zone at 3 of 4 ready, borrows at 2 of 4 (Envoy's rule)", () => {
  const targets = threeZones(4);
  const three = planZones(targets, endpoints(targets, ["192.0.2.1"]), ROUTING);
  assert.deepEqual(three.serving.get("a"), ["a"]); // 0.75 × 1.4 = 1.05
  const two = planZones(targets, endpoints(targets, ["192.0.2.1", "192.0.2.2"]), ROUTING);
  assert.deepEqual(two.serving.get("a"), ["a", "b"]); // 0.5 × 1.4 = 0.7: borrows, by name
  const strict = planZones(targets, endpoints(targets, ["192.0.2.1"]), {
    preferences: {},
    overprovisioning: 1,
  });
  assert.deepEqual(strict.serving.get("a"), ["a", "b"]);
});

Deno.test("zones: borrowing goes on down the preference list until the sum suffices", () => {
  const targets = threeZones(2);
  // a dead, c (first preference) half dead: c's one ready target is not enough for a's two.
  const plan = planZones(targets, endpoints(targets, ["192.0.2.1", "192.0.2.2", "192.0.2.21"]), {
    preferences: { a: ["c", "b"] },
    overprovisioning: 1.4,
  });
  assert.deepEqual(plan.serving.get("a"), ["c", "b"]);
  // c itself is short too (1 of 2 ready): it borrows b.
  assert.deepEqual(plan.serving.get("c"), ["c", "b"]);
  assert.deepEqual(plan.hints?.get("192.0.2.11"), ["a", "b", "c"]);
});

Deno.test("zones: without a preference, the same region comes before other regions", () => {
  const targets: Target[] = [
    { address: "192.0.2.1", zone: "eu-a", region: "eu" },
    { address: "192.0.2.2", zone: "aa-us", region: "us" },
    { address: "192.0.2.3", zone: "eu-b", region: "eu" },
  ];
  const plan = planZones(targets, endpoints(targets, ["192.0.2.1"]), ROUTING);
  assert.deepEqual(plan.serving.get("eu-a"), ["eu-b"]);
});

Deno.test("zones: a zone is never left with nothing while any endpoint is ready", () => {
  const targets = threeZones(1);
  for (const down of [["192.0.2.1"], ["192.0.2.1", "192.0.2.11"], ["192.0.2.11", "192.0.2.21"]]) {
    const plan = planZones(targets, endpoints(targets, down), ROUTING);
    for (const zone of ["a", "b", "c"]) {
      const served = [...plan.hints!.values()].some((zones) => zones.includes(zone));
      assert.ok(served, `zone ${zone} with ${down} down`);
    }
  }
});

Deno.test("zones: all or none: one ready endpoint without a zone means no hints at all", () => {
  const targets: Target[] = [...threeZones(1), { address: "192.0.2.99" }];
  const plan = planZones(targets, endpoints(targets), ROUTING);
  assert.equal(plan.hints, undefined);
  assert.match(plan.off!, /ready target '192\.0\.2\.99' has no zone/);
  // Not ready, it does not count.
  const fine = planZones(targets, endpoints(targets, ["192.0.2.99"]), ROUTING);
  assert.equal(fine.off, undefined);
  assert.equal(fine.hints?.size, 3);
});

Deno.test("zones: more than 8 zones on one endpoint: no hints, and why", () => {
  const targets: Target[] = Array.from({ length: MAX_HINT_ZONES + 2 }, (_, i) => ({
    address: `192.0.2.${i + 1}`,
    zone: `z${String(i).padStart(2, "0")}`,
  }));
  // Every zone but z00 is dead: z00 serves all ten.
  const down = targets.slice(1).map((t) => t.address);
  const plan = planZones(targets, endpoints(targets, down), ROUTING);
  assert.equal(plan.hints, undefined);
  assert.match(plan.off!, /zone 'z00' would serve 10 zones: the API allows 8/);
});

Deno.test("zones: nothing ready, no hints and no complaint", () => {
  const targets = threeZones(1);
  const plan = planZones(targets, endpoints(targets, targets.map((t) => t.address)), ROUTING);
  assert.equal(plan.hints, undefined);
  assert.equal(plan.off, undefined);
});

const SETTINGS: ZoneSettings = {
  preferences: { a: ["c"] },
  hints: true,
  overprovisioning: 1.4,
  services: false,
};

function objectsFor(down: readonly string[], settings: ZoneSettings = SETTINGS) {
  const config = serviceConfig(threeZones(1), { zones: settings });
  const status = (address: string): ViewStatus => down.includes(address) ? "unhealthy" : "healthy";
  const view = serviceView(config, status, new Map());
  return { view, objects: desiredObjects(config, view, { service: serviceObject(config) }) };
}

Deno.test("zones: the slice carries hints.forZones; a change of hints is a write, none no write", () => {
  const healthy = objectsFor([]);
  // deno-lint-ignore no-explicit-any
  const slice = healthy.objects.find((o) => o.kind === "EndpointSlice") as any;
  assert.deepEqual(
    // deno-lint-ignore no-explicit-any
    slice.endpoints.map((e: any) => [e.addresses[0], e.hints?.forZones]),
    [
      ["192.0.2.1", [{ name: "a" }]],
      ["192.0.2.11", [{ name: "b" }]],
      ["192.0.2.21", [{ name: "c" }]],
    ],
  );
  assert.deepEqual(planChanges(objectsFor([]).objects, healthy.objects), []);
  const aDown = objectsFor(["192.0.2.1"]);
  const actions = planChanges(aDown.objects, healthy.objects);
  assert.deepEqual(actions.map((a) => a.type === "apply" && a.object.kind), [
    "EndpointSlice",
    "Endpoints",
  ]);
  // Only the hints differ between these two: c's endpoint now serves a too.
  const cServesA = objectsFor(["192.0.2.1"]).objects;
  // deno-lint-ignore no-explicit-any
  const c = (cServesA[0] as any).endpoints.find((e: any) => e.addresses[0] === "192.0.2.21");
  assert.deepEqual(c.hints.forZones, [{ name: "a" }, { name: "c" }]);
  const sameButHints = structuredClone(cServesA);
  // deno-lint-ignore no-explicit-any
  (sameButHints[0] as any).endpoints[2].hints.forZones = [{ name: "c" }];
  assert.deepEqual(
    planChanges(cServesA, sameButHints).map((a) => a.type === "apply" && a.object.kind),
    ["EndpointSlice"],
  );
  // The order of forZones is not a change.
  // deno-lint-ignore no-explicit-any
  (sameButHints[0] as any).endpoints[2].hints.forZones = [{ name: "c" }, { name: "a" }];
  assert.deepEqual(planChanges(cServesA, sameButHints), []);
});

Deno.test("zones: hints off in the settings, or no zones block: slices carry no hints", () => {
  const off = objectsFor([], { ...SETTINGS, hints: false });
  // deno-lint-ignore no-explicit-any
  assert.ok((off.objects[0] as any).endpoints.every((e: any) => e.hints === undefined));
  const config = serviceConfig(threeZones(1));
  const view = serviceView(config, () => "healthy", new Map());
  assert.ok(view.endpoints.every((e) => e.hints === undefined));
  assert.equal(view.hintsOff, undefined);
});

Deno.test("zones: the view says why hints are off", () => {
  const config = serviceConfig([...threeZones(1), { address: "192.0.2.99" }], { zones: SETTINGS });
  const view = serviceView(config, () => "healthy", new Map());
  assert.match(view.hintsOff!, /'192\.0\.2\.99' has no zone/);
  assert.ok(view.endpoints.every((e) => e.hints === undefined));
});
