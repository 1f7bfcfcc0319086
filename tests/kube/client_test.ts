/**
 * The client's own behaviour against a server that misbehaves (a local HTTP server that never
 * answers, or answers a watch and then goes silent): deadlines that name the API host,
 * aborting everything at shutdown, and a watch that notices a dead server. What the API
 * server itself does is tested in tests/integration/kube_client_test.ts.
 */

import assert from "node:assert/strict";
import { createKubeClient, type KubeClientOptions, KubeError } from "../../src/kube/client.ts";
import { until } from "../support/wait.ts";

/** A server whose handler the test chooses; every request is recorded. */
async function fakeApi(
  handler: (request: Request) => Response | Promise<Response>,
) {
  const requests: Request[] = [];
  const pending = new Set<() => void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      requests.push(request);
      return handler(request);
    },
  );
  const { port } = server.addr;
  const dir = await Deno.makeTempDir();
  const kubeconfig = `${dir}/config`;
  await Deno.writeTextFile(
    kubeconfig,
    JSON.stringify({
      clusters: [{ name: "fake", cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: "u", user: { token: "t0ken" } }],
      contexts: [{ name: "fake", context: { cluster: "fake", user: "u" } }],
      "current-context": "fake",
    }),
  );
  const controller = new AbortController();
  return {
    host: `127.0.0.1:${port}`,
    requests,
    controller,
    client: (options: KubeClientOptions = {}) =>
      createKubeClient({ kubeconfig, signal: controller.signal, ...options }),
    /** A response that never comes, until the server stops. */
    never: () => new Promise<Response>((resolve) => pending.add(() => resolve(new Response()))),
    async [Symbol.asyncDispose]() {
      controller.abort();
      for (const release of pending) release();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("kube client: a request without an answer fails after its deadline, naming the API host", async () => {
  await using api = await fakeApi(() => api.never());
  const client = api.client({ requestTimeout: 200 });
  const error = await client.list("services", "datastream").catch((e) => e);
  assert.ok(error instanceof KubeError);
  assert.equal(error.status, 0);
  assert.equal(
    error.message,
    `Cannot list Service in datastream: no answer from ${api.host} within 0.2 s`,
  );
  assert.equal(api.requests[0]?.headers.get("authorization"), "Bearer t0ken");
});

Deno.test("kube client: aborting the client's signal fails requests in flight and later ones at once", async () => {
  await using api = await fakeApi(() => api.never());
  const client = api.client({ requestTimeout: 60_000 });
  const inFlight = client.apply({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "brokers", namespace: "datastream" },
  }).catch((e) => e);
  await until("the request to reach the API", () => api.requests.length > 0, { intervalMs: 5 });
  api.controller.abort();
  const error = await inFlight;
  assert.ok(error instanceof KubeError);
  assert.equal(
    error.message,
    "Cannot apply Service datastream/brokers: the client is shutting down",
  );
  const later = await client.list("services", "datastream").catch((e) => e);
  assert.equal(later.message, "Cannot list Service in datastream: the client is shutting down");
  assert.equal(api.requests.length, 1, "nothing sent after the abort");
});

Deno.test("kube client: a watch that goes silent ends with an error naming the host", async () => {
  const silent = new Set<ReadableStreamDefaultController<Uint8Array>>();
  await using api = await fakeApi(() =>
    new Response(
      new ReadableStream<Uint8Array>({ start: (controller) => void silent.add(controller) }),
      { headers: { "content-type": "application/json" } },
    )
  );
  const client = api.client({ watchIdleTimeout: 300 });
  const ended = Promise.withResolvers<unknown>();
  const watch = await client.watch("endpointslices", "datastream", {
    resourceVersion: "5",
    onEvent: () => {},
    onDone: (error) => ended.resolve(error),
  });
  const error = await ended.promise;
  watch.stop();
  for (const controller of silent) controller.close();
  assert.ok(error instanceof KubeError);
  assert.equal(error.status, 0);
  assert.equal(
    error.message,
    `Cannot watch EndpointSlice in datastream: no event or bookmark from ${api.host} within 0.3 s`,
  );
  const url = new URL(api.requests[0]!.url);
  assert.equal(url.searchParams.get("allowWatchBookmarks"), "true");
  assert.equal(url.searchParams.get("resourceVersion"), "5");
});

Deno.test("kube client: watch events arrive as sent, and an ERROR event ends the watch with its status", async () => {
  const lines = [
    '{"type":"ADDED","object":{"metadata":{"name":"a"}}}',
    '{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}',
    '{"type":"DELETED","object":{"metadata":{"name":"a"}}}',
    '{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 1 (9)"}}',
  ];
  await using api = await fakeApi(() => new Response(lines.join("\n") + "\n"));
  const client = api.client();
  const seen: string[] = [];
  const ended = Promise.withResolvers<unknown>();
  await client.watch("services", "datastream", {
    resourceVersion: "1",
    onEvent: (type, object) => seen.push(`${type} ${object.kind} ${object.metadata.name}`),
    onDone: (error) => ended.resolve(error),
  });
  const error = await ended.promise;
  assert.deepEqual(seen, ["ADDED Service a", "DELETED Service a"]);
  assert.ok(error instanceof KubeError);
  assert.equal(error.status, 410);
  assert.equal(error.reason, "Expired");
  assert.equal(
    error.message,
    "Watch of Service in datastream ended: too old resource version: 1 (9)",
  );
});

Deno.test("kube client: an API error answer becomes a KubeError with the API's status, reason and message", async () => {
  await using api = await fakeApi(() =>
    Response.json({
      kind: "Status",
      status: "Failure",
      message: 'services is forbidden: User "x" cannot list resource "services"',
      reason: "Forbidden",
      code: 403,
    }, { status: 403 })
  );
  const error = await api.client().list("services", "datastream").catch((e) => e);
  assert.ok(error instanceof KubeError);
  assert.equal(error.status, 403);
  assert.equal(error.reason, "Forbidden");
  assert.equal(
    error.message,
    'Cannot list Service in datastream: services is forbidden: User "x" cannot list resource "services"',
  );
});

Deno.test("kube client: in-cluster credentials come from the service-account directory and the environment", async () => {
  await using api = await fakeApi(() => Response.json({ metadata: { resourceVersion: "3" } }));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, "pod-token");
    await Deno.writeTextFile(`${dir}/ca.crt`, "");
    const [hostname, port] = api.host.split(":");
    const client = createKubeClient({
      env: { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port },
      serviceAccountDir: dir,
      signal: api.controller.signal,
    });
    assert.equal(client.name, "in-cluster");
    // In a pod the server is https://; this fake speaks plain HTTP, so the TLS handshake fails.
    const error = await client.list("services", "datastream").catch((e) => e);
    assert.ok(error instanceof KubeError);
    assert.equal(error.status, 0);
    assert.match(error.message, new RegExp(`^Cannot list Service in datastream at ${api.host}: `));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kube client: a refused TLS connection fails at once, naming the API host", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/config`,
      JSON.stringify({
        clusters: [{ name: "c", cluster: { server: `https://127.0.0.1:${port}` } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
        "current-context": "c",
      }),
    );
    const controller = new AbortController();
    const client = createKubeClient({ kubeconfig: `${dir}/config`, signal: controller.signal });
    const error = await client.list("services", "datastream").catch((e) => e);
    controller.abort();
    assert.ok(error instanceof KubeError);
    assert.equal(error.status, 0);
    assert.match(
      error.message,
      new RegExp(`^Cannot list Service in datastream at 127\\.0\\.0\\.1:${port}: .*refused`, "i"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
