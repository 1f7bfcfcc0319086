/**
 * The reconciler under Lease ownership: a replica writes a Service only while it may
 * (`mayWrite`), a standby computes the same view and writes nothing, and a new holder writes
 * only what differs, without the conflict guard mistaking the handover for a fight.
 */

import assert from "node:assert/strict";
import type { ServiceConfig } from "../../src/config/schema.ts";
import type { MemoryKube } from "../../src/kube/memory.ts";
import { ObjectStore } from "../../src/kube/store.ts";
import type { EndpointSliceObject } from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { ANNOTATION_WRITER } from "../../src/publish/identity.ts";
import { type PublishState, Reconciler } from "../../src/publish/reconciler.ts";
import type { ViewStatus } from "../../src/publish/views.ts";
import { FakeClock, kubeWithService, serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1";
const B = "192.0.2.2";
const KEY = "datastream/brokers";

interface Replica {
  readonly reconciler: Reconciler;
  readonly store: ObjectStore;
  readonly verdicts: Map<string, ViewStatus>;
  holds: boolean;
  state(): PublishState;
}

function replica(
  kube: MemoryKube,
  config: ServiceConfig,
  clock: FakeClock,
  writer: string,
): Replica {
  const verdicts = new Map<string, ViewStatus>(config.targets.map((t) => [t.address, "healthy"]));
  const store: ObjectStore = new ObjectStore({
    client: kube,
    clock,
    log: silentLogger(),
    onChange: (change) => reconciler.storeChanged(change),
    onFailure: (resource, namespace) => reconciler.storeFailed(resource, namespace),
  });
  const gate = { holds: false };
  const reconciler: Reconciler = new Reconciler({
    services: [config],
    health: {
      status: (_service, address) => verdicts.get(address) ?? "unknown",
      checked: () => true,
    },
    client: kube,
    store,
    clock,
    log: silentLogger(),
    writer,
    random: () => 0.5,
    mayWrite: (service) => service === KEY && gate.holds,
  });
  Reconciler.track(store, [config]);
  reconciler.start();
  return {
    reconciler,
    store,
    verdicts,
    get holds() {
      return gate.holds;
    },
    set holds(value: boolean) {
      gate.holds = value;
    },
    state: () => reconciler.states()[0]!,
  };
}

function shown(kube: MemoryKube): { writer?: string; ready: Record<string, boolean> } {
  const slice = kube.get({
    resource: "endpointslices",
    namespace: "datastream",
    name: "brokers-helaseid-ipv4",
  }) as EndpointSliceObject | undefined;
  return {
    writer: slice?.metadata.annotations?.[ANNOTATION_WRITER],
    ready: Object.fromEntries(
      (slice?.endpoints ?? []).map((e) => [e.addresses[0], e.conditions?.ready ?? false]),
    ),
  };
}

async function stop(clock: FakeClock, ...replicas: Replica[]): Promise<void> {
  const stopping = Promise.all(replicas.flatMap((r) => [r.reconciler.stop(), r.store.stop()]));
  await clock.advance(1);
  await stopping;
}

Deno.test("only the Lease holder writes; a standby that disagrees writes nothing", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A, B]);
  const kube = kubeWithService(config);
  const a = replica(kube, config, clock, "a/1");
  const b = replica(kube, config, clock, "b/2");
  a.holds = true;
  a.reconciler.ownershipChanged(KEY);
  // The standby believes B is down: as it does not hold the Lease, that never reaches the API.
  b.verdicts.set(B, "unhealthy");
  await clock.advance(100);
  assert.deepEqual(shown(kube), { writer: "a/1", ready: { [A]: true, [B]: true } });
  const writes = kube.writes.length;
  for (let i = 0; i < 10; i++) {
    b.reconciler.transition(config, clock.now());
    await clock.advance(100);
  }
  assert.equal(kube.writes.length, writes, "the standby wrote");
  assert.equal(b.state().standby, true);
  assert.equal(b.state().blocked, undefined);
  assert.equal(a.state().standby, undefined);
  await stop(clock, a, b);
});

Deno.test("a new holder writes what it knows at once, and no conflict is seen on either side", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A, B]);
  const kube = kubeWithService(config);
  const a = replica(kube, config, clock, "a/1");
  const b = replica(kube, config, clock, "b/2");
  a.holds = true;
  a.reconciler.ownershipChanged(KEY);
  await clock.advance(100);
  assert.equal(shown(kube).writer, "a/1");
  // The holder goes (its Lease released); B goes down meanwhile; the standby takes over.
  a.holds = false;
  a.reconciler.ownershipChanged(KEY);
  a.verdicts.set(B, "unhealthy");
  b.verdicts.set(B, "unhealthy");
  a.reconciler.transition(config, clock.now());
  await clock.advance(100);
  assert.deepEqual(shown(kube).ready, { [A]: true, [B]: true }, "written without the Lease");
  assert.equal(a.state().standby, true, "the former holder shows itself as a standby");
  b.holds = true;
  b.reconciler.ownershipChanged(KEY);
  await clock.advance(10);
  assert.deepEqual(shown(kube), { writer: "b/2", ready: { [A]: true, [B]: false } });
  // Hand it back: A takes over B's objects without a conflict, and nothing flaps.
  b.holds = false;
  b.reconciler.ownershipChanged(KEY);
  a.holds = true;
  a.reconciler.ownershipChanged(KEY);
  const writes = kube.writes.length;
  await clock.advance(60_000);
  assert.equal(a.state().blocked, undefined);
  assert.equal(b.state().blocked, undefined);
  // Same view: the new holder has nothing to write.
  assert.equal(kube.writes.length, writes);
  a.verdicts.set(B, "healthy");
  a.reconciler.transition(config, clock.now());
  await clock.advance(10);
  assert.deepEqual(shown(kube), { writer: "a/1", ready: { [A]: true, [B]: true } });
  await clock.advance(60_000);
  assert.equal(a.state().blocked, undefined);
  await stop(clock, a, b);
});
