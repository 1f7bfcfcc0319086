/**
 * Proves the test bed: the real API server accepts a selector-less Service and a server-side
 * applied EndpointSlice from @kubernetes/client-node, streams it on a watch, enforces the
 * address rules HELASEID relies on, and enforces RBAC for ServiceAccount tokens.
 */

import assert from "node:assert/strict";
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
} from "@kubernetes/client-node";
import { sharedCluster } from "../support/cluster.ts";
import { within } from "../support/wait.ts";

function slice(namespace: string, name: string, address: string) {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace,
      labels: {
        "kubernetes.io/service-name": "brokers",
        "endpointslice.kubernetes.io/managed-by": "helaseid-test",
      },
    },
    addressType: "IPv4",
    ports: [{ name: "", port: 9092, protocol: "TCP" }],
    endpoints: [{ addresses: [address], conditions: { ready: true, serving: true } }],
  };
}

Deno.test("test bed: server-side apply of an EndpointSlice is seen on a watch", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("smoke");
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: "brokers" },
      spec: { ports: [{ port: 9092, protocol: "TCP" }] },
    },
  });
  const service = await core.readNamespacedService({ name: "brokers", namespace });
  assert.equal(service.spec?.selector, undefined, "a Service without selector stays so");

  const seen = Promise.withResolvers<string[]>();
  const controller = await new Watch(kc).watch(
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    { labelSelector: "endpointslice.kubernetes.io/managed-by=helaseid-test" },
    (phase, object) => {
      if (phase === "ADDED") seen.resolve(object.endpoints[0].addresses);
    },
    (error) => error && seen.reject(error),
  );
  try {
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const applied: KubernetesObject = await objects.patch(
      slice(namespace, "brokers-smoke", "192.0.2.10"),
      undefined,
      undefined,
      "helaseid-test",
      true,
      PatchStrategy.ServerSideApply,
    );
    assert.equal(applied.metadata?.managedFields?.[0]?.manager, "helaseid-test");
    assert.deepEqual(
      await within("the applied slice on the watch", seen.promise, 20_000),
      ["192.0.2.10"],
    );
  } finally {
    controller.abort();
  }
});

Deno.test("test bed: the API server rejects a loopback endpoint address", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("smoke");
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const error = await objects.patch(
    slice(namespace, "brokers-loopback", "127.0.0.1"),
    undefined,
    undefined,
    "helaseid-test",
    true,
    PatchStrategy.ServerSideApply,
  ).then(() => undefined, (error: unknown) => error);
  assert.ok(error instanceof ApiException, `expected an ApiException, got ${error}`);
  assert.equal(error.code, 422);
  assert.match(String(error.body), /loopback/);
});

Deno.test("test bed: a ServiceAccount token gets only what RBAC grants", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("smoke");
  await cluster.kubectlOk(["create", "serviceaccount", "reader", "-n", namespace]);
  await cluster.kubectlOk([
    "create",
    "role",
    "read-services",
    "--verb=get,list",
    "--resource=services",
    "-n",
    namespace,
  ]);
  await cluster.kubectlOk([
    "create",
    "rolebinding",
    "reader",
    "--role=read-services",
    `--serviceaccount=${namespace}:reader`,
    "-n",
    namespace,
  ]);
  const kubeconfig = await cluster.serviceAccountKubeconfig(namespace, "reader");
  const allowed = await cluster.kubectl(["get", "services", "-n", namespace], { kubeconfig });
  assert.equal(allowed.code, 0, allowed.stderr);
  const denied = await cluster.kubectl(["get", "secrets", "-n", namespace], { kubeconfig });
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /forbidden/);
});
