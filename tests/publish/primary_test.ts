import assert from "node:assert/strict";
import type { EndpointSliceObject, KubeObject } from "../../src/kube/types.ts";
import { companionViews, demotionsFirst, readyCount } from "../../src/publish/companions.ts";
import { planChanges } from "../../src/publish/plan.ts";
import { desiredObjects, serviceObject } from "../../src/publish/objects.ts";
import { planPrimary, preferenceOrder, type PrimaryCandidate } from "../../src/publish/primary.ts";
import { serviceView, type ViewStatus } from "../../src/publish/views.ts";
import { serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1", B = "192.0.2.2", C = "192.0.2.3";
const MIN = 60_000;

/** Candidates a (zone-a), b (zone-b), c (zone-c), each with a status and since. */
function candidates(
  statuses: Partial<Record<string, [ViewStatus, number]>>,
): PrimaryCandidate[] {
  return [[A, "zone-a"], [B, "zone-b"], [C, "zone-c"]].map(([address, zone]) => {
    const [status, since] = statuses[address!] ?? ["healthy", 0];
    return { address: address!, zone: zone!, region: "eu", status, since };
  });
}

const POLICY = { prefer: ["zone-a", "zone-b"], failbackAfter: 5 * MIN };

Deno.test("primary: preference order: prefer's zones, then regions, then the rest in list order", () => {
  const order = preferenceOrder([
    { address: "1", zone: "z1", region: "r1" },
    { address: "2", zone: "z2", region: "r2" },
    { address: "3", zone: "z3", region: "r2" },
    { address: "4", zone: "z4", region: "r3" },
  ], ["z3", "r1"]);
  assert.deepEqual(order.map((t) => t.address), ["3", "1", "2", "4"]);
});

Deno.test("primary: the first choice is the most preferred healthy target, once the preferred ones have verdicts", () => {
  const now = 10 * MIN;
  const waiting = planPrimary(undefined, candidates({ [A]: ["unknown", 0] }), { ...POLICY, now });
  assert.deepEqual(waiting, { reason: "none" });
  const down = planPrimary(undefined, candidates({ [A]: ["unhealthy", 0] }), { ...POLICY, now });
  assert.deepEqual(down, { primary: B, reason: "initial" });
  assert.deepEqual(planPrimary(undefined, candidates({}), { ...POLICY, now }), {
    primary: A,
    reason: "initial",
  });
});

Deno.test("primary: fails over when the primary falls, to the most preferred healthy target", () => {
  const plan = planPrimary(A, candidates({ [A]: ["unhealthy", 5] }), { ...POLICY, now: 10 });
  assert.deepEqual(plan, { primary: B, reason: "failover" });
  // A failing check without a verdict is not a fall: it stays.
  const failing = planPrimary(A, candidates({ [A]: ["failing", 5] }), { ...POLICY, now: 10 });
  assert.deepEqual(failing, { primary: A, reason: "kept" });
  // Nothing healthy to go to: it stays designated.
  const alone = planPrimary(
    A,
    candidates({ [A]: ["unhealthy", 5], [B]: ["unhealthy", 5], [C]: ["unhealthy", 5] }),
    { ...POLICY, now: 10 },
  );
  assert.deepEqual(alone, { primary: A, reason: "kept" });
  // A primary that left the targets is replaced.
  const gone = planPrimary("192.0.2.9", candidates({}), { ...POLICY, now: 10 });
  assert.deepEqual(gone, { primary: A, reason: "removed" });
});

Deno.test("primary: no failback before failbackAfter; then back to the preferred one", () => {
  const back = candidates({ [A]: ["healthy", 100 * MIN] });
  const early = planPrimary(B, back, { ...POLICY, now: 104 * MIN });
  assert.deepEqual(early, { primary: B, reason: "kept", recheckAt: 105 * MIN });
  const due = planPrimary(B, back, { ...POLICY, now: 105 * MIN });
  assert.deepEqual(due, { primary: A, reason: "failback" });
  // A less preferred target never takes over from a healthy primary.
  assert.deepEqual(planPrimary(A, candidates({}), { ...POLICY, now: 200 * MIN }), {
    primary: A,
    reason: "kept",
  });
});

Deno.test("primary: failbackAfter never keeps the primary; 0 fails back at once", () => {
  const back = candidates({ [A]: ["healthy", 100 * MIN] });
  assert.deepEqual(
    planPrimary(B, back, { ...POLICY, failbackAfter: "never", now: 10_000 * MIN }),
    { primary: B, reason: "kept" },
  );
  assert.deepEqual(planPrimary(B, back, { ...POLICY, failbackAfter: 0, now: 100 * MIN }), {
    primary: A,
    reason: "failback",
  });
});

const PRIMARY = {
  mode: "designate" as const,
  service: "brokers-primary",
  prefer: [],
  failbackAfter: 300_000,
  noPrimary: "empty" as const,
};

function primaryObjects(primary: string | undefined, down: readonly string[] = []) {
  const config = serviceConfig([A, B, "2001:db8::1"], { primary: PRIMARY });
  const status = (address: string): ViewStatus => down.includes(address) ? "unhealthy" : "healthy";
  const view = serviceView(config, status, new Map());
  const [companion] = companionViews(config, view, { primary });
  return desiredObjects(companion!.config, companion!.view, {
    service: serviceObject(companion!.config),
  });
}

Deno.test("primary Service: one slice per family, at most one ready endpoint, the primary alone", () => {
  const objects = primaryObjects(A);
  assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), [
    "EndpointSlice/brokers-primary-helaseid-ipv4",
    "EndpointSlice/brokers-primary-helaseid-ipv6",
    "Endpoints/brokers-primary",
  ]);
  assert.deepEqual(objects.map(readyCount), [1, 0, 1]);
  assert.deepEqual((objects[0] as EndpointSliceObject).endpoints?.map((e) => e.addresses[0]), [A]);
  // No primary: nothing ready.
  assert.deepEqual(primaryObjects(undefined).map(readyCount), [0, 0, 0]);
  // Everything down: the panic guard (allDown: publishAll) keeps the designated primary
  // ready, still alone; a fallen primary with others up is listed not ready.
  assert.deepEqual(primaryObjects(A, [A, B, "2001:db8::1"]).map(readyCount), [1, 0, 1]);
  assert.deepEqual(primaryObjects(A, [A]).map(readyCount), [0, 0, 0]);
});

