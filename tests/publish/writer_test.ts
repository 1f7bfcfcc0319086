import assert from "node:assert/strict";
import { MemoryKube } from "../../src/kube/memory.ts";
import { ObjectStore } from "../../src/kube/store.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { desiredObjects, serviceObject } from "../../src/publish/objects.ts";
import type { Action } from "../../src/publish/plan.ts";
import { serviceView } from "../../src/publish/views.ts";
import { executePlan } from "../../src/publish/writer.ts";
import { FakeClock, serviceConfig } from "../support/fakes.ts";

/** An API whose applies wait until the test releases them, recording starts and ends. */
class GatedKube extends MemoryKube {
  readonly log: string[] = [];
  readonly #gates: (() => void)[] = [];

  override async apply(object: KubeObject): Promise<KubeObject> {
    this.log.push(`start ${object.kind}/${object.metadata.name}`);
    await new Promise<void>((resolve) => this.#gates.push(resolve));
    const stored = await super.apply(object);
    this.log.push(`end ${object.kind}/${object.metadata.name}`);
    return stored;
  }

  /** Lets the oldest waiting apply go on. */
  release(): void {
    this.#gates.shift()?.();
  }

  get waiting(): number {
    return this.#gates.length;
  }
}

async function turns(): Promise<void> {
  for (let i = 0; i < 20; i++) await null;
}

Deno.test("writer: every slice is written, together, before the legacy Endpoints", async () => {
  const clock = new FakeClock();
  const config = serviceConfig(["192.0.2.1", "2001:db8::1"]);
  const view = serviceView(config, () => "healthy", new Map());
  const objects = desiredObjects(config, view, { service: serviceObject(config, { uid: "u" }) });
  // Endpoints first in the plan: the writer must reorder.
  const actions: Action[] = [...objects].reverse().map((object) => ({
    type: "apply",
    object,
    reason: "missing",
  }));
  assert.equal(actions[0]!.type === "apply" && actions[0]!.object.kind, "Endpoints");
  const kube = new GatedKube();
  const store = new ObjectStore({ client: kube, clock, log: silentLogger(), onChange: () => {} });
  const running = executePlan(actions, {
    client: kube,
    store,
    clock,
    service: "datastream/brokers",
  });
  await turns();
  assert.equal(kube.waiting, 2, "both slices are written concurrently");
  kube.release();
  await turns();
  assert.equal(kube.waiting, 1, "the Endpoints wait for the last slice");
  kube.release();
  await turns();
  kube.release();
  const results = await running;
  assert.deepEqual(kube.log, [
    "start EndpointSlice/brokers-helaseid-ipv6",
    "start EndpointSlice/brokers-helaseid-ipv4",
    "end EndpointSlice/brokers-helaseid-ipv6",
    "end EndpointSlice/brokers-helaseid-ipv4",
    "start Endpoints/brokers",
    "end Endpoints/brokers",
  ]);
  assert.deepEqual(results.map((r) => [r.kind, r.ok]), [
    ["EndpointSlice", true],
    ["EndpointSlice", true],
    ["Endpoints", true],
  ]);
});

Deno.test("writer: a failed write is reported with its status; the others still happen", async () => {
  const clock = new FakeClock();
  const config = serviceConfig(["192.0.2.1"]);
  const view = serviceView(config, () => "healthy", new Map());
  const objects = desiredObjects(config, view, { service: serviceObject(config, { uid: "u" }) });
  const kube = new MemoryKube();
  const failing = Object.assign(Object.create(kube), {
    apply: (object: KubeObject) =>
      object.kind === "EndpointSlice"
        ? Promise.reject(Object.assign(new Error("Cannot apply: forbidden"), { status: 403 }))
        : kube.apply(object),
  }) as MemoryKube;
  const store = new ObjectStore({ client: kube, clock, log: silentLogger(), onChange: () => {} });
  const results = await executePlan(
    objects.map((object) => ({ type: "apply", object, reason: "missing" })),
    { client: failing, store, clock, service: "datastream/brokers" },
  );
  assert.deepEqual(results.map((r) => [r.kind, r.ok, r.status, r.error]), [
    ["EndpointSlice", false, 403, "Cannot apply: forbidden"],
    ["Endpoints", true, undefined, undefined],
  ]);
  assert.deepEqual(kube.writes.map((w) => w.resource), ["endpoints"]);
});
