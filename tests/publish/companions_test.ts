/**
 * Companion Services through the reconciler (issue 15) on the in-memory API: written after the
 * Service's own objects by the Lease holder only, created only when allowed, and a primary that
 * moves to another address family is demoted before it is promoted, write by write.
 */

import assert from "node:assert/strict";
import type { ServiceConfig } from "../../src/config/schema.ts";
import type { MemoryKube } from "../../src/kube/memory.ts";
import { ObjectStore } from "../../src/kube/store.ts";
import type { KubeObject, ServiceObject } from "../../src/kube/types.ts";
import { Logger, silentLogger } from "../../src/observe/log.ts";
import { readyCount } from "../../src/publish/companions.ts";
import { serviceObject } from "../../src/publish/objects.ts";
import { Reconciler } from "../../src/publish/reconciler.ts";
import { FakeClock, kubeWithService, serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1", B = "192.0.2.2", V6 = "2001:db8::1";
const KEY = "datastream/brokers";

function config(createService = false): ServiceConfig {
  return serviceConfig([A, B, V6], {
    primary: {
      mode: "designate",
      service: "brokers-primary",
      prefer: [],
      failbackAfter: 0,
      noPrimary: "empty",
    },
    publish: {
      endpointSlices: true,
      endpoints: true,
      unhealthy: "notReady",
      allDown: "publishAll",
      createService,
    },
  });
}

function bed(service: ServiceConfig, kube: MemoryKube) {
  const clock = new FakeClock();
  const state = { primary: A as string | undefined, holds: true };
  const store: ObjectStore = new ObjectStore({
    client: kube,
    clock,
    log: silentLogger(),
    onChange: (change) => reconciler.storeChanged(change),
    onFailure: (resource, namespace) => reconciler.storeFailed(resource, namespace),
  });
  const reconciler: Reconciler = new Reconciler({
    services: [service],
    health: {
      status: () => "healthy",
      checked: () => true,
      primary: () => state.primary,
    },
    client: kube,
    store,
    clock,
    log: silentLogger(),
    writer: "a/1",
    mayWrite: (key) => key === KEY && state.holds,
  });
  Reconciler.track(store, [service]);
  reconciler.start();
  const stop = async () => {
    const stopping = Promise.all([reconciler.stop(), store.stop()]);
    await clock.advance(1);
    await stopping;
  };
  return { clock, state, reconciler, stop };
}

/** Names of the companion objects written so far. */
function companionWrites(kube: MemoryKube): string[] {
  return kube.writes.filter((w) => w.name.startsWith("brokers-primary")).map((w) =>
    `${w.verb} ${w.resource}/${w.name}`
  );
}

Deno.test("companions: only the Lease holder writes them, after the Service's own", async () => {
  const service = config();
  const kube = kubeWithService(service);
  kube.seed(serviceObject({ ...service, name: "brokers-primary" }, { uid: "p-uid" }));
  const { clock, state, stop } = bed(service, kube);
  state.holds = false;
  await clock.advance(100);
  assert.deepEqual(companionWrites(kube), [], "a standby writes nothing");
  await stop();
  // The holder: the Service's objects, then the primary's.
  const holder = bed(service, kube);
  await holder.clock.advance(100);
  const names = kube.writes.map((w) => `${w.resource}/${w.name}`);
  const own = names.indexOf("endpointslices/brokers-helaseid-ipv4");
  const primary = names.indexOf("endpointslices/brokers-primary-helaseid-ipv4");
  assert.ok(own >= 0 && primary > own, names.join(" "));
  assert.deepEqual(companionWrites(kube), [
    "apply endpointslices/brokers-primary-helaseid-ipv4",
    "apply endpointslices/brokers-primary-helaseid-ipv6",
    "apply endpoints/brokers-primary",
  ]);
  await holder.stop();
});

Deno.test("companions: a missing primary Service is created only with createService", async () => {
  const without = config(false);
  const kube = kubeWithService(without);
  const a = bed(without, kube);
  await a.clock.advance(100);
  assert.equal(
    kube.get({ resource: "services", namespace: "datastream", name: "brokers-primary" }),
    undefined,
  );
  assert.deepEqual(companionWrites(kube), []);
  await a.stop();
  const withCreate = config(true);
  const b = bed(withCreate, kube);
  await b.clock.advance(100);
  const created = kube.get({
    resource: "services",
    namespace: "datastream",
    name: "brokers-primary",
  }) as ServiceObject | undefined;
  assert.ok(created, "created");
  assert.equal(created.spec?.selector, undefined);
  assert.equal(companionWrites(kube).length, 4, companionWrites(kube).join(" "));
  await b.stop();
});

Deno.test("companions: a primary moving to another family is demoted first; replayed write by write, never two ready", async () => {
  const service = config();
  const kube = kubeWithService(service);
  kube.seed(serviceObject({ ...service, name: "brokers-primary" }, { uid: "p-uid" }));
  const { clock, state, reconciler, stop } = bed(service, kube);
  await clock.advance(100);
  for (const next of [V6, B, V6, A]) {
    state.primary = next;
    reconciler.transition(service, clock.now());
    await clock.advance(100);
  }
  // Replay every write of the primary's slices (and, apart, of its Endpoints).
  const slices = new Map<string, KubeObject | undefined>();
  let moves = 0;
  for (const write of kube.writes) {
    if (!write.name.startsWith("brokers-primary")) continue;
    if (write.resource === "endpointslices") {
      slices.set(write.name, write.object);
      const ready = [...slices.values()].reduce((sum, slice) => sum + readyCount(slice), 0);
      assert.ok(ready <= 1, `after ${write.verb} ${write.name}: ${ready} ready`);
      moves++;
    } else if (write.resource === "endpoints") {
      assert.ok(readyCount(write.object) <= 1);
    }
  }
  assert.ok(moves >= 6, `${moves} slice writes`);
  const last = [...slices.values()].flatMap((s) =>
    // deno-lint-ignore no-explicit-any
    ((s as any)?.endpoints ?? []).filter((e: any) => e.conditions?.ready).map((e: any) =>
      e.addresses[0]
    )
  );
  assert.deepEqual(last, [A]);
  await stop();
});

Deno.test("zone hints: a ready target without a zone turns them off with one WARN line, not one per write", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ level: "warn", write: (line) => lines.push(JSON.parse(line)) });
  const service = serviceConfig([{ address: A, zone: "a" }, { address: B }], {
    zones: { preferences: {}, hints: true, overprovisioning: 1.4, services: false },
  });
  const kube = kubeWithService(service);
  const clock = new FakeClock();
  const verdicts: Record<string, "healthy" | "unhealthy"> = { [A]: "healthy", [B]: "healthy" };
  const store: ObjectStore = new ObjectStore({
    client: kube,
    clock,
    log: silentLogger(),
    onChange: (change) => reconciler.storeChanged(change),
    onFailure: (resource, namespace) => reconciler.storeFailed(resource, namespace),
  });
  const reconciler: Reconciler = new Reconciler({
    services: [service],
    health: { status: (_s, address) => verdicts[address]!, checked: () => true },
    client: kube,
    store,
    clock,
    log,
  });
  Reconciler.track(store, [service]);
  reconciler.start();
  await clock.advance(100);
  for (const status of ["unhealthy", "healthy", "unhealthy"] as const) {
    verdicts[A] = status;
    reconciler.transition(service, clock.now());
    await clock.advance(100);
  }
  const warnings = lines.filter((l) => l.msg === "no zone hints written");
  assert.equal(warnings.length, 1, JSON.stringify(lines));
  assert.match(String(warnings[0]!.reason), /ready target '192\.0\.2\.2' has no zone/);
  // And no slice ever carried a hint.
  for (const write of kube.writes) {
    // deno-lint-ignore no-explicit-any
    for (const e of (write.object as any)?.endpoints ?? []) assert.equal(e.hints, undefined);
  }
  const stopping = Promise.all([reconciler.stop(), store.stop()]);
  await clock.advance(1);
  await stopping;
});
