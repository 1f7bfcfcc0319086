import assert from "node:assert/strict";
import {
  configMapTargets,
  endpointSliceTargets,
  nodeTargets,
  podTargets,
  targetFields,
} from "../../src/discovery/kube_targets.ts";
import type {
  ConfigMapObject,
  EndpointSliceObject,
  KubeObject,
  NodeObject,
  PodObject,
  SliceEndpoint,
} from "../../src/kube/types.ts";

function node(
  name: string,
  addresses: Record<string, string | string[]>,
  options: { labels?: Record<string, string>; unschedulable?: boolean } = {},
): NodeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: options.labels ?? {} },
    spec: options.unschedulable === undefined ? {} : { unschedulable: options.unschedulable },
    status: {
      addresses: Object.entries(addresses).flatMap(([type, value]) =>
        (Array.isArray(value) ? value : [value]).map((address) => ({ type, address }))
      ),
    },
  };
}

const INTERNAL = { addressType: "InternalIP", skipUnschedulable: true } as const;

Deno.test("nodes: the configured address type, zone and region from the topology labels", () => {
  const nodes = [
    node("kafka-2", { InternalIP: "192.0.2.12", ExternalIP: "198.51.100.12" }, {
      labels: { "topology.kubernetes.io/zone": "az-b", "topology.kubernetes.io/region": "eu" },
    }),
    node("kafka-1", { InternalIP: "192.0.2.11", Hostname: "kafka-1" }, {
      labels: { "topology.kubernetes.io/zone": "az-a" },
    }),
  ];
  assert.deepEqual(nodeTargets(nodes, INTERNAL), [
    { address: "192.0.2.11", zone: "az-a", hostname: "kafka-1" },
    { address: "192.0.2.12", zone: "az-b", region: "eu", hostname: "kafka-2" },
  ]);
  assert.deepEqual(nodeTargets(nodes, { ...INTERNAL, addressType: "ExternalIP" }), [
    { address: "198.51.100.12", zone: "az-b", region: "eu", hostname: "kafka-2" },
  ], "no fallback: kafka-1 has no ExternalIP and is skipped");
});

Deno.test("nodes: a dual-stack node gives one target per address; a FQDN name is no hostname", () => {
  const nodes = [node("ip-10-0-0-1.ec2.internal", { InternalIP: ["192.0.2.21", "2001:db8::21"] })];
  assert.deepEqual(nodeTargets(nodes, INTERNAL), [
    { address: "192.0.2.21" },
    { address: "2001:db8::21" },
  ]);
});

Deno.test("nodes: a cordoned node is skipped only when skipUnschedulable is set", () => {
  const nodes = [
    node("a", { InternalIP: "192.0.2.31" }, { unschedulable: true }),
    node("b", { InternalIP: "192.0.2.32" }, { unschedulable: false }),
  ];
  assert.deepEqual(nodeTargets(nodes, INTERNAL).map((t) => t.address), ["192.0.2.32"]);
  assert.deepEqual(
    nodeTargets(nodes, { ...INTERNAL, skipUnschedulable: false }).map((t) => t.address),
    ["192.0.2.31", "192.0.2.32"],
  );
});

Deno.test("nodes: input order does not matter and inputs are not changed", () => {
  const nodes = Object.freeze([
    node("a", { InternalIP: "192.0.2.41" }),
    node("b", { InternalIP: "192.0.2.40" }),
    node("c", { InternalIP: "192.0.2.41" }),
  ]);
  const expected = [
    { address: "192.0.2.40", hostname: "b" },
    { address: "192.0.2.41", hostname: "a" },
  ];
  assert.deepEqual(nodeTargets(nodes, INTERNAL), expected, "deduplicated, first name wins");
  assert.deepEqual(nodeTargets([...nodes].reverse(), INTERNAL), expected);
});

function pod(
  name: string,
  status: PodObject["status"],
  options: { hostname?: string; deleting?: boolean } = {},
): PodObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: "shop",
      ...(options.deleting ? { deletionTimestamp: "2026-12-03T10:00:00Z" } : {}),
    },
    spec: options.hostname ? { hostname: options.hostname } : {},
    status,
  };
}

const READY = [{ type: "Ready", status: "True" }];

