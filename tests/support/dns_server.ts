/**
 * A real DNS server for the test network: Debian's dnsmasq (`apt-get install dnsmasq`), run in
 * the foreground inside the private network namespace on a TEST-NET address added to `lo`,
 * with no upstream (`--no-resolv`) and no /etc/hosts (`--no-hosts`).
 *
 * What it answers (dnsmasq 2.90, checked by hand and by tests/integration/dns_source_test.ts):
 * - names of {@linkcode DnsZone.hosts} from an `addn-hosts` file, which dnsmasq reads again on
 *   SIGHUP ({@linkcode DnsServer.setHosts}); a known name without the asked type is NOERROR
 *   with no record (NODATA);
 * - every other name under `test` is NXDOMAIN (`local=/test/`), and so is `nx.test` and below
 *   (`address=/nx.test/`);
 * - names under {@linkcode REFUSED_DOMAIN} are forwarded to {@linkcode DEAD_UPSTREAM}, which has
 *   no route in the namespace, so dnsmasq answers **REFUSED** at once. (Forwarded to an address
 *   on `lo` where nothing listens, dnsmasq never answers at all: it ignores the ICMP error.
 *   dnsmasq never makes up a SERVFAIL for a dead upstream.)
 * - names under {@linkcode SERVFAIL_DOMAIN} are forwarded to {@linkcode FAILING_UPSTREAM}, a UDP
 *   socket of this process that answers SERVFAIL to every query, and dnsmasq passes the
 *   **SERVFAIL** on. A name of that domain listed in `hosts` is answered from the hosts file
 *   instead, so removing it turns its answer into SERVFAIL with one SIGHUP.
 * - SRV records from `srv-host` options, which dnsmasq reads only at start: changing them
 *   restarts it ({@linkcode DnsServer.restart}).
 * While {@linkcode DnsServer.pause}d, nothing listens on the address and queries time out (the
 * ICMP port-unreachable never reaches an unconnected UDP socket).
 *
 * @module
 */

import dgram from "node:dgram";
import type { TestNetwork } from "./testnet.ts";
import { until } from "./wait.ts";

/** Names under this domain are answered REFUSED (forwarded to a dead upstream). */
export const REFUSED_DOMAIN = "refused.test";
/** The upstream `refused.test` is forwarded to: a TEST-NET address never put on `lo`. */
export const DEAD_UPSTREAM = "192.0.2.155";
/** Names under this domain are answered SERVFAIL (relayed from {@linkcode FAILING_UPSTREAM}). */
export const SERVFAIL_DOMAIN = "servfail.test";
/** The upstream `servfail.test` is forwarded to: it answers SERVFAIL to everything. */
export const FAILING_UPSTREAM = "192.0.2.156";
/** The default address of the server. */
export const DNS_SERVER_ADDRESS = "192.0.2.153";

/** One SRV record (RFC 2782). */
export interface SrvRecord {
  /** `_service._proto.name`. */
  readonly name: string;
  /** The host name of the target. */
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
}

/** The records served. */
export interface DnsZone {
  /** Name to addresses (IPv4 and IPv6), re-read on SIGHUP. */
  readonly hosts?: Readonly<Record<string, readonly string[]>>;
  /** SRV records; read only at start. */
  readonly srv?: readonly SrvRecord[];
  /** TTL (seconds) of every answer (`local-ttl`, default 30); read only at start. */
  readonly ttl?: number;
}

/** A dnsmasq process answering for a {@linkcode DnsZone} on one TEST-NET address. */
export class DnsServer implements AsyncDisposable {
  /** The server's address (on `lo`). */
  readonly address: string;
  readonly #dir: string;
  readonly #upstream: dgram.Socket;
  #zone: DnsZone;
  #child: Deno.ChildProcess | undefined;
  #lines: string[] = [];
  #reading: Promise<void> | undefined;

  private constructor(address: string, dir: string, upstream: dgram.Socket, zone: DnsZone) {
    this.address = address;
    this.#dir = dir;
    this.#upstream = upstream;
    this.#zone = zone;
  }

  /**
   * Adds `address` to `lo` through `net` and starts dnsmasq on it; resolves once dnsmasq has
   * read its hosts file (it listens before it reads it).
   */
  static async start(
    net: TestNetwork,
    zone: DnsZone,
    address: string = DNS_SERVER_ADDRESS,
  ): Promise<DnsServer> {
    await net.addAddress(address);
    await net.addAddress(FAILING_UPSTREAM);
    const upstream = await _failingUpstream();
    const dir = await Deno.makeTempDir({ prefix: "helaseid-dns-" });
    const server = new DnsServer(address, dir, upstream, zone);
    await server.#spawn();
    return server;
  }

