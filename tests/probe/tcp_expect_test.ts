import assert from "node:assert/strict";
import { checkMatcher, checkSend } from "../../src/config/checks.ts";
import { proberFor } from "../../src/probe/mod.ts";
import { rawServer, readRequest, serveAddress } from "./_net.ts";

function unwrap<T>(checked: { ok: true; value: T } | { ok: false; message: string }): T {
  if (!checked.ok) throw new Error(checked.message);
  return checked.value;
}

/** A Redis-like server: `PING` → `+PONG`, `ROLE` → a replica's answer, then it waits. */
function redisLike(address: string) {
  const received: string[] = [];
  const server = rawServer(address, async (conn) => {
    const line = await readRequest(conn, "\r\n");
    received.push(line);
    const reply = line.startsWith("PING")
      ? "+PONG\r\n"
      : line.startsWith("ROLE")
      ? "*5\r\n$5\r\nslave\r\n$10\r\n192.0.2.10\r\n:6379\r\n"
      : "-ERR unknown command\r\n";
    await conn.write(new TextEncoder().encode(reply));
    if (line.startsWith("QUIT")) return;
    await conn.read(new Uint8Array(1)).catch(() => null);
  });
  return { ...server, received };
}

Deno.test("tcp send/expect: the reply must contain the text or match the regex", async () => {
  await using net = await serveAddress(238);
  const server = redisLike(net.address);
  const check = (send: string, expect: string) =>
    proberFor({ type: "tcp", send: unwrap(checkSend(send)), expect: unwrap(checkMatcher(expect)) });
  const request = { address: net.address, port: server.port, timeout: 1000 };
  try {
    assert.deepEqual((await check("PING\\r\\n", "+PONG")(request)).ok, true);
    assert.deepEqual((await check("ROLE\\r\\n", "/\\$\\d+\\r\\nslave/")(request)).ok, true);
    const master = await check("ROLE\\r\\n", "master")({ ...request, timeout: 200 });
    // The replica keeps the connection open: the check waits for more until its timeout.
    assert.deepEqual([master.ok, master.error], [false, "timeout"]);
    const quit = await check("QUIT\\r\\n", "+OK")(request);
    assert.deepEqual([quit.ok, quit.error], [false, "tcp: closed before the expected reply"]);
    // The escapes were decoded: the server saw CR LF, not backslashes.
    assert.deepEqual(server.received.slice(0, 2), ["PING\r\n", "ROLE\r\n"]);
  } finally {
    await server.close();
  }
});

Deno.test("tcp send/expect: binary bytes go out as written with \\xHH", async () => {
  await using net = await serveAddress(238);
  let seen: number[] = [];
  const server = rawServer(net.address, async (conn) => {
    const buffer = new Uint8Array(4);
    let n = 0;
    while (n < 4) {
      const read = await conn.read(buffer.subarray(n));
      if (read === null) return;
      n += read;
    }
    seen = [...buffer];
    await conn.write(Uint8Array.of(0x00, 0xff, 0x10));
  });
  try {
    const result = await proberFor({
      type: "tcp",
      send: unwrap(checkSend("\\x00\\x12\\xfeA")),
      expect: unwrap(checkMatcher("/\\xff\\x10/")),
    })({ address: net.address, port: server.port, timeout: 1000 });
    assert.equal(result.ok, true);
    assert.deepEqual(seen, [0x00, 0x12, 0xfe, 0x41]);
  } finally {
    await server.close();
  }
});

Deno.test("tcp send/expect: a reply past 64 KiB without the text fails without reading more", async () => {
  await using net = await serveAddress(238);
  let written = 0;
  const server = rawServer(net.address, async (conn) => {
    const chunk = new Uint8Array(16 * 1024).fill(0x61);
    try {
      // Stream until the prober closes: it must stop reading at its limit.
      while (written < 64 * 1024 * 1024) written += await conn.write(chunk);
    } catch {
      // Closed by the prober.
    }
  });
  try {
    const result = await proberFor({ type: "tcp", expect: unwrap(checkMatcher("b")) })({
      address: net.address,
      port: server.port,
      timeout: 5000,
    });
    assert.deepEqual([result.ok, result.error], [false, "tcp: reply did not match"]);
  } finally {
    await server.close();
  }
  assert.ok(written < 64 * 1024 * 1024, `the server wrote ${written} bytes`);
});
