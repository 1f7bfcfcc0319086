/**
 * Observability end to end: the real agent process (main.ts, or the bundle) with `--listen`,
 * probing simulated targets on 192.0.2.x inside the private network namespace, against the
 * real API server. What is asserted is what an operator sees: `/metrics` as Prometheus would
 * parse it, `/readyz`, `/status`, and the Events `kubectl` shows.
 *
 * Deadlines here only keep a broken test from hanging; nothing asserts a duration.
 */

import assert from "node:assert/strict";
import { type ClusterAccess, sharedCluster, startCluster } from "../support/cluster.ts";
import { freePort, get } from "../support/agent_http.ts";
import { createService } from "../support/service.ts";
import { type SeedBed, seedBed } from "../support/seed_bed.ts";
import { untilValue as until } from "../support/wait.ts";
import { type Exposition, find, parsePrometheus, valueOf } from "../observe/_prometheus.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function scrape(base: string): Promise<Exposition> {
  const { status, body } = await get(base, "/metrics");
  assert.equal(status, 200);
  return parsePrometheus(body);
}

/** Our Events in the namespace, as the API serves them. */
async function helaseidEvents(cluster: ClusterAccess, namespace: string): Promise<Json[]> {
  const list = JSON.parse(
    await cluster.kubectlOk(["get", "events.events.k8s.io", "-n", namespace, "-o", "json"]),
  );
  return list.items.filter((event: Json) => event.reportingController === "helaseid");
}

/** Targets on `addresses`, and the agent probing them with the seed format's variables. */
async function bed(
  addresses: string[],
  options: { args: string[]; namespace: string; env?: Record<string, string> },
): Promise<SeedBed> {
  const b = await seedBed(addresses, {
    ...options,
    env: { POD_NAME: "helaseid-observe-test", ...options.env },
  });
  try {
    await until(
      "/healthz",
      async () => (await get(b.base, "/healthz")).status === 200 || undefined,
    );
  } catch (error) {
    await b[Symbol.asyncDispose]();
    throw error;
  }
  return b;
}

function up(exposition: Exposition, address: string): number | undefined {
  return find(exposition, "helaseid_target_up", { service: "brokers", address, port: "9092" })
    ?.value;
}

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

Deno.test("observe: /metrics, /status and Events follow a real outage", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("observe");
  await createService(cluster, namespace);
  const A = "192.0.2.161", B = "192.0.2.162";
  await using b = await bed([A, B], {
    namespace,
    args: ["--kubeconfig", cluster.kubeconfigPath],
  });
  await until(
    "/readyz 200",
    async () => (await get(b.base, "/readyz")).status === 200 || undefined,
  );

  let metrics = await scrape(b.base);
  assert.equal(up(metrics, A), 1);
  assert.equal(up(metrics, B), 1);
  assert.equal(find(metrics, "helaseid_build_info")?.value, 1);
  assert.ok(valueOf(metrics, "process_resident_memory_bytes")! > 0);
  assert.ok(valueOf(metrics, "helaseid_probes_total", { result: "ok" })! > 0);

  await b.targets[0]!.setMode("refuse");
  metrics = await until("target_up 0", async () => {
    const exposition = await scrape(b.base);
    return up(exposition, A) === 0 ? exposition : undefined;
  });
  assert.equal(up(metrics, B), 1);
  assert.equal(
    valueOf(metrics, "helaseid_target_transitions_total", { service: "brokers", to: "unhealthy" }),
    1,
  );
  assert.ok(valueOf(metrics, "helaseid_probes_total", { result: "refused" })! >= 3);
  // The startup writes already count in the latency histogram: wait for the outage's own
  // slice write (the second) and for the Endpoints write that follows it.
  metrics = await until("the writes of the outage", async () => {
    const exposition = await scrape(b.base);
    const ok = (resource: string) =>
      valueOf(exposition, "helaseid_kube_writes_total", { resource, result: "ok" }) ?? 0;
    return ok("endpointslices") >= 2 && ok("endpoints") >= 2 ? exposition : undefined;
  });
  assert.ok((valueOf(metrics, "helaseid_publish_latency_seconds_count") ?? 0) >= 4);
  assert.equal(
    valueOf(metrics, "helaseid_service_endpoints", { service: "brokers", state: "not_ready" }),
    1,
  );

  const status = JSON.parse((await get(b.base, "/status")).body);
  const targets = status.services[0].targets;
  const down = targets.find((target: Json) => target.address === A);
  assert.equal(down.status, "unhealthy");
  assert.equal(down.error, "refused");
  assert.ok(!Number.isNaN(Date.parse(down.since)));
  assert.equal(targets.find((target: Json) => target.address === B).status, "healthy");
  assert.ok(
    status.services[0].publish.writes.some((write: Json) =>
      write.object === "EndpointSlice/brokers-helaseid-ipv4" && write.ok
    ),
  );

  const event = await until("a TargetUnhealthy Event", async () => {
    const events = await helaseidEvents(cluster, namespace);
    return events.find((event) => event.reason === "TargetUnhealthy");
  });
  const uid = (await cluster.kubectlOk([
    "get",
    "service",
    "brokers",
    "-n",
    namespace,
    "-o",
    "jsonpath={.metadata.uid}",
  ])).trim();
  assert.equal(event.type, "Warning");
  assert.equal(event.reportingInstance, "helaseid-observe-test");
  assert.deepEqual(event.regarding, {
    apiVersion: "v1",
    kind: "Service",
    namespace,
    name: "brokers",
    uid,
  });
  assert.match(event.note, new RegExp(`${A.replaceAll(".", "\\.")}:9092.*refused`));
  assert.match(event.eventTime, MICRO_TIME);
  // What an operator runs: the Event shows on the Service.
  const described = await cluster.kubectlOk(["describe", "service", "brokers", "-n", namespace]);
  assert.match(described, /TargetUnhealthy/);
  assert.equal(await b.agent.stop(), 0);
});

