/**
 * Companion Services a reload no longer configures (issue 15) on a fake clock and the
 * in-memory API: which ones are stale, and what becomes of their objects: kept with
 * `removedServices: keep`; with `delete` our EndpointSlices and Endpoints are deleted (by the
 * Lease holder only), never a Service object, never an object another manager wrote, never a
 * name the new configuration uses.
 */

import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import type { Config, PrimarySettings, ServiceConfig } from "../../src/config/schema.ts";
import type { MemoryKube } from "../../src/kube/memory.ts";
import { ObjectStore } from "../../src/kube/store.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { staleCompanions, stillStale } from "../../src/publish/companions.ts";
import { LABEL_MANAGED_BY, LABEL_SERVICE_NAME, serviceObject } from "../../src/publish/objects.ts";
import { Reconciler } from "../../src/publish/reconciler.ts";
import { FakeClock, kubeWithService, ScriptedProber, serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1", B = "192.0.2.2", C = "192.0.2.3";
const NS = "datastream";

const PRIMARY: PrimarySettings = {
  mode: "designate",
  service: "brokers-primary",
  prefer: [],
  failbackAfter: 0,
  noPrimary: "empty",
};

/** brokers with a primary and per-zone Services for zones a (A) and b (B, C). */
function topology(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  const base = serviceConfig(
    [{ address: A, zone: "a" }, { address: B, zone: "b" }, { address: C, zone: "b" }],
    {
      primary: PRIMARY,
      zones: { preferences: {}, hints: false, overprovisioning: 1.4, services: true },
    },
  );
  return { ...base, publish: { ...base.publish, createService: true }, ...overrides };
}

/** Our objects (EndpointSlices by service-name label, Endpoints by name) of a Service name. */
async function objectsOf(kube: MemoryKube, name: string): Promise<string[]> {
  const { items } = await kube.list("endpointslices", NS);
  const slices = items.filter((o) => o.metadata.labels?.[LABEL_SERVICE_NAME] === name).map((o) =>
    `EndpointSlice/${o.metadata.name}`
  );
  const endpoints = kube.get({ resource: "endpoints", namespace: NS, name });
  return [...slices, ...(endpoints ? [`Endpoints/${name}`] : [])].sort();
}

function hasService(kube: MemoryKube, name: string): boolean {
  return kube.get({ resource: "services", namespace: NS, name }) !== undefined;
}

/** An EndpointSlice another manager wrote for the Service `name`. */
function foreignSlice(name: string): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${name}-manual`,
      namespace: NS,
      labels: { [LABEL_SERVICE_NAME]: name, [LABEL_MANAGED_BY]: "someone-else" },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: ["192.0.2.77"], conditions: { ready: true } }],
  } as KubeObject;
}

function start(kube: MemoryKube, service: ServiceConfig, clock: FakeClock) {
  const config: Config = { format: "structured", services: [service], alerts: {} };
  const agent = new Agent({
    config,
    client: kube,
    log: silentLogger(),
    clock,
    prober: new ScriptedProber(clock).probe,
    random: () => 0,
  });
  agent.start();
  return agent;
}

async function stop(agent: Agent, clock: FakeClock) {
  const stopping = agent.stop();
  await clock.advance(1000);
  await stopping;
}

Deno.test("staleCompanions: renamed, dropped, a zone without targets, the Service removed; never a name still used", () => {
  const before = topology();
  const none = (after: ServiceConfig[]) =>
    staleCompanions([before], after).map((c) => `${c.service} ${c.name}`);
  assert.deepEqual(none([before]), [], "the same configuration");
  assert.deepEqual(none([topology({ primary: { ...PRIMARY, service: "brokers-leader" } })]), [
    "datastream/brokers brokers-primary",
  ]);
  const { primary: _primary, ...noPrimary } = before;
  assert.deepEqual(none([noPrimary]), ["datastream/brokers brokers-primary"]);
  assert.deepEqual(
    none([topology({ zones: { ...before.zones!, services: false } })]),
    ["datastream/brokers brokers-a", "datastream/brokers brokers-b"],
  );
  assert.deepEqual(
    none([topology({ targets: [{ address: A, zone: "a" }, { address: B, zone: "c" }] })]),
    ["datastream/brokers brokers-b"],
    "zone b has no target any more; c is new",
  );
  assert.deepEqual(none([]), [
    "datastream/brokers brokers-primary",
    "datastream/brokers brokers-a",
    "datastream/brokers brokers-b",
  ]);
  // A name the new configuration uses, as a Service or a companion, is not stale.
  assert.deepEqual(
    none([
      serviceConfig([A], { name: "brokers-primary" }),
      serviceConfig([B], { name: "other", primary: { ...PRIMARY, service: "brokers-a" } }),
    ]),
    ["datastream/brokers brokers-b"],
  );
  // The same name in another namespace is another Service.
  assert.deepEqual(
    none([{ ...topology(), namespace: "elsewhere" }]).length,
    3,
  );
});

Deno.test("stillStale: kept while the Service is configured and the name unused, each once", () => {
  const before = topology();
  const stale = staleCompanions([before], [topology({ zones: undefined })]);
  assert.deepEqual(stale.map((c) => c.name), ["brokers-a", "brokers-b"]);
  const { primary: _primary, ...plain } = topology({ zones: undefined });
  assert.deepEqual(stillStale([...stale, ...stale], [plain]).map((c) => c.name), [
    "brokers-a",
    "brokers-b",
  ]);
  assert.deepEqual(stillStale(stale, []), [], "the Service removed: its Lease never comes");
  assert.deepEqual(
    stillStale(stale, [plain, serviceConfig([A], { name: "brokers-a" })]).map((c) => c.name),
    ["brokers-b"],
    "brokers-a is a configured Service now",
  );
  assert.deepEqual(stillStale(stale, [before]), [], "both zones are companions again");
});

Deno.test("reload: a renamed primary and a dead zone leave their objects with keep; delete removes ours only", async () => {
  const clock = new FakeClock();
  const service = topology();
  const kube = kubeWithService(service);
  kube.seed(foreignSlice("brokers-primary"));
  const agent = start(kube, service, clock);
  await clock.advance(500);
  assert.deepEqual(await objectsOf(kube, "brokers-primary"), [
    "EndpointSlice/brokers-primary-helaseid-ipv4",
    "EndpointSlice/brokers-primary-manual",
    "Endpoints/brokers-primary",
  ]);
  assert.deepEqual(await objectsOf(kube, "brokers-b"), [
    "EndpointSlice/brokers-b-helaseid-ipv4",
    "Endpoints/brokers-b",
  ]);

  // keep: renamed to brokers-leader, zone b gone: the old objects stay as last written.
  const leader = topology({
    primary: { ...PRIMARY, service: "brokers-leader" },
    targets: [{ address: A, zone: "a" }, { address: B, zone: "c" }],
  });
  await agent.reconfigure([leader], { removed: "keep" });
  await clock.advance(500);
  assert.equal((await objectsOf(kube, "brokers-primary")).length, 3, "kept");
  assert.equal((await objectsOf(kube, "brokers-b")).length, 2, "kept");
  assert.deepEqual(await objectsOf(kube, "brokers-leader"), [
    "EndpointSlice/brokers-leader-helaseid-ipv4",
    "Endpoints/brokers-leader",
  ]);
  assert.deepEqual(await objectsOf(kube, "brokers-c"), [
    "EndpointSlice/brokers-c-helaseid-ipv4",
    "Endpoints/brokers-c",
  ]);

  // delete: primary dropped and zone c gone: their objects go, the Services stay.
  const { primary: _primary, ...plain } = topology({ targets: [{ address: A, zone: "a" }] });
  const deletes = () => kube.writes.filter((w) => w.verb === "delete").length;
  const before = deletes();
  await agent.reconfigure([plain], { removed: "delete" });
  assert.deepEqual(await objectsOf(kube, "brokers-leader"), [], "deleted");
  assert.deepEqual(await objectsOf(kube, "brokers-c"), [], "deleted");
  assert.equal(deletes() - before, 4, "two slices and two Endpoints");
  assert.ok(hasService(kube, "brokers-leader"), "the Service HELASEID created stays");
  assert.ok(hasService(kube, "brokers-c"));
  assert.deepEqual(await objectsOf(kube, "brokers-a"), [
    "EndpointSlice/brokers-a-helaseid-ipv4",
    "Endpoints/brokers-a",
  ], "a zone still configured is untouched");
  assert.equal((await objectsOf(kube, "brokers-primary")).length, 3, "an earlier keep stays kept");
  await clock.advance(500);
  assert.deepEqual(await objectsOf(kube, "brokers-leader"), [], "not written again");

  // The Service removed: its companions' objects go with its own; another manager's stay.
  await agent.reconfigure([service], { removed: "delete" });
  await clock.advance(500);
  assert.equal((await objectsOf(kube, "brokers-b")).length, 2, "zone b is back, written again");
  await agent.reconfigure([], { removed: "delete" });
  for (const name of ["brokers", "brokers-a", "brokers-b"]) {
    assert.deepEqual(await objectsOf(kube, name), [], name);
  }
  assert.deepEqual(await objectsOf(kube, "brokers-primary"), [
    "EndpointSlice/brokers-primary-manual",
  ]);
  assert.ok(
    ["brokers", "brokers-primary", "brokers-a", "brokers-b"].every((name) =>
      hasService(kube, name)
    ),
  );
  await stop(agent, clock);
});

Deno.test("reload: a standby deletes no companion object; the Lease holder does, and so does a standby once it holds the Lease", async () => {
  const service = topology({ zones: undefined });
  const kube = kubeWithService(service);
  kube.seed(serviceObject({ ...service, name: "brokers-primary" }, { uid: "p-uid" }));
  const clock = new FakeClock();
  const holds = { value: true };
  const store: ObjectStore = new ObjectStore({
    client: kube,
    clock,
    log: silentLogger(),
    onChange: (change) => reconciler.storeChanged(change),
    onFailure: (resource, namespace) => reconciler.storeFailed(resource, namespace),
  });
  const reconciler: Reconciler = new Reconciler({
    services: [service],
    health: { status: () => "healthy", checked: () => true, primary: () => A },
    client: kube,
    store,
    clock,
    log: silentLogger(),
    writer: "a/1",
    mayWrite: () => holds.value,
  });
  Reconciler.track(store, [service]);
  reconciler.start();
  await clock.advance(100);
  assert.equal((await objectsOf(kube, "brokers-primary")).length, 2);
  const { primary: _primary, ...plain } = service;
  holds.value = false;
  await reconciler.reconfigure([plain], { removed: "delete" });
  assert.equal((await objectsOf(kube, "brokers-primary")).length, 2, "a standby deletes nothing");
  await clock.advance(100);
  assert.equal((await objectsOf(kube, "brokers-primary")).length, 2, "nor later as a standby");
  // The holder of a later reload that drops it again (renamed back and dropped) deletes.
  holds.value = true;
  await reconciler.reconfigure([service], { removed: "delete" });
  await reconciler.reconfigure([plain], { removed: "delete" });
  assert.deepEqual(await objectsOf(kube, "brokers-primary"), []);

  // The standby of a reload takes the Lease later (the holder of the time was down): it
  // deletes what that reload dropped...
  await reconciler.reconfigure([service], { removed: "delete" });
  await clock.advance(100);
  assert.equal((await objectsOf(kube, "brokers-primary")).length, 2, "written again");
  holds.value = false;
  await reconciler.reconfigure([plain], { removed: "delete" });
  holds.value = true;
  reconciler.ownershipChanged(`${NS}/brokers`);
  await clock.advance(100);
  assert.deepEqual(await objectsOf(kube, "brokers-primary"), [], "deleted by the new holder");
  // ...unless a configuration in between uses the name again: then it is that Service's.
  await reconciler.reconfigure([service], { removed: "delete" });
  await clock.advance(100);
  holds.value = false;
  await reconciler.reconfigure([plain], { removed: "delete" });
  await reconciler.reconfigure([service], { removed: "keep" });
  holds.value = true;
  reconciler.ownershipChanged(`${NS}/brokers`);
  await clock.advance(100);
  assert.equal((await objectsOf(kube, "brokers-primary")).length, 2, "in use again: kept");
  const stopping = Promise.all([reconciler.stop(), store.stop()]);
  await clock.advance(1);
  await stopping;
});