Deno.test("primary Service: a move across families writes the demotion first, the promotion after", () => {
  const before: KubeObject[] = primaryObjects(A);
  const after = primaryObjects("2001:db8::1", [A]);
  const [first, then] = demotionsFirst(planChanges(after, before), before);
  assert.deepEqual(first.map((a) => a.type === "apply" && a.object.metadata.name), [
    "brokers-primary-helaseid-ipv4",
  ]);
  assert.deepEqual(then.map((a) => a.type === "apply" && a.object.metadata.name), [
    "brokers-primary-helaseid-ipv6",
    "brokers-primary",
  ]);
  // Within a family it is one write per object.
  const same = demotionsFirst(planChanges(primaryObjects(B, [A]), before), before);
  assert.deepEqual(same[0], []);
  assert.deepEqual(same[1].map((a) => a.type === "apply" && a.object.metadata.name), [
    "brokers-primary-helaseid-ipv4",
    "brokers-primary",
  ]);
});

Deno.test("zone Services: each zone's own endpoints, plus the ready ones of the zones it borrows", () => {
  const config = serviceConfig([
    { address: A, zone: "a" },
    { address: B, zone: "b" },
    { address: C, zone: "c" },
    { address: "192.0.2.4", zone: "Bad.Zone" },
  ], {
    zones: { preferences: { a: ["c"] }, hints: false, overprovisioning: 1.4, services: true },
  });
  const status = (address: string): ViewStatus => address === A ? "unhealthy" : "healthy";
  const view = serviceView(config, status, new Map());
  const zones = companionViews(config, view);
  assert.deepEqual(
    zones.map((z) => [z.config.name, z.view.endpoints.map((e) => `${e.address} ${e.ready}`)]),
    [
      ["brokers-a", [`${A} false`, `${C} true`]],
      ["brokers-b", [`${B} true`]],
      ["brokers-c", [`${C} true`]],
    ],
  );
});
