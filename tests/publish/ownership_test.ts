/**
 * Lease ownership: the pure decisions (client-go's election, rendezvous spreading, the fence)
 * and the loop on a fake clock against the in-memory API.
 */

import assert from "node:assert/strict";
import { KubeError } from "../../src/kube/client.ts";
import { LeaseClient, leaseObject, type ObservedLease } from "../../src/kube/lease.ts";
import { MemoryKube } from "../../src/kube/memory.ts";
import { silentLogger } from "../../src/observe/log.ts";
import {
  DEFAULT_LEASE_TIMINGS,
  liveReplicas,
  mayWrite,
  nextStep,
  released,
  rendezvousOwner,
  replicaLeaseName,
  sight,
  timingsProblem,
} from "../../src/publish/ownership.ts";
import {
  LeaseTimingsError,
  Ownership,
  type OwnershipChange,
  ownershipFor,
} from "../../src/publish/ownership_loop.ts";
import type { Config } from "../../src/config/schema.ts";
import { FakeClock, serviceConfig } from "../support/fakes.ts";

const TIMINGS = DEFAULT_LEASE_TIMINGS;
const T0 = Date.UTC(2026, 11, 3);

function lease(holder: string, extra: Partial<ObservedLease["record"]> = {}): ObservedLease {
  const record = {
    holder,
    durationSeconds: 15,
    acquireTime: 1,
    renewTime: 1,
    transitions: 2,
    ...extra,
  };
  return {
    namespace: "shop",
    name: "helaseid-cache",
    resourceVersion: "5",
    labels: {},
    record,
    object: leaseObject("shop", "helaseid-cache", record),
  };
}

Deno.test("timings follow client-go's rules", () => {
  assert.equal(timingsProblem(TIMINGS), undefined);
  assert.match(timingsProblem({ ...TIMINGS, renewDeadline: 15_000 })!, /longer than the renew/);
  assert.match(timingsProblem({ ...TIMINGS, retryPeriod: 9_000 })!, /1.2 × the retry period/);
  assert.match(timingsProblem({ ...TIMINGS, retryPeriod: 0 })!, /must be positive/);
});

Deno.test("an absent Lease is created by its owner only, with no transition", () => {
  const input = { me: "a", now: T0, timings: TIMINGS, leading: false };
  assert.deepEqual(nextStep({ ...input, desired: false }), { kind: "wait" });
  assert.deepEqual(nextStep({ ...input, desired: true }), {
    kind: "create",
    record: { holder: "a", durationSeconds: 15, acquireTime: T0, renewTime: T0, transitions: 0 },
  });
});

Deno.test("a held Lease is taken only after it stayed unchanged for its duration, by our clock", () => {
  // The record's own times are not trusted: only when we saw it change.
  const sighting = sight(undefined, lease("b", { renewTime: T0 - 3_600_000 }), T0);
  const input = { me: "a", timings: TIMINGS, sighting, leading: false, desired: true };
  assert.deepEqual(nextStep({ ...input, now: T0 + 14_999 }), { kind: "wait" });
  const step = nextStep({ ...input, now: T0 + 15_000 });
  assert.equal(step.kind, "update");
  assert.deepEqual(step.kind === "update" && step.record, {
    holder: "a",
    durationSeconds: 15,
    acquireTime: T0 + 15_000,
    renewTime: T0 + 15_000,
    transitions: 3,
  });
  // The same record read again keeps its sighting time; a renewal moves it.
  assert.equal(sight(sighting, lease("b", { renewTime: T0 - 3_600_000 }), T0 + 9000).changedAt, T0);
  assert.equal(sight(sighting, lease("b", { renewTime: T0 }), T0 + 9000).changedAt, T0 + 9000);
});

Deno.test("a released Lease goes to its owner at once, to another replica once left unclaimed", () => {
  const sighting = sight(undefined, { ...lease(""), record: released(lease("b").record, T0) }, T0);
  const input = { me: "a", timings: TIMINGS, sighting, leading: false };
  assert.equal(nextStep({ ...input, now: T0, desired: true }).kind, "update");
  assert.equal(nextStep({ ...input, now: T0 + 5_999, desired: false }).kind, "wait");
  assert.equal(nextStep({ ...input, now: T0 + 6_000, desired: false }).kind, "update");
  // A held Lease is not "unclaimed": another replica waits the whole duration for it.
  const held = sight(undefined, lease("b"), T0);
  assert.equal(
    nextStep({ ...input, sighting: held, now: T0 + 14_999, desired: false }).kind,
    "wait",
  );
});

