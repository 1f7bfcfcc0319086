/**
 * No silent failure of list/watch (issue 10, item 3), against the real API server: a bogus
 * token, a revoked one, a Role without `watch`, a missing namespace. Each makes `/readyz` 503
 * with the Service, the verb, the resource and the status, and sets the blocked metric; where
 * an operator can fix it in place (the Role, the namespace), the agent recovers by itself.
 *
 * Deadlines here only keep a broken test from hanging; nothing asserts a duration.
 */

import assert from "node:assert/strict";
import { sharedCluster } from "../support/cluster.ts";
import { agentRole, agentServiceAccount } from "../support/rbac.ts";
import { get } from "../support/agent_http.ts";
import { createService, getSlice, UNNAMED_PORT } from "../support/service.ts";
import { type SeedBed, seedBed } from "../support/seed_bed.ts";
import { untilValue } from "../support/wait.ts";
import { parsePrometheus, valueOf } from "../observe/_prometheus.ts";

async function blockedMetric(base: string, reason: string): Promise<number | undefined> {
  const { body } = await get(base, "/metrics");
  return valueOf(parsePrometheus(body), "helaseid_service_blocked", { service: "brokers", reason });
}

/** Waits until `/readyz` answers `status` with a body matching `body`, and returns the body. */
function readyz(base: string, status: number, body: RegExp, timeoutMs = 30_000): Promise<string> {
  return untilValue(`/readyz ${status} matching ${body}`, async () => {
    const answer = await get(base, "/readyz");
    return answer.status === status && body.test(answer.body) ? answer.body : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

/** Targets on `addresses`, and the agent probing them with `kubeconfig`. */
function bed(
  kubeconfig: string,
  namespace: string,
  addresses: string | string[],
  env: Record<string, string> = {},
): Promise<SeedBed> {
  const ips = typeof addresses === "string" ? [addresses] : addresses;
  return seedBed(ips, { args: ["--kubeconfig", kubeconfig], namespace, env });
}

Deno.test("access: a bogus token is reported by /readyz, the metric and an ERROR line", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("access");
  await createService(cluster, namespace, { ports: [UNNAMED_PORT] });
  // The admin kubeconfig (JSON) with its client certificate replaced by a token nobody issued.
  const kubeconfig = JSON.parse(await Deno.readTextFile(cluster.kubeconfigPath));
  kubeconfig.users[0].user = { token: "not-a-token" };
  const path = await Deno.makeTempFile({ suffix: ".kubeconfig" });
  await Deno.writeTextFile(path, JSON.stringify(kubeconfig));
  try {
    await using b = await bed(path, namespace, "192.0.2.181");
    const body = await readyz(b.base, 503, /access-denied/);
    assert.match(
      body,
      new RegExp(
        `${namespace}/brokers: access-denied: (list|watch) (services|endpointslices|endpoints) ` +
          `in namespace '${namespace}': 401 Unauthorized`,
      ),
    );
    assert.doesNotMatch(body, /not reachable/, "not the vague reason");
    assert.doesNotMatch(body, /not-a-token/, "no secret in the answer");
    assert.equal(await blockedMetric(b.base, "access-denied"), 1);
    const status = JSON.parse((await get(b.base, "/status")).body).services[0].publish;
    assert.equal(status.blocked, "access-denied");
    assert.match(status.detail, /401 Unauthorized$/);
    assert.match(status.blockedSince, /^\d{4}-\d\d-\d\dT/);
    const line = await b.agent.waitForLog((line) =>
      line.level === "error" && line.reason === "access-denied"
    );
    assert.match(String(line.detail), /401 Unauthorized/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("access: a Role without watch blocks with the verb, and granting it recovers", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("access");
  await createService(cluster, namespace, { ports: [UNNAMED_PORT] });
  const kubeconfig = await agentServiceAccount(cluster, namespace, { watch: false });
  await using b = await bed(kubeconfig, namespace, "192.0.2.182");
  const body = await readyz(b.base, 503, /access-denied/);
  assert.match(
    body,
    new RegExp(
      `${namespace}/brokers: access-denied: watch (services|endpointslices|endpoints) ` +
        `in namespace '${namespace}': 403 Forbidden`,
    ),
  );
  assert.equal(await blockedMetric(b.base, "access-denied"), 1);
  // The operator fixes the Role: the agent lists, watches and publishes by itself.
  await cluster.kubectlOk(["apply", "-f", "-"], {
    stdin: JSON.stringify(agentRole(namespace, { watch: true })),
  });
  await readyz(b.base, 200, /ok/, 60_000);
  assert.equal(await blockedMetric(b.base, "access-denied"), 0);
  const slice = await getSlice(cluster, namespace, "brokers-helaseid-ipv4");
  assert.deepEqual(slice.endpoints.map((e: { addresses: string[] }) => e.addresses[0]), [
    "192.0.2.182",
  ]);
});

Deno.test("access: a revoked token blocks the next write with its verb and status", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("access");
  await createService(cluster, namespace, { ports: [UNNAMED_PORT] });
  const kubeconfig = await agentServiceAccount(cluster, namespace, { watch: true });
  await using b = await bed(kubeconfig, namespace, ["192.0.2.183", "192.0.2.186"]);
  await readyz(b.base, 200, /ok/);
  await cluster.kubectlOk(["delete", "serviceaccount", "helaseid", "-n", namespace]);
  // The API server caches accepted tokens for a few seconds: wait until it refuses this one.
  await untilValue("the token to be refused", async () => {
    const result = await cluster.kubectl(["get", "services", "-n", namespace], { kubeconfig });
    return /Unauthorized/.test(result.stderr) || undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
  // The next write (a target going down) is refused: the token died with its account.
  await b.targets[0]!.setMode("refuse");
  const body = await readyz(b.base, 503, /access-denied/);
  assert.match(
    body,
    new RegExp(
      `${namespace}/brokers: access-denied: \\w+ \\w+ in namespace '${namespace}': 401 Unauthorized`,
    ),
  );
  assert.equal(await blockedMetric(b.base, "access-denied"), 1);
});

Deno.test("access: a missing namespace is named, and creating it recovers", async () => {
  const cluster = await sharedCluster();
  const namespace = `access-missing-${Date.now().toString(36)}`;
  await using b = await bed(cluster.kubeconfigPath, namespace, "192.0.2.184", {
    CREATE_SERVICE: "true",
  });
  try {
    const body = await readyz(b.base, 503, /namespace-missing/);
    assert.match(
      body,
      new RegExp(
        `${namespace}/brokers: namespace-missing: create services in namespace '${namespace}': ` +
          `404 Not Found: namespace '${namespace}' does not exist`,
      ),
    );
    assert.equal(await blockedMetric(b.base, "namespace-missing"), 1);
    await cluster.kubectlOk(["create", "namespace", namespace]);
    await readyz(b.base, 200, /ok/, 60_000);
    assert.equal(await blockedMetric(b.base, "namespace-missing"), 0);
  } finally {
    await cluster.kubectl(["delete", "namespace", namespace, "--wait=false"]);
  }
});

Deno.test("access: a missing Service is named in /readyz and the metric", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("access");
  await using b = await bed(cluster.kubeconfigPath, namespace, "192.0.2.185");
  const body = await readyz(b.base, 503, /service-missing/);
  assert.match(
    body,
    new RegExp(`${namespace}/brokers: service-missing: Service '${namespace}/brokers' not found`),
  );
  assert.equal(await blockedMetric(b.base, "service-missing"), 1);
  await createService(cluster, namespace, { ports: [UNNAMED_PORT] });
  await readyz(b.base, 200, /ok/);
  assert.equal(await blockedMetric(b.base, "service-missing"), 0);
});
