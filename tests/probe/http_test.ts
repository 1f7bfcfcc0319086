import assert from "node:assert/strict";
import { checkMatcher, checkStatusRanges, type ProbeCheck } from "../../src/config/checks.ts";
import { proberFor } from "../../src/probe/mod.ts";
import { closedPort, rawServer, readRequest, serveAddress } from "./_net.ts";

/** A check built from what a user writes (the table's parsers), so tests read like config. */
function http(
  fields: Omit<ProbeCheck, "type" | "status" | "body"> & {
    status?: string;
    body?: string;
  },
): ProbeCheck {
  const { status, body, ...rest } = fields;
  return {
    type: "http",
    ...rest,
    ...(status === undefined ? {} : { status: unwrap(checkStatusRanges(status)) }),
    ...(body === undefined ? {} : { body: unwrap(checkMatcher(body)) }),
  };
}

function unwrap<T>(checked: { ok: true; value: T } | { ok: false; message: string }): T {
  if (!checked.ok) throw new Error(checked.message);
  return checked.value;
}

/** A Deno.serve server on `address` that answers by path, recording each request's headers. */
function server(address: string) {
  const seen: Headers[] = [];
  const http = Deno.serve({ hostname: address, port: 0, onListen: () => {} }, (request) => {
    seen.push(request.headers);
    const path = new URL(request.url).pathname;
    switch (path) {
      case "/ok":
        return new Response("all good: broker 3 serving\n");
      case "/unavailable":
        return new Response("draining", { status: 503 });
      case "/created":
        return new Response(null, { status: 201 });
      case "/redirect":
        return new Response(null, { status: 302, headers: { location: "/ok" } });
      case "/stream": {
        // No Content-Length: Deno.serve sends it chunked.
        const chunks = ["role:", "master", "\n"];
        return new Response(
          new ReadableStream({
            pull(controller) {
              const chunk = chunks.shift();
              if (chunk === undefined) controller.close();
              else controller.enqueue(new TextEncoder().encode(chunk));
            },
          }),
        );
      }
      default:
        return new Response("not found", { status: 404 });
    }
  });
  return { port: http.addr.port, seen, close: () => http.shutdown() };
}

Deno.test("http: status 200 is up, 503 down with 'http 503', 404 down with 'http 404'", async () => {
  await using net = await serveAddress(231);
  const srv = server(net.address);
  const request = { address: net.address, port: srv.port, timeout: 2000 };
  try {
    assert.equal((await proberFor(http({ path: "/ok" }))(request)).ok, true);
    const down = await proberFor(http({ path: "/unavailable" }))(request);
    assert.deepEqual([down.ok, down.error], [false, "http 503"]);
    const missing = await proberFor(http({ path: "/missing" }))(request);
    assert.deepEqual([missing.ok, missing.error], [false, "http 404"]);
    // The default accepts 200-399: a redirect is up, and not followed.
    assert.equal((await proberFor(http({ path: "/redirect" }))(request)).ok, true);
  } finally {
    await srv.close();
  }
});

Deno.test("http: configured statuses replace the default", async () => {
  await using net = await serveAddress(231);
  const srv = server(net.address);
  const request = { address: net.address, port: srv.port, timeout: 2000 };
  try {
    const only200 = http({ path: "/created", status: "200" });
    assert.equal((await proberFor(only200)(request)).error, "http 201");
    assert.equal(
      (await proberFor(http({ path: "/created", status: "200,201" }))(request)).ok,
      true,
    );
    const draining = http({ path: "/unavailable", status: "200-299, 503" });
    assert.equal((await proberFor(draining)(request)).ok, true);
  } finally {
    await srv.close();
  }
});

Deno.test("http: the body must contain the text or match the regex, chunked or not", async () => {
  await using net = await serveAddress(231);
  const srv = server(net.address);
  const request = { address: net.address, port: srv.port, timeout: 2000 };
  try {
    assert.equal((await proberFor(http({ path: "/ok", body: "serving" }))(request)).ok, true);
    assert.equal((await proberFor(http({ path: "/ok", body: "/broker \\d+/" }))(request)).ok, true);
    const wrong = await proberFor(http({ path: "/ok", body: "leader" }))(request);
    assert.deepEqual([wrong.ok, wrong.error], [false, "http: body did not match"]);
    assert.equal(
      (await proberFor(http({ path: "/stream", body: "role:master" }))(request)).ok,
      true,
    );
    assert.equal(
      (await proberFor(http({ path: "/stream", body: "/ROLE:MASTER/i" }))(request)).ok,
      true,
    );
  } finally {
    await srv.close();
  }
});