Deno.test("a holder renews keeping acquireTime and transitions", () => {
  const sighting = sight(undefined, lease("a", { acquireTime: 7 }), T0);
  const step = nextStep({
    me: "a",
    now: T0 + 2000,
    timings: TIMINGS,
    sighting,
    leading: true,
    desired: true,
  });
  assert.deepEqual(step.kind === "update" && step.record, {
    holder: "a",
    durationSeconds: 15,
    acquireTime: 7,
    renewTime: T0 + 2000,
    transitions: 2,
  });
});

Deno.test("the fence: writing stops at the renew deadline, before anyone may take over", () => {
  assert.equal(mayWrite(undefined, T0, TIMINGS), false);
  assert.equal(mayWrite(T0, T0 + 9_999, TIMINGS), true);
  assert.equal(mayWrite(T0, T0 + 10_000, TIMINGS), false);
  assert.ok(TIMINGS.renewDeadline < TIMINGS.duration);
});

Deno.test("rendezvous hashing: one replica owns all; a joiner moves only its share", () => {
  const keys = Array.from({ length: 300 }, (_, i) => `shop/svc-${i}`);
  assert.ok(keys.every((key) => rendezvousOwner(key, ["a"]) === "a"));
  const two = new Map(keys.map((key) => [key, rendezvousOwner(key, ["a", "b"])]));
  const three = new Map(keys.map((key) => [key, rendezvousOwner(key, ["c", "b", "a"])]));
  // Order of the replicas does not matter.
  assert.ok(keys.every((key) => rendezvousOwner(key, ["b", "a"]) === two.get(key)));
  for (const key of keys) {
    if (three.get(key) !== "c") assert.equal(three.get(key), two.get(key), key);
  }
  const counts = (owners: Map<string, string | undefined>, replica: string) =>
    [...owners.values()].filter((owner) => owner === replica).length;
  for (const replica of ["a", "b", "c"]) assert.ok(counts(three, replica) > 60, replica);
  assert.equal(rendezvousOwner("shop/x", []), undefined);
});

Deno.test("live replicas: those renewed within their duration by our clock, and always us", () => {
  const seen = [
    sight(undefined, { ...lease("b"), name: "rb" }, T0),
    sight(undefined, { ...lease(""), name: "rc" }, T0),
  ];
  assert.deepEqual([...liveReplicas(seen, "a", T0 + 14_000)].sort(), ["a", "b"]);
  assert.deepEqual([...liveReplicas(seen, "a", T0 + 15_000)], ["a"]);
});

Deno.test("replica Lease names are DNS subdomains that keep distinct identities distinct", () => {
  const a = replicaLeaseName("helaseid-7d9c-x2kq/1");
  assert.match(a, /^helaseid-replica-helaseid-7d9c-x2kq-1-[0-9a-f]{8}$/);
  assert.notEqual(a, replicaLeaseName("helaseid-7d9c-x2kq-1"));
  assert.match(replicaLeaseName("Ü/"), /^helaseid-replica-[0-9a-f]{8}$/);
});

// ---------------------------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------------------------

const SERVICES = Array.from({ length: 12 }, (_, i) => ({ namespace: "shop", name: `svc-${i}` }));
const KEYS = SERVICES.map((s) => `${s.namespace}/${s.name}`);

function replica(
  kube: MemoryKube,
  clock: FakeClock,
  identity: string,
  changes: OwnershipChange[] = [],
) {
  return new Ownership({
    leases: new LeaseClient(kube),
    services: SERVICES,
    identity,
    namespace: "helaseid",
    timings: TIMINGS,
    clock,
    log: silentLogger(),
    random: () => 0,
    onChange: (change) => changes.push(change),
  });
}

/** Which replica may write each Service now; exactly one each is the property. */
function writers(replicas: Ownership[]): Map<string, string[]> {
  return new Map(KEYS.map((key) => [
    key,
    replicas.filter((r) => r.mayWrite(key)).map((r) => r.identity),
  ]));
}