Deno.test("pods: readyOnly keeps Running+Ready pods that are not being deleted", () => {
  const pods = [
    pod("db-0", { phase: "Running", podIP: "192.0.2.50", conditions: READY }),
    pod("db-1", {
      phase: "Running",
      podIP: "192.0.2.51",
      conditions: [{ type: "Ready", status: "False" }],
    }),
    pod("db-2", { phase: "Pending", podIP: "192.0.2.52", conditions: READY }),
    pod("db-3", { phase: "Running", podIP: "192.0.2.53", conditions: READY }, { deleting: true }),
    pod("db-4", { phase: "Running", podIP: "192.0.2.54" }),
  ];
  assert.deepEqual(podTargets(pods, { readyOnly: true }), [
    { address: "192.0.2.50", hostname: "db-0" },
  ]);
  assert.deepEqual(
    podTargets(pods, { readyOnly: false }).map((t) => t.address),
    ["192.0.2.50", "192.0.2.51", "192.0.2.52", "192.0.2.53", "192.0.2.54"],
  );
});

Deno.test("pods: finished pods never count; podIPs win over podIP; no IP is no target", () => {
  const pods = [
    pod("done", { phase: "Succeeded", podIP: "192.0.2.60" }),
    pod("failed", { phase: "Failed", podIP: "192.0.2.61" }),
    pod("dual", {
      phase: "Running",
      podIP: "192.0.2.62",
      podIPs: [{ ip: "192.0.2.62" }, { ip: "2001:db8::62" }],
      conditions: READY,
    }, { hostname: "dual-host" }),
    pod("new", { phase: "Pending" }),
  ];
  assert.deepEqual(podTargets(pods, { readyOnly: false }), [
    { address: "192.0.2.62", hostname: "dual-host" },
    { address: "2001:db8::62", hostname: "dual-host" },
  ]);
});

Deno.test("pods: the pod name is the hostname only when it is a DNS label", () => {
  const pods = [pod("web.v2", { phase: "Running", podIP: "192.0.2.63", conditions: READY })];
  assert.deepEqual(podTargets(pods, { readyOnly: true }), [{ address: "192.0.2.63" }]);
});

function slice(
  name: string,
  endpoints: SliceEndpoint[],
  addressType: EndpointSliceObject["addressType"] = "IPv4",
): EndpointSliceObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: "shop", labels: { "kubernetes.io/service-name": "other" } },
    addressType,
    endpoints,
  };
}

Deno.test("endpointslices: nil ready is ready; false is skipped only with readyOnly", () => {
  const slices = [
    slice("other-abc", [
      { addresses: ["192.0.2.70"], zone: "az-a", hostname: "other-0" },
      { addresses: ["192.0.2.71"], conditions: { ready: true } },
      { addresses: ["192.0.2.72"], conditions: { ready: false, terminating: true } },
    ]),
  ];
  assert.deepEqual(endpointSliceTargets(slices, { readyOnly: true }), [
    { address: "192.0.2.70", zone: "az-a", hostname: "other-0" },
    { address: "192.0.2.71" },
  ]);
  assert.deepEqual(
    endpointSliceTargets(slices, { readyOnly: false }).map((t) => t.address),
    ["192.0.2.70", "192.0.2.71", "192.0.2.72"],
  );
});

Deno.test("endpointslices: deduplicated across slices, FQDN slices skipped, order-independent", () => {
  const slices = [
    slice("other-b", [{ addresses: ["192.0.2.80"], zone: "az-b" }]),
    slice("other-a", [{ addresses: ["192.0.2.80"], zone: "az-a" }, {
      addresses: ["192.0.2.81"],
    }]),
    slice("other-v6", [{ addresses: ["2001:db8::80"] }], "IPv6"),
    slice("other-fqdn", [{ addresses: ["db.example"] }], "FQDN"),
    { ...slice("other-empty", []), endpoints: null },
  ];
  const expected = [
    { address: "192.0.2.80", zone: "az-a" },
    { address: "192.0.2.81" },
    { address: "2001:db8::80" },
  ];
  assert.deepEqual(endpointSliceTargets(slices, { readyOnly: true }), expected);
  assert.deepEqual(endpointSliceTargets([...slices].reverse(), { readyOnly: true }), expected);
});

