/**
 * Kubernetes target sources (issue 12) on the real API server: Nodes created, relabelled and
 * cordoned; Pods whose status the kubelet would set (here through the status subresource);
 * another Service's EndpointSlices; a ConfigMap edited, broken and deleted; access revoked
 * and restored; and each optional RBAC manifest (manifests/optional/rbac-source-*.yaml) as
 * the only permission of the token the source runs with.
 *
 * Addresses are TEST-NET-1 (192.0.2.x) numbers in API objects; nothing is probed here.
 * Deadlines only keep a broken test from hanging; the ConfigMap test prints how long the
 * source took after the watch event, it does not assert it.
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import {
  createKubernetesSource,
  type KubernetesSourceConfig,
} from "../../src/discovery/kubernetes.ts";
import type { SourceUpdate } from "../../src/discovery/types.ts";
import { systemClock } from "../../src/health/scheduler.ts";
import { createKubeClient, type KubeClient, KubeError } from "../../src/kube/client.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { type ClusterAccess, sharedCluster, startCluster } from "../support/cluster.ts";
import { untilValue } from "../support/wait.ts";

const OPTIONAL = new URL("../../manifests/optional/", import.meta.url).pathname;

// deno-lint-ignore no-explicit-any
type Obj = any;

/** An update as the test reads it: the sorted addresses of a set, or `failed: <error>`. */
function shown(update: SourceUpdate): string {
  return update.ok ? update.targets.map((t) => t.address).join(" ") : `failed: ${update.error}`;
}

/** Every update of a source, with the time it came (performance.now()). */
class Recorder {
  readonly seen: { readonly at: number; readonly update: SourceUpdate }[] = [];
  readonly emit = (update: SourceUpdate) => {
    this.seen.push({ at: performance.now(), update });
  };

  /** Waits for an update from index `from` on that `test` accepts; returns its index. */
  async next(what: string, test: (update: SourceUpdate) => boolean, from = 0): Promise<number> {
    return await untilValue(what, () => {
      const at = this.seen.findIndex((seen, i) => i >= from && test(seen.update));
      return at >= 0 ? at : undefined;
    }, { intervalMs: 10 }).catch((error) => {
      throw new Error(`${error.message}; updates: ${JSON.stringify(this.history())}`);
    });
  }

  /** Waits for the set `addresses` (in address order) from index `from` on. */
  set(addresses: string[], from = 0): Promise<number> {
    const want = addresses.join(" ");
    return this.next(`the set '${want}'`, (u) => u.ok && shown(u) === want, from);
  }

  /** Waits for a failure matching `pattern` from index `from` on. */
  failure(pattern: RegExp, from = 0): Promise<number> {
    return this.next(`a failure matching ${pattern}`, (u) => !u.ok && pattern.test(u.error), from);
  }

  history(): string[] {
    return this.seen.map((seen) => shown(seen.update));
  }
}

/** A running source and its client; disposing stops both. */
interface Running extends AsyncDisposable {
  readonly recorder: Recorder;
  readonly client: KubeClient;
}

function run(
  config: KubernetesSourceConfig,
  kubeconfig: string,
  backoff?: { initial: number; max: number },
): Running {
  const controller = new AbortController();
  const client = createKubeClient({ kubeconfig, signal: controller.signal });
  const recorder = new Recorder();
  const source = createKubernetesSource(config, {
    client,
    clock: systemClock,
    log: silentLogger(),
    ...(backoff ? { backoff } : {}),
  });
  source.start(recorder.emit);
  return {
    recorder,
    client,
    async [Symbol.asyncDispose]() {
      await source.stop();
      controller.abort();
    },
  };
}

async function apply(cluster: ClusterAccess, object: Obj): Promise<void> {
  await cluster.kubectlOk(["apply", "-f", "-"], { stdin: JSON.stringify(object) });
}

/** Sets part of an object's status through the status subresource (what a kubelet does). */
async function patchStatus(
  cluster: ClusterAccess,
  target: string[],
  status: Obj,
): Promise<void> {
  await cluster.kubectlOk([
    "patch",
    ...target,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  ]);
}

