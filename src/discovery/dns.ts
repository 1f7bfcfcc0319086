/**
 * The `dns` target source (issue 12): the A, AAAA or SRV records of one or more names, resolved
 * again every `interval` (or sooner, when `honorTtl` is set and the answer's TTL runs out).
 *
 * Outcomes follow Prometheus' DNS discovery (research/wave2.md §2.1): NOERROR gives the
 * records; NXDOMAIN, or NOERROR without records, is a successful "nothing" and that name
 * contributes no target; SERVFAIL, REFUSED, a timeout or a malformed reply is a failure and
 * that name keeps its last good answer while the update carries the error. Each name and record
 * type (`A` and `AAAA` of `A+AAAA` apart) keeps its own last good answer.
 *
 * SRV: every record's target is resolved from the additional section when the server put its
 * addresses there, else by asking A and AAAA; the target's port is the record's, its hostname
 * the first label of the record's target. CNAMEs are followed only within an answer, as a
 * recursive resolver sends the whole chain. Addresses are deduplicated, not filtered: the
 * merge checks them against what the Kubernetes API accepts.
 *
 * @module
 */

import type { DnsSourceConfig, Millis } from "../config/schema.ts";
import type { Logger } from "../observe/log.ts";
import { createDnsClient, type DnsQuery, DnsQueryError, type DnsResponse } from "./dns_client.ts";
import { type DnsRecord, type QueryType, RCODE, rcodeName, sameName } from "./dns_codec.ts";
import type { DiscoveredTarget, SourceClock, SourceUpdate, TargetSource } from "./types.ts";

/** The shortest wait between two resolutions when `honorTtl` follows a small TTL. */
export const MIN_TTL_REFRESH: Millis = 1_000;

/** What one name and record type resolved to this time. */
export type DnsOutcome =
  | {
    readonly ok: true;
    readonly targets: readonly DiscoveredTarget[];
    /** The smallest TTL (seconds) of the records used; undefined when there were none. */
    readonly ttl: number | undefined;
  }
  | { readonly ok: false; readonly error: string };

