import assert from "node:assert/strict";
import { PUBLISH_DEFAULTS } from "../../src/config/schema.ts";
import type { EndpointSliceObject, EndpointsObject, ServiceObject } from "../../src/kube/types.ts";
import {
  ANNOTATION_OVER_CAPACITY,
  ANNOTATION_TRIGGER_TIME,
  desiredObjects,
  endpointPorts,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  LABEL_SKIP_MIRROR,
} from "../../src/publish/objects.ts";
import { serviceView } from "../../src/publish/views.ts";
import { serviceConfig } from "../support/fakes.ts";

const service: ServiceObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "brokers", namespace: "datastream", uid: "uid-1" },
  spec: { ports: [{ name: "kafka", port: 9092, targetPort: 9092, protocol: "TCP" }] },
};

function build(addresses: string[], down: string[] = [], publish = PUBLISH_DEFAULTS) {
  const config = serviceConfig(addresses, { publish });
  const view = serviceView(
    config,
    (address) => down.includes(address) ? "unhealthy" : "healthy",
    new Map(),
  );
  return desiredObjects(config, view, { service, triggerTime: Date.UTC(2026, 10, 26, 4, 30) });
}

Deno.test("objects: one EndpointSlice per family with the labels, owner and ports", () => {
  const objects = build(["192.0.2.2", "2001:db8::1", "192.0.2.1"], ["192.0.2.2"]);
  const slices = objects.filter((o) => o.kind === "EndpointSlice") as EndpointSliceObject[];
  assert.deepEqual(slices.map((s) => [s.metadata.name, s.addressType]), [
    ["brokers-helaseid-ipv4", "IPv4"],
    ["brokers-helaseid-ipv6", "IPv6"],
  ]);
  const [v4] = slices;
  assert.deepEqual(v4!.metadata.labels, {
    [LABEL_SERVICE_NAME]: "brokers",
    [LABEL_MANAGED_BY]: "helaseid",
  });
  assert.equal(v4!.metadata.annotations?.[ANNOTATION_TRIGGER_TIME], "2026-11-26T04:30:00.000Z");
  assert.deepEqual(v4!.metadata.ownerReferences, [
    { apiVersion: "v1", kind: "Service", name: "brokers", uid: "uid-1", controller: true },
  ]);
  assert.deepEqual(v4!.ports, [{ name: "kafka", port: 9092, protocol: "TCP" }]);
  assert.deepEqual(v4!.endpoints, [
    { addresses: ["192.0.2.1"], conditions: { ready: true, serving: true, terminating: false } },
    { addresses: ["192.0.2.2"], conditions: { ready: false, serving: false, terminating: false } },
  ]);
});

Deno.test("objects: legacy Endpoints carry unhealthy targets as notReadyAddresses", () => {
  const objects = build(["192.0.2.1", "192.0.2.2"], ["192.0.2.2"]);
  const endpoints = objects.find((o) => o.kind === "Endpoints") as EndpointsObject;
  assert.equal(endpoints.metadata.name, "brokers");
  assert.equal(endpoints.metadata.labels?.[LABEL_SKIP_MIRROR], "true");
  assert.deepEqual(endpoints.subsets, [{
    addresses: [{ ip: "192.0.2.1" }],
    notReadyAddresses: [{ ip: "192.0.2.2" }],
    ports: [{ name: "kafka", port: 9092, protocol: "TCP" }],
  }]);
});

Deno.test("objects: legacy Endpoints can be switched off", () => {
  const objects = build(["192.0.2.1"], [], { ...PUBLISH_DEFAULTS, endpoints: false });
  assert.deepEqual(objects.map((o) => o.kind), ["EndpointSlice"]);
});

Deno.test("objects: more than 1000 endpoints spill into numbered slices", () => {
  const addresses = Array.from({ length: 1500 }, (_, i) => `192.0.${2 + (i >> 8)}.${i & 255}`);
  const slices = build(addresses).filter((o) =>
    o.kind === "EndpointSlice"
  ) as EndpointSliceObject[];
  assert.deepEqual(slices.map((s) => [s.metadata.name, s.endpoints?.length]), [
    ["brokers-helaseid-ipv4", 1000],
    ["brokers-helaseid-ipv4-1", 500],
  ]);
});

Deno.test("objects: an empty family slice stays (updated, never deleted and re-created)", () => {
  const objects = build(["192.0.2.1"], ["192.0.2.1"], {
    ...PUBLISH_DEFAULTS,
    unhealthy: "remove",
    allDown: "empty",
  });
  const slice = objects.find((o) => o.kind === "EndpointSlice") as EndpointSliceObject;
  assert.deepEqual(slice.endpoints, []);
  const endpoints = objects.find((o) => o.kind === "Endpoints") as EndpointsObject;
  assert.deepEqual(endpoints.subsets, []);
});

Deno.test("objects: ports are named after the Service's port that targets them", () => {
  const config = serviceConfig(["192.0.2.1"]);
  const named = (ports: NonNullable<ServiceObject["spec"]>["ports"]) =>
    endpointPorts(config, { ...service, spec: { ports } })[0]?.name;
  assert.equal(named([{ name: "client", port: 80, targetPort: 9092 }]), "client");
  assert.equal(named([{ name: "plain", port: 9092 }]), "plain");
  assert.equal(named([{ port: 9092 }]), "");
  assert.equal(named([{ name: "other", port: 80, targetPort: 8080 }]), "", "no match: config name");
  assert.equal(named([{ name: "udp", port: 9092, protocol: "UDP" }]), "");
});

Deno.test("objects: Endpoints keep 1000 addresses, ready ones first, and say they were truncated", () => {
  // 1,200 targets: 300 unhealthy ones first in address order, then 900 healthy.
  const addresses = Array.from({ length: 1200 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  const down = new Set(addresses.slice(0, 300));
  const config = serviceConfig(addresses);
  const view = serviceView(
    config,
    (address) => down.has(address) ? "unhealthy" : "healthy",
    new Map(),
  );
  const objects = desiredObjects(config, view, { service });
  const endpoints = objects.find((o) => o.kind === "Endpoints") as EndpointsObject;
  const [subset] = endpoints.subsets!;
  assert.equal(subset!.addresses!.length, 900, "every ready address");
  assert.equal(subset!.notReadyAddresses!.length, 100, "not-ready ones fill up to 1000");
  assert.ok(subset!.addresses!.every((a) => !down.has(a.ip)));
  assert.equal(endpoints.metadata.annotations?.[ANNOTATION_OVER_CAPACITY], "truncated");
  // The slices keep every endpoint, 1000 per slice.
  const slices = objects.filter((o) => o.kind === "EndpointSlice") as EndpointSliceObject[];
  assert.deepEqual(slices.map((s) => s.endpoints!.length), [1000, 200]);
  // More ready addresses than fit: only ready ones.
  const allUp = serviceView(config, () => "healthy", new Map());
  const full = desiredObjects(config, allUp, { service })
    .find((o) => o.kind === "Endpoints") as EndpointsObject;
  assert.equal(full.subsets![0]!.addresses!.length, 1000);
  assert.equal(full.subsets![0]!.notReadyAddresses, undefined);
  // At the limit nothing is cut and there is no annotation.
  const exact = serviceConfig(addresses.slice(0, 1000));
  const fits = desiredObjects(exact, serviceView(exact, () => "healthy", new Map()), { service })
    .find((o) => o.kind === "Endpoints") as EndpointsObject;
  assert.equal(fits.subsets![0]!.addresses!.length, 1000);
  assert.equal(fits.metadata.annotations?.[ANNOTATION_OVER_CAPACITY], undefined);
});