Deno.test("observe: a flapping target grows one Event's series, not the number of Events", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("observe");
  await createService(cluster, namespace);
  const A = "192.0.2.163", B = "192.0.2.164";
  await using b = await bed([A, B], {
    namespace,
    args: ["--kubeconfig", cluster.kubeconfigPath],
  });
  await until(
    "/readyz 200",
    async () => (await get(b.base, "/readyz")).status === 200 || undefined,
  );
  const transitions = async (to: string) =>
    valueOf(await scrape(b.base), "helaseid_target_transitions_total", {
      service: "brokers",
      to,
    }) ??
      0;
  const FLAPS = 6;
  // Each target's first verdict (unknown → healthy) counts too.
  const startup = await transitions("healthy");
  const flapping = Date.now();
  for (let flap = 1; flap <= FLAPS; flap++) {
    await b.targets[1]!.setMode("refuse");
    await until(`down #${flap}`, async () => await transitions("unhealthy") >= flap || undefined);
    await b.targets[1]!.setMode("accept");
    await until(
      `up #${flap}`,
      async () => await transitions("healthy") >= startup + flap || undefined,
    );
  }
  const unhealthy = await transitions("unhealthy");
  assert.equal(unhealthy, FLAPS);
  // Series updates are rate-limited: wait until the last one of each is written.
  const events = await until("the series to count every flap", async () => {
    const events = await helaseidEvents(cluster, namespace);
    const counted = (reason: string) =>
      events.find((event) => event.reason === reason)?.series?.count === FLAPS;
    return counted("TargetUnhealthy") && counted("TargetHealthy") ? events : undefined;
  });
  const elapsed = Date.now() - flapping;
  assert.deepEqual(
    events.map((event) => event.reason).sort(),
    ["TargetHealthy", "TargetUnhealthy"],
    "one Event per reason, however often the target flapped",
  );
  for (const event of events) {
    assert.match(event.series.lastObservedTime, MICRO_TIME);
    assert.ok(event.series.lastObservedTime >= event.eventTime);
  }
  const healthy = events.find((event) => event.reason === "TargetHealthy");
  assert.equal(healthy.type, "Normal");
  const metrics = await scrape(b.base);
  const eventWrites = valueOf(metrics, "helaseid_kube_writes_total", {
    resource: "events",
    result: "ok",
  });
  // Each of the two Events is written once, then at most once per 2 s (the recorder's least
  // interval between writes of one Event) while its series grows: within the time the flaps
  // took, that is the bound. A recorder writing once per transition (12) exceeds it unless
  // the flaps took over 10 s, which the loop above, at 0.1 s checks, does not on this bed.
  const bound = 2 * (1 + Math.floor(elapsed / 2000));
  assert.ok(
    eventWrites! >= 2 && eventWrites! <= bound,
    `${eventWrites} Event writes for ${2 * FLAPS} transitions in ${elapsed} ms (at most ${bound})`,
  );
});

