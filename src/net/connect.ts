/**
 * A TCP connection as a `node:net` socket, for `node:tls` to wrap once it is connected: the API
 * client's and the TLS checks' one way to open TLS.
 *
 * Why TCP first: Deno's `node:tls` (2.9.6) keeps every TLS socket whose TCP connect failed, for
 * good, about 9 KiB of heap each (`tls.connect({ host, port })`, and `tls.connect({ socket })`
 * over a socket still connecting, alike), while a plain `node:net` socket that fails is freed.
 * A TLS check of a dead target fails its connect on every check, and an API server down for a
 * while refuses each retry and watch: the soak's heap grew 4 MiB an hour from that alone.
 * tests/net/connect_test.ts counts what a refused connect leaves behind.
 *
 * @module
 */

import net from "node:net";

/**
 * Connects to `host`:`port` with Nagle off; the socket is destroyed when the connect fails or
 * `signal` aborts first (rejecting with the error, or the signal's reason). Its first 'error'
 * listener stays, idle once connected, so that an 'error' never finds no listener before the
 * caller adds its own (that would end the process).
 */
export function connectSocket(
  host: string,
  port: number,
  signal?: AbortSignal,
): Promise<net.Socket> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  const { promise, resolve, reject } = Promise.withResolvers<net.Socket>();
  let settled = false;
  const settle = () => {
    settled = true;
    socket.off("connect", onConnect);
    signal?.removeEventListener("abort", onAbort);
  };
  const onConnect = () => {
    settle();
    resolve(socket);
  };
  const onError = (error: unknown) => {
    if (settled) return;
    settle();
    socket.destroy();
    reject(error);
  };
  const onAbort = () => onError(signal!.reason);
  socket.once("connect", onConnect);
  socket.on("error", onError);
  signal?.addEventListener("abort", onAbort, { once: true });
  return promise;
}
