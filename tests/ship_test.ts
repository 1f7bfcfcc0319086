/**
 * What ships: the compile tasks, the bundle, the Dockerfile and the manifests, checked for the
 * invariants users rely on (DESIGN §3, issue 6). The manifests are also applied to the real
 * API server by tests/integration/manifests_test.ts; here they are read as files, so that a
 * broken invariant is reported with the field at fault and without a cluster.
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { BUILD_INFO } from "../src/build_info.ts";
import { loadConfig } from "../src/config/mod.ts";
import { serviceObject } from "../src/publish/objects.ts";
import { agentFlags } from "./support/agent_process.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MANIFESTS = `${ROOT}manifests/`;

const CROSS_TARGETS: Record<string, string> = {
  "compile:linux-x86_64": "x86_64-unknown-linux-gnu",
  "compile:linux-aarch64": "aarch64-unknown-linux-gnu",
  "compile:macos-x86_64": "x86_64-apple-darwin",
  "compile:macos-aarch64": "aarch64-apple-darwin",
};

/** The permissions the agent needs and nothing else (README "Permissions" says why). */
const EXPECTED_PERMISSIONS = ["--allow-net", "--allow-read", "--allow-env", "--allow-run"];
/** V8 flags baked into the binary (README "Performance" gives the measurements). */
const EXPECTED_V8_FLAGS = ["--v8-flags=--max-semi-space-size=1"];

const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  version: string;
  tasks: Record<string, string>;
};

function words(command: string): string[] {
  return command.trim().split(/\s+/);
}

function permissionFlags(command: string): string[] {
  return words(command).filter((word) => word.startsWith("--allow-") || word === "-A");
}

function v8Flags(command: string): string[] {
  return words(command).filter((word) => word.startsWith("--v8-flags"));
}

