import assert from "node:assert/strict";
import { tcpProber } from "../../src/probe/tcp.ts";

/** A clock that answers `times` in order (and fails the test if asked once more). */
function clock(...times: number[]): () => number {
  return () => {
    const time = times.shift();
    assert.ok(time !== undefined, "the prober read the clock more than expected");
    return time;
  };
}

Deno.test("tcp: a listening port is up, and the connection is closed at once", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepted = listener.accept();
  // Latency is the prober's clock from before the connect to after it.
  const result = await tcpProber({ now: clock(1000, 1012.5) })({
    address: "127.0.0.1",
    port,
    timeout: 1000,
  });
  assert.deepEqual(result, { ok: true, latency: 12.5 });
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
    now: clock(50, 70.25),
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
  assert.equal(result.latency, 20.25);
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
