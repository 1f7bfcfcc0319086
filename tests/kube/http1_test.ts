import assert from "node:assert/strict";
import { Http1Client } from "../../src/kube/http1.ts";

const encoder = new TextEncoder();

/**
 * A raw HTTP/1.1 server: answers each request with `answer(n)` (n counts requests), and
 * closes the connection after each answer when `closeAfter` is set (as a server does with a
 * connection that sat idle too long).
 */
function rawServer(answer: (n: number) => string, options: { closeAfter?: boolean } = {}) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let connections = 0;
  let requests = 0;
  const close = (conn: Deno.Conn) => {
    if (!conns.delete(conn)) return;
    conn.close();
  };
  const serving = (async () => {
    for await (const conn of listener) {
      connections++;
      conns.add(conn);
      (async () => {
        const buffer = new Uint8Array(65536);
        let text = "";
        while (true) {
          const read = await conn.read(buffer).catch(() => null);
          if (read === null) break;
          text += new TextDecoder().decode(buffer.subarray(0, read));
          let end;
          while ((end = text.indexOf("\r\n\r\n")) >= 0) {
            const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
            if (text.length < end + 4 + length) break;
            text = text.slice(end + 4 + length);
            await conn.write(encoder.encode(answer(++requests))).catch(() => {});
            if (options.closeAfter) return close(conn);
          }
        }
        close(conn);
      })();
    }
  })().catch(() => {});
  return {
    server: `http://127.0.0.1:${listener.addr.port}`,
    get connections() {
      return connections;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of [...conns]) close(conn);
      await serving;
    },
  };
}

const OK = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";

Deno.test("http1: keep-alive answers reuse one connection", async () => {
  await using server = rawServer(() => OK);
  const client = new Http1Client({ server: server.server });
  try {
    for (let i = 0; i < 3; i++) {
      const response = await client.request({ method: "GET", path: "/" });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "ok");
    }
    assert.equal(server.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("http1: a pooled connection the server closed is replaced, the request sent again", async () => {
  await using server = rawServer(() => OK, { closeAfter: true });
  const client = new Http1Client({ server: server.server });
  try {
    for (let i = 0; i < 3; i++) {
      const response = await client.request({
        method: "PATCH",
        path: "/x",
        body: JSON.stringify({ i }),
      });
      assert.equal(await response.text(), "ok");
    }
    assert.equal(server.connections, 3);
  } finally {
    client.close();
  }
});

Deno.test("http1: a chunked body arrives whole, across chunk and read boundaries", async () => {
  const body = "x".repeat(70_000) + "é" + "y".repeat(10);
  const bytes = encoder.encode(body);
  const chunks = [bytes.subarray(0, 5), bytes.subarray(5, 70_001), bytes.subarray(70_001)];
  // The middle chunk ends inside "é": the body is decoded from bytes, not chunk by chunk.
  const head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
  const parts = [encoder.encode(head)];
  for (const chunk of chunks) {
    parts.push(encoder.encode(`${chunk.length.toString(16)}\r\n`), chunk, encoder.encode("\r\n"));
  }
  parts.push(encoder.encode("0\r\n\r\n"));
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(4096));
    for (const part of parts) await conn.write(part);
    await conn.read(new Uint8Array(4096)).catch(() => null);
    conn.close();
  })();
  const client = new Http1Client({ server: `http://127.0.0.1:${listener.addr.port}` });
  try {
    const response = await client.request({ method: "GET", path: "/" });
    assert.equal(response.headers.get("transfer-encoding"), "chunked");
    assert.equal(await response.text(), body);
  } finally {
    client.close();
    await serving;
    listener.close();
  }
});