/** The value following `flag` in a command line (`--flag value` or `--flag=value`). */
function flagValue(args: readonly string[], flag: string): string | undefined {
  for (const [i, word] of args.entries()) {
    if (word === flag) return args[i + 1];
    if (word.startsWith(`${flag}=`)) return word.slice(flag.length + 1);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// deno.json: compile and bundle
// ---------------------------------------------------------------------------------------------

Deno.test("compile: the task grants exactly net, read, env and run, never -A", async () => {
  const task = denoJson.tasks.compile ?? "";
  assert.match(task, /^deno compile /);
  assert.deepEqual(permissionFlags(task), EXPECTED_PERMISSIONS);
  assert.equal(flagValue(words(task), "--output"), "dist/helaseid");
  assert.equal(words(task).at(-1), "main.ts");
  assert.ok(words(task).includes("--frozen"), "builds from the committed deno.lock");
  assert.deepEqual(v8Flags(task), EXPECTED_V8_FLAGS);
  // The agent processes of the integration tests run with the same flags.
  assert.deepEqual(await agentFlags(), [...EXPECTED_PERMISSIONS, ...EXPECTED_V8_FLAGS]);
});

Deno.test("compile: every cross target has the compile task's permissions and its own output", () => {
  const base = permissionFlags(denoJson.tasks.compile ?? "");
  const outputs = new Set<string>();
  for (const [name, triple] of Object.entries(CROSS_TARGETS)) {
    const task = denoJson.tasks[name];
    assert.ok(task, `deno.json has no task '${name}'`);
    const args = words(task);
    assert.deepEqual(permissionFlags(task), base, `${name}: permission flags`);
    assert.deepEqual(v8Flags(task), EXPECTED_V8_FLAGS, `${name}: V8 flags`);
    assert.equal(flagValue(args, "--target"), triple, `${name}: --target`);
    const output = flagValue(args, "--output");
    assert.ok(output?.startsWith("dist/helaseid-"), `${name}: output '${output}'`);
    outputs.add(output!);
    // Everything else is identical to the native task: same entry point, same lock.
    const rest = (command: string) =>
      words(command).filter((w, i, all) =>
        !["--target", "--output"].includes(w) && !["--target", "--output"].includes(all[i - 1]!)
      );
    assert.deepEqual(rest(task), rest(denoJson.tasks.compile!), `${name}: other arguments`);
  }
  assert.equal(outputs.size, Object.keys(CROSS_TARGETS).length, "distinct outputs");
  // Any other task that compiles must not widen the permissions either.
  for (const [name, task] of Object.entries(denoJson.tasks)) {
    if (!task.includes("deno compile")) continue;
    assert.deepEqual(permissionFlags(task), base, `${name}: permission flags`);
  }
  const all = denoJson.tasks["compile:all"] ?? "";
  for (const name of Object.keys(CROSS_TARGETS)) {
    assert.ok(all.includes(`deno task ${name}`), `compile:all runs ${name}`);
  }
});

Deno.test("bundle: runs with --no-config and exactly the compile task's permissions", async () => {
  const task = denoJson.tasks.bundle ?? "";
  assert.match(task, /^deno bundle /);
  assert.equal(flagValue(words(task), "--output"), "dist/helaseid.js");
  const dir = await Deno.makeTempDir({ prefix: "helaseid-ship-" });
  try {
    // The task's own arguments, into a private output (a test run may be bundling dist/ too).
    const args = words(task).slice(1).map((word, i, all) =>
      all[i - 1] === "--output" ? `${dir}/helaseid.js` : word
    );
    const built = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    const bundle = await Deno.readTextFile(`${dir}/helaseid.js`);
    // Self-contained: nothing left for a resolver or the network.
    assert.doesNotMatch(bundle, /\b(?:from|import)\s*\(?\s*["'](?:npm|jsr|https?):/);

    const run = async (...rest: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          "--no-prompt",
          ...permissionFlags(denoJson.tasks.compile!),
          `${dir}/helaseid.js`,
          ...rest,
        ],
        cwd: dir,
        clearEnv: true,
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_NO_UPDATE_CHECK: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      return {
        code: out.code,
        stdout: decoder.decode(out.stdout),
        stderr: decoder.decode(out.stderr),
      };
    };
    const version = await run("version");
    assert.equal(version.code, 0, version.stderr);
    assert.match(
      version.stdout,
      new RegExp(`^helaseid ${BUILD_INFO.version.replaceAll(".", "\\.")} `),
    );
    const validated = await run("validate", "--config", `${ROOT}examples/seed-config.env`);
    assert.equal(validated.code, 0, validated.stderr);
    const config = JSON.parse(validated.stdout);
    assert.equal(config.services[0].name, "datastream-redpanda-api-dev");
    assert.equal(config.services[0].targets.length, 3);
    const help = await run("--help");
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: helaseid/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly instructions: Instruction[];
}

/** The stages of a Dockerfile: comment lines dropped, continuation lines joined. */
function parseDockerfile(text: string): Stage[] {
  const result: Stage[] = [];
  const lines = text.split("\n").filter((line) => !line.trim().startsWith("#"));
  const logical = lines.join("\n").replace(/\\\n/g, " ").split("\n");
  for (const line of logical) {
    const trimmed = line.trim();
    if (trimmed === "") continue;
    const match = /^(\S+)\s+(.*)$/.exec(trimmed);
    if (!match) throw new Error(`Dockerfile: cannot read '${trimmed}'`);
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.replace(/\s+/g, " ");
    if (keyword === "FROM") {
      const [from, as, name] = args.split(" ");
      result.push({
        from: from!,
        ...(as?.toUpperCase() === "AS" ? { name } : {}),
        instructions: [],
      });
      continue;
    }
    const stage = result.at(-1);
    if (!stage) throw new Error(`Dockerfile: '${keyword}' before FROM`);
    stage.instructions.push({ keyword, args });
  }
  return result;
}

function instructionsOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

const dockerfile = await Deno.readTextFile(`${ROOT}Dockerfile`);
let parsedStages: Stage[] | undefined;
function stages(): Stage[] {
  return parsedStages ??= parseDockerfile(dockerfile);
}

Deno.test("Dockerfile: official Deno image of the CI's version, then distroless cc nonroot", async () => {
  assert.equal(stages().length, 2, "two stages");
  const ciVersion = /^DENO_VERSION=(\S+)$/m.exec(await Deno.readTextFile(`${ROOT}.ci/run`))?.[1];
  assert.ok(ciVersion, ".ci/run names DENO_VERSION");
  assert.equal(stages()[0]!.from, `denoland/deno:${ciVersion}`);
  assert.equal(stages()[1]!.from, "gcr.io/distroless/cc-debian12:nonroot");
  assert.equal(Deno.version.deno, ciVersion, "the Deno running the tests is the one shipped");
});

Deno.test("Dockerfile: compiles with deno.json's compile permissions from the frozen lock", () => {
  const build = stages()[0]!;
  const runs = instructionsOf(build, "RUN");
  assert.ok(runs.some((r) => /\bdeno install --frozen\b/.test(r)), "deno install --frozen");
  const compile = runs.find((r) => r.includes("deno compile"));
  assert.ok(compile, "a RUN with deno compile");
  const command = compile.slice(compile.indexOf("deno compile")).split("&&")[0]!;
  assert.deepEqual(permissionFlags(command), permissionFlags(denoJson.tasks.compile!));
  assert.deepEqual(v8Flags(command), v8Flags(denoJson.tasks.compile!));
  assert.ok(words(command).includes("--frozen"));
  assert.equal(words(command).at(-1), "main.ts");
  const output = flagValue(words(command), "--output");
  const copy = instructionsOf(stages()[1]!, "COPY");
  assert.deepEqual(copy, [`--from=${build.name} ${output} /helaseid`]);
  assert.doesNotMatch(dockerfile, /(?:^|\s)(?:-A|--allow-all)(?:\s|$)/m, "never -A");
});

Deno.test("Dockerfile: final stage runs /helaseid as 65532, no RUN, no shell form", async () => {
  const final = stages()[1]!;
  assert.deepEqual(instructionsOf(final, "RUN"), [], "distroless has no shell to RUN with");
  assert.deepEqual(instructionsOf(final, "USER"), ["65532:65532"]);
  assert.deepEqual(instructionsOf(final, "ENTRYPOINT").map((a) => JSON.parse(a)), [["/helaseid"]]);
  const cmd = instructionsOf(final, "CMD").map((a) => JSON.parse(a));
  assert.equal(cmd.length, 1, "one exec-form CMD");
  const deployment = await manifest("Deployment", "datastream-helaseid-dev");
  const mount = deployment.spec.template.spec.containers[0].volumeMounts
    .find((m: { name: string }) => m.name === "config").mountPath;
  assert.deepEqual(cmd[0], ["run", "--config", `${mount}/config.env`]);
  assert.deepEqual(instructionsOf(final, "EXPOSE"), ["8080"]);
});

Deno.test("Dockerfile: OCI labels name the image and carry deno.json's version", () => {
  const labels = new Map<string, string>();
  for (const args of instructionsOf(stages()[1]!, "LABEL")) {
    for (const [, key, value] of args.matchAll(/(\S+?)="([^"]*)"/g)) labels.set(key!, value!);
  }
  for (const key of ["title", "description", "version", "source"]) {
    assert.ok(
      labels.get(`org.opencontainers.image.${key}`),
      `label org.opencontainers.image.${key}`,
    );
  }
  assert.equal(labels.get("org.opencontainers.image.version"), denoJson.version);
  assert.equal(labels.get("org.opencontainers.image.base.name"), stages()[1]!.from);
});

Deno.test(".dockerignore: the build context is the agent's sources and lock only", async () => {
  const lines = (await Deno.readTextFile(`${ROOT}.dockerignore`)).split("\n")
    .map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"));
  assert.equal(lines[0], "*", "everything excluded first");
  assert.deepEqual(lines.slice(1).sort(), ["!deno.json", "!deno.lock", "!main.ts", "!src/"]);
  // Every COPY source of the build stage is in the context.
  for (const copy of instructionsOf(stages()[0]!, "COPY")) {
    for (const source of copy.split(" ").slice(0, -1)) {
      assert.ok(lines.includes(`!${source.replace(/^\.\//, "")}`), `COPY ${source} is included`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------

// deno-lint-ignore no-explicit-any
type Obj = any;

/** Every object of the top-level manifests (what `kubectl apply -f manifests/` reads), by file. */
async function manifestFiles(): Promise<Map<string, Obj[]>> {
  const files = new Map<string, Obj[]>();
  const names = [...Deno.readDirSync(MANIFESTS)]
    .filter((e) => e.isFile && /\.(ya?ml|json)$/.test(e.name)).map((e) => e.name).sort();
  for (const name of names) {
    const text = await Deno.readTextFile(`${MANIFESTS}${name}`);
    const docs = parseAllDocuments(text);
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      assert.deepEqual(doc.errors, [], `${name}: YAML errors`);
    }
    files.set(
      name,
      (Array.isArray(docs) ? docs : [docs]).map((doc) => doc.toJS()).filter((o) => o != null),
    );
  }
  return files;
}

async function manifest(kind: string, name: string): Promise<Obj> {
  const all = [...(await manifestFiles()).values()].flat();
  const found = all.filter((o) => o.kind === kind && o.metadata?.name === name);
  assert.equal(found.length, 1, `one ${kind} '${name}' in manifests/`);
  return found[0];
}

/** Kinds the API server knows without any CRD: `kubectl apply -f manifests/` works anywhere. */
const CORE_KINDS = [
  "Namespace",
  "ConfigMap",
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "Service",
  "Deployment",
  "PodDisruptionBudget",
];

Deno.test("manifests: core kinds only, all in namespace datastream, namespace file first", async () => {
  const files = await manifestFiles();
  const names = [...files.keys()];
  for (const [file, objects] of files) {
    for (const object of objects) {
      assert.ok(
        CORE_KINDS.includes(object.kind),
        `${file}: kind '${object.kind}' (optional kinds go to manifests/optional/)`,
      );
      if (object.kind === "Namespace") {
        assert.equal(object.metadata.name, "datastream");
        assert.equal(file, names[0], "the Namespace is in the file kubectl applies first");
      } else {
        assert.equal(object.metadata.namespace, "datastream", `${file}: ${object.kind} namespace`);
      }
    }
  }
  const kinds = [...files.values()].flat().map((o) => o.kind).sort();
  assert.deepEqual(kinds, [
    "ConfigMap",
    "Deployment",
    "Namespace",
    "PodDisruptionBudget",
    "Role",
    "RoleBinding",
    "Service",
    "Service",
    "ServiceAccount",
  ]);
});

Deno.test("manifests: Kustomization lists exactly the files that create objects", async () => {
  const files = await manifestFiles();
  const [kustomization] = parseAllDocuments(await Deno.readTextFile(`${MANIFESTS}Kustomization`))
    .map((doc) => doc.toJS());
  assert.equal(kustomization.kind, "Kustomization");
  const creating = [...files].filter(([, objects]) => objects.length > 0).map(([name]) => name);
  assert.deepEqual([...kustomization.resources].sort(), creating.sort());
  assert.deepEqual(files.get("secret.yaml"), [], "secret.yaml is a template that creates nothing");
  assert.ok(!files.has("kustomization.yaml"), "kubectl apply -f would choke on it");
});

Deno.test("manifests: the ConfigMap is the seed's, config.env verbatim", async () => {
  const configMap = await manifest("ConfigMap", "datastream-helaseid-dev");
  const seed = await Deno.readTextFile(`${ROOT}examples/seed-config.env`);
  assert.deepEqual(Object.keys(configMap.data), ["config.env"]);
  assert.equal(configMap.data["config.env"], seed);
});

Deno.test("manifests: the Secret template keeps the seed's name and key", async () => {
  const text = await Deno.readTextFile(`${MANIFESTS}secret.yaml`);
  const uncommented = text.split("\n").map((line) => line.replace(/^# ?/, "")).join("\n");
  const [secret] = parseAllDocuments(uncommented.slice(uncommented.indexOf("apiVersion:")))
    .map((doc) => doc.toJS());
  assert.equal(secret.kind, "Secret");
  assert.equal(secret.metadata.name, "datastream-hslc-dev");
  assert.equal(secret.metadata.namespace, "datastream");
  assert.deepEqual(Object.keys(secret.stringData), ["TEAMS_WEBHOOK_URL"]);
});

Deno.test("manifests: the Role grants the agent's verbs in its namespace and nothing else", async () => {
  const files = await manifestFiles();
  const all = [...files.values()].flat();
  assert.ok(!all.some((o) => /^Cluster/.test(o.kind)), "nothing cluster-wide");
  const role = await manifest("Role", "datastream-helaseid-dev");
  const granted = new Set<string>();
  for (const rule of role.rules) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        for (const verb of rule.verbs) granted.add(`${group || "core"}/${resource}:${verb}`);
      }
    }
    assert.equal(rule.resourceNames, undefined);
  }
  const rw = ["get", "list", "watch", "create", "update", "patch", "delete"];
  const expected = [
    ...["get", "list", "watch"].map((v) => `core/services:${v}`),
    ...rw.map((v) => `discovery.k8s.io/endpointslices:${v}`),
    ...rw.map((v) => `core/endpoints:${v}`),
    ...["create", "patch"].map((v) => `events.k8s.io/events:${v}`),
    ...["get", "list", "create", "update"].map((v) => `coordination.k8s.io/leases:${v}`),
  ];
  assert.deepEqual([...granted].sort(), expected.sort());
  const binding = await manifest("RoleBinding", "datastream-helaseid-dev");
  const account = await manifest("ServiceAccount", "datastream-helaseid-dev");
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "Role",
    name: role.metadata.name,
  });
  assert.deepEqual(binding.subjects, [{
    kind: "ServiceAccount",
    name: account.metadata.name,
    namespace: "datastream",
  }]);
});

Deno.test("manifests: the Deployment is two hardened replicas of deno.json's version", async () => {
  const deployment = await manifest("Deployment", "datastream-helaseid-dev");
  const spec = deployment.spec;
  // Two replicas sharing the Services by Lease; a new pod is ready before an old one stops.
  assert.equal(spec.replicas, 2);
  assert.deepEqual(spec.strategy, {
    type: "RollingUpdate",
    rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
  });
  const spread = spec.template.spec.topologySpreadConstraints;
  assert.deepEqual(
    spread.map((c: Obj) => [c.topologyKey, c.whenUnsatisfiable, c.labelSelector.matchLabels]),
    ["topology.kubernetes.io/zone", "kubernetes.io/hostname"].map((key) => [
      key,
      "ScheduleAnyway",
      spec.selector.matchLabels,
    ]),
  );
  const budget = await manifest("PodDisruptionBudget", "datastream-helaseid-dev");
  assert.equal(budget.spec.minAvailable, 1);
  assert.deepEqual(budget.spec.selector, spec.selector);
  const pod = spec.template.spec;
  assert.equal(pod.serviceAccountName, "datastream-helaseid-dev");
  assert.equal(pod.automountServiceAccountToken, true);
  assert.ok(pod.terminationGracePeriodSeconds >= 5 && pod.terminationGracePeriodSeconds <= 30);
  assert.equal(pod.containers.length, 1);
  const [container] = pod.containers;
  assert.equal(container.image, `ghcr.io/helaseid/helaseid:${denoJson.version}`);
  assert.deepEqual(container.args, [
    "run",
    "--config",
    "/etc/helaseid/config.env",
    "--log-format",
    "json",
  ]);
  for (const context of [pod.securityContext, container.securityContext]) {
    assert.equal(context.runAsNonRoot, true);
    assert.equal(context.runAsUser, 65532);
    assert.deepEqual(context.seccompProfile, { type: "RuntimeDefault" });
  }
  const c = container.securityContext;
  assert.equal(c.readOnlyRootFilesystem, true);
  assert.equal(c.allowPrivilegeEscalation, false);
  assert.deepEqual(c.capabilities, { drop: ["ALL"] });
  assert.deepEqual(container.ports, [{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
  assert.deepEqual(
    [container.livenessProbe.httpGet, container.readinessProbe.httpGet],
    [{ path: "/healthz", port: "metrics" }, { path: "/readyz", port: "metrics" }],
  );
  // The seed's Secret, optional: without it the agent runs without Teams alerts.
  assert.deepEqual(container.env, [{
    name: "POD_NAME",
    valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
  }, {
    name: "POD_NAMESPACE",
    valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
  }, {
    name: "POD_UID",
    valueFrom: { fieldRef: { fieldPath: "metadata.uid" } },
  }, {
    name: "LEASES",
    value: "true",
  }, {
    name: "TEAMS_WEBHOOK_URL",
    valueFrom: {
      secretKeyRef: { name: "datastream-hslc-dev", key: "TEAMS_WEBHOOK_URL", optional: true },
    },
  }]);
  const volumes = Object.fromEntries(pod.volumes.map((v: Obj) => [v.name, v]));
  const mounts = Object.fromEntries(container.volumeMounts.map((m: Obj) => [m.name, m]));
  assert.deepEqual(volumes.config.configMap, { name: "datastream-helaseid-dev" });
  assert.deepEqual(mounts.config, { name: "config", mountPath: "/etc/helaseid", readOnly: true });
  // Every volume is of a type the restricted Pod Security Standard allows.
  for (const volume of pod.volumes) {
    const types = Object.keys(volume).filter((key) => key !== "name");
    assert.ok(
      types.every((t) => ["configMap", "emptyDir", "projected", "secret"].includes(t)),
      `volume '${volume.name}': ${types.join(", ")}`,
    );
  }
});

Deno.test("manifests: resources are set, with the limit above the request", async () => {
  const deployment = await manifest("Deployment", "datastream-helaseid-dev");
  const { requests, limits } = deployment.spec.template.spec.containers[0].resources;
  const mebibytes = (quantity: string) => {
    const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
    assert.ok(match, `memory quantity '${quantity}' in Mi or Gi`);
    return Number(match[1]) * (match[2] === "Gi" ? 1024 : 1);
  };
  // Measured peak of the agent (README "Resources"): ~90 MiB with the seed's ConfigMap,
  // ~150 MiB with 1,000 targets. The request covers the first, the limit the second with room.
  assert.ok(mebibytes(requests.memory) >= 128, `memory request ${requests.memory}`);
  assert.ok(mebibytes(limits.memory) >= 256, `memory limit ${limits.memory}`);
  assert.ok(requests.cpu, "a CPU request");
});

Deno.test("manifests: the brokers' Service has no selector; the metrics Service finds the pod", async () => {
  const brokers = await manifest("Service", "datastream-redpanda-api-dev");
  assert.equal(brokers.spec.selector, undefined, "a selector would make Kubernetes fight us");
  assert.deepEqual(brokers.spec.ports.map((p: Obj) => p.port), [9092]);
  const metrics = await manifest("Service", "datastream-helaseid-dev-metrics");
  const deployment = await manifest("Deployment", "datastream-helaseid-dev");
  const podLabels = deployment.spec.template.metadata.labels;
  for (const [key, value] of Object.entries(metrics.spec.selector)) {
    assert.equal(podLabels[key], value, `pod label ${key}`);
  }
  assert.deepEqual(deployment.spec.selector.matchLabels, metrics.spec.selector);
  assert.equal(metrics.metadata.labels["app.kubernetes.io/name"], "helaseid");
  assert.deepEqual(metrics.spec.ports, [{
    name: "metrics",
    port: 8080,
    targetPort: "metrics",
    protocol: "TCP",
  }]);
});

Deno.test("manifests: the brokers' Service is what CREATE_SERVICE=true creates: headless", async () => {
  const brokers = await manifest("Service", "datastream-redpanda-api-dev");
  const configMap = await manifest("ConfigMap", "datastream-helaseid-dev");
  const { config } = await loadConfig({
    path: "config.env",
    env: { CREATE_SERVICE: "true" },
    readTextFile: () => Promise.resolve(configMap.data["config.env"]),
  });
  const [service] = config.services;
  assert.ok(service, "the ConfigMap configures one Service");
  const created: Obj = serviceObject(service, { headless: true });
  assert.equal(brokers.metadata.name, created.metadata.name);
  assert.equal(brokers.metadata.namespace, created.metadata.namespace);
  assert.equal(created.spec.clusterIP, "None", "CREATE_SERVICE=true creates a headless Service");
  assert.equal(brokers.spec.clusterIP, created.spec.clusterIP, "the manifest's is headless too");
  assert.equal(brokers.spec.type ?? "ClusterIP", "ClusterIP");
  assert.equal(brokers.spec.selector, created.spec.selector);
  // Same ports; the manifest names its port (any name is copied into the endpoints).
  const ports = (list: readonly Obj[]) =>
    list.map((p) => ({ port: p.port, targetPort: p.targetPort, protocol: p.protocol }));
  assert.deepEqual(ports(brokers.spec.ports), ports(created.spec.ports));
});

// ---------------------------------------------------------------------------------------------
// README
// ---------------------------------------------------------------------------------------------

Deno.test("README: every task it names exists, and it states the compile permissions", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const named = new Set([...readme.matchAll(/deno task ([a-z][a-z0-9:_-]*)/g)].map((m) => m[1]!));
  for (const task of named) assert.ok(denoJson.tasks[task], `README names 'deno task ${task}'`);
  assert.ok(readme.includes(permissionFlags(denoJson.tasks.compile!).join(" ")));
  for (const heading of ["## Quick start", "## Alerts", "## Metrics and health endpoints"]) {
    assert.ok(readme.includes(`\n${heading}\n`), `README has '${heading}'`);
  }
});
