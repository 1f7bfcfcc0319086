/**
 * The shipped manifests on the real API server, as a user applies them: `kubectl apply -f
 * manifests/` and `-k`, the "restricted" Pod Security Standard, and the agent running with a
 * token of exactly the manifests' ServiceAccount, doing its job and refused everything else.
 *
 * This test owns the namespace `datastream` of the shared cluster. The test API server runs no
 * controller-manager, so the Deployment never makes a pod: the agent runs as a process here,
 * with the Deployment's arguments and the ConfigMap's config.env, its IPS pointed at simulated
 * brokers on 192.0.2.x (never at the seed's 10.188.2.x).
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { startAgent } from "../support/agent_process.ts";
import { type ClusterAccess, sharedCluster } from "../support/cluster.ts";
import { freePort } from "../support/agent_http.ts";
import { startTargets, untilChecked } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { readiness, record, type SeenEvent } from "../support/watch.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MANIFESTS = `${ROOT}manifests/`;
const NAMESPACE = "datastream";
const SERVICE = "datastream-redpanda-api-dev";
const SLICE = `${SERVICE}-helaseid-ipv4`;
const MANAGED = "endpointslice.kubernetes.io/managed-by=helaseid";
/** Stand-ins for the seed's 10.188.2.3-5. */
const BROKERS = ["192.0.2.41", "192.0.2.42", "192.0.2.43"];

// deno-lint-ignore no-explicit-any
type Obj = any;

/** The objects of the top-level manifest files, as `kubectl apply -f manifests/` reads them. */
async function manifestObjects(): Promise<Obj[]> {
  const objects: Obj[] = [];
  for (const entry of Deno.readDirSync(MANIFESTS)) {
    if (!entry.isFile || !/\.(ya?ml|json)$/.test(entry.name)) continue;
    const docs = parseAllDocuments(await Deno.readTextFile(`${MANIFESTS}${entry.name}`));
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      const object = doc.toJS();
      if (object != null) objects.push(object);
    }
  }
  return objects;
}

/** The one object of `kind` (named `name`, when given) in the manifests. */
async function manifest(kind: string, name?: string): Promise<Obj> {
  const found = (await manifestObjects()).filter((o) =>
    o.kind === kind && (name === undefined || o.metadata.name === name)
  );
  assert.equal(found.length, 1, `one ${kind} ${name ?? ""} in manifests/`);
  return found[0];
}

function names(objects: readonly Obj[]): string[] {
  return objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

/** `kind/name` of each line of `kubectl ... -o name` (`deployment.apps/x` → `Deployment/x`). */
async function appliedNames(cluster: ClusterAccess, args: string[]): Promise<string[]> {
  const kinds: Record<string, string> = {
    namespace: "Namespace",
    configmap: "ConfigMap",
    serviceaccount: "ServiceAccount",
    "role.rbac.authorization.k8s.io": "Role",
    "rolebinding.rbac.authorization.k8s.io": "RoleBinding",
    service: "Service",
    "deployment.apps": "Deployment",
    "poddisruptionbudget.policy": "PodDisruptionBudget",
  };
  const out = await cluster.kubectlOk([...args, "-o", "name"]);
  return out.trim().split("\n").map((line) => {
    const [resource, name] = line.split("/");
    return `${kinds[resource!] ?? resource}/${name}`;
  }).sort();
}

/** The agent's command line in the Deployment, with the ConfigMap's file at a local path. */
async function agentArgs(configPath: string): Promise<string[]> {
  const deployment = await manifest("Deployment");
  const [container] = deployment.spec.template.spec.containers;
  const args: string[] = [...container.args];
  const at = args.indexOf("--config");
  assert.ok(at >= 0, "the Deployment passes --config");
  args[at + 1] = configPath;
  return args;
}

/**
 * The environment the Deployment gives the agent, as a pod in `NAMESPACE` would get it: plain
 * values, and the pod's namespace; the pod name and Secret references are left out.
 */
async function deploymentEnv(): Promise<Record<string, string>> {
  const [container] = (await manifest("Deployment")).spec.template.spec.containers;
  const env: Record<string, string> = {};
  for (const variable of container.env) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    if (variable.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") {
      env[variable.name] = NAMESPACE;
    }
  }
  return env;
}

/** Writes the ConfigMap's config.env to a temporary file and returns its path. */
async function configFile(dir: string): Promise<string> {
  const configMap = await manifest("ConfigMap");
  const path = `${dir}/config.env`;
  await Deno.writeTextFile(path, configMap.data["config.env"]);
  return path;
}

/** Waits until a GET of `url` answers 200 (readiness takes a moment); fails naming the last status. */
async function untilOk(url: string): Promise<void> {
  let last = "no answer";
  await untilValue(`200 from ${url}`, async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    last = `HTTP ${response.status}`;
    return response.status === 200 ? true : undefined;
  }, { timeoutMs: 10_000 }).catch((error) => {
    throw new Error(`${error.message} (last: ${last})`);
  });
}