function suffix(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

Deno.test("kube source: Nodes move in and out with their label, and leave when cordoned", async () => {
  const cluster = await sharedCluster();
  const id = suffix();
  const role = `kafka-${id}`;
  const [a, b] = [`hs-${id}-a`, `hs-${id}-b`];
  const node = (name: string, labels: Record<string, string>) => ({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels },
  });
  const addresses = (internal: string) => ({
    addresses: [
      { type: "InternalIP", address: internal },
      { type: "ExternalIP", address: internal.replace(/\.(\d+)$/, ".2$1") },
      { type: "Hostname", address: "ignored" },
    ],
  });
  try {
    await using source = run({
      type: "nodes",
      labelSelector: `role=${role}`,
      addressType: "InternalIP",
      skipUnschedulable: true,
    }, cluster.kubeconfigPath);
    const { recorder } = source;
    await recorder.set([]);

    await apply(
      cluster,
      node(a, {
        role,
        "topology.kubernetes.io/zone": "az-a",
        "topology.kubernetes.io/region": "eu-1",
      }),
    );
    await patchStatus(cluster, ["node", a], addresses("192.0.2.11"));
    const first = await recorder.set(["192.0.2.11"]);
    const update = recorder.seen[first]!.update;
    assert.ok(update.ok);
    assert.deepEqual(update.targets, [
      { address: "192.0.2.11", zone: "az-a", region: "eu-1", hostname: a },
    ]);

    await apply(cluster, node(b, {}));
    await patchStatus(cluster, ["node", b], addresses("192.0.2.12"));
    await cluster.kubectlOk(["label", "node", b, `role=${role}`]);
    await recorder.set(["192.0.2.11", "192.0.2.12"]);

    await cluster.kubectlOk(["label", "node", a, "role-"]);
    let at = await recorder.set(["192.0.2.12"]);
    await cluster.kubectlOk(["cordon", b]);
    at = await recorder.set([], at);
    await cluster.kubectlOk(["uncordon", b]);
    at = await recorder.set(["192.0.2.12"], at);
    await cluster.kubectlOk(["delete", "node", b]);
    await recorder.set([], at);
    assert.ok(recorder.seen.every((seen) => seen.update.ok), "no failure on the way");
  } finally {
    await cluster.kubectl(["delete", "node", a, b, "--ignore-not-found"]);
  }
});

/** A Pod the API accepts without a kubelet or scheduler. */
function pod(namespace: string, name: string, labels: Record<string, string>): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: "db", image: "registry.invalid/db:1" }],
    },
  };
}

/** The status a kubelet reports for a started Pod, Ready or not. */
function running(ip: string, ready: boolean): Obj {
  const now = new Date().toISOString();
  return {
    phase: "Running",
    podIP: ip,
    podIPs: [{ ip }],
    conditions: [{ type: "Ready", status: ready ? "True" : "False", lastTransitionTime: now }],
  };
}

Deno.test("kube source: Pods count once Running and Ready, and leave when not Ready", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("kube-source-pods");
  // No controller-manager creates the namespace's default ServiceAccount that Pods need.
  await cluster.kubectlOk(["-n", namespace, "create", "serviceaccount", "default"]);
  await using source = run(
    { type: "pods", namespace, labelSelector: "app=db", readyOnly: true },
    cluster.kubeconfigPath,
  );
  const { recorder } = source;
  await recorder.set([]);
  for (const name of ["db-0", "db-1"]) await apply(cluster, pod(namespace, name, { app: "db" }));
  await apply(cluster, pod(namespace, "web-0", { app: "web" }));
  await patchStatus(cluster, ["-n", namespace, "pod", "web-0"], running("192.0.2.29", true));
  await patchStatus(cluster, ["-n", namespace, "pod", "db-0"], running("192.0.2.20", true));
  await patchStatus(cluster, ["-n", namespace, "pod", "db-1"], running("192.0.2.21", false));
  let at = await recorder.set(["192.0.2.20"]);
  const update = recorder.seen[at]!.update;
  assert.ok(update.ok);
  assert.deepEqual(update.targets, [{ address: "192.0.2.20", hostname: "db-0" }]);
  await patchStatus(cluster, ["-n", namespace, "pod", "db-1"], running("192.0.2.21", true));
  at = await recorder.set(["192.0.2.20", "192.0.2.21"], at);
  await patchStatus(cluster, ["-n", namespace, "pod", "db-0"], running("192.0.2.20", false));
  at = await recorder.set(["192.0.2.21"], at);
  await cluster.kubectlOk(["-n", namespace, "delete", "pod", "db-1", "--wait=false"]);
  await recorder.set([], at);
  assert.ok(!recorder.history().some((line) => line.includes("192.0.2.29")), "app=web left out");
});

/** An EndpointSlice of `service`, as the endpoint controller would write it. */
function slice(namespace: string, name: string, service: string, endpoints: Obj[]): Obj {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace, labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    endpoints,
    ports: [{ name: "db", port: 5432, protocol: "TCP" }],
  };
}

