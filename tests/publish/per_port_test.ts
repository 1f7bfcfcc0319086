import assert from "node:assert/strict";
import type { ServiceConfig, ServicePort } from "../../src/config/schema.ts";
import type {
  EndpointSliceObject,
  EndpointsObject,
  KubeObject,
  ServiceObject,
} from "../../src/kube/types.ts";
import { desiredObjects } from "../../src/publish/objects.ts";
import { planChanges } from "../../src/publish/plan.ts";
import {
  portInputs,
  serviceView,
  shownPortReadiness,
  type ViewStatus,
} from "../../src/publish/views.ts";
import { serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1", B = "192.0.2.2", C = "192.0.2.3", V6 = "2001:db8::1";
const KAFKA: ServicePort = { name: "kafka", port: 9092, protocol: "TCP" };
const HTTP: ServicePort = { name: "http", port: 8080, protocol: "TCP" };

/** Two ports, each guarded by its own check. */
function twoPorts(addresses: string[], publish?: Partial<ServiceConfig["publish"]>) {
  const base = serviceConfig(addresses);
  return serviceConfig(addresses, {
    ports: [KAFKA, HTTP],
    checks: [{ type: "tcp", port: 9092 }, { type: "http", port: 8080 }],
    publish: { ...base.publish, ...publish },
  });
}

const service: ServiceObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "brokers", namespace: "datastream", uid: "uid-1" },
  spec: {
    ports: [
      { name: "kafka", port: 9092, targetPort: 9092, protocol: "TCP" },
      { name: "http", port: 8080, targetPort: 8080, protocol: "TCP" },
    ],
  },
};

type PortHealth = Record<string, { kafka: ViewStatus; http: ViewStatus }>;

/** The view of `config` when each address has the given status per port. */
function view(config: ServiceConfig, health: PortHealth, observed: KubeObject[] = []) {
  const overall = (address: string): ViewStatus => {
    const { kafka, http } = health[address]!;
    if (kafka === "healthy" && http === "healthy") return "healthy";
    return kafka === "unhealthy" || http === "unhealthy" ? "unhealthy" : "unknown";
  };
  const shown = new Map<string, boolean>();
  for (const [address, byPort] of shownPortReadiness(config, observed)) {
    shown.set(address, [...byPort.values()].some(Boolean));
  }
  return serviceView(
    config,
    overall,
    shown,
    portInputs(config, observed, (address, port) => health[address]![port as "kafka" | "http"]),
  );
}

function objects(config: ServiceConfig, health: PortHealth, observed: KubeObject[] = []) {
  return desiredObjects(config, view(config, health, observed), { service });
}

const slices = (list: KubeObject[]) =>
  list.filter((o) => o.kind === "EndpointSlice") as EndpointSliceObject[];

/** Slice name → [ports, [address, ready]...]. */
function layout(list: KubeObject[]) {
  return Object.fromEntries(
    slices(list).map((slice) => [
      slice.metadata.name,
      {
        ports: (slice.ports ?? []).map((port) => `${port.name}:${port.port}`),
        endpoints: (slice.endpoints ?? []).map((e) => `${e.addresses[0]} ${e.conditions?.ready}`),
      },
    ]),
  );
}

const UP = { kafka: "healthy", http: "healthy" } as const;
const HTTP_DOWN = { kafka: "healthy", http: "unhealthy" } as const;
const KAFKA_DOWN = { kafka: "unhealthy", http: "healthy" } as const;
const DOWN = { kafka: "unhealthy", http: "unhealthy" } as const;

Deno.test("per-port views: a target ready on some ports carries them; on none it is not ready", () => {
  const config = twoPorts([A, B, C]);
  const result = view(config, { [A]: UP, [B]: HTTP_DOWN, [C]: DOWN });
  assert.deepEqual(result.endpoints, [
    { address: A, ready: true, serving: true },
    { address: B, ready: true, serving: true, readyPorts: ["kafka"] },
    { address: C, ready: false, serving: false },
  ]);
  // Counts stay per target: B's overall verdict is unhealthy (not every check passes).
  assert.deepEqual([result.healthy, result.unhealthy, result.panic], [1, 2, false]);
});

Deno.test("per-port views: the panic guard publishes every target on every port", () => {
  const config = twoPorts([A, B]);
  const result = view(config, { [A]: HTTP_DOWN, [B]: DOWN });
  assert.equal(result.panic, true);
  assert.deepEqual(result.endpoints.map((e) => [e.ready, e.readyPorts]), [
    [true, undefined],
    [true, undefined],
  ]);
});

Deno.test("per-port views: publish.unhealthy remove drops only targets ready on no port", () => {
  const config = twoPorts([A, B, C], { unhealthy: "remove" });
  const result = view(config, { [A]: UP, [B]: KAFKA_DOWN, [C]: DOWN });
  assert.deepEqual(result.endpoints.map((e) => [e.address, e.readyPorts]), [
    [A, undefined],
    [B, ["http"]],
  ]);
});

