import assert from "node:assert/strict";
import { Deadline } from "../../src/probe/conn.ts";
import { tcpProber } from "../../src/probe/tcp.ts";

/** Keeps the event loop busy (what a slow start or a long GC does to the agent). */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Busy.
  }
}

Deno.test("deadline: a stalled event loop does not fail a live target's check", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  const probe = tcpProber();
  const results = [];
  for (let i = 0; i < 5; i++) {
    const checking = probe({ address: "127.0.0.1", port, timeout: 50 });
    stall(150); // three timeouts long: the connect completes meanwhile, unread
    results.push(await checking);
  }
  listener.close();
  await accepting;
  assert.deepEqual(results.map((r) => r.error ?? "ok"), ["ok", "ok", "ok", "ok", "ok"]);
});

Deno.test("deadline: a check that never answers still aborts, at most one timeout late", async () => {
  using deadline = new Deadline(20);
  const aborted = new Promise((resolve) => deadline.signal.addEventListener("abort", resolve));
  stall(60); // late by more than half the timeout: the deadline moves once
  await new Promise((resolve) => setTimeout(resolve, 0)); // the deadline's timer has fired
  assert.equal(deadline.signal.aborted, false);
  await aborted;
  assert.equal(deadline.signal.aborted, true);
});