/**
 * Waits for the TargetUnhealthy Event on the Service about `address`, seen after `since`. The
 * recorder retries a failed write after 4 s, then 8 s: 20 s leaves room for one retry.
 */
async function eventAbout(cluster: ClusterAccess, address: string, since: number): Promise<Obj> {
  let seen: Obj[] = [];
  return await untilValue(`a TargetUnhealthy Event about '${address}'`, async () => {
    const list = JSON.parse(
      await cluster.kubectlOk(["-n", NAMESPACE, "get", "events.events.k8s.io", "-o", "json"]),
    );
    seen = list.items;
    return list.items.find((e: Obj) =>
      e.reason === "TargetUnhealthy" && e.regarding?.name === SERVICE &&
      e.note?.includes(address) &&
      Date.parse(e.series?.lastObservedTime ?? e.eventTime) >= since - 1000
    );
  }, { timeoutMs: 20_000 }).catch((error) => {
    const summary = seen.map((e) =>
      `${e.reason} ${e.regarding?.name} '${e.note}' ${e.eventTime} ${e.series?.lastObservedTime}`
    );
    throw new Error(
      `${error.message} on the Service since ${new Date(since).toISOString()}; saw:\n` +
        summary.join("\n"),
    );
  });
}

function sliceShows(expected: Record<string, boolean>) {
  return (event: SeenEvent) =>
    event.type !== "DELETED" && event.object.metadata.name === SLICE &&
    JSON.stringify(readiness(event.object)) === JSON.stringify(expected);
}

Deno.test("manifests: kubectl apply -f manifests/ creates every object; again changes nothing", async () => {
  const cluster = await sharedCluster();
  const expected = names(await manifestObjects());
  // One line per object, each created, configured or unchanged (a shared cluster may have them).
  const first = await cluster.kubectlOk(["apply", "-f", MANIFESTS]);
  const lines = first.trim().split("\n");
  assert.equal(lines.length, expected.length, first);
  for (const line of lines) assert.match(line, /^\S+\/\S+ (created|configured|unchanged)$/);
  const versions = async () =>
    (await cluster.kubectlOk([
      "get",
      "-f",
      MANIFESTS,
      "-o",
      "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{'\\n'}{end}",
    ])).trim();
  const before = await versions();
  assert.match(before, /^PodDisruptionBudget\/datastream-helaseid-dev=\d+$/m);
  const again = await cluster.kubectlOk(["apply", "-f", MANIFESTS]);
  for (const line of again.trim().split("\n")) {
    // A PodDisruptionBudget's selector has the patch strategy "replace", so kubectl's patch is
    // never empty and it says "configured" (Azure/eno#246); the object does not change.
    if (line.startsWith("poddisruptionbudget.policy/")) continue;
    assert.match(line, / unchanged$/);
  }
  assert.equal(await versions(), before, "a second apply changed an object");
  assert.deepEqual(await appliedNames(cluster, ["get", "-f", MANIFESTS]), expected);
  const service = JSON.parse(
    await cluster.kubectlOk(["-n", NAMESPACE, "get", "service", SERVICE, "-o", "json"]),
  );
  assert.equal(service.spec.selector, undefined, "the brokers' Service stays selector-less");
});

Deno.test("manifests: kubectl apply -k manifests/ applies the same objects", async () => {
  const cluster = await sharedCluster();
  await cluster.kubectlOk(["apply", "-k", MANIFESTS]);
  const built = parseAllDocuments(await cluster.kubectlOk(["kustomize", MANIFESTS]))
    .map((doc) => doc.toJS());
  assert.deepEqual(names(built), names(await manifestObjects()));
});

Deno.test("manifests: the Deployment's pod passes the restricted Pod Security Standard", async () => {
  const cluster = await sharedCluster();
  await cluster.kubectlOk(["apply", "-f", MANIFESTS]);
  await cluster.kubectlOk([
    "label",
    "namespace",
    NAMESPACE,
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
    "--overwrite",
  ]);
  // The template as the API server stored it (defaults applied), made into a Pod.
  const deployment = JSON.parse(
    await cluster.kubectlOk([
      "-n",
      NAMESPACE,
      "get",
      "deployment",
      "datastream-helaseid-dev",
      "-o",
      "json",
    ]),
  );
  const template = deployment.spec.template;
  const pod = (spec: Obj) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "helaseid-admission-check",
      namespace: NAMESPACE,
      labels: template.metadata.labels,
    },
    spec,
  });
  const admitted = await cluster.kubectl(["create", "--dry-run=server", "-f", "-", "-o", "name"], {
    stdin: JSON.stringify(pod(template.spec)),
  });
  assert.equal(admitted.code, 0, admitted.stderr);
  assert.equal(admitted.stdout.trim(), "pod/helaseid-admission-check");

  // The same pod without its hardening is rejected: the check above can fail.
  const loose = structuredClone(template.spec);
  delete loose.securityContext;
  delete loose.containers[0].securityContext;
  const rejected = await cluster.kubectl(["create", "--dry-run=server", "-f", "-"], {
    stdin: JSON.stringify(pod(loose)),
  });
  assert.notEqual(rejected.code, 0);
  assert.match(rejected.stderr, /violates PodSecurity "restricted:latest"/);
});