Deno.test("kube source: another Service's EndpointSlices, ready endpoints only, deduplicated", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("kube-source-slices");
  await using source = run(
    { type: "endpointslices", namespace, service: "other", readyOnly: true },
    cluster.kubeconfigPath,
  );
  const { recorder } = source;
  await recorder.set([]);
  const notReady = { addresses: ["192.0.2.32"], conditions: { ready: false } };
  await apply(
    cluster,
    slice(namespace, "other-a", "other", [
      { addresses: ["192.0.2.31"], conditions: { ready: true }, zone: "az-a", hostname: "db-0" },
      notReady,
    ]),
  );
  await apply(
    cluster,
    slice(namespace, "other-b", "other", [
      { addresses: ["192.0.2.31"], zone: "az-a", hostname: "db-0" },
      { addresses: ["192.0.2.33"] }, // no conditions: ready
    ]),
  );
  await apply(cluster, slice(namespace, "else-a", "else", [{ addresses: ["192.0.2.39"] }]));
  let at = await recorder.set(["192.0.2.31", "192.0.2.33"]);
  const update = recorder.seen[at]!.update;
  assert.ok(update.ok);
  assert.deepEqual(update.targets[0], { address: "192.0.2.31", zone: "az-a", hostname: "db-0" });
  await apply(
    cluster,
    slice(namespace, "other-a", "other", [
      { addresses: ["192.0.2.31"], conditions: { ready: true }, zone: "az-a", hostname: "db-0" },
      { ...notReady, conditions: { ready: true } },
    ]),
  );
  at = await recorder.set(["192.0.2.31", "192.0.2.32", "192.0.2.33"], at);
  await cluster.kubectlOk(["-n", namespace, "delete", "endpointslice", "other-b"]);
  await recorder.set(["192.0.2.31", "192.0.2.32"], at);
  assert.ok(!recorder.history().some((line) => line.includes("192.0.2.39")), "other Service");
});

function configMap(namespace: string, list: string, name = "targets"): Obj {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data: { list } };
}

Deno.test("kube source: a ConfigMap edited is followed; a malformed list fails and keeps nothing else", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("kube-source-cm");
  const controller = new AbortController();
  const admin = createKubeClient({ kubeconfig: cluster.kubeconfigPath, signal: controller.signal });
  await using source = run(
    { type: "configmap", namespace, name: "targets", key: "list" },
    cluster.kubeconfigPath,
  );
  const { recorder } = source;
  try {
    let at = await recorder.set([]); // no ConfigMap yet: nothing, not a failure
    await apply(cluster, configMap(namespace, "192.0.2.49", "other"));
    await apply(cluster, configMap(namespace, "192.0.2.41, 192.0.2.42"));
    at = await recorder.set(["192.0.2.41", "192.0.2.42"], at);

    // The edit as a watch of our own sees it, and when the source's set follows.
    const { resourceVersion } = await admin.list(
      "configmaps",
      namespace,
      undefined,
      "metadata.name=targets",
    );
    const event = Promise.withResolvers<number>();
    const watch = await admin.watch("configmaps", namespace, {
      fieldSelector: "metadata.name=targets",
      resourceVersion,
      onEvent: (_type, object) => {
        if ((object as Obj).data?.list?.includes("192.0.2.43")) event.resolve(performance.now());
      },
      onDone: () => {},
    });
    try {
      const written = performance.now();
      await apply(cluster, configMap(namespace, "192.0.2.41\n192.0.2.43\n"));
      at = await recorder.set(["192.0.2.41", "192.0.2.43"], at);
      const seenAt = await event.promise;
      const followed = recorder.seen[at]!.at;
      console.log(
        `configmap edit: source followed ${(followed - seenAt).toFixed(1)} ms after the watch ` +
          `event (${(followed - written).toFixed(0)} ms after kubectl started)`,
      );
    } finally {
      watch.stop();
    }

    await apply(cluster, configMap(namespace, "192.0.2.41\nkafka-1.internal\n"));
    const failed = await recorder.failure(
      /^configmap .*\/targets:list: key 'list' of ConfigMap 'targets' is not a valid target list: line 2: .*'kafka-1\.internal'/,
      at,
    );
    assert.equal(failed, at + 1, "the failure is the next update: nothing replaced the set");
    await apply(cluster, configMap(namespace, "192.0.2.44"));
    at = await recorder.set(["192.0.2.44"], failed);
    await cluster.kubectlOk(["-n", namespace, "delete", "configmap", "targets"]);
    await recorder.set([], at); // deleted: the source says "nothing" (the merge's guard holds it)
  } finally {
    controller.abort();
  }
});