/** Options of {@linkcode createDnsSource}. */
export interface DnsSourceOptions {
  /** Timers of the refresh loop. */
  readonly clock: SourceClock;
  /** The transport (default: {@linkcode createDnsClient} of `nameserver` and `timeout`). */
  readonly query?: DnsQuery;
  /** Where each resolution is logged at debug level (default: not logged). */
  readonly log?: Logger;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The queries a record setting asks per name: `A+AAAA` asks both. */
export function queryTypes(record: DnsSourceConfig["record"]): readonly QueryType[] {
  return record === "A+AAAA" ? ["A", "AAAA"] : [record];
}

/**
 * The records of `type` that answer `name` in `records`, following CNAMEs from `name` within
 * them (a chain that loops ends where it loops), and the smallest TTL of the chain and records.
 */
export function followAnswer(
  name: string,
  type: "A" | "AAAA" | "SRV",
  records: readonly DnsRecord[],
): { records: DnsRecord[]; ttl: number | undefined } {
  const chain = [name];
  let ttl: number | undefined;
  const lower = (a: number | undefined, b: number) => a === undefined ? b : Math.min(a, b);
  // Each step moves to the CNAME target of the last name of the chain, until none or a repeat.
  while (true) {
    const last = chain[chain.length - 1]!;
    const alias = records.find((r) => r.type === "CNAME" && sameName(r.name, last));
    if (alias?.type !== "CNAME" || chain.some((seen) => sameName(seen, alias.target))) break;
    chain.push(alias.target);
    ttl = lower(ttl, alias.ttl);
  }
  const found = records.filter((r) => r.type === type && chain.some((n) => sameName(n, r.name)));
  if (found.length === 0) return { records: [], ttl: undefined };
  for (const record of found) ttl = lower(ttl, record.ttl);
  return { records: found, ttl };
}

/**
 * When to resolve again: `interval`, or with `honorTtl` the smallest TTL of the answers if that
 * is sooner (never sooner than {@linkcode MIN_TTL_REFRESH}).
 */
export function refreshDelay(
  config: Pick<DnsSourceConfig, "interval" | "honorTtl">,
  ttl: number | undefined,
): Millis {
  if (!config.honorTtl || ttl === undefined) return config.interval;
  return Math.min(config.interval, Math.max(MIN_TTL_REFRESH, ttl * 1000));
}

/**
 * The update of one resolution from each key's outcome and last good answer (`lastGood` holds
 * the keys that ever answered; it is updated in place). A failed key keeps its last good
 * targets; only when no key has ever answered is the update a failure.
 */
export function dnsUpdate(
  outcomes: ReadonlyMap<string, DnsOutcome>,
  lastGood: Map<string, readonly DiscoveredTarget[]>,
): SourceUpdate {
  const errors: string[] = [];
  for (const [key, outcome] of outcomes) {
    if (outcome.ok) lastGood.set(key, outcome.targets);
    else errors.push(outcome.error);
  }
  const error = errors.length > 0 ? errors.join("; ") : undefined;
  if (lastGood.size === 0) return { ok: false, error: error ?? "dns: no name resolved" };
  const targets = dedupeTargets([...lastGood.values()].flat());
  return error === undefined ? { ok: true, targets } : { ok: true, targets, error };
}

/** Targets without repeats of one address and port (the first wins), sorted. */
export function dedupeTargets(targets: readonly DiscoveredTarget[]): DiscoveredTarget[] {
  const byKey = new Map<string, DiscoveredTarget>();
  for (const target of targets) {
    const key = `${target.address} ${target.port ?? ""}`;
    if (!byKey.has(key)) byKey.set(key, target);
  }
  return [...byKey.values()].sort((a, b) =>
    a.address < b.address ? -1 : a.address > b.address ? 1 : (a.port ?? 0) - (b.port ?? 0)
  );
}

/** The hostname an SRV target gives: its first label, lower case, if it is a DNS label. */
function _hostname(target: string): string | undefined {
  const label = target.split(".")[0]?.toLowerCase();
  return label !== undefined && DNS_LABEL.test(label) ? label : undefined;
}

/** One line naming the name, record type, server and what happened. */
function _errorLine(name: string, type: QueryType, error: unknown): string {
  if (error instanceof DnsQueryError) {
    const from = error.server === undefined ? "" : ` from ${error.server}`;
    return `dns ${name} ${type}: ${error.reason}${from}`;
  }
  return `dns ${name} ${type}: ${error instanceof Error ? error.message : String(error)}`;
}

/** A response's meaning: its records, "nothing" (NXDOMAIN), or a failure line. */
function _meaning(
  name: string,
  type: "A" | "AAAA" | "SRV",
  response: DnsResponse,
): { ok: true; records: DnsRecord[]; ttl: number | undefined } | { ok: false; error: string } {
  if (response.rcode === RCODE.NXDOMAIN) return { ok: true, records: [], ttl: undefined };
  if (response.rcode !== RCODE.NOERROR) {
    return {
      ok: false,
      error: `dns ${name} ${type}: ${rcodeName(response.rcode)} from ${response.server}`,
    };
  }
  return { ok: true, ...followAnswer(response.name, type, response.answers) };
}

/**
 * Asks one query (for `asked`, `name` unless given: an SRV target is asked as an absolute
 * name), turning a thrown failure into a failure line naming `name`.
 */
async function _ask(
  query: DnsQuery,
  name: string,
  type: "A" | "AAAA" | "SRV",
  signal: AbortSignal,
  asked: string = name,
): Promise<ReturnType<typeof _meaning> & { additional?: readonly DnsRecord[] }> {
  let response: DnsResponse;
  try {
    response = await query(asked, type, { signal });
  } catch (error) {
    return { ok: false, error: _errorLine(name, type, error) };
  }
  const meaning = _meaning(name, type, response);
  return meaning.ok ? { ...meaning, additional: response.additional } : meaning;
}

/** Resolves `name` for `type` into targets (SRV: with their targets' addresses and ports). */
async function _resolve(
  query: DnsQuery,
  name: string,
  type: QueryType,
  signal: AbortSignal,
): Promise<DnsOutcome> {
  const answer = await _ask(query, name, type, signal);
  if (!answer.ok) return answer;
  let ttl = answer.ttl;
  const lower = (value: number | undefined) => {
    if (value !== undefined) ttl = ttl === undefined ? value : Math.min(ttl, value);
  };
  if (type !== "SRV") {
    const targets = answer.records.flatMap((r) =>
      r.type === "A" || r.type === "AAAA" ? [{ address: r.address }] : []
    );
    return { ok: true, targets: dedupeTargets(targets), ttl };
  }
  // Each distinct SRV target is resolved once, all at the same time: from the additional
  // section when it holds the target's addresses, else by asking A and AAAA; a target of "."
  // means "no service here" (RFC 2782).
  const records = answer.records.filter((r) => r.type === "SRV" && r.target !== ".");
  const lookups = new Map<string, Promise<_Addresses>>();
  for (const record of records) {
    if (record.type !== "SRV" || lookups.has(record.target.toLowerCase())) continue;
    lookups.set(
      record.target.toLowerCase(),
      _targetAddresses(query, record.target, answer.additional ?? [], signal),
    );
  }
  const found = new Map<string, readonly string[]>();
  for (const [target, lookup] of lookups) {
    const addresses = await lookup;
    if (!addresses.ok) return { ok: false, error: `dns ${name} SRV: ${addresses.error}` };
    lower(addresses.ttl);
    found.set(target, addresses.list);
  }
  const targets: DiscoveredTarget[] = [];
  for (const record of records) {
    if (record.type !== "SRV") continue;
    const hostname = _hostname(record.target);
    for (const address of found.get(record.target.toLowerCase()) ?? []) {
      targets.push({ address, port: record.port, ...(hostname ? { hostname } : {}) });
    }
  }
  return { ok: true, targets: dedupeTargets(targets), ttl };
}

type _Addresses =
  | { readonly ok: true; readonly list: readonly string[]; readonly ttl: number | undefined }
  | { readonly ok: false; readonly error: string };

/** The addresses of an SRV target: its A and AAAA records from `additional`, else asked. */
async function _targetAddresses(
  query: DnsQuery,
  target: string,
  additional: readonly DnsRecord[],
  signal: AbortSignal,
): Promise<_Addresses> {
  let parts: { records: DnsRecord[]; ttl: number | undefined }[] = [
    followAnswer(target, "A", additional),
    followAnswer(target, "AAAA", additional),
  ];
  if (parts.every((part) => part.records.length === 0)) {
    const asked = await Promise.all([
      _ask(query, target, "A", signal, `${target}.`),
      _ask(query, target, "AAAA", signal, `${target}.`),
    ]);
    parts = [];
    for (const part of asked) {
      // The error line names the target's query: `b1.srv.test A: SERVFAIL from ...`.
      if (!part.ok) return { ok: false, error: part.error.replace(/^dns /, "") };
      parts.push(part);
    }
  }
  let ttl: number | undefined;
  const list: string[] = [];
  for (const part of parts) {
    if (part.ttl !== undefined) ttl = ttl === undefined ? part.ttl : Math.min(ttl, part.ttl);
    for (const record of part.records) {
      if (record.type === "A" || record.type === "AAAA") list.push(record.address);
    }
  }
  return { ok: true, list, ttl };
}

/**
 * Creates the source of `config`: named `dns <names joined by ,>`; every refresh resolves every
 * name and record type at once and emits the update when it differs from the last one emitted.
 */
export function createDnsSource(config: DnsSourceConfig, options: DnsSourceOptions): TargetSource {
  const { clock, log } = options;
  const query = options.query ??
    createDnsClient({
      timeout: config.timeout,
      ...(config.nameserver === undefined ? {} : { nameserver: config.nameserver }),
    });
  const name = `dns ${config.names.join(",")}`;
  const keys = config.names.flatMap((n) =>
    queryTypes(config.record).map((type) => ({ key: `${n} ${type}`, name: n, type }))
  );
  const lastGood = new Map<string, readonly DiscoveredTarget[]>();
  let emit: ((update: SourceUpdate) => void) | undefined;
  let lastEmitted: string | undefined;
  let timer: unknown;
  let controller: AbortController | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  /** Hands `update` to the consumer; a throwing consumer is logged, never our failure. */
  const deliver = (update: SourceUpdate) => {
    try {
      emit?.(update);
    } catch (error) {
      log?.error("dns source consumer threw", { source: name, error: String(error) });
    }
  };
  const refresh = async () => {
    timer = undefined;
    controller = new AbortController();
    const signal = controller.signal;
    let delay = config.interval;
    try {
      const outcomes = await Promise.all(
        keys.map(async ({ key, name, type }) =>
          [key, await _resolve(query, name, type, signal)] as const
        ),
      );
      if (stopped) return;
      const update = dnsUpdate(new Map(outcomes), lastGood);
      const ttls = outcomes.flatMap(([, o]) => o.ok && o.ttl !== undefined ? [o.ttl] : []);
      delay = refreshDelay(config, ttls.length > 0 ? Math.min(...ttls) : undefined);
      log?.debug("dns source resolved", {
        source: name,
        targets: update.ok ? update.targets.length : undefined,
        error: update.error,
        nextMs: delay,
      });
      const text = JSON.stringify(update);
      if (text !== lastEmitted) {
        lastEmitted = text;
        deliver(update);
      }
    } catch (error) {
      // Only a bug gets here: report it as a failure and keep resolving.
      if (!stopped) deliver({ ok: false, error: `${name}: ${String(error)}` });
    } finally {
      controller = undefined;
      if (!stopped) timer = clock.setTimeout(schedule, delay);
    }
  };
  const schedule = () => {
    running = refresh();
  };

  return {
    name,
    start(callback) {
      if (emit !== undefined || stopped) return;
      emit = callback;
      schedule();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      controller?.abort();
      await running;
    },
  };
}
