import assert from "node:assert/strict";
import { proberFor } from "../../src/probe/mod.ts";
import { redpandaVerdict } from "../../src/probe/redpanda.ts";
import { closedPort, serveAddress } from "./_net.ts";

/** A Redpanda admin stand-in: `/v1/status/ready` says `booting` until `ready()` is called. */
function adminStandIn(address: string) {
  let state = "booting";
  const paths: string[] = [];
  const server = Deno.serve({ hostname: address, port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    paths.push(path);
    if (path !== "/v1/status/ready") return new Response("not found", { status: 404 });
    // Redpanda answers 200 in both states: only the body tells them apart.
    return Response.json({ status: state });
  });
  return {
    port: server.addr.port,
    paths,
    ready: () => state = "ready",
    close: () => server.shutdown(),
  };
}

Deno.test("redpanda: 'booting' (HTTP 200) is down with 'redpanda booting', then 'ready' is up", async () => {
  await using net = await serveAddress(237);
  const admin = adminStandIn(net.address);
  try {
    const prober = proberFor({ type: "redpanda", port: admin.port });
    // The scheduler's port (the Kafka port, closed here) is not where the admin API is.
    const request = { address: net.address, port: closedPort(net.address), timeout: 2000 };
    const booting = await prober(request);
    assert.deepEqual([booting.ok, booting.error], [false, "redpanda booting"]);
    admin.ready();
    const ready = await prober(request);
    assert.deepEqual([ready.ok, ready.error], [true, undefined]);
    assert.deepEqual(admin.paths, ["/v1/status/ready", "/v1/status/ready"]);
  } finally {
    await admin.close();
  }
});

Deno.test("redpanda: without a port the check goes to the admin port 9644", async () => {
  await using net = await serveAddress(237);
  // Nothing listens on 9644 here: the check must have tried it (refused), not the request's port.
  const listener = Deno.listen({ hostname: net.address, port: 0 });
  try {
    const result = await proberFor({ type: "redpanda" })({
      address: net.address,
      port: (listener.addr as Deno.NetAddr).port,
      timeout: 1000,
    });
    assert.deepEqual([result.ok, result.error], [false, "refused"]);
  } finally {
    listener.close();
  }
});

Deno.test("redpanda: the verdict needs status 200 and a JSON body saying ready", () => {
  const body = (text: string) => new TextEncoder().encode(text);
  assert.equal(redpandaVerdict(200, body('{"status":"ready"}')), undefined);
  assert.equal(redpandaVerdict(200, body('{"status":"booting"}')), "redpanda booting");
  assert.equal(redpandaVerdict(503, body('{"status":"ready"}')), "http 503");
  assert.equal(redpandaVerdict(200, body("ready")), "redpanda: malformed status");
  assert.equal(redpandaVerdict(200, body('{"status":"READY"}')), "redpanda: malformed status");
  assert.equal(redpandaVerdict(200, body("null")), "redpanda: malformed status");
});
