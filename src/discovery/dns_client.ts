/**
 * The DNS transport of the `dns` target source: one recursive query to one nameserver over UDP
 * (`node:dgram`), asked again over TCP (two-byte length prefix, RFC 1035 §4.2.2) when the UDP
 * answer is truncated. A reply counts only if it comes from the server's address and port,
 * carries the query's random id and echoes its question (RFC 5452 §9.1); anything else is
 * ignored, so a stray or spoofed datagram cannot answer for the server.
 *
 * The whole query, TCP retry included, has one deadline; every socket is closed on every path.
 * Without a configured nameserver the client acts as the system's resolver: the first
 * `nameserver` of `/etc/resolv.conf`, and its `search` list and `ndots` for relative names (so
 * `kafka.ns.svc` works in a Pod as it does for glibc); a final dot makes a name absolute.
 *
 * @module
 */

import dgram from "node:dgram";
import type { Millis } from "../config/schema.ts";
import {
  decodeHeader,
  decodeMessage,
  type DnsMessage,
  type DnsRecord,
  encodeQuery,
  type QueryType,
  randomQueryId,
  RCODE,
  relativeName,
  sameName,
  TYPE_CODE,
} from "./dns_codec.ts";

/** The DNS port. */
const DNS_PORT = 53;
/** Where the default nameserver is read from. */
export const RESOLV_CONF = "/etc/resolv.conf";

/** A server's answer (any response code: the caller decides what SERVFAIL means to it). */
export interface DnsResponse {
  /** The response code (`RCODE.NOERROR`, ...). */
  readonly rcode: number;
  /** The answer section. */
  readonly answers: readonly DnsRecord[];
  /** The additional section. */
  readonly additional: readonly DnsRecord[];
  /** The name answered (after the search list; without a final dot): follow answers from it. */
  readonly name: string;
  /** The server that answered: `192.0.2.53:53`, `[2001:db8::53]:53`. */
  readonly server: string;
  /** True when the answer came over TCP after a truncated UDP answer. */
  readonly tcp: boolean;
}

/** Why a query got no usable answer: no reply in time, a malformed reply, a socket error. */
export class DnsQueryError extends Error {
  /** The name asked for. */
  readonly query: string;
  /** The record type asked for. */
  readonly type: QueryType;
  /** The server asked (`192.0.2.53:53`), or undefined when there was none to ask. */
  readonly server: string | undefined;
  /** What happened, in a few words: `no answer within 2000 ms`. */
  readonly reason: string;

  /** Creates the error; `options.cause` is the wrapped error. */
  constructor(
    query: string,
    type: QueryType,
    server: string | undefined,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `Cannot resolve '${query}' ${type}${
        server === undefined ? "" : ` at '${server}'`
      }: ${reason}`,
      options,
    );
    this.name = "DnsQueryError";
    this.query = query;
    this.type = type;
    this.server = server;
    this.reason = reason;
  }
}

/** Options of one query. */
export interface DnsQueryOptions {
  /** Aborts the query (its sockets close at once); it then rejects with a DnsQueryError. */
  readonly signal?: AbortSignal;
}

/**
 * Asks the configured server for `name`'s records of `type`.
 *
 * @throws {DnsQueryError} when no usable answer came (timeout, malformed reply, socket error).
 */
export type DnsQuery = (
  name: string,
  type: QueryType,
  options?: DnsQueryOptions,
) => Promise<DnsResponse>;

/** Options of {@linkcode createDnsClient}. */
export interface DnsClientOptions {
  /**
   * `host`, `host:port` or `[v6]:port`, host an IP address; names are then asked as written.
   * Default: the system's resolver, i.e. resolv.conf's first nameserver with its search list.
   */
  readonly nameserver?: string;
  /** Deadline of one query, TCP retry included. */
  readonly timeout: Millis;
  /** Reads resolv.conf (default: `Deno.readTextFile("/etc/resolv.conf")`), read per query. */
  readonly readResolvConf?: () => Promise<string>;
}