Deno.test("manifests: the agent with the ServiceAccount's token publishes the brokers' health", async () => {
  const cluster = await sharedCluster();
  await cluster.kubectlOk(["apply", "-f", MANIFESTS]);
  const account = await manifest("ServiceAccount");
  const kubeconfig = await cluster.serviceAccountKubeconfig(NAMESPACE, account.metadata.name);
  // A run of this file before (the bundle re-run) left its objects: start from none.
  await cluster.kubectlOk(["-n", NAMESPACE, "delete", "endpointslices,endpoints", "-l", MANAGED]);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-manifests-" });
  await using net = await TestNetwork.open();
  const brokers = await startTargets(net, BROKERS.map((address) => ({ address, port: 9092 })));
  await using slices = await record(
    cluster.kubeconfigPath,
    `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices`,
  );
  await using endpoints = await record(
    cluster.kubeconfigPath,
    `/api/v1/namespaces/${NAMESPACE}/endpoints`,
  );
  try {
    // The Deployment's probes, on a free port instead of :8080.
    const port = freePort();
    await using agent = await startAgent({
      args: [
        ...await agentArgs(await configFile(dir)),
        "--kubeconfig",
        kubeconfig,
        "--listen",
        `127.0.0.1:${port}`,
      ],
      // With the Deployment's environment: LEASES=true, so the Role must allow the Leases.
      env: { ...await deploymentEnv(), IPS: BROKERS.join(" ") },
    });
    await agent.waitForLog((line) => line.msg === "took the Service's Lease: writing it");
    const up = await slices.waitFor(sliceShows(Object.fromEntries(BROKERS.map((b) => [b, true]))));
    const [container] = (await manifest("Deployment")).spec.template.spec.containers;
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      assert.equal(probe.httpGet.port, container.ports[0].name);
      await untilOk(`http://127.0.0.1:${port}${probe.httpGet.path}`);
    }
    const service = JSON.parse(
      await cluster.kubectlOk(["-n", NAMESPACE, "get", "service", SERVICE, "-o", "json"]),
    );
    assert.equal(up.object.metadata.labels["kubernetes.io/service-name"], SERVICE);
    assert.equal(up.object.metadata.ownerReferences[0].uid, service.metadata.uid);
    assert.deepEqual(up.object.ports, [{ name: "kafka", port: 9092, protocol: "TCP" }]);

    const refusedAt = Date.now();
    await brokers[1]!.setMode("refuse");
    await slices.waitFor(
      sliceShows({ [BROKERS[0]!]: true, [BROKERS[1]!]: false, [BROKERS[2]!]: true }),
      { since: slices.events.indexOf(up) + 1 },
    );
    // The legacy Endpoints object follows (written after the slice or before it).
    const legacy = await endpoints.waitFor((e) =>
      e.type !== "DELETED" && e.object.metadata.name === SERVICE &&
      JSON.stringify(e.object.subsets?.[0]?.notReadyAddresses?.map((a: Obj) => a.ip)) ===
        JSON.stringify([BROKERS[1]])
    );
    assert.equal(
      legacy.object.metadata.labels["endpointslice.kubernetes.io/skip-mirror"],
      "true",
    );
    // The transition's Event on the Service: the Role lets the agent write it.
    const event = await eventAbout(cluster, BROKERS[1]!, refusedAt).catch((error) => {
      const warnings = agent.lines.filter((l) => l.level === "warn" || l.level === "error");
      throw new Error(
        `${error.message}\nagent warnings:\n${warnings.map((l) => JSON.stringify(l)).join("\n")}`,
      );
    });
    assert.equal(event.reportingController, "helaseid");
    const errors = agent.lines.filter((line) =>
      line.level === "error" || /forbidden/i.test(JSON.stringify(line))
    );
    assert.deepEqual(errors, [], "no error and nothing forbidden with the manifests' Role");
    assert.equal(await agent.stop(), 0, "SIGTERM: clean exit");
  } finally {
    for (const broker of brokers) await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifests: the ServiceAccount is refused Secrets, other namespaces and the cluster", async () => {
  const cluster = await sharedCluster();
  await cluster.kubectlOk(["apply", "-f", MANIFESTS]);
  const account = await manifest("ServiceAccount");
  const kubeconfig = await cluster.serviceAccountKubeconfig(NAMESPACE, account.metadata.name);
  const other = await cluster.createNamespace("helaseid-other");
  const as = (args: string[], stdin?: string) =>
    cluster.kubectl(args, { kubeconfig, ...(stdin === undefined ? {} : { stdin }) });

  const secrets = await as(["-n", NAMESPACE, "get", "secrets"]);
  assert.notEqual(secrets.code, 0);
  assert.match(secrets.stderr, /forbidden/i);

  const slice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "intruder",
      namespace: other,
      labels: { "kubernetes.io/service-name": SERVICE },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: [BROKERS[0]] }],
    ports: [{ name: "kafka", port: 9092, protocol: "TCP" }],
  };
  const elsewhere = await as(["apply", "-f", "-"], JSON.stringify(slice));
  assert.notEqual(elsewhere.code, 0);
  assert.match(elsewhere.stderr, /forbidden/i);

  // The verbs it has, and the neighbours it has not (SelfSubjectAccessReview).
  const can = async (...args: string[]) => (await as(["auth", "can-i", ...args])).stdout.trim();
  for (const verb of ["create", "patch", "delete", "watch"]) {
    assert.equal(await can(verb, "endpointslices.discovery.k8s.io", "-n", NAMESPACE), "yes");
    assert.equal(await can(verb, "endpoints", "-n", NAMESPACE), "yes");
    assert.equal(await can(verb, "endpointslices.discovery.k8s.io", "-n", other), "no");
  }
  assert.equal(await can("create", "events.events.k8s.io", "-n", NAMESPACE), "yes");
  for (const verb of ["get", "list", "create", "update"]) {
    assert.equal(await can(verb, "leases.coordination.k8s.io", "-n", NAMESPACE), "yes", verb);
  }
  for (const verb of ["delete", "patch", "watch"]) {
    assert.equal(await can(verb, "leases.coordination.k8s.io", "-n", NAMESPACE), "no", verb);
  }
  assert.equal(await can("update", "leases.coordination.k8s.io", "-n", other), "no");
  assert.equal(await can("watch", "services", "-n", NAMESPACE), "yes");
  for (const verb of ["create", "update", "patch", "delete"]) {
    assert.equal(await can(verb, "services", "-n", NAMESPACE), "no", `${verb} services`);
  }
  assert.equal(await can("get", "secrets", "-n", NAMESPACE), "no");
  assert.equal(await can("list", "pods", "-n", NAMESPACE), "no");
  assert.equal(await can("list", "endpointslices.discovery.k8s.io", "--all-namespaces"), "no");
  assert.equal(await can("list", "nodes"), "no");
});