Deno.test("per-port objects: one slice per family and port set, named after the ports", () => {
  const config = twoPorts([A, B, C, V6]);
  const list = objects(config, { [A]: UP, [B]: HTTP_DOWN, [C]: DOWN, [V6]: KAFKA_DOWN });
  assert.deepEqual(layout(list), {
    "brokers-helaseid-ipv4": {
      ports: ["http:8080", "kafka:9092"],
      endpoints: [`${A} true`, `${C} false`],
    },
    "brokers-helaseid-ipv4.kafka": { ports: ["kafka:9092"], endpoints: [`${B} true`] },
    "brokers-helaseid-ipv6": { ports: ["http:8080", "kafka:9092"], endpoints: [] },
    "brokers-helaseid-ipv6.http": { ports: ["http:8080"], endpoints: [`${V6} true`] },
  });
  for (const slice of slices(list)) {
    assert.equal(slice.metadata.labels?.["kubernetes.io/service-name"], "brokers");
    assert.equal(slice.metadata.ownerReferences?.[0]?.uid, "uid-1");
  }
  const endpoints = list.find((o) => o.kind === "Endpoints") as EndpointsObject;
  const port = (name: string, number: number) => ({ name, port: number, protocol: "TCP" });
  assert.deepEqual(endpoints.subsets, [
    {
      addresses: [{ ip: A }],
      notReadyAddresses: [{ ip: C }],
      ports: [port("http", 8080), port("kafka", 9092)],
    },
    { addresses: [{ ip: V6 }], ports: [port("http", 8080)] },
    { addresses: [{ ip: B }], ports: [port("kafka", 9092)] },
  ]);
});

Deno.test("per-port objects: every target healthy gives exactly the single-set objects", () => {
  const config = twoPorts([A, B]);
  const list = objects(config, { [A]: UP, [B]: UP });
  assert.deepEqual(Object.keys(layout(list)), ["brokers-helaseid-ipv4"]);
  const endpoints = list.find((o) => o.kind === "Endpoints") as EndpointsObject;
  assert.equal(endpoints.subsets?.length, 1);
});

/** What the API hands back: server fields added, lists reversed. */
function asObserved(list: KubeObject[]): KubeObject[] {
  return structuredClone(list).reverse().map((object, i) => {
    const copy = structuredClone(object) as KubeObject & { endpoints?: unknown[] };
    if (copy.endpoints) copy.endpoints = [...copy.endpoints].reverse();
    return { ...copy, metadata: { ...copy.metadata, resourceVersion: String(i + 1) } };
  });
}

Deno.test("per-port plan: steady state is empty; a move between port sets deletes the old slice", () => {
  const config = twoPorts([A, B, C]);
  const before = objects(config, { [A]: UP, [B]: HTTP_DOWN, [C]: UP });
  assert.deepEqual(planChanges(before, asObserved(before)), []);

  // B recovers on http: it joins the full slice, and the kafka-only slice goes.
  const after = objects(config, { [A]: UP, [B]: UP, [C]: UP });
  const actions = planChanges(after, asObserved(before));
  assert.deepEqual(
    actions.map((a) =>
      a.type === "apply" ? `apply ${a.object.metadata.name}` : `delete ${a.ref.name}`
    )
      .sort(),
    ["apply brokers", "apply brokers-helaseid-ipv4", "delete brokers-helaseid-ipv4.kafka"],
  );

  // C loses kafka instead: a new http-only slice, B's kafka-only one stays as it was.
  const moved = objects(config, { [A]: UP, [B]: HTTP_DOWN, [C]: KAFKA_DOWN });
  assert.deepEqual(
    planChanges(moved, asObserved(before)).map((a) =>
      a.type === "apply" ? `apply ${a.object.metadata.name} ${a.reason}` : `delete ${a.ref.name}`
    ).sort(),
    [
      "apply brokers changed",
      "apply brokers-helaseid-ipv4 changed",
      "apply brokers-helaseid-ipv4.http missing",
    ],
  );
});

Deno.test("per-port views: without a verdict a target keeps per port what the API shows", () => {
  const config = twoPorts([A, B]);
  const published = asObserved(objects(config, { [A]: UP, [B]: HTTP_DOWN }));
  const unknown = { kafka: "unknown", http: "unknown" } as const;
  // A restart: no verdicts yet, the same objects again, so nothing is written.
  const again = objects(config, { [A]: unknown, [B]: unknown }, published);
  assert.deepEqual(planChanges(again, published), []);
  assert.deepEqual(
    [...shownPortReadiness(config, published)].map((
      [address, ports],
    ) => [address, [...ports].sort()])
      .sort(),
    [[A, [["http", true], ["kafka", true]]], [B, [["kafka", true]]]],
  );
});

Deno.test("per-port objects: a long port set is named by a hash within the API's limit", () => {
  const ports: ServicePort[] = Array.from({ length: 30 }, (_, i) => ({
    name: `port-number-${i}`,
    port: 10000 + i,
    protocol: "TCP",
  }));
  const config = serviceConfig([A, B], {
    ports,
    checks: [...ports.map((p) => ({ type: "tcp" as const, port: p.port }))],
  });
  const full = { ...service, spec: { ports: ports.map((p) => ({ ...p, targetPort: p.port })) } };
  const ready = ports.slice(1).map((p) => p.name).sort();
  const list = desiredObjects(
    config,
    serviceView(config, (address) => address === A ? "unhealthy" : "healthy", new Map(), {
      status: (address, port) =>
        address === A && port === "port-number-0" ? "unhealthy" : "healthy",
      shown: new Map(),
    }),
    { service: full },
  );
  const names = slices(list).map((s) => s.metadata.name);
  assert.equal(names.length, 2);
  assert.match(names[1]!, /^brokers-helaseid-ipv4\.h[0-9a-f]{8}$/);
  assert.deepEqual(slices(list)[1]!.ports?.map((p) => p.name).sort(), ready);
});