/** Replicas "a" and "b" started together on one in-memory API, 5 s of rounds later. */
async function twoStarted(): Promise<{ clock: FakeClock; a: Ownership; b: Ownership }> {
  const clock = new FakeClock(T0);
  const kube = new MemoryKube();
  const a = replica(kube, clock, "a");
  const b = replica(kube, clock, "b");
  a.start();
  b.start();
  await clock.advance(5000);
  return { clock, a, b };
}

Deno.test("one replica alone takes every Lease in its first round and renews them", async () => {
  const clock = new FakeClock(T0);
  const kube = new MemoryKube();
  const changes: OwnershipChange[] = [];
  const a = replica(kube, clock, "a", changes);
  a.start();
  await clock.advance(0);
  assert.deepEqual(a.held().sort(), [...KEYS].sort());
  assert.equal(changes.filter((c) => c.held).length, 12);
  const lease = kube.get({ resource: "leases", namespace: "shop", name: "helaseid-svc-0" });
  assert.equal((lease?.spec as { holderIdentity: string }).holderIdentity, "a");
  assert.ok(kube.get({ resource: "leases", namespace: "helaseid", name: replicaLeaseName("a") }));
  const before = kube.writes.length;
  await clock.advance(2000);
  // A round renews each Lease with one update, without reading it first.
  assert.equal(kube.writes.length - before, 13);
  assert.ok(kube.writes.slice(before).every((w) => w.verb === "replace"));
  await a.stop({ release: false });
});

Deno.test("two replicas split the Services by rendezvous, never two writers at once", async () => {
  const clock = new FakeClock(T0);
  const kube = new MemoryKube();
  const a = replica(kube, clock, "a");
  a.start();
  await clock.advance(0);
  const b = replica(kube, clock, "b");
  b.start();
  for (let i = 0; i < 6; i++) {
    await clock.advance(500);
    // At no moment do two replicas write one Service.
    for (const [key, who] of writers([a, b])) assert.ok(who.length <= 1, `${key}: ${who}`);
  }
  const now = writers([a, b]);
  for (const [key, who] of now) {
    assert.deepEqual(who, [rendezvousOwner(key, ["a", "b"])!], key);
  }
  assert.ok(b.held().length > 0 && a.held().length > 0);
  await Promise.all([a.stop({ release: false }), b.stop({ release: false })]);
});

Deno.test("a stopping replica releases: the other takes over within about one retry period", async () => {
  const { clock, a, b } = await twoStarted();
  assert.ok(a.held().length > 0);
  await a.stop();
  assert.deepEqual(a.held(), []);
  await clock.advance(2000 * 1.2 + 1);
  assert.deepEqual(b.held().sort(), [...KEYS].sort());
  await b.stop({ release: false });
});

Deno.test("a killed replica's Services are taken over after the lease duration, not before", async () => {
  const { clock, a, b } = await twoStarted();
  const lost = a.held();
  assert.ok(lost.length > 0);
  await a.stop({ release: false }); // SIGKILL: nothing released
  await clock.advance(12_000);
  assert.ok(lost.every((key) => !b.mayWrite(key)), "taken before the duration");
  await clock.advance(8000);
  assert.deepEqual(b.held().sort(), [...KEYS].sort());
  await b.stop({ release: false });
});

Deno.test("a holder cut off from the API stops writing at the renew deadline", async () => {
  const clock = new FakeClock(T0);
  const kube = new MemoryKube();
  const changes: OwnershipChange[] = [];
  const a = replica(kube, clock, "a", changes);
  a.start();
  await clock.advance(0);
  const lastRenew = clock.now();
  kube.failure = new KubeError("Cannot reach the API", { status: 0 });
  await clock.advance(9_999);
  assert.equal(a.held().length, 12);
  await clock.advance(1);
  assert.equal(clock.now() - lastRenew, 10_000);
  assert.deepEqual(a.held(), []);
  await clock.advance(2500);
  assert.equal(changes.filter((c) => c.reason === "lost").length, 12);
  // Back in touch: its Leases were not taken (nobody else runs), so it takes them again.
  kube.failure = undefined;
  await clock.advance(2500);
  assert.equal(a.held().length, 12);
  await a.stop({ release: false });
});