/** A nameserver address. */
export interface Nameserver {
  /** An IP address (IPv6 without brackets). */
  readonly host: string;
  /** The port (53 unless given). */
  readonly port: number;
  /** The address family of `host`. */
  readonly family: 4 | 6;
}

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Parses `host`, `host:port` or `[v6]:port` (a bare IPv6 address is a host without port), host
 * an IP address; the port defaults to 53. Returns why not when it is none of these.
 */
export function parseNameserver(
  text: string,
): { ok: true; nameserver: Nameserver } | { ok: false; reason: string } {
  const fail = (why: string) => ({
    ok: false as const,
    reason: `'${text}' is not a nameserver: ${why}`,
  });
  let host = text.trim();
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(host);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (host.split(":").length === 2) {
    [host, portText] = host.split(":") as [string, string];
  }
  let port = DNS_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return fail(`the port must be a number from 1 to 65535`);
    }
    port = Number(portText);
  }
  if (IPV4.test(host)) return { ok: true, nameserver: { host, port, family: 4 } };
  const v6 = _canonicalIPv6(host);
  if (v6 !== undefined) return { ok: true, nameserver: { host: v6, port, family: 6 } };
  return fail("write an IPv4 address, an IPv6 address in brackets, and an optional port");
}

/** The text of a nameserver as errors name it: `192.0.2.53:53`, `[2001:db8::53]:53`. */
export function nameserverText(nameserver: Nameserver): string {
  return nameserver.family === 6
    ? `[${nameserver.host}]:${nameserver.port}`
    : `${nameserver.host}:${nameserver.port}`;
}

/** What the system's resolver takes from resolv.conf (resolv.conf(5)). */
export interface ResolvConf {
  /** The first `nameserver`, if any. */
  readonly nameserver: string | undefined;
  /** Domains tried for a relative name (`search`, or `domain`; the last such line wins). */
  readonly search: readonly string[];
  /** A name with at least this many dots is tried as is first (`options ndots:n`, default 1). */
  readonly ndots: number;
}