/**
 * The objects of an optional RBAC manifest, made to bind `account` in `namespace` instead of
 * the agent's ServiceAccount: namespaced objects move to `namespace`, cluster-wide ones get a
 * unique name, `resourceNames` name `configMap`. Rules and verbs stay exactly as shipped.
 */
async function rbacFor(
  file: string,
  namespace: string,
  account: string,
  configMap = "targets",
): Promise<Obj[]> {
  const text = await Deno.readTextFile(`${OPTIONAL}${file}`);
  return parseAllDocuments(text).map((doc) => {
    const object = structuredClone(doc.toJS());
    const clusterWide = object.kind.startsWith("Cluster");
    if (clusterWide) object.metadata.name = `${object.metadata.name}-${namespace}`;
    else object.metadata.namespace = namespace;
    if (object.roleRef && clusterWide) object.roleRef.name = `${object.roleRef.name}-${namespace}`;
    if (object.subjects) object.subjects = [{ kind: "ServiceAccount", name: account, namespace }];
    for (const rule of object.rules ?? []) {
      if (rule.resourceNames) rule.resourceNames = [configMap];
    }
    return object;
  });
}

/** A ServiceAccount whose only permissions are those of `file`; returns its kubeconfig. */
async function boundTo(
  cluster: ClusterAccess,
  file: string,
  namespace: string,
): Promise<{ kubeconfig: string; objects: Obj[] }> {
  const account = file.replace(/^rbac-source-|\.yaml$/g, "");
  await cluster.kubectlOk(["-n", namespace, "create", "serviceaccount", account]);
  const objects = await rbacFor(file, namespace, account);
  for (const object of objects) await apply(cluster, object);
  return { kubeconfig: await cluster.serviceAccountKubeconfig(namespace, account), objects };
}

/** The status of a call that must be refused, or "allowed". */
async function refused(call: Promise<unknown>): Promise<number | "allowed"> {
  try {
    await call;
    return "allowed";
  } catch (error) {
    if (error instanceof KubeError) return error.status;
    throw error;
  }
}

Deno.test("kube source: each optional RBAC manifest is accepted as shipped", async () => {
  const cluster = await sharedCluster();
  // Its namespace, as `kubectl apply -f manifests/` makes it; then a server-side dry run of
  // every file: valid objects, nothing created (the agent's real account gets nothing here).
  await cluster.kubectlOk(["apply", "-f", `${OPTIONAL}../00-namespace.yaml`]);
  for (const file of ["nodes", "pods", "endpointslices", "configmap"]) {
    const out = await cluster.kubectlOk([
      "apply",
      "--dry-run=server",
      "-f",
      `${OPTIONAL}rbac-source-${file}.yaml`,
    ]);
    assert.match(out, /created \(server dry run\)|configured \(server dry run\)/, file);
  }
});