Deno.test("http: sends method, path, Host and extra headers, and asks to close", async () => {
  await using net = await serveAddress(231);
  const srv = server(net.address);
  try {
    const request = { address: net.address, port: srv.port, timeout: 2000 };
    await proberFor(http({ path: "/ok" }))(request);
    const check = http({
      path: "/ok",
      method: "HEAD",
      host: "broker-3.kafka.example",
      headers: { "X-Probe": "helaseid", "User-Agent": "ops/1" },
    });
    assert.equal((await proberFor(check)(request)).ok, true);
    const [first, second] = srv.seen;
    assert.equal(first!.get("host"), `${net.address}:${srv.port}`);
    assert.equal(first!.get("user-agent"), "helaseid-probe");
    assert.equal(first!.get("connection"), "close");
    assert.equal(second!.get("host"), "broker-3.kafka.example");
    assert.equal(second!.get("x-probe"), "helaseid");
    assert.equal(second!.get("user-agent"), "ops/1");
  } finally {
    await srv.close();
  }
});

Deno.test("http: a server that never answers is down with 'timeout', and the connection is closed", async () => {
  await using net = await serveAddress(232);
  let closedByProber = false;
  const srv = rawServer(net.address, async (conn) => {
    await readRequest(conn);
    // Never answer: the prober's deadline must close the connection (read sees the end).
    closedByProber = (await conn.read(new Uint8Array(16)).catch(() => null)) === null;
  });
  try {
    const result = await proberFor(http({ path: "/" }))({
      address: net.address,
      port: srv.port,
      timeout: 150,
    });
    assert.deepEqual([result.ok, result.error], [false, "timeout"]);
  } finally {
    await srv.close();
  }
  assert.equal(closedByProber, true);
});

Deno.test("http: garbage, an empty reply and a broken chunked body are down with a reason", async () => {
  await using net = await serveAddress(232);
  const replies: Record<string, string> = {
    "/garbage": "SSH-2.0-OpenSSH_9.6\r\n",
    "/empty": "",
    "/badchunk": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "/headonly": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    "/badstatus": "HTTP/1.1 2000 OK\r\n\r\n",
  };
  const srv = rawServer(net.address, async (conn) => {
    const text = await readRequest(conn);
    const path = text.split(" ")[1] ?? "";
    await conn.write(new TextEncoder().encode(replies[path] ?? ""));
  });
  const request = { address: net.address, port: srv.port, timeout: 2000 };
  const reason = async (path: string, body?: string) =>
    (await proberFor(http({ path, ...(body === undefined ? {} : { body }) }))(request)).error;
  try {
    assert.equal(await reason("/garbage"), "http: malformed response");
    assert.equal(await reason("/empty"), "http: empty response");
    assert.equal(await reason("/badstatus"), "http: malformed response");
    assert.equal(await reason("/badchunk", "hello"), "http: malformed response");
    // The status alone decides without a body check; with one, a body cut short does not match.
    assert.equal(await reason("/headonly"), undefined);
    assert.equal(await reason("/headonly", "hello"), "http: body did not match");
  } finally {
    await srv.close();
  }
});

Deno.test("http: a closed port is down with 'refused'", async () => {
  await using net = await serveAddress(232);
  const port = closedPort(net.address);
  const result = await proberFor(http({}))({ address: net.address, port, timeout: 1000 });
  assert.deepEqual([result.ok, result.error], [false, "refused"]);
});

Deno.test("http: a check's own port wins over the scheduler's", async () => {
  await using net = await serveAddress(231);
  const srv = server(net.address);
  try {
    const check = http({ path: "/ok", port: srv.port });
    const result = await proberFor(check)({
      address: net.address,
      port: closedPort(net.address),
      timeout: 2000,
    });
    assert.equal(result.ok, true);
  } finally {
    await srv.close();
  }
});