Deno.test("manifests: configured for another namespace, the agent logs forbidden and writes nothing", async () => {
  const cluster = await sharedCluster();
  await cluster.kubectlOk(["apply", "-f", MANIFESTS]);
  const account = await manifest("ServiceAccount");
  const kubeconfig = await cluster.serviceAccountKubeconfig(NAMESPACE, account.metadata.name);
  const other = await cluster.createNamespace("helaseid-other");
  // The same Service there, so that the only thing missing is the permission.
  const service = await manifest("Service", SERVICE);
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify({ ...service, metadata: { name: SERVICE, namespace: other } }),
  });
  const dir = await Deno.makeTempDir({ prefix: "helaseid-manifests-" });
  await using net = await TestNetwork.open();
  const brokers = await startTargets(net, BROKERS.map((address) => ({ address, port: 9092 })));
  try {
    await using agent = await startAgent({
      args: [
        ...await agentArgs(await configFile(dir)),
        "--kubeconfig",
        kubeconfig,
        "--listen",
        "off",
      ],
      env: { IPS: BROKERS.join(" "), NAMESPACE: other },
    });
    const refused = await agent.waitForLog((line) =>
      (line.level === "warn" || line.level === "error") && /forbidden/i.test(JSON.stringify(line))
    );
    assert.match(JSON.stringify(refused), new RegExp(other));
    // It keeps probing (the brokers are fine) but has nothing it may publish: every broker has
    // its verdict, then checks go on (a permitted agent writes right after the verdicts).
    for (const broker of BROKERS) {
      await agent.waitForLog((l) => l.msg === "target healthy" && l.target === `${broker}:9092`);
    }
    await Promise.all(brokers.map((broker) => untilChecked(broker, 3)));
    assert.equal(agent.lines.filter((line) => line.msg === "published").length, 0);
    const written = await cluster.kubectlOk([
      "-n",
      other,
      "get",
      "endpointslices,endpoints",
      "-o",
      "name",
    ]);
    assert.equal(written.trim(), "", "nothing written in the other namespace");
  } finally {
    for (const broker of brokers) await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