Deno.test("kube source: each source works with a token bound only to its RBAC manifest", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("kube-source-rbac");
  const id = suffix();
  const cleanup: Obj[] = [];
  try {
    // Nodes: the ClusterRole lets it list and watch Nodes, and nothing else.
    const nodes = await boundTo(cluster, "rbac-source-nodes.yaml", namespace);
    cleanup.push(...nodes.objects);
    await apply(cluster, {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: `hs-${id}-rbac`, labels: { role: `rbac-${id}` } },
    });
    await patchStatus(cluster, ["node", `hs-${id}-rbac`], {
      addresses: [{ type: "InternalIP", address: "192.0.2.51" }],
    });
    {
      await using source = run({
        type: "nodes",
        labelSelector: `role=rbac-${id}`,
        addressType: "InternalIP",
        skipUnschedulable: true,
      }, nodes.kubeconfig);
      await source.recorder.set(["192.0.2.51"]);
      assert.equal(await refused(source.client.list("pods", namespace)), 403);
      assert.equal(await refused(source.client.list("configmaps", namespace)), 403);
      assert.equal(
        await refused(source.client.read({ resource: "nodes", namespace: "", name: "x" })),
        403,
        "no get: the source only lists and watches",
      );
    }

    // Pods in one namespace.
    const pods = await boundTo(cluster, "rbac-source-pods.yaml", namespace);
    await cluster.kubectlOk(["-n", namespace, "create", "serviceaccount", "default"]);
    await apply(cluster, pod(namespace, "db-0", { app: "db" }));
    await patchStatus(cluster, ["-n", namespace, "pod", "db-0"], running("192.0.2.52", true));
    {
      await using source = run(
        { type: "pods", namespace, labelSelector: "app=db", readyOnly: true },
        pods.kubeconfig,
      );
      await source.recorder.set(["192.0.2.52"]);
      assert.equal(await refused(source.client.list("pods", "default")), 403, "other namespace");
      assert.equal(await refused(source.client.list("endpointslices", namespace)), 403);
    }

    // Another Service's EndpointSlices.
    const slices = await boundTo(cluster, "rbac-source-endpointslices.yaml", namespace);
    await apply(cluster, slice(namespace, "other-a", "other", [{ addresses: ["192.0.2.53"] }]));
    {
      await using source = run(
        { type: "endpointslices", namespace, service: "other", readyOnly: true },
        slices.kubeconfig,
      );
      await source.recorder.set(["192.0.2.53"]);
      assert.equal(await refused(source.client.list("endpointslices", "default")), 403);
      assert.equal(await refused(source.client.list("pods", namespace)), 403);
    }

    // One ConfigMap, by name: resourceNames hold for list and watch with the field selector.
    const configMaps = await boundTo(cluster, "rbac-source-configmap.yaml", namespace);
    await apply(cluster, configMap(namespace, "192.0.2.54"));
    await apply(cluster, configMap(namespace, "192.0.2.59", "secret-ish"));
    {
      await using source = run(
        { type: "configmap", namespace, name: "targets", key: "list" },
        configMaps.kubeconfig,
      );
      let at = await source.recorder.set(["192.0.2.54"]);
      await apply(cluster, configMap(namespace, "192.0.2.54 192.0.2.55"));
      at = await source.recorder.set(["192.0.2.54", "192.0.2.55"], at);
      const { client } = source;
      assert.equal(await refused(client.list("configmaps", namespace)), 403, "all ConfigMaps");
      assert.equal(
        await refused(client.list("configmaps", namespace, undefined, "metadata.name=secret-ish")),
        403,
        "another ConfigMap",
      );
      assert.ok(source.recorder.seen.every((seen) => seen.update.ok), "never refused");
    }
  } finally {
    await cluster.kubectl(["delete", "node", `hs-${id}-rbac`, "--ignore-not-found"]);
    for (const object of cleanup.filter((o) => o.kind.startsWith("Cluster"))) {
      await cluster.kubectl(["delete", object.kind, object.metadata.name, "--ignore-not-found"]);
    }
  }
});

Deno.test("kube source: access revoked and the API server down are reported; the set comes back", async () => {
  // An own cluster: a running watch outlives a revoked Role (authorization is checked when a
  // request starts), so the API server is restarted to make the source list again.
  await using cluster = await startCluster();
  const namespace = await cluster.createNamespace("kube-source-revoke");
  const { kubeconfig, objects } = await boundTo(cluster, "rbac-source-configmap.yaml", namespace);
  const binding = objects.find((o) => o.kind === "RoleBinding");
  await apply(cluster, configMap(namespace, "192.0.2.61 192.0.2.62"));
  await using source = run(
    { type: "configmap", namespace, name: "targets", key: "list" },
    kubeconfig,
    { initial: 100, max: 1000 },
  );
  const { recorder } = source;
  let at = await recorder.set(["192.0.2.61", "192.0.2.62"]);

  await cluster.kubectlOk(["-n", namespace, "delete", "rolebinding", binding.metadata.name]);
  await cluster.stopApiServer();
  const down = await recorder.failure(
    new RegExp(
      `^configmap ${namespace}/targets:list: list configmaps in namespace '${namespace}': ` +
        "API server not reached: ",
    ),
    at,
  );
  await cluster.startApiServer();
  const denied = await recorder.failure(
    new RegExp(
      `^configmap ${namespace}/targets:list: list configmaps in namespace '${namespace}': ` +
        "403 Forbidden$",
    ),
    down,
  );
  // Failing, the source sends failures only: the merge keeps the last good set.
  assert.ok(recorder.seen.slice(at + 1, denied + 1).every((seen) => !seen.update.ok));
  const count = recorder.seen.length;

  await apply(cluster, binding);
  at = await recorder.set(["192.0.2.61", "192.0.2.62"], denied);
  assert.equal(at, count, "recovery is the next update, a fresh set");
  await apply(cluster, configMap(namespace, "192.0.2.63"));
  await recorder.set(["192.0.2.63"], at);
});
