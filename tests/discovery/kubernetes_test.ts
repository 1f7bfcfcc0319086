/**
 * When a Kubernetes source emits, on the in-memory client (the API's own behaviour — RBAC,
 * watches ending, status subresources — is proven in tests/integration/kube_source_test.ts).
 */

import assert from "node:assert/strict";
import { createKubernetesSource, kubernetesSourceName } from "../../src/discovery/kubernetes.ts";
import type { SourceUpdate } from "../../src/discovery/types.ts";
import { KubeError } from "../../src/kube/client.ts";
import { MemoryKube } from "../../src/kube/memory.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { FakeClock, settle } from "../support/fakes.ts";

function node(name: string, address: string, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels },
    status: { addresses: [{ type: "InternalIP", address }] },
  };
}

const NODES = {
  type: "nodes",
  labelSelector: "role=kafka",
  addressType: "InternalIP",
  skipUnschedulable: true,
} as const;

function addresses(update: SourceUpdate | undefined): string[] | string {
  if (!update) return "nothing";
  return update.ok ? update.targets.map((t) => t.address) : `failed: ${update.error}`;
}

Deno.test("kubernetes source: names say what is watched", () => {
  assert.equal(kubernetesSourceName(NODES), "nodes role=kafka");
  assert.equal(kubernetesSourceName({ ...NODES, labelSelector: undefined }), "nodes");
  assert.equal(
    kubernetesSourceName(
      { type: "pods", namespace: "", labelSelector: "app=db", readyOnly: true },
      "shop",
    ),
    "pods shop/app=db",
  );
  assert.equal(
    kubernetesSourceName({
      type: "endpointslices",
      namespace: "shop",
      service: "other",
      readyOnly: true,
    }),
    "endpointslices shop/other",
  );
  assert.equal(
    kubernetesSourceName({ type: "configmap", namespace: "shop", name: "targets", key: "list" }),
    "configmap shop/targets:list",
  );
});

Deno.test("kubernetes source: first set after the list, then one update per change", async () => {
  const kube = new MemoryKube();
  kube.seed(node("kafka-1", "192.0.2.1", { role: "kafka" }));
  kube.seed(node("web-1", "192.0.2.9", { role: "web" }));
  const clock = new FakeClock();
  const updates: SourceUpdate[] = [];
  const source = createKubernetesSource(NODES, { client: kube, clock, log: silentLogger() });
  source.start((update) => updates.push(update));
  try {
    await settle();
    assert.deepEqual(updates.map(addresses), [["192.0.2.1"]]);
    await kube.apply(node("kafka-2", "192.0.2.2", { role: "kafka" }));
    await settle();
    assert.deepEqual(updates.map(addresses).at(-1), ["192.0.2.1", "192.0.2.2"]);
    // A change to an object outside the set (a label edit that keeps it out) sends nothing.
    const count = updates.length;
    await kube.apply(node("web-1", "192.0.2.9", { role: "web", tier: "front" }));
    await kube.apply(node("kafka-2", "192.0.2.2", { role: "kafka", note: "same target" }));
    await settle();
    assert.equal(updates.length, count, "an unchanged set is not sent again");
  } finally {
    await source.stop();
  }
});

Deno.test("kubernetes source: a failing list is sent once; recovery sends a fresh set", async () => {
  const kube = new MemoryKube();
  kube.seed(node("kafka-1", "192.0.2.1", { role: "kafka" }));
  kube.failure = new KubeError("Cannot list Node in the cluster: forbidden", {
    status: 403,
    reason: "Forbidden",
  });
  const clock = new FakeClock();
  const updates: SourceUpdate[] = [];
  const source = createKubernetesSource(NODES, {
    client: kube,
    clock,
    log: silentLogger(),
    backoff: { initial: 100, max: 100 },
  });
  source.start((update) => updates.push(update));
  try {
    await settle();
    await clock.advance(1000); // ten retries of the same failure
    assert.deepEqual(updates.map(addresses), [
      "failed: nodes role=kafka: list nodes: 403 Forbidden",
    ]);
    kube.failure = undefined;
    await clock.advance(100);
    assert.deepEqual(updates.map(addresses).at(-1), ["192.0.2.1"]);
    assert.equal(updates.length, 2);
  } finally {
    await source.stop();
  }
  const after = updates.length;
  await kube.apply(node("kafka-3", "192.0.2.3", { role: "kafka" }));
  await settle();
  assert.equal(updates.length, after, "nothing is sent after stop");
});

Deno.test("kubernetes source: a ConfigMap is read by name; a malformed list fails, a fix recovers", async () => {
  const kube = new MemoryKube();
  const configMap = (list: string, name = "targets"): KubeObject => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: "shop" },
    data: { list },
  });
  kube.seed(configMap("192.0.2.7", "other"));
  const updates: SourceUpdate[] = [];
  const source = createKubernetesSource(
    { type: "configmap", namespace: "", name: "targets", key: "list" },
    { client: kube, clock: new FakeClock(), log: silentLogger(), defaultNamespace: "shop" },
  );
  source.start((update) => updates.push(update));
  try {
    await settle();
    assert.deepEqual(updates.map(addresses), [[]], "no ConfigMap yet: an empty set");
    await kube.apply(configMap("192.0.2.5 192.0.2.6"));
    await settle();
    await kube.apply(configMap("192.0.2.5 not-an-ip"));
    await settle();
    await kube.apply(configMap("192.0.2.6"));
    await settle();
    const seen = updates.map(addresses);
    assert.deepEqual(seen.slice(1, 2), [["192.0.2.5", "192.0.2.6"]]);
    assert.match(
      String(seen[2]),
      /^failed: configmap shop\/targets:list: key 'list' of ConfigMap 'targets' is not a valid target list: line 1: .*'not-an-ip'/,
    );
    assert.deepEqual(seen.slice(3), [["192.0.2.6"]]);
  } finally {
    await source.stop();
  }
});