Deno.test("racing replicas: a 409 on update means someone else won, never two holders", async () => {
  const clock = new FakeClock(T0);
  const kube = new MemoryKube();
  const replicas = ["a", "b", "c"].map((id) => replica(kube, clock, id));
  for (const r of replicas) r.start();
  for (let i = 0; i < 20; i++) {
    await clock.advance(700);
    for (const [key, who] of writers(replicas)) assert.ok(who.length <= 1, `${key}: ${who}`);
  }
  for (const [key, who] of writers(replicas)) assert.equal(who.length, 1, key);
  await Promise.all(replicas.map((r) => r.stop({ release: false })));
});

/** Leases whose Service Leases the API refuses (a Role without Leases in that namespace). */
class RefusedServiceLeases extends LeaseClient {
  override create(...args: Parameters<LeaseClient["create"]>) {
    return args[1].startsWith("helaseid-svc") ? Promise.reject(forbidden()) : super.create(...args);
  }
  override update(...args: Parameters<LeaseClient["update"]>) {
    return args[0].name.startsWith("helaseid-svc")
      ? Promise.reject(forbidden())
      : super.update(...args);
  }
}

function forbidden(): KubeError {
  return new KubeError("Cannot update Lease: forbidden", { status: 403, reason: "Forbidden" });
}

Deno.test("an owner that cannot take its Leases leaves short gaps, not a handover loop", async () => {
  const clock = new FakeClock(T0);
  const kube = new MemoryKube();
  const a = replica(kube, clock, "a");
  const b = new Ownership({
    leases: new RefusedServiceLeases(kube),
    services: SERVICES,
    identity: "b",
    namespace: "helaseid",
    timings: TIMINGS,
    clock,
    log: silentLogger(),
    random: () => 0,
  });
  a.start();
  await clock.advance(0);
  b.start();
  // b is live, so a hands b's share over; b cannot take it; a takes it back once unclaimed.
  const share = KEYS.filter((key) => rendezvousOwner(key, ["a", "b"]) === "b");
  assert.ok(share.length > 0);
  let unwritten = 0;
  for (let t = 0; t < 120_000; t += 500) {
    await clock.advance(500);
    for (const key of share) if (!a.mayWrite(key)) unwritten += 500;
    for (const key of KEYS) assert.ok(!(a.mayWrite(key) && b.mayWrite(key)), key);
  }
  assert.deepEqual(b.held(), []);
  // Per Service, one gap of a few retry periods per KEEP_DURATIONS × duration at most.
  const perService = unwritten / share.length;
  assert.ok(perService <= 2 * (4 * 2000 + 1000), `${perService} ms without a writer`);
  await Promise.all([a.stop({ release: false }), b.stop({ release: false })]);
});

Deno.test("the pod owns its replica Lease only in its own namespace", async () => {
  const services = [serviceConfig(["192.0.2.1"], { namespace: "shop" })];
  const config = (extra: Partial<Config>): Config => ({
    format: "structured",
    services,
    alerts: {} as Config["alerts"],
    leases: true,
    ...extra,
  });
  const replicaLease = async (extra: Partial<Config>, podNamespace?: string) => {
    const clock = new FakeClock(T0);
    const kube = new MemoryKube();
    const ownership = ownershipFor(config(extra), {
      leases: new LeaseClient(kube),
      identity: "a",
      ...(podNamespace ? { podNamespace } : {}),
      pod: { name: "helaseid-x", uid: "pod-uid" },
      clock,
      log: silentLogger(),
    })!;
    await ownership.round();
    await ownership.stop({ release: false });
    return kube.writes.find((w) => w.name === replicaLeaseName("a"))!;
  };
  const inPod = await replicaLease({}, "helaseid");
  assert.equal(inPod.namespace, "helaseid");
  assert.deepEqual(inPod.object?.metadata.ownerReferences, [
    { apiVersion: "v1", kind: "Pod", name: "helaseid-x", uid: "pod-uid" },
  ]);
  // Elsewhere the pod is no owner: the garbage collector would delete the Lease at once.
  const elsewhere = await replicaLease({ leaseNamespace: "other" }, "helaseid");
  assert.equal(elsewhere.namespace, "other");
  assert.equal(elsewhere.object?.metadata.ownerReferences, undefined);
  const outside = await replicaLease({});
  assert.equal(outside.namespace, "shop");
  assert.equal(outside.object?.metadata.ownerReferences, undefined);
  assert.equal(ownershipFor(config({ leases: false }), {} as never), undefined);
  assert.throws(
    () => ownershipFor(config({ leaseRenewDeadline: 20_000 }), {} as never),
    LeaseTimingsError,
  );
});