function configMap(data: Record<string, string>, binaryData?: Record<string, string>) {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "targets", namespace: "shop" },
    data,
    ...(binaryData ? { binaryData } : {}),
  } satisfies ConfigMapObject;
}

Deno.test("configmap: a text list, a YAML list, binaryData", () => {
  assert.deepEqual(
    configMapTargets(configMap({ list: "192.0.2.91 192.0.2.90 # two\n192.0.2.90\n" }), "list"),
    { ok: true, targets: [{ address: "192.0.2.90" }, { address: "192.0.2.91" }] },
  );
  assert.deepEqual(
    configMapTargets(
      configMap({ "targets.yaml": "- 192.0.2.92\n- {address: 192.0.2.93, zone: az-a}\n" }),
      "targets.yaml",
    ),
    { ok: true, targets: [{ address: "192.0.2.92" }, { address: "192.0.2.93", zone: "az-a" }] },
  );
  assert.deepEqual(
    configMapTargets(configMap({}, { list: btoa("192.0.2.94\n") }), "list"),
    { ok: true, targets: [{ address: "192.0.2.94" }] },
  );
});

Deno.test("configmap: missing ConfigMap and empty value are empty sets; a missing key fails", () => {
  assert.deepEqual(configMapTargets(undefined, "list"), { ok: true, targets: [] });
  assert.deepEqual(configMapTargets(configMap({ list: "" }), "list"), { ok: true, targets: [] });
  assert.deepEqual(configMapTargets(configMap({ other: "192.0.2.95" }), "list"), {
    ok: false,
    error: "ConfigMap 'targets' has no key 'list'",
  });
});

Deno.test("configmap: one malformed entry fails the whole list, naming the line and value", () => {
  const result = configMapTargets(configMap({ list: "192.0.2.96\nkafka-1\n" }), "list");
  assert.equal(result.ok, false);
  assert.match(
    !result.ok ? result.error : "",
    /^key 'list' of ConfigMap 'targets' is not a valid target list: line 2: .*'kafka-1'/,
  );
  const many = configMapTargets(configMap({ list: "a b c d e" }), "list");
  assert.match(!many.ok ? many.error : "", /; and 2 more$/);
});

Deno.test("targetFields: what a source keeps gives the same targets, without the bulk", () => {
  const bulky = <T extends KubeObject>(object: T): T => ({
    ...object,
    metadata: { ...object.metadata, managedFields: [{ manager: "kubelet" }] },
    status: { ...(object.status as object), images: [{ names: ["registry.invalid/big:1"] }] },
  });
  const nodes = [
    bulky(node("a", { InternalIP: "192.0.2.1" }, {
      labels: { "topology.kubernetes.io/zone": "az-a" },
      unschedulable: true,
    })),
    bulky(node("b", { InternalIP: "192.0.2.2" })),
  ];
  const pods = [
    bulky(pod("db-0", { phase: "Running", podIPs: [{ ip: "192.0.2.3" }], conditions: READY }, {
      hostname: "h",
    })),
    bulky(pod("db-1", { phase: "Running", podIP: "192.0.2.4", conditions: READY }, {
      deleting: true,
    })),
  ];
  const slices = [slice("s", [{ addresses: ["192.0.2.5"], conditions: { ready: false } }, {
    addresses: ["192.0.2.6"],
    zone: "az-b",
    hostname: "x",
  }])];
  const map = configMap({ list: "192.0.2.7" });
  const kept = <T extends KubeObject>(objects: T[]) => objects.map((o) => targetFields(o) as T);
  for (const options of [INTERNAL, { ...INTERNAL, skipUnschedulable: false }]) {
    assert.deepEqual(nodeTargets(kept(nodes), options), nodeTargets(nodes, options));
  }
  for (const readyOnly of [true, false]) {
    assert.deepEqual(podTargets(kept(pods), { readyOnly }), podTargets(pods, { readyOnly }));
    assert.deepEqual(
      endpointSliceTargets(kept(slices), { readyOnly }),
      endpointSliceTargets(slices, { readyOnly }),
    );
  }
  assert.deepEqual(configMapTargets(kept([map])[0], "list"), configMapTargets(map, "list"));
  const text = JSON.stringify([...nodes, ...pods].map(targetFields));
  assert.doesNotMatch(text, /managedFields|images|registry\.invalid/);
});
