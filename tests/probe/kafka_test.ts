import assert from "node:assert/strict";
import { encodeApiVersionsRequest } from "../../src/probe/kafka_codec.ts";
import { proberFor } from "../../src/probe/mod.ts";
import { closedPort, rawServer, serveAddress } from "./_net.ts";
import { startKfake as kfake } from "../support/kfake.ts";

/** A running kfake broker on `address` (on a port closed there), and that port. */
async function startKfake(address: string) {
  const broker = await kfake(address, closedPort(address));
  const match = /^listening (.+):(\d+)$/.exec(broker.listening);
  assert.ok(match, `kfake said '${broker.listening}'`);
  return { ...broker, port: Number(match[2]) };
}

Deno.test("kafka: a kfake broker is up; muted it is down with 'timeout'; closing is a reason; it recovers", async () => {
  await using net = await serveAddress(233);
  const broker = await startKfake(net.address);
  const prober = proberFor({ type: "kafka" });
  const request = { address: net.address, port: broker.port, timeout: 1000 };
  try {
    const up = await prober(request);
    assert.deepEqual([up.ok, up.error, up.note], [true, undefined, undefined]);

    // The port still accepts connections, but the broker stops answering: down.
    await broker.mode("mute");
    const muted = await prober({ ...request, timeout: 200 });
    assert.deepEqual([muted.ok, muted.error], [false, "timeout"]);

    await broker.mode("close");
    const closed = await prober(request);
    assert.deepEqual([closed.ok, closed.error], [false, "kafka: closed without a response"]);

    await broker.mode("serve");
    assert.equal((await prober(request)).ok, true);
  } finally {
    await broker.stop();
  }
});

/** A fake broker that answers every request with `reply(correlationId)`. */
function scriptedBroker(address: string, reply: (correlationId: number) => Uint8Array) {
  return rawServer(address, async (conn) => {
    const request = new Uint8Array(22);
    let read = 0;
    while (read < request.length) {
      const n = await conn.read(request.subarray(read));
      if (n === null) return;
      read += n;
    }
    const correlationId = new DataView(request.buffer).getInt32(8);
    await conn.write(reply(correlationId));
    // Keep the connection open until the prober closes it: a short reply must not hang it.
    await conn.read(new Uint8Array(1)).catch(() => null);
  });
}

function frame(correlationId: number, errorCode: number, extra: number[] = []): Uint8Array {
  const body = [0, 0, 0, 0, errorCode >> 8, errorCode & 0xff, 0, 0, 0, 0, ...extra];
  const bytes = new Uint8Array(4 + body.length);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, body.length);
  bytes.set(body, 4);
  view.setInt32(4, correlationId);
  return bytes;
}

Deno.test("kafka: error 35 is alive, other error codes and bad frames are down with a reason", async () => {
  await using net = await serveAddress(234);
  const cases: [string, (corr: number) => Uint8Array, boolean, string | undefined][] = [
    ["error 35", (c) => frame(c, 35), true, "kafka error 35"],
    ["error 7", (c) => frame(c, 7), false, "kafka error 7"],
    ["wrong correlation", (c) => frame(c + 1, 0), false, "kafka: wrong correlation id"],
    ["trailing bytes", (c) => frame(c, 0, [1, 2]), false, "kafka: malformed response"],
    [
      "oversized",
      () => Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 1, 2, 3),
      false,
      "kafka: response too large",
    ],
    ["truncated", (c) => frame(c, 0).subarray(0, 9), false, "timeout"],
    [
      "http",
      () => new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"),
      false,
      "kafka: response too large",
    ],
    ["request echoed", () => encodeApiVersionsRequest(1), false, "kafka: wrong correlation id"],
  ];
  for (const [name, reply, ok, reason] of cases) {
    const srv = scriptedBroker(net.address, reply);
    try {
      const result = await proberFor({ type: "kafka" })({
        address: net.address,
        port: srv.port,
        timeout: 300,
      });
      assert.deepEqual([result.ok, result.error ?? result.note], [ok, reason], name);
    } finally {
      await srv.close();
    }
  }
});

Deno.test("kafka: a closed port is down with 'refused'", async () => {
  await using net = await serveAddress(234);
  const result = await proberFor({ type: "kafka" })({
    address: net.address,
    port: closedPort(net.address),
    timeout: 1000,
  });
  assert.deepEqual([result.ok, result.error], [false, "refused"]);
});
