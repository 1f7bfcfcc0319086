/**
 * src/net/connect.ts, and what it is for: a TLS connection whose TCP connect is refused leaves
 * nothing behind, through the API client and through a TLS check (Deno's node:tls kept about
 * 9.5 KiB of heap per refused connect when TLS wrapped the socket before TCP connected).
 */

import assert from "node:assert/strict";
import { connectSocket } from "../../src/net/connect.ts";

/** A loopback port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

Deno.test("connectSocket: connects; a refused or aborted connect rejects, with no 'error' left to escape", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const socket = await connectSocket("127.0.0.1", listener.addr.port);
  const server = await accepted;
  await server.write(new TextEncoder().encode("hi"));
  const chunk = await new Promise<Uint8Array>((resolve) => socket.once("data", resolve));
  assert.equal(new TextDecoder().decode(chunk), "hi");
  server.close();
  socket.destroy();
  listener.close();

  const refused = await connectSocket("127.0.0.1", closedPort()).catch((error) => error);
  assert.equal(refused.code, "ECONNREFUSED");

  const aborted = new AbortController();
  aborted.abort(new Error("the check's deadline"));
  await assert.rejects(
    connectSocket("127.0.0.1", closedPort(), aborted.signal),
    /the check's deadline/,
  );
  // Aborted while connecting: rejected with the reason; the refusal that follows is swallowed.
  const later = new AbortController();
  const pending = connectSocket("127.0.0.1", closedPort(), later.signal);
  later.abort(new Error("aborted while connecting"));
  await assert.rejects(pending, /aborted while connecting/);
  // The sanitizers fail the test if a socket is left connecting or an 'error' goes uncaught.
});

/**
 * Runs `body` (an async function of `port`, a closed port, doing one refused connect) 2,100
 * times in a process of its own with gc() exposed, and returns the heap kept per connect over
 * the last 2,000 and the errors seen.
 */
async function keptPerRefusedConnect(
  imports: string,
  body: string,
): Promise<{ perConnect: number; errors: string[] }> {
  const script = `
    ${imports}
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = closed.addr.port;
    closed.close();
    const errors = new Set();
    const once = async () => { ${body} };
    for (let i = 0; i < 100; i++) await once();
    const heap = () => (gc(), gc(), Deno.memoryUsage().heapUsed);
    const before = heap();
    for (let i = 0; i < 2000; i++) await once();
    console.log(JSON.stringify({ perConnect: (heap() - before) / 2000, errors: [...errors] }));
    self.close?.();
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

const src = (path: string) => JSON.stringify(new URL(`../../src/${path}`, import.meta.url).href);

Deno.test("API client: refused https connects keep no heap (an API server down for long)", async () => {
  const { perConnect, errors } = await keptPerRefusedConnect(
    `import { Http1Client } from ${src("kube/http1.ts")};`,
    `const client = globalThis.client ??= new Http1Client({ server: "https://127.0.0.1:" + port });
     try { await client.request({ method: "GET", path: "/" }); } catch (error) {
       errors.add(error.code ?? error.name); return;
     }
     throw new Error("a closed port answered");`,
  );
  assert.deepEqual(errors, ["ECONNREFUSED"], "each connect refused, as the caller sees it");
  assert.ok(perConnect < 1000, `${perConnect.toFixed(0)} bytes of heap kept per refused connect`);
});

Deno.test("TLS check: a dead target keeps no heap however often it is checked", async () => {
  const { perConnect, errors } = await keptPerRefusedConnect(
    `import { Deadline, openNodeTls } from ${src("probe/conn.ts")};`,
    `using deadline = new Deadline(2000);
     try { await openNodeTls({ address: "127.0.0.1", port }, {}, deadline); } catch (error) {
       errors.add(error.reason ?? String(error)); return;
     }
     throw new Error("a closed port answered");`,
  );
  assert.deepEqual(errors, ["refused"], "each check fails as refused");
  assert.ok(perConnect < 1000, `${perConnect.toFixed(0)} bytes of heap kept per refused check`);
});