  /** `address:53`, as a `nameserver` setting. */
  get nameserver(): string {
    return `${this.address}:53`;
  }

  /** Replaces the hosts records and waits until dnsmasq has read them again (SIGHUP). */
  async setHosts(hosts: Readonly<Record<string, readonly string[]>>): Promise<void> {
    this.#zone = { ...this.#zone, hosts };
    await this.#writeHosts();
    const child = this.#running();
    const before = this.#hostsReads();
    child.kill("SIGHUP");
    await until(
      "dnsmasq to read its hosts file again after SIGHUP",
      () => this.#hostsReads() > before,
    );
  }

  /** Stops dnsmasq and starts it again with `zone` (SRV records and TTL need a restart). */
  async restart(zone: DnsZone): Promise<void> {
    await this.pause();
    this.#zone = zone;
    await this.#spawn();
  }

  /** Stops dnsmasq: queries to the address now get no answer. */
  async pause(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    try {
      child.kill("SIGTERM");
    } catch {
      // It has exited already.
    }
    await child.status;
    await this.#reading;
  }

  /** Starts dnsmasq again after {@linkcode DnsServer.pause}, with the same records. */
  async resume(): Promise<void> {
    if (this.#child === undefined) await this.#spawn();
  }

  /** Stops dnsmasq and removes its files (the address goes with the test network). */
  async close(): Promise<void> {
    await this.pause();
    await new Promise<void>((resolve) => this.#upstream.close(() => resolve()));
    await Deno.remove(this.#dir, { recursive: true });
  }

  /** Same as {@linkcode DnsServer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #running(): Deno.ChildProcess {
    if (this.#child === undefined) throw new Error("dnsmasq is not running (paused or closed)");
    return this.#child;
  }

  get #hostsPath(): string {
    return `${this.#dir}/hosts`;
  }

  #hostsReads(): number {
    return this.#lines.filter((line) => line.includes(`read ${this.#hostsPath}`)).length;
  }

  async #writeHosts(): Promise<void> {
    const lines = Object.entries(this.#zone.hosts ?? {}).flatMap(([name, addresses]) =>
      addresses.map((address) => `${address} ${name}`)
    );
    await Deno.writeTextFile(this.#hostsPath, lines.join("\n") + "\n");
  }

  async #spawn(): Promise<void> {
    await this.#writeHosts();
    const conf = [
      "no-resolv",
      "no-hosts",
      "keep-in-foreground",
      "bind-interfaces",
      `listen-address=${this.address}`,
      "port=53",
      // Stay root: the temporary directory is private, and in a user namespace (CI without
      // root) only uid and gid 0 exist.
      "user=root",
      "group=root",
      "pid-file=",
      "log-facility=-",
      `addn-hosts=${this.#hostsPath}`,
      `local-ttl=${this.#zone.ttl ?? 30}`,
      "local=/test/",
      "address=/nx.test/",
      `server=/${REFUSED_DOMAIN}/${DEAD_UPSTREAM}`,
      `server=/${SERVFAIL_DOMAIN}/${FAILING_UPSTREAM}`,
      ...(this.#zone.srv ?? []).map((srv) =>
        `srv-host=${srv.name},${srv.target},${srv.port},${srv.priority ?? 0},${srv.weight ?? 0}`
      ),
    ];
    await Deno.writeTextFile(`${this.#dir}/dnsmasq.conf`, conf.join("\n") + "\n");
    this.#lines = [];
    const child = new Deno.Command("dnsmasq", {
      args: [`--conf-file=${this.#dir}/dnsmasq.conf`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#reading = (async () => {
      let pending = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        this.#lines.push(...lines);
        if (Deno.env.get("HELASEID_TEST_VERBOSE") === "1") {
          for (const line of lines) console.error(line);
        }
      }
    })();
    let exited: Deno.CommandStatus | undefined;
    child.status.then((status) => (exited = status));
    await until("dnsmasq to start and read its hosts file", () => {
      if (exited !== undefined) {
        throw new Error(`dnsmasq exited with ${exited.code}: ${this.#lines.join(" | ")}`);
      }
      return this.#hostsReads() > 0;
    }, { timeoutMs: 10_000 });
  }
}

/**
 * A UDP socket on FAILING_UPSTREAM:53 that answers every query with SERVFAIL: the query itself
 * with QR set and RCODE 2 (written byte by byte, independent of the codec under test).
 */
async function _failingUpstream(): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (query: Uint8Array, from: { address: string; port: number }) => {
    if (query.length < 12) return;
    const reply = Uint8Array.from(query);
    reply[2] = reply[2]! | 0x80;
    reply[3] = (reply[3]! & 0xf0) | 2;
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(53, FAILING_UPSTREAM, resolve));
  return socket;
}