/** Leases whose replica list answers only after `delay` ms of the clock. */
class SlowList extends LeaseClient {
  readonly #clock: FakeClock;
  delay = 0;
  lists = 0;
  constructor(kube: MemoryKube, clock: FakeClock) {
    super(kube);
    this.#clock = clock;
  }
  override list(...args: Parameters<LeaseClient["list"]>) {
    this.lists++;
    const answer = super.list(...args);
    if (this.delay === 0) return answer;
    return new Promise<Awaited<typeof answer>>((resolve) =>
      this.#clock.setTimeout(() => resolve(answer), this.delay)
    );
  }
}

Deno.test("a replica list slower than the renew deadline does not stop the holder writing", async () => {
  const clock = new FakeClock(T0);
  const kube = new MemoryKube();
  const leases = new SlowList(kube, clock);
  const a = new Ownership({
    leases,
    services: SERVICES,
    identity: "a",
    namespace: "helaseid",
    timings: TIMINGS,
    clock,
    log: silentLogger(),
    random: () => 0,
  });
  a.start();
  await clock.advance(0);
  assert.equal(a.held().length, 12);
  leases.delay = 12_000;
  const lists = leases.lists;
  for (let t = 0; t < 30_000; t += 500) {
    await clock.advance(500);
    assert.equal(a.held().length, 12, `at ${t} ms`);
  }
  // One list at a time, not one per round.
  assert.ok(leases.lists - lists <= 3, `${leases.lists - lists} lists`);
  leases.delay = 0;
  await clock.advance(12_000);
  await a.stop({ release: false });
});

/** Leases whose updates (renewals) answer only after `delay` ms of the clock, then succeed. */
class SlowUpdate extends LeaseClient {
  readonly #clock: FakeClock;
  delay = 0;
  constructor(kube: MemoryKube, clock: FakeClock) {
    super(kube);
    this.#clock = clock;
  }
  override update(...args: Parameters<LeaseClient["update"]>) {
    const answer = super.update(...args);
    if (this.delay === 0) return answer;
    return new Promise<Awaited<typeof answer>>((resolve, reject) =>
      this.#clock.setTimeout(() => answer.then(resolve, reject), this.delay)
    );
  }
}

Deno.test("a renewal that lands after the renew deadline says writing may resume", async () => {
  const clock = new FakeClock(T0);
  const kube = new MemoryKube();
  const leases = new SlowUpdate(kube, clock);
  const changes: OwnershipChange[] = [];
  const a = new Ownership({
    leases,
    services: SERVICES.slice(0, 1),
    identity: "a",
    namespace: "helaseid",
    timings: TIMINGS,
    clock,
    log: silentLogger(),
    random: () => 0,
    onChange: (change) => changes.push(change),
  });
  a.start();
  await clock.advance(0);
  const key = KEYS[0]!;
  assert.ok(a.mayWrite(key));
  // A renewal hangs past the renew deadline (a black-holed API), then lands: still ours.
  // (The next round starts after one retry period; its Service step half a period later.)
  leases.delay = TIMINGS.renewDeadline + 1000;
  await clock.advance(TIMINGS.retryPeriod * 1.5 + 1);
  leases.delay = 0;
  await clock.advance(TIMINGS.renewDeadline);
  assert.ok(!a.mayWrite(key), "fenced while the renewal hung");
  assert.ok(!changes.some((c) => c.reason === "lost"), "no failure: it was never lost");
  await clock.advance(TIMINGS.renewDeadline);
  assert.ok(a.mayWrite(key), "writing again after the late renewal");
  const reasons = changes.map((c) => c.reason);
  assert.ok(reasons.includes("resumed"), `the publisher is told: ${reasons}`);
  await a.stop({ release: false });
});
