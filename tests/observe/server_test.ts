import assert from "node:assert/strict";
import type { ServiceStatus } from "../../src/agent.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../src/observe/metrics.ts";
import {
  agentReadiness,
  type EndpointSources,
  ListenError,
  observeHandler,
  type Readiness,
  startServer,
  statusDocument,
} from "../../src/observe/server.ts";
import type { PublishState } from "../../src/publish/reconciler.ts";
import type { WriteResult } from "../../src/publish/writer.ts";

const T0 = Date.UTC(2026, 10, 26, 4, 30);

function sources(overrides: Partial<EndpointSources> = {}): EndpointSources {
  return {
    metrics: { render: () => "# TYPE up gauge\nup 1\n" },
    status: () => ({ services: [] }),
    ready: () => ({ ready: true, reasons: [] }),
    log: silentLogger(),
    ...overrides,
  };
}

function get(handler: (request: Request) => Response, path: string, method = "GET") {
  return handler(new Request(`http://localhost${path}`, { method }));
}

Deno.test("server: /healthz answers while the process runs", async () => {
  const response = get(observeHandler(sources()), "/healthz");
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "ok\n");
});

Deno.test("server: /readyz is 503 with the reasons until ready, then 200", async () => {
  let readiness: Readiness = { ready: false, reasons: ["first", "second"] };
  const handler = observeHandler(sources({ ready: () => readiness }));
  let response = get(handler, "/readyz");
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "not ready:\n- first\n- second\n");
  readiness = { ready: true, reasons: [] };
  response = get(handler, "/readyz");
  assert.equal(response.status, 200);
  await response.body?.cancel();
});

Deno.test("server: /metrics serves the registry with the text format's content type", async () => {
  const response = get(observeHandler(sources()), "/metrics");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  assert.equal(await response.text(), "# TYPE up gauge\nup 1\n");
});

Deno.test("server: /status serves the document as JSON", async () => {
  const response = get(observeHandler(sources({ status: () => ({ a: [1, 2] }) })), "/status");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(await response.json(), { a: [1, 2] });
});

