import assert from "node:assert/strict";
import { tcpProber } from "../../src/probe/tcp.ts";

Deno.test("tcp: a listening port is up, and the connection is closed at once", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepted = listener.accept();
  const result = await tcpProber()({ address: "127.0.0.1", port, timeout: 1000 });
  assert.equal(result.ok, true);
  assert.ok(result.latency >= 0);
  const conn = await accepted;
  // The prober closed its side: the server reads end of stream.
  assert.equal(await conn.read(new Uint8Array(1)), null);
  conn.close();
  listener.close();
});

Deno.test("tcp: a closed port is down with 'refused'", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const result = await tcpProber()({ address: "127.0.0.1", port, timeout: 1000 });
  assert.deepEqual({ ok: result.ok, error: result.error }, { ok: false, error: "refused" });
});

Deno.test("tcp: a connect that never answers ends as 'timeout' when the timeout aborts it", async () => {
  let aborted = false;
  const prober = tcpProber({
    connect: (options) =>
      new Promise((_, reject) => {
        options.signal!.addEventListener("abort", () => {
          aborted = true;
          reject(new DOMException("aborted", "AbortError"));
        });
      }),
  });
  const result = await prober({ address: "192.0.2.1", port: 9092, timeout: 20 });
  assert.equal(aborted, true);
  assert.deepEqual({ ok: result.ok, error: result.error }, { ok: false, error: "timeout" });
  assert.ok(result.latency >= 15, `latency ${result.latency}`);
});

Deno.test("tcp: OS errors become short stable reasons", async () => {
  const failing = (error: Error) =>
    tcpProber({ connect: () => Promise.reject(error) })({
      address: "192.0.2.1",
      port: 9092,
      timeout: 1000,
    });
  assert.equal(
    (await failing(new Error("Network is unreachable (os error 101)"))).error,
    "unreachable",
  );
  assert.equal((await failing(new Deno.errors.ConnectionReset("reset"))).error, "reset");
  assert.equal((await failing(new Error("Something odd (os error 99)"))).error, "Something odd");
});
