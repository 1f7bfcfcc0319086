/**
 * The Helm chart (charts/helaseid) with the real helm (v4, built from tests/ecosystem/go.mod):
 * `helm lint`, `helm template` for several value sets, the defaults rendering exactly the
 * objects of manifests/ (the drift test), and the rendered output applied with the test bed's
 * kubectl to the real API server in a namespace that enforces the "restricted" Pod Security
 * Standard, then the agent run with a token of the chart's ServiceAccount publishing simulated
 * brokers.
 */

import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { readiness, record } from "../support/watch.ts";
import { ROOT, tool, toolOk } from "./_tools.ts";

const CHART = `${ROOT}charts/helaseid`;
const MANIFESTS = `${ROOT}manifests/`;

// deno-lint-ignore no-explicit-any
type Obj = any;

/** `helm template` of the chart with `values` (as a values file) in `namespace`. */
async function render(
  values: Obj = {},
  options: { namespace?: string; release?: string } = {},
): Promise<Obj[]> {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-chart-" });
  try {
    await Deno.writeTextFile(`${dir}/values.yaml`, JSON.stringify(values));
    const out = await toolOk("helm", [
      "template",
      options.release ?? "helaseid",
      CHART,
      "--namespace",
      options.namespace ?? "datastream",
      "--values",
      `${dir}/values.yaml`,
    ]);
    return parseAllDocuments(out).map((doc) => doc.toJS()).filter((o) => o != null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The objects of the YAML files directly in `dir` (as `kubectl apply -f dir` reads them). */
async function objectsIn(dir: string): Promise<Obj[]> {
  const objects: Obj[] = [];
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isFile || !/\.ya?ml$/.test(entry.name)) continue;
    for (const doc of parseAllDocuments(await Deno.readTextFile(`${dir}${entry.name}`))) {
      const object = doc.toJS();
      if (object != null) objects.push(object);
    }
  }
  return objects;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

function byKey(objects: readonly Obj[]): Record<string, Obj> {
  return Object.fromEntries(objects.map((o) => [key(o), o]));
}

function one(objects: readonly Obj[], kind: string, name?: string): Obj {
  const found = objects.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind} ${name ?? ""}: ${objects.map(key).join(", ")}`);
  return found[0];
}

/**
 * A rendered object without what Helm adds by design: its two labels (`helm.sh/chart`,
 * `app.kubernetes.io/managed-by`), the pod template's `checksum/config` annotation (a new
 * configuration rolls the pods) and the brokers' Service's `helm.sh/resource-policy: keep`.
 */
function withoutHelm(object: Obj): Obj {
  const copy = structuredClone(object);
  for (const labels of [copy.metadata.labels, copy.spec?.template?.metadata?.labels]) {
    if (!labels) continue;
    delete labels["helm.sh/chart"];
    delete labels["app.kubernetes.io/managed-by"];
  }
  if (copy.metadata.annotations?.["helm.sh/resource-policy"] === "keep") {
    delete copy.metadata.annotations["helm.sh/resource-policy"];
    if (Object.keys(copy.metadata.annotations).length === 0) delete copy.metadata.annotations;
  }
  const annotations = copy.spec?.template?.metadata?.annotations;
  if (annotations) {
    delete annotations["checksum/config"];
    if (Object.keys(annotations).length === 0) delete copy.spec.template.metadata.annotations;
  }
  return copy;
}

Deno.test("chart: helm lint passes with the defaults and with every option on", async () => {
  const out = await toolOk("helm", ["lint", "--strict", CHART]);
  assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  const everything = await toolOk("helm", [
    "lint",
    "--strict",
    CHART,
    "--set",
    "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true",
    "--set",
    "webhook.create=true,webhook.url=https://example.invalid/hook,rbac.createService=true",
    "--set",
    "rbac.extraNamespaces={other}",
    "--set",
    "rbac.sources.nodes=true,rbac.sources.pods=true,rbac.sources.endpointSlices=true",
    "--set",
    "rbac.sources.configMaps={targets}",
  ]);
  assert.match(everything, /0 chart\(s\) failed/);
  const source = await tool("helm", ["lint", CHART, "--set", "rbac.sources.node=true"]);
  assert.match(source.stdout + source.stderr, /additional properties 'node' not allowed/);
  // The lint can fail: values.schema.json refuses a misspelt or mistyped value.
  const typo = await tool("helm", ["lint", CHART, "--set", "replica=2"]);
  assert.notEqual(typo.code, 0);
  assert.match(typo.stdout + typo.stderr, /additional properties 'replica' not allowed/);
  const mistyped = await tool("helm", ["lint", CHART, "--set-string", "replicas=two"]);
  assert.notEqual(mistyped.code, 0);
  assert.match(mistyped.stdout + mistyped.stderr, /\/replicas': got string, want integer/);
  // A created Secret without its URL does not render.
  const missing = await tool("helm", ["template", CHART, "--set", "webhook.create=true"]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /webhook.create needs webhook.url/);
});

Deno.test("chart: the defaults render the objects of manifests/ (no drift)", async () => {
  const rendered = (await render()).map(withoutHelm);
  // The chart creates no Namespace (helm install --create-namespace does); all else is the same.
  const manifests = (await objectsIn(MANIFESTS)).filter((o) => o.kind !== "Namespace");
  assert.deepEqual(Object.keys(byKey(rendered)).sort(), Object.keys(byKey(manifests)).sort());
  const want = byKey(manifests);
  for (const [name, object] of Object.entries(byKey(rendered))) {
    assert.deepEqual(object, want[name], `${name} drifted from manifests/`);
  }
});

Deno.test("chart: the optional objects render as manifests/optional/ has them", async () => {
  const optional = await objectsIn(`${MANIFESTS}optional/`);
  const rendered = (await render({
    rbac: {
      createService: true,
      sources: {
        nodes: true,
        pods: true,
        endpointSlices: true,
        configMaps: ["datastream-helaseid-dev-targets"],
      },
    },
    serviceMonitor: { enabled: true },
    prometheusRule: { enabled: true },
    grafanaDashboard: { enabled: true },
  })).map(withoutHelm);
  // The Roles of rbac.createService and rbac.sources are the optional manifests' (which
  // tests/integration/kube_source_test.ts proves enough for each source on the API server).
  for (
    const name of [
      "datastream-helaseid-dev-create-service",
      "datastream-helaseid-dev-source-pods",
      "datastream-helaseid-dev-source-endpointslices",
      "datastream-helaseid-dev-source-configmap",
    ]
  ) {
    assert.deepEqual(one(rendered, "Role", name), one(optional, "Role", name));
    assert.deepEqual(one(rendered, "RoleBinding", name), one(optional, "RoleBinding", name));
  }
  const nodes = "datastream-helaseid-dev-source-nodes";
  assert.deepEqual(one(rendered, "ClusterRole", nodes), one(optional, "ClusterRole", nodes));
  assert.deepEqual(
    one(rendered, "ClusterRoleBinding", nodes),
    one(optional, "ClusterRoleBinding", nodes),
  );
  // Off by default: no source may read anything the agent's Role does not.
  const defaults = await render({});
  assert.deepEqual(defaults.filter((o) => /-source-/.test(o.metadata.name)).map(key), []);
  assert.deepEqual(
    one(rendered, "PrometheusRule").spec,
    one(optional, "PrometheusRule").spec,
    "the chart's alerts are manifests/optional/prometheusrule.yaml's",
  );
  const monitor = one(rendered, "ServiceMonitor");
  assert.deepEqual(monitor.spec.endpoints, one(optional, "ServiceMonitor").spec.endpoints);
  assert.deepEqual(monitor.spec.namespaceSelector, { matchNames: ["datastream"] });
  const metrics = one(rendered, "Service", "datastream-helaseid-dev-metrics");
  for (const [label, value] of Object.entries(monitor.spec.selector.matchLabels)) {
    assert.equal(metrics.metadata.labels[label], value, `the ServiceMonitor selects ${label}`);
  }
  const dashboard = one(rendered, "ConfigMap", "datastream-helaseid-dev-dashboard");
  assert.equal(dashboard.metadata.labels.grafana_dashboard, "1");
  assert.deepEqual(
    JSON.parse(dashboard.data["helaseid.json"]),
    JSON.parse(await Deno.readTextFile(`${MANIFESTS}optional/grafana-dashboard.json`)),
  );
});

Deno.test("chart: value sets render what they say", async () => {
  // Structured configuration, created Secret, more replicas and other resources.
  const objects = await render({
    name: "",
    replicas: 2,
    resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: { memory: "512Mi" } },
    config: {
      structured: {
        services: [{ name: "brokers", namespace: "shop", ports: [9092], targets: ["192.0.2.9"] }],
      },
    },
    webhook: { create: true, url: "https://example.invalid/hook", secretName: "teams" },
    rbac: { extraNamespaces: ["shop"], sources: { pods: true } },
    brokersService: { create: false },
    metrics: { port: 9100 },
  }, { release: "edge", namespace: "ops" });
  const deployment = one(objects, "Deployment");
  assert.equal(deployment.metadata.name, "edge");
  assert.equal(deployment.spec.replicas, 2);
  const [container] = deployment.spec.template.spec.containers;
  // Helm merges maps with the defaults: the CPU limit stays unless set to null.
  assert.deepEqual(container.resources, {
    requests: { cpu: "50m", memory: "96Mi" },
    limits: { cpu: "1", memory: "512Mi" },
  });
  assert.deepEqual(container.args, [
    "run",
    "--config",
    "/etc/helaseid/config.yaml",
    "--log-format",
    "json",
    "--listen",
    ":9100",
  ]);
  assert.equal(container.ports[0].containerPort, 9100);
  const secretRef = container.env.find((e: Obj) => e.name === "TEAMS_WEBHOOK_URL").valueFrom
    .secretKeyRef;
  assert.deepEqual(secretRef, { name: "teams", key: "TEAMS_WEBHOOK_URL", optional: false });
  const secret = one(objects, "Secret");
  assert.deepEqual(secret.stringData, { TEAMS_WEBHOOK_URL: "https://example.invalid/hook" });
  assert.deepEqual(
    parse(one(objects, "ConfigMap").data["config.yaml"]).services[0].name,
    "brokers",
  );
  // A Role and RoleBinding in each namespace, all bound to the one ServiceAccount in `ops`.
  const roles = objects.filter((o) => o.kind === "RoleBinding");
  const inNamespaces = (name: string) =>
    roles.filter((o) => o.metadata.name === name).map((o) => o.metadata.namespace).sort();
  assert.deepEqual(inNamespaces("edge"), ["ops", "shop"]);
  // A `pods` source may read Pods in each of those namespaces, and nothing more.
  assert.deepEqual(inNamespaces("edge-source-pods"), ["ops", "shop"]);
  assert.deepEqual(
    one(objects.filter((o) => o.metadata.namespace === "shop"), "Role", "edge-source-pods").rules,
    [
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
    ],
  );
  assert.equal(roles.length, 4);
  for (const binding of roles) {
    assert.deepEqual(binding.subjects, [{
      kind: "ServiceAccount",
      name: "edge",
      namespace: "ops",
    }]);
  }
  assert.equal(objects.filter((o) => o.kind === "Service").length, 1, "no brokers' Service");
  assert.equal(one(objects, "Service").spec.ports[0].port, 9100);

  // An existing ConfigMap and ServiceAccount, no RBAC: the chart creates none of them.
  const bare = await render({
    config: { existingConfigMap: "mine" },
    serviceAccount: { create: false, name: "agent" },
    rbac: { create: false },
  });
  assert.deepEqual(
    bare.map((o) => o.kind).sort(),
    ["Deployment", "PodDisruptionBudget", "Service", "Service"],
  );
  const pod = one(bare, "Deployment").spec.template.spec;
  assert.equal(pod.serviceAccountName, "agent");
  assert.equal(pod.volumes[0].configMap.name, "mine");
  assert.equal(one(bare, "Deployment").spec.template.metadata.annotations, null);
  // One replica without Leases: no PodDisruptionBudget (it would block every drain), no LEASES,
  // no right on Leases.
  const single = await render({
    replicas: 1,
    strategy: { type: "Recreate" },
    leases: { enabled: false },
  });
  assert.equal(single.filter((o) => o.kind === "PodDisruptionBudget").length, 0);
  const singlePod = one(single, "Deployment").spec.template.spec;
  assert.equal(singlePod.containers[0].env.find((e: Obj) => e.name === "LEASES"), undefined);
  assert.deepEqual(one(single, "Deployment").spec.strategy, { type: "Recreate" });
  assert.ok(
    !one(single, "Role").rules.some((r: Obj) => r.apiGroups.includes("coordination.k8s.io")),
    "no Lease rule without leases",
  );
  // A changed configuration changes the pod template, so the pods roll.
  const checksum = async (env: string) =>
    one(await render({ config: { env } }), "Deployment").spec.template.metadata.annotations[
      "checksum/config"
    ];
  assert.notEqual(await checksum("PORT=9092\nIPS=192.0.2.1\n"), await checksum("PORT=9093\n"));
});

Deno.test("chart: applied to the real API server with restricted Pod Security, the agent works with its ServiceAccount", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("helaseid-chart", {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
  });
  const brokers = ["192.0.2.81", "192.0.2.82"];
  const service = "brokers";
  const objects = await render({
    config: {
      env: [
        `IPS=(${brokers.map((b) => `"${b}"`).join(" ")})`,
        "PORT=9092",
        "MAX_RETRY=2",
        "INTERVAL=0.2",
        "LOG_LEVEL=INFO",
        `NAMESPACE=${namespace}`,
        `SERVICE_NAME=${service}`,
      ].join("\n") + "\n",
    },
    brokersService: { name: service },
  }, { namespace });
  const applied = await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: objects.map((o) => JSON.stringify(o)).join("\n"),
  });
  assert.equal(applied.trim().split("\n").length, objects.length, applied);
  for (const line of applied.trim().split("\n")) assert.match(line, / created$/);

  // The Deployment's pod template as the API server stored it, admitted under "restricted".
  const name = one(objects, "Deployment").metadata.name;
  const deployment = JSON.parse(
    await cluster.kubectlOk(["-n", namespace, "get", "deployment", name, "-o", "json"]),
  );
  const template = deployment.spec.template;
  const pod = (spec: Obj) =>
    JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "chart-admission", namespace, labels: template.metadata.labels },
      spec,
    });
  const admitted = await cluster.kubectl(["create", "--dry-run=server", "-f", "-"], {
    stdin: pod(template.spec),
  });
  assert.equal(admitted.code, 0, admitted.stderr);
  const loose = structuredClone(template.spec);
  delete loose.containers[0].securityContext;
  const rejected = await cluster.kubectl(["create", "--dry-run=server", "-f", "-"], {
    stdin: pod(loose),
  });
  assert.notEqual(rejected.code, 0, "the namespace does enforce restricted");
  assert.match(rejected.stderr, /violates PodSecurity "restricted:latest"/);

  // The agent with the chart's arguments, config.env and ServiceAccount token.
  const account = one(objects, "ServiceAccount").metadata.name;
  const kubeconfig = await cluster.serviceAccountKubeconfig(namespace, account);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-chart-agent-" });
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, brokers.map((address) => ({ address, port: 9092 })));
  await using slices = await record(
    cluster.kubeconfigPath,
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
  );
  try {
    const config = one(objects, "ConfigMap");
    await Deno.writeTextFile(`${dir}/config.env`, config.data["config.env"]);
    const [container] = template.spec.containers;
    const args: string[] = [...container.args];
    args[args.indexOf("--config") + 1] = `${dir}/config.env`;
    // The container's environment: its plain values (LEASES) and what the downward API gives.
    const env: Record<string, string> = { POD_NAME: "chart-agent-0", POD_NAMESPACE: namespace };
    for (const variable of container.env) {
      if (variable.value !== undefined) env[variable.name] = variable.value;
    }
    assert.equal(env.LEASES, "true", "the chart turns Leases on");
    const port = freePort();
    await using agent = await startAgent({
      args: [...args, "--kubeconfig", kubeconfig, "--listen", `127.0.0.1:${port}`],
      env,
    });
    const slice = `${service}-helaseid-ipv4`;
    const shows = (want: Record<string, boolean>) => (e: Obj) =>
      e.type !== "DELETED" && e.object.metadata.name === slice &&
      JSON.stringify(readiness(e.object)) === JSON.stringify(want);
    const up = await slices.waitFor(shows({ [brokers[0]!]: true, [brokers[1]!]: true }));
    await targets[1]!.setMode("refuse");
    await slices.waitFor(shows({ [brokers[0]!]: true, [brokers[1]!]: false }), {
      since: slices.events.indexOf(up) + 1,
    });
    // It holds the Service's Lease (the Role lets it), and says so where the alert looks.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`^helaseid_lease_held\\{namespace="${namespace}",service="${service}"\\} 1$`, "m"),
    );
    // Writes, Leases and Events in it too: promtool's lint finds nothing here either.
    const lint = await tool("promtool", ["check", "metrics"], { stdin: metrics });
    assert.equal(lint.code, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
    const refused = agent.lines.filter((line) =>
      line.level === "error" || /forbidden/i.test(JSON.stringify(line))
    );
    assert.deepEqual(refused, [], "nothing refused to the chart's ServiceAccount");
    assert.equal(await agent.stop(), 0);
  } finally {
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chart: helm install, upgrade and uninstall against the real API server", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("helaseid-helm", {
    "pod-security.kubernetes.io/enforce": "restricted",
  });
  const helm = (...args: string[]) =>
    toolOk("helm", [...args, "--namespace", namespace, "--kubeconfig", cluster.kubeconfigPath]);
  await helm("install", "helaseid", CHART, "--set", "brokersService.name=brokers");
  const names = async () =>
    (await cluster.kubectlOk([
      "-n",
      namespace,
      "get",
      "configmap,serviceaccount,role,rolebinding,service,deployment",
      "-l",
      "app.kubernetes.io/managed-by=Helm",
      "-o",
      "name",
    ])).trim().split("\n").filter(Boolean).sort();
  assert.deepEqual(await names(), [
    "configmap/datastream-helaseid-dev",
    "deployment.apps/datastream-helaseid-dev",
    "role.rbac.authorization.k8s.io/datastream-helaseid-dev",
    "rolebinding.rbac.authorization.k8s.io/datastream-helaseid-dev",
    "service/brokers",
    "service/datastream-helaseid-dev-metrics",
    "serviceaccount/datastream-helaseid-dev",
  ]);
  const template = async () =>
    JSON.parse(
      await cluster.kubectlOk([
        "-n",
        namespace,
        "get",
        "deployment",
        "datastream-helaseid-dev",
        "-o",
        "json",
      ]),
    ).spec.template;
  const before = await template();
  // A new configuration: the ConfigMap changes and the pod template with it (pods roll).
  await helm("upgrade", "helaseid", CHART, "--reuse-values", "--set", "config.env=PORT=9093\n");
  const configMap = JSON.parse(
    await cluster.kubectlOk([
      "-n",
      namespace,
      "get",
      "configmap",
      "datastream-helaseid-dev",
      "-o",
      "json",
    ]),
  );
  assert.equal(configMap.data["config.env"], "PORT=9093\n");
  assert.notEqual(
    (await template()).metadata.annotations["checksum/config"],
    before.metadata.annotations["checksum/config"],
  );
  await helm("uninstall", "helaseid");
  // Everything goes but the brokers' Service, which clients still resolve.
  assert.deepEqual(await names(), ["service/brokers"]);
});

Deno.test("chart: the API server accepts what each value set renders (server-side dry run)", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("helaseid-values", {
    "pod-security.kubernetes.io/enforce": "restricted",
  });
  const other = await cluster.createNamespace("helaseid-values-other");
  const sets: Record<string, Obj> = {
    defaults: {},
    "one replica, Recreate, no Leases": {
      replicas: 1,
      strategy: { type: "Recreate" },
      leases: { enabled: false },
    },
    "structured config, created Secret, another namespace, other port": {
      name: "",
      config: {
        structured: {
          services: [{ name: "b", namespace: other, ports: [9092], targets: ["192.0.2.9"] }],
        },
      },
      webhook: { create: true, url: "https://example.invalid/hook" },
      rbac: {
        extraNamespaces: [other],
        createService: true,
        sources: { nodes: true, pods: true, endpointSlices: true, configMaps: ["targets"] },
      },
      metrics: { port: 9100 },
      resources: { limits: { cpu: null } },
      grafanaDashboard: { enabled: true },
    },
    "existing ConfigMap and ServiceAccount, no RBAC": {
      config: { existingConfigMap: "mine" },
      serviceAccount: { create: false, name: "agent" },
      rbac: { create: false },
    },
  };
  for (const [name, values] of Object.entries(sets)) {
    const objects = await render(values, { namespace });
    const result = await cluster.kubectl(["apply", "--dry-run=server", "-f", "-"], {
      stdin: objects.map((o) => JSON.stringify(o)).join("\n"),
    });
    assert.equal(result.code, 0, `${name}: ${result.stderr}`);
    assert.equal(
      result.stdout.trim().split("\n").length,
      objects.length,
      `${name}: ${result.stdout}`,
    );
  }
  // The dry run can fail: a Recreate strategy that kept rollingUpdate is refused.
  const objects = await render({}, { namespace });
  const deployment = one(objects, "Deployment");
  deployment.spec.strategy.type = "Recreate";
  const refused = await cluster.kubectl(["apply", "--dry-run=server", "-f", "-"], {
    stdin: JSON.stringify(deployment),
  });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /rollingUpdate/);
});
