/** The Lease client: MicroTime, create/get/update with optimistic concurrency (in memory). */

import assert from "node:assert/strict";
import { KubeError } from "../../src/kube/client.ts";
import {
  formatMicroTime,
  LeaseClient,
  leaseObject,
  observedLease,
  parseMicroTime,
} from "../../src/kube/lease.ts";
import { MemoryKube } from "../../src/kube/memory.ts";

const T = Date.UTC(2026, 11, 3, 8, 30, 0, 123);

Deno.test("MicroTime has six fractional digits and reads back to the millisecond", () => {
  assert.equal(formatMicroTime(T), "2026-12-03T08:30:00.123000Z");
  assert.equal(formatMicroTime(T + 0.456), "2026-12-03T08:30:00.123456Z");
  assert.equal(parseMicroTime("2026-12-03T08:30:00.123456Z"), T + 0.456);
  assert.equal(parseMicroTime("2026-12-03T08:30:00Z"), T - 123);
  assert.equal(parseMicroTime("2026-12-03T09:30:00.5+01:00"), T - 123 + 500);
  assert.equal(parseMicroTime(undefined), undefined);
  assert.equal(parseMicroTime("yesterday"), undefined);
});

Deno.test("a Lease object round-trips its record", () => {
  const record = {
    holder: "a/1",
    durationSeconds: 15,
    acquireTime: T,
    renewTime: T + 2000,
    transitions: 3,
  };
  const object = leaseObject("shop", "helaseid-cache", record, {
    labels: { "helaseid.io/replica": "true" },
  });
  assert.equal(object.apiVersion, "coordination.k8s.io/v1");
  assert.deepEqual(
    (object.spec as Record<string, unknown>).renewTime,
    "2026-12-03T08:30:02.123000Z",
  );
  const read = observedLease({ ...object, metadata: { ...object.metadata, resourceVersion: "7" } });
  assert.deepEqual(read.record, record);
  assert.equal(read.resourceVersion, "7");
  assert.deepEqual(read.labels, { "helaseid.io/replica": "true" });
});

Deno.test("an update naming a stale resourceVersion fails with 409 and changes nothing", async () => {
  const kube = new MemoryKube();
  const leases = new LeaseClient(kube);
  assert.equal(await leases.get("shop", "helaseid-cache"), undefined);
  const record = {
    holder: "a/1",
    durationSeconds: 15,
    acquireTime: T,
    renewTime: T,
    transitions: 0,
  };
  const created = await leases.create("shop", "helaseid-cache", record);
  await assert.rejects(
    () => leases.create("shop", "helaseid-cache", record),
    (error) => error instanceof KubeError && error.status === 409,
  );
  const renewed = await leases.update(created, { ...record, renewTime: T + 2000 });
  assert.equal(renewed.record.renewTime, T + 2000);
  // A second replica still holding the first version loses the race.
  await assert.rejects(
    () => leases.update(created, { ...record, holder: "b/2", transitions: 1 }),
    (error) => error instanceof KubeError && error.status === 409,
  );
  const now = await leases.get("shop", "helaseid-cache");
  assert.equal(now?.record.holder, "a/1");
  assert.equal(now?.record.renewTime, T + 2000);
});

Deno.test("an update keeps the Lease's labels, owners and fields it does not set", async () => {
  const kube = new MemoryKube();
  const leases = new LeaseClient(kube);
  const owner = { apiVersion: "v1", kind: "Pod", name: "helaseid-x", uid: "pod-uid" };
  const record = {
    holder: "a/1",
    durationSeconds: 15,
    acquireTime: T,
    renewTime: T,
    transitions: 0,
  };
  const created = await leases.create("shop", "r", record, {
    labels: { "helaseid.io/replica": "true" },
    ownerReferences: [owner],
  });
  // Someone else adds an annotation and a field of a newer API.
  const stored = kube.get({ resource: "leases", namespace: "shop", name: "r" })!;
  const touched = await kube.replace({
    ...stored,
    metadata: { ...stored.metadata, annotations: { note: "kept" } },
    spec: { ...(stored.spec as object), preferredHolder: "b/2" },
  });
  const read = await leases.get("shop", "r");
  assert.equal(read?.resourceVersion, touched.metadata.resourceVersion);
  await leases.update(read!, { ...record, renewTime: T + 2000 });
  const after = kube.get({ resource: "leases", namespace: "shop", name: "r" })!;
  assert.deepEqual(after.metadata.ownerReferences, [owner]);
  assert.deepEqual(after.metadata.labels, { "helaseid.io/replica": "true" });
  assert.deepEqual(after.metadata.annotations, { note: "kept" });
  assert.equal((after.spec as Record<string, unknown>).preferredHolder, "b/2");
  assert.equal((after.spec as Record<string, unknown>).renewTime, formatMicroTime(T + 2000));
  assert.ok(created);
});