/** Reads the nameserver, search list and `ndots` of a resolv.conf text. */
export function parseResolvConf(text: string): ResolvConf {
  let nameserver: string | undefined;
  let search: string[] = [];
  let ndots = 1;
  for (const raw of text.split("\n")) {
    const [keyword, ...values] = raw.replace(/[#;].*$/, "").trim().split(/\s+/);
    if (keyword === "nameserver" && values[0] !== undefined) nameserver ??= values[0];
    else if (keyword === "search") search = values;
    else if (keyword === "domain" && values[0] !== undefined) search = [values[0]];
    else if (keyword === "options") {
      for (const value of values) {
        const ndotsValue = /^ndots:(\d+)$/.exec(value)?.[1];
        // resolv.conf(5): values over 15 are taken as 15.
        if (ndotsValue !== undefined) ndots = Math.min(15, Number(ndotsValue));
      }
    }
  }
  return { nameserver, search: search.filter((domain) => domain !== "."), ndots };
}

/**
 * The names the system's resolver tries for `name`, in order (resolv.conf(5)): an absolute
 * name (final dot) only as is; a name with at least `ndots` dots as is, then with each search
 * domain; a name with fewer, with each search domain, then as is.
 */
export function searchNames(name: string, conf: Pick<ResolvConf, "search" | "ndots">): string[] {
  const relative = relativeName(name);
  if (relative !== name) return [relative];
  const expanded = conf.search.map((domain) => `${name}.${relativeName(domain)}`);
  const dots = name.split(".").length - 1;
  return dots >= conf.ndots ? [name, ...expanded] : [...expanded, name];
}

function _canonicalIPv6(text: string): string | undefined {
  if (!text.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  try {
    // The WHATWG URL parser validates and serializes IPv6 in RFC 5952 form.
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/**
 * Builds the query function of one configured server, or of the system's resolver (resolv.conf
 * read on every query, its search list applied as Prometheus does: the first NOERROR answer of
 * the names tried wins; NXDOMAIN for all of them is NXDOMAIN; otherwise the first other
 * outcome, an error code or no answer, is the result).
 */
export function createDnsClient(options: DnsClientOptions): DnsQuery {
  const readResolvConf = options.readResolvConf ?? (() => Deno.readTextFile(RESOLV_CONF));
  return async (name, type, queryOptions = {}) => {
    const { signal } = queryOptions;
    const plan = await _plan(name, type, options.nameserver, readResolvConf);
    let failure: { response: DnsResponse } | { error: unknown } | undefined;
    let nxdomain: DnsResponse | undefined;
    for (const candidate of plan.names) {
      try {
        const response = await _ask(candidate, type, plan.nameserver, options.timeout, signal);
        if (response.rcode === RCODE.NOERROR) return response;
        if (response.rcode === RCODE.NXDOMAIN) nxdomain ??= response;
        else failure ??= { response };
      } catch (error) {
        if (signal?.aborted) throw error;
        failure ??= { error };
      }
    }
    if (failure === undefined) return nxdomain!;
    if ("response" in failure) return failure.response;
    throw failure.error;
  };
}

/** The server to ask and the names to try for `name`. */
async function _plan(
  name: string,
  type: QueryType,
  configured: string | undefined,
  readResolvConf: () => Promise<string>,
): Promise<{ nameserver: Nameserver; names: string[] }> {
  let text = configured;
  let names = [relativeName(name)];
  if (text === undefined) {
    let resolvConf: ResolvConf;
    try {
      resolvConf = parseResolvConf(await readResolvConf());
    } catch (error) {
      throw new DnsQueryError(name, type, undefined, `cannot read ${RESOLV_CONF}: ${error}`, {
        cause: error,
      });
    }
    text = resolvConf.nameserver;
    if (text === undefined) {
      throw new DnsQueryError(name, type, undefined, `no nameserver line in ${RESOLV_CONF}`);
    }
    names = searchNames(name, resolvConf);
  }
  const parsed = parseNameserver(text);
  if (!parsed.ok) throw new DnsQueryError(name, type, undefined, parsed.reason);
  return { nameserver: parsed.nameserver, names };
}

/** Why a query ended early: its deadline or the caller. */
class _Stop extends Error {}

async function _ask(
  name: string,
  type: QueryType,
  nameserver: Nameserver,
  timeout: Millis,
  signal: AbortSignal | undefined,
): Promise<DnsResponse> {
  const server = nameserverText(nameserver);
  const fail = (reason: string, cause?: unknown) =>
    new DnsQueryError(name, type, server, reason, cause === undefined ? undefined : { cause });
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new _Stop(`no answer within ${timeout} ms`)),
    timeout,
  );
  const onAbort = () => controller.abort(new _Stop("query cancelled"));
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort);
  const exchange = { name, type, nameserver, signal: controller.signal };
  try {
    let message = await _udpExchange(exchange);
    let tcp = false;
    if (message.tc) {
      message = await _tcpExchange(exchange);
      tcp = true;
    }
    return {
      name: relativeName(name),
      rcode: message.rcode,
      answers: message.answers,
      additional: message.additional,
      server,
      tcp,
    };
  } catch (error) {
    if (controller.signal.aborted && controller.signal.reason instanceof _Stop) {
      throw fail(controller.signal.reason.message);
    }
    if (error instanceof _Reply) throw fail(error.message);
    throw fail(error instanceof Error ? error.message : String(error), error);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** A reply from the server that is unusable (malformed, wrong id over TCP). */
class _Reply extends Error {}

interface _Exchange {
  readonly name: string;
  readonly type: QueryType;
  readonly nameserver: Nameserver;
  readonly signal: AbortSignal;
}

/** Whether `message` answers the question asked with `id`. */
function _answers(message: DnsMessage, id: number, exchange: _Exchange): boolean {
  if (message.id !== id || !message.qr) return false;
  const question = message.questions[0];
  // A truncated reply may have lost its question; its id must do.
  if (question === undefined) return message.tc;
  return message.questions.length === 1 && sameName(question.name, exchange.name) &&
    question.type === TYPE_CODE[exchange.type];
}

/**
 * Sends the query over UDP and resolves with the first reply from the server's address and
 * port that carries the query id and question; a reply that matches by id but cannot be
 * decoded rejects (unless truncated: TCP is asked then).
 */
function _udpExchange(exchange: _Exchange): Promise<DnsMessage> {
  const id = randomQueryId();
  const packet = encodeQuery(exchange.name, exchange.type, id);
  const { host, port, family } = exchange.nameserver;
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
    let closed = false;
    const finish = (result: () => void) => {
      if (closed) return;
      closed = true;
      exchange.signal.removeEventListener("abort", onAbort);
      try {
        socket.close();
      } catch {
        // Already closed by an error.
      }
      result();
    };
    const onAbort = () => finish(() => reject(exchange.signal.reason));
    if (exchange.signal.aborted) return onAbort();
    exchange.signal.addEventListener("abort", onAbort);
    socket.on(
      "error",
      (error) => finish(() => reject(new _Reply(`UDP socket failed: ${error.message}`))),
    );
    socket.on("message", (bytes: Uint8Array, from: { address: string; port: number }) => {
      if (from.port !== port || _canonical(from.address) !== host) return;
      const header = decodeHeader(bytes);
      if (!header.ok || header.header.id !== id || !header.header.qr) return;
      const decoded = decodeMessage(bytes);
      if (!decoded.ok) {
        if (header.header.tc) {
          finish(() => resolve({ ...header.header, questions: [], answers: [], additional: [] }));
        } else {
          finish(() => reject(new _Reply(`malformed response (${decoded.reason})`)));
        }
        return;
      }
      if (!_answers(decoded.message, id, exchange)) return;
      finish(() => resolve(decoded.message));
    });
    socket.send(packet, port, host, (error) => {
      if (error) {
        finish(() => reject(new _Reply(`cannot send the query over UDP: ${error.message}`)));
      }
    });
  });
}

function _canonical(address: string): string {
  return _canonicalIPv6(address) ?? address;
}

/** Asks over TCP: one length-prefixed query, one length-prefixed reply. */
async function _tcpExchange(exchange: _Exchange): Promise<DnsMessage> {
  const id = randomQueryId();
  const packet = encodeQuery(exchange.name, exchange.type, id);
  const framed = new Uint8Array(2 + packet.length);
  new DataView(framed.buffer).setUint16(0, packet.length);
  framed.set(packet, 2);
  const { host, port } = exchange.nameserver;
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: host, port, signal: exchange.signal });
  } catch (error) {
    if (exchange.signal.aborted) throw error;
    throw new _Reply(`cannot connect over TCP: ${error instanceof Error ? error.message : error}`);
  }
  const onAbort = () => _close(conn);
  exchange.signal.addEventListener("abort", onAbort);
  try {
    if (exchange.signal.aborted) throw exchange.signal.reason;
    let written = 0;
    while (written < framed.length) written += await conn.write(framed.subarray(written));
    const prefix = await _readExactly(conn, 2);
    const length = new DataView(prefix.buffer).getUint16(0);
    const decoded = decodeMessage(await _readExactly(conn, length));
    if (!decoded.ok) throw new _Reply(`malformed response over TCP (${decoded.reason})`);
    if (decoded.message.id !== id || !decoded.message.qr) {
      throw new _Reply(
        `response over TCP carries id ${decoded.message.id}, not the query's ${id}`,
      );
    }
    if (!_answers(decoded.message, id, exchange)) {
      throw new _Reply("response over TCP answers another question");
    }
    return decoded.message;
  } finally {
    exchange.signal.removeEventListener("abort", onAbort);
    _close(conn);
  }
}

function _close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed (by an abort).
  }
}

async function _readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const read = await conn.read(bytes.subarray(filled));
    if (read === null) {
      throw new _Reply(`connection closed after ${filled} of ${length} bytes over TCP`);
    }
    filled += read;
  }
  return bytes;
}