Deno.test("server: unknown paths are 404, other methods 405, HEAD has no body", async () => {
  const handler = observeHandler(sources());
  const missing = get(handler, "/nope");
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const post = get(handler, "/metrics", "POST");
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();
  const head = get(handler, "/readyz", "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
});

Deno.test("server: an endpoint that throws answers 500 and the others keep working", async () => {
  const handler = observeHandler(sources({
    status: () => {
      throw new Error("boom");
    },
  }));
  const response = get(handler, "/status");
  assert.equal(response.status, 500);
  await response.body?.cancel();
  const healthy = get(handler, "/healthz");
  assert.equal(healthy.status, 200);
  await healthy.body?.cancel();
});

Deno.test("server: listens on a free port when asked for port 0, and shuts down", async () => {
  const server = startServer({
    ...sources({ ready: () => ({ ready: false, reasons: ["waiting"] }) }),
    listen: { hostname: "127.0.0.1", port: 0 },
  });
  try {
    assert.equal(server.addr.hostname, "127.0.0.1");
    assert.ok(server.addr.port > 0);
    const base = `http://127.0.0.1:${server.addr.port}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(await health.text(), "ok\n");
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /waiting/);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    await metrics.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("server: a taken address is a ListenError naming it, caused by the bind's error", () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = taken.addr.port;
    let thrown: unknown;
    try {
      const server = startServer({ ...sources(), listen: { hostname: "127.0.0.1", port } });
      // Not expected: still release the port before failing.
      server.shutdown();
    } catch (error) {
      thrown = error;
    }
    assert.ok(thrown instanceof ListenError, `expected a ListenError, got ${thrown}`);
    assert.match(thrown.message, new RegExp(`^Cannot listen on '127\\.0\\.0\\.1:${port}': `));
    assert.ok(thrown.cause instanceof Deno.errors.AddrInUse, `cause: ${thrown.cause}`);
  } finally {
    taken.close();
  }
});

Deno.test("server: readiness needs first checks, and the API unless in dry-run", () => {
  assert.deepEqual(agentReadiness({ checked: true, connected: true }, { dryRun: false }), {
    ready: true,
    reasons: [],
  });
  assert.deepEqual(agentReadiness({ checked: false, connected: false }, { dryRun: false }), {
    ready: false,
    reasons: [
      "waiting for the first check of every target",
      "Kubernetes API not reachable: the watches are not running",
    ],
  });
  assert.deepEqual(agentReadiness({ checked: true, connected: false }, { dryRun: true }), {
    ready: true,
    reasons: [],
  });
});

Deno.test("server: readiness names each blocked Service, what blocks it, and the other writer", () => {
  const blocked = (name: string, publish: Partial<PublishState>): ServiceStatus => ({
    namespace: "shop",
    name,
    targets: [],
    publish: { service: `shop/${name}`, writes: new Map(), failures: 0, ...publish },
  });
  const services = [
    blocked("ok", {}),
    blocked("waiting", { blocked: "waiting-first-checks" }),
    blocked("brokers", {
      blocked: "access-denied",
      blockedSince: T0,
      detail: "watch endpointslices in namespace 'shop': 403 Forbidden",
    }),
    blocked("cache", {
      blocked: "conflict",
      blockedSince: T0,
      detail: "another HELASEID writer 'laptop/4242' with another configuration rewrote x",
      conflict: { writer: "laptop/4242", retryAt: T0 + 10_000 },
    }),
  ];
  const readiness = agentReadiness(
    { checked: true, connected: false, status: () => services },
    { dryRun: false },
  );
  assert.deepEqual(readiness, {
    ready: false,
    reasons: [
      "shop/brokers: access-denied: watch endpointslices in namespace 'shop': 403 Forbidden",
      "shop/cache: conflict: another HELASEID writer 'laptop/4242' with another configuration " +
      "rewrote x; looking again at 2026-11-26T04:30:10.000Z",
    ],
  }, "the refused watch explains the stopped watches: no vague API reason");
  const missing = agentReadiness({
    checked: true,
    connected: true,
    status: () => [
      blocked("brokers", {
        blocked: "service-missing",
        detail: "Service 'shop/brokers' not found",
      }),
    ],
  }, { dryRun: false });
  assert.deepEqual(missing.reasons, [
    "shop/brokers: service-missing: Service 'shop/brokers' not found",
  ]);
});

Deno.test("server: the status document has ISO times, arrays of writes, no credentials", () => {
  const failed: WriteResult = {
    service: "datastream/brokers",
    verb: "apply",
    reason: "changed",
    resource: "endpoints",
    kind: "Endpoints",
    name: "brokers",
    ok: false,
    error: "Cannot apply: POST https://user:pw@10.0.0.1/api?token=abc failed",
    status: 0,
    at: T0 + 5000,
    duration: 12.345,
  };
  const services: ServiceStatus[] = [{
    namespace: "datastream",
    name: "brokers",
    targets: [
      {
        address: "192.0.2.1",
        port: 9092,
        zone: "a",
        status: "unhealthy",
        since: T0 + 1000,
        checks: 7,
        lastResult: { ok: false, latency: 0.25, error: "refused", at: T0 + 4000 },
        error: "refused",
        schedule: "down",
        interval: 10_000,
      },
      {
        address: "192.0.2.2",
        port: 9092,
        status: "unknown",
        since: T0,
        checks: 0,
        schedule: "normal",
        interval: 2000,
      },
    ],
    publish: {
      service: "datastream/brokers",
      writes: new Map([["Endpoints/brokers", failed]]),
      failures: 1,
      failingSince: T0 + 5000,
      view: {
        endpoints: [
          { address: "192.0.2.1", ready: false, serving: false },
          { address: "192.0.2.2", ready: true, serving: true },
        ],
        panic: false,
        healthy: 0,
        unhealthy: 1,
        unknown: 1,
      },
    },
  }];
  const document = statusDocument(services, { now: T0 + 6000, version: "1.2.3" });
  const conflicted = statusDocument([{
    ...services[0]!,
    publish: {
      ...services[0]!.publish!,
      blocked: "conflict",
      blockedSince: T0 + 1000,
      detail: "another HELASEID writer 'laptop/4242' rewrote x",
      conflict: { writer: "laptop/4242", retryAt: T0 + 11_000 },
    },
  }], { now: T0 + 6000 });
  const publish = conflicted.services[0]!.publish!;
  assert.equal(publish.blocked, "conflict");
  assert.equal(publish.blockedSince, "2026-11-26T04:30:01.000Z");
  assert.equal(publish.detail, "another HELASEID writer 'laptop/4242' rewrote x");
  assert.deepEqual(publish.conflict, {
    writer: "laptop/4242",
    retryAt: "2026-11-26T04:30:11.000Z",
  });
  assert.equal(document.time, "2026-11-26T04:30:06.000Z");
  assert.equal(document.version, "1.2.3");
  const [service] = document.services;
  assert.ok(service);
  assert.deepEqual(service.targets[0], {
    address: "192.0.2.1",
    port: 9092,
    zone: "a",
    status: "unhealthy",
    since: "2026-11-26T04:30:01.000Z",
    checks: 7,
    lastResult: { ok: false, latencyMs: 0.3, error: "refused", at: "2026-11-26T04:30:04.000Z" },
    error: "refused",
    schedule: "down",
    intervalMs: 10_000,
  });
  assert.deepEqual(service.targets[1], {
    address: "192.0.2.2",
    port: 9092,
    status: "unknown",
    since: "2026-11-26T04:30:00.000Z",
    checks: 0,
    schedule: "normal",
    intervalMs: 2000,
  });
  assert.deepEqual(service.publish, {
    panic: false,
    endpoints: { ready: 1, notReady: 1 },
    failures: 1,
    failingSince: "2026-11-26T04:30:05.000Z",
    writes: [{
      object: "Endpoints/brokers",
      verb: "apply",
      reason: "changed",
      ok: false,
      error: "Cannot apply: POST https://<redacted>@10.0.0.1/api?<redacted> failed",
      httpStatus: 0,
      at: "2026-11-26T04:30:05.000Z",
      durationMs: 12.3,
    }],
  });
  const json = JSON.stringify(document);
  assert.ok(!json.includes("pw@") && !json.includes("token=abc"));
});

Deno.test("server: /status lists each check of a target with its type, port, reason and certificate expiry", () => {
  const notAfter = Date.UTC(2027, 0, 1);
  const document = statusDocument([{
    namespace: "datastream",
    name: "brokers",
    publish: undefined,
    targets: [{
      address: "192.0.2.1",
      port: 9092,
      status: "unhealthy",
      since: T0,
      checks: 3,
      lastResult: { ok: false, latency: 30.04, error: "http 503", at: T0 },
      error: "http 503",
      results: [
        { type: "kafka", port: 9092, ok: true, latency: 1.26, note: "kafka error 35" },
        { type: "http", port: 8080, ok: false, latency: 30.04, error: "http 503" },
        { type: "tls", port: 9093, ok: true, latency: 4, certificate: { notAfter, daysLeft: 29 } },
      ],
      schedule: "normal",
      interval: 1000,
    }],
  }], { now: T0 });
  assert.deepEqual(document.services[0]!.targets[0]!.results, [
    { type: "kafka", port: 9092, ok: true, latencyMs: 1.3, note: "kafka error 35" },
    { type: "http", port: 8080, ok: false, latencyMs: 30, error: "http 503" },
    {
      type: "tls",
      port: 9093,
      ok: true,
      latencyMs: 4,
      certificate: { notAfter: "2027-01-01T00:00:00.000Z", daysLeft: 29 },
    },
  ]);
});