Deno.test("observe: /readyz is 503 while the API server is unreachable", async () => {
  const cluster = await sharedCluster();
  // The admin kubeconfig (JSON), pointed at a port nothing listens on.
  const kubeconfig = JSON.parse(await Deno.readTextFile(cluster.kubeconfigPath));
  kubeconfig.clusters[0].cluster.server = `https://127.0.0.1:${freePort()}`;
  const path = await Deno.makeTempFile({ suffix: ".kubeconfig" });
  await Deno.writeTextFile(path, JSON.stringify(kubeconfig));
  try {
    const A = "192.0.2.165";
    await using b = await bed([A], { namespace: "nowhere", args: ["--kubeconfig", path] });
    // Probing goes on without the API: the target gets its verdict...
    await until("target_up 1", async () => up(await scrape(b.base), A) === 1 || undefined);
    // ...but the agent is not ready, and says why.
    const readyz = await get(b.base, "/readyz");
    assert.equal(readyz.status, 503);
    assert.match(readyz.body, /Kubernetes API/);
    assert.doesNotMatch(readyz.body, /first check/);
    const status = JSON.parse((await get(b.base, "/status")).body);
    assert.equal(status.services[0].targets[0].status, "healthy");
    assert.equal((await get(b.base, "/healthz")).status, 200);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("observe: /readyz turns 503 when the API server stops and 200 when it is back", async () => {
  await using cluster = await startCluster();
  const namespace = await cluster.createNamespace("observe");
  await createService(cluster, namespace);
  const A = "192.0.2.166";
  await using b = await bed([A], { namespace, args: ["--kubeconfig", cluster.kubeconfigPath] });
  await until(
    "/readyz 200",
    async () => (await get(b.base, "/readyz")).status === 200 || undefined,
  );
  await cluster.stopApiServer();
  const down = await until("/readyz 503", async () => {
    const readyz = await get(b.base, "/readyz");
    return readyz.status === 503 ? readyz : undefined;
  });
  assert.match(down.body, /Kubernetes API/);
  assert.equal((await get(b.base, "/healthz")).status, 200, "alive all the same");
  assert.equal(up(await scrape(b.base), A), 1, "probing goes on");
  await cluster.startApiServer();
  await until(
    "/readyz 200 again",
    async () => (await get(b.base, "/readyz")).status === 200 || undefined,
  );
});

Deno.test("observe: --dry-run serves the same metrics and status with no cluster", async () => {
  const A = "192.0.2.167", B = "192.0.2.168";
  await using b = await bed([A, B], { namespace: "datastream", args: ["--dry-run"] });
  await until(
    "/readyz 200",
    async () => (await get(b.base, "/readyz")).status === 200 || undefined,
  );
  await b.targets[0]!.setMode("refuse");
  const metrics = await until("target_up 0", async () => {
    const exposition = await scrape(b.base);
    return up(exposition, A) === 0 ? exposition : undefined;
  });
  assert.equal(up(metrics, B), 1);
  // The Event goes to the in-memory API like every other write in dry-run.
  await until("the dry-run Event", async () => {
    const exposition = await scrape(b.base);
    return (valueOf(exposition, "helaseid_kube_writes_total", { resource: "events" }) ?? 0) >= 1 ||
      undefined;
  });
  await b.agent.waitForLog((line) => /dry-run: would apply events/.test(line.msg));
  const status = JSON.parse((await get(b.base, "/status")).body);
  const down = status.services[0].targets.find((target: Json) => target.address === A);
  assert.equal(down.status, "unhealthy");
  assert.equal(down.error, "refused");
  assert.equal(await b.agent.stop(), 0);
});
