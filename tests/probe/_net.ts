/**
 * Where the probe tests run their real servers: a TEST-NET address (192.0.2.231-239) on `lo`
 * inside the test network (`deno task test`), else 127.0.0.1 (`deno task test:unit`), so the
 * same tests prove the probers both ways and never skip.
 *
 * @module
 */

import { TestNetwork } from "../support/testnet.ts";

/** An address to serve on, removed again when disposed. */
export interface ServeAddress extends AsyncDisposable {
  readonly address: string;
}

/** A TEST-NET address `192.0.2.<octet>` in the test network, else 127.0.0.1. */
export async function serveAddress(octet: number): Promise<ServeAddress> {
  if (Deno.env.get("HELASEID_TESTNET") !== "1") {
    return { address: "127.0.0.1", [Symbol.asyncDispose]: () => Promise.resolve() };
  }
  const net = await TestNetwork.open();
  const address = `192.0.2.${octet}`;
  await net.addAddress(address);
  return { address, [Symbol.asyncDispose]: () => net.close() };
}

/** A port nothing listens on at `address` (bound, then released). */
export function closedPort(address: string): number {
  const listener = Deno.listen({ hostname: address, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * A raw TCP server on `address:port` (port 0: any free one) that runs `handle` on each connection
 * (closing it afterwards); `close()` waits for the handlers. The benchmarks serve with it too.
 */
export function rawServer(
  address: string,
  handle: (conn: Deno.Conn) => Promise<void>,
  port = 0,
): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: address, port });
  const handlers = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const conn of listener) {
      const handler = handle(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch {
          // The handler closed it.
        }
        handlers.delete(handler);
      });
      handlers.add(handler);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await loop.catch(() => {});
      await Promise.all(handlers);
    },
  };
}

/** Reads from `conn` until `marker` has arrived (or the peer closes); returns the text. */
export async function readRequest(conn: Deno.Conn, marker = "\r\n\r\n"): Promise<string> {
  const buffer = new Uint8Array(65536);
  let text = "";
  while (!text.includes(marker)) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}
