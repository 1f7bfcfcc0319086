/**
 * The protocol checks of a target (`probe:` or `probes:`): the validated model of one check and
 * the checks of its values (status ranges, body and reply matchers, bytes to send, headers).
 * The option table (`options.ts`) names which check each probe option uses; the probers
 * (`src/probe/`) take a {@linkcode ProbeCheck} as it is.
 *
 * @module
 */

import type { ProbeType } from "./choices.ts";
import { type Checked, failed, passed } from "./issues.ts";
import { kindOf, quote } from "./validate.ts";

/** At most this many bytes are sent by a `tcp` check (`send`). */
const MAX_SEND_BYTES = 4096;
/** An `expect` or `body` pattern is at most this long. */
const MAX_PATTERN_LENGTH = 1024;
/** At most this many bytes of a reply or response body are read and matched. */
export const MAX_READ_BYTES = 64 * 1024;

/** Text a reply or body must contain: a substring, or a regular expression written `/re/flags`. */
export interface Matcher {
  /** `string`: contains `pattern`; `regex`: `new RegExp(pattern, flags)` matches. */
  readonly kind: "string" | "regex";
  /** The substring or the regular expression's source. */
  readonly pattern: string;
  /** Regular expression flags (`i`, `m`, `s`, `u`), empty for a substring. */
  readonly flags: string;
}

/** Inclusive range of HTTP status codes. */
export interface StatusRange {
  /** First accepted status. */
  readonly from: number;
  /** Last accepted status. */
  readonly to: number;
}

/** HTTP status codes accepted when none are configured: 200-399 (the kubelet's rule). */
export const DEFAULT_STATUS: readonly StatusRange[] = [{ from: 200, to: 399 }];

/** The Redpanda admin port, where `redpanda` checks go when no port is configured. */
export const REDPANDA_ADMIN_PORT = 9644;

/**
 * One protocol check of a target, validated. Fields that do not apply to `type` are absent;
 * absent fields take the defaults the README documents (applied by the prober).
 */
export interface ProbeCheck {
  /** The protocol spoken. */
  readonly type: ProbeType;
  /** Port to check; absent: the port the scheduler gives (for `redpanda`: 9644). */
  readonly port?: number;
  /** `tcp`: bytes to send once connected (escapes `\r \n \t \\ \xHH` decoded). */
  readonly send?: string;
  /** `tcp`: the reply must contain this. */
  readonly expect?: Matcher;
  /** `http`/`https`: request method (default `GET`). */
  readonly method?: string;
  /** `http`/`https`/`redpanda`: request path (default `/`, `redpanda`: `/v1/status/ready`). */
  readonly path?: string;
  /** `http`/`https`: the `Host` header (default: the address, with the port if not the default). */
  readonly host?: string;
  /** `http`/`https`: extra request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** `http`/`https`: accepted statuses (default {@linkcode DEFAULT_STATUS}). */
  readonly status?: readonly StatusRange[];
  /** `http`/`https`: the body must contain this (first 64 KiB). */
  readonly body?: Matcher;
  /** `https`/`tls`: the name the certificate must carry, sent as SNI (default: the address). */
  readonly serverName?: string;
  /** `https`/`tls`: PEM file of the CA certificates to trust (a private CA). */
  readonly caFile?: string;
  /** `https`/`tls`: accept any certificate (chain, name and dates unchecked). */
  readonly insecureSkipVerify?: boolean;
  /** `tls`: fail when the certificate expires in fewer days than this (default: never). */
  readonly minDaysToExpiry?: number;
}

/** `200-399,404` → ranges; from a number, a string, or a list of them. */
export function checkStatusRanges(value: unknown): Checked<readonly StatusRange[]> {
  const allowed = "allowed status codes 100-599 and ranges such as '200-299'";
  const items = Array.isArray(value)
    ? value
    : typeof value === "string"
    ? value.split(",")
    : [value];
  if (items.length === 0) return failed(`must list at least one status: ${allowed}`);
  const ranges: StatusRange[] = [];
  for (const item of items) {
    if (typeof item !== "string" && typeof item !== "number") {
      return failed(`must be a status or a range (${allowed}), not ${kindOf(item)}`);
    }
    const text = String(item).trim();
    const match = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(text);
    if (match === null) return failed(`${quote(item)} is not a status or a range: ${allowed}`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (from < 100 || to > 599) return failed(`${quote(item)} is out of range: ${allowed}`);
    if (from > to) return failed(`${quote(item)} is an empty range: write the smaller code first`);
    ranges.push({ from, to });
  }
  return passed(ranges);
}

/** Shows status ranges the way they are written: `200-399,404`. */
export function formatStatusRanges(ranges: readonly StatusRange[]): string {
  return ranges.map((r) => r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`).join(",");
}

/** Text to find (`+PONG`) or a regular expression written `/role:master/i`. */
export function checkMatcher(value: unknown): Checked<Matcher> {
  if (typeof value !== "string" && typeof value !== "number") {
    return failed(`must be text or a /regular expression/, not ${kindOf(value)}`);
  }
  const text = String(value);
  if (text === "") return failed("must not be empty");
  if (text.length > MAX_PATTERN_LENGTH) {
    return failed(`is ${text.length} characters long: allowed at most ${MAX_PATTERN_LENGTH}`);
  }
  const regex = /^\/(.+)\/([imsu]*)$/s.exec(text);
  if (regex === null) return passed({ kind: "string", pattern: text, flags: "" });
  const [, pattern, flags] = regex as unknown as [string, string, string];
  try {
    new RegExp(pattern, flags);
  } catch (error) {
    const why = error instanceof Error
      ? error.message.replace(/^Invalid regular expression: /, "")
      : String(error);
    return failed(`${quote(text)} is not a valid regular expression: ${why}`);
  }
  return passed({ kind: "regex", pattern, flags });
}

/** Shows a matcher the way it is written. */
export function formatMatcher(matcher: Matcher): string {
  return matcher.kind === "regex" ? `/${matcher.pattern}/${matcher.flags}` : matcher.pattern;
}

/**
 * The test of a matcher: whether a text satisfies it. Build it once per check spec, not per
 * check: a regular expression is compiled here (its flags never include `g`/`y`, so reusing
 * it keeps no state between texts).
 */
export function matcherTest(matcher: Matcher): (text: string) => boolean {
  if (matcher.kind === "string") return (text) => text.includes(matcher.pattern);
  const regex = new RegExp(matcher.pattern, matcher.flags);
  return (text) => regex.test(text);
}

/** The one-character escapes of `send`, by the character after the backslash. */
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  r: "\r",
  n: "\n",
  t: "\t",
  "\\": "\\",
  "0": "\0",
};

/** Bytes a `tcp` check sends: text with `\r \n \t \\ \xHH` escapes decoded, 1-4096 bytes. */
export function checkSend(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be text, not ${kindOf(value)}`);
  let decoded = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== "\\") {
      decoded += c;
      continue;
    }
    const next = value[i + 1];
    if (next !== undefined && SIMPLE_ESCAPES[next] !== undefined) {
      decoded += SIMPLE_ESCAPES[next];
      i++;
    } else if (next === "x" && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 2, i + 4))) {
      decoded += String.fromCharCode(parseInt(value.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      return failed(
        `${quote(value)} has an unknown escape at character ${i + 1}: ` +
          "allowed \\r \\n \\t \\0 \\\\ \\xHH",
      );
    }
  }
  const bytes = sendBytes(decoded).length;
  if (bytes === 0) return failed("must not be empty");
  if (bytes > MAX_SEND_BYTES) {
    return failed(`is ${bytes} bytes long: allowed at most ${MAX_SEND_BYTES}`);
  }
  return passed(decoded);
}

/**
 * The bytes of a decoded `send` text: characters up to U+00FF are one byte each (so `\xHH`
 * sends that byte), anything else is UTF-8.
 */
export function sendBytes(text: string): Uint8Array {
  if ([...text].every((c) => c.charCodeAt(0) <= 0xff)) {
    return Uint8Array.from(text, (c) => c.charCodeAt(0));
  }
  return new TextEncoder().encode(text);
}

/** Whether `text` has a control character (U+0000-U+001F, U+007F). */
function _hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** An HTTP method token, upper-cased (`GET`, `HEAD`, ...). */
export function checkMethod(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be an HTTP method, not ${kindOf(value)}`);
  const method = value.trim().toUpperCase();
  return TOKEN.test(method) ? passed(method) : failed(`${quote(value)} is not an HTTP method`);
}

/** A request path: starts with `/`, no spaces or control characters. */
export function checkPath(value: unknown): Checked<string> {
  if (typeof value !== "string") {
    return failed(`must be a path such as '/healthz', not ${kindOf(value)}`);
  }
  const path = value.trim();
  if (!path.startsWith("/")) return failed(`${quote(value)} must start with '/'`);
  if (/\s/.test(path) || _hasControl(path)) {
    return failed(`${quote(value)} has spaces or control characters: percent-encode them`);
  }
  return passed(path);
}

/** A header value or a `Host`/`serverName`: one line of visible text. */
export function checkHeaderText(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be text, not ${kindOf(value)}`);
  const text = value.trim();
  if (text === "") return failed("must not be empty");
  if (_hasControl(text)) return failed(`${quote(value)} has control characters`);
  return passed(text);
}

/** Extra request headers: a mapping (file) or `Name: value` pairs separated by `;` (variable). */
export function checkHeaders(value: unknown): Checked<Readonly<Record<string, string>>> {
  let entries: [string, unknown][];
  if (typeof value === "string") {
    entries = [];
    for (const part of value.split(";").filter((p) => p.trim() !== "")) {
      const colon = part.indexOf(":");
      if (colon < 1) return failed(`${quote(part.trim())} is not 'Name: value'`);
      entries.push([part.slice(0, colon).trim(), part.slice(colon + 1)]);
    }
  } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    entries = Object.entries(value);
  } else {
    return failed(`must be a mapping of header names to values, not ${kindOf(value)}`);
  }
  const headers: Record<string, string> = {};
  for (const [name, raw] of entries) {
    if (!TOKEN.test(name)) return failed(`${quote(name)} is not a header name`);
    if (["content-length", "transfer-encoding", "connection"].includes(name.toLowerCase())) {
      return failed(`${quote(name)} is set by HELASEID itself`);
    }
    const text = checkHeaderText(typeof raw === "number" ? String(raw) : raw);
    if (!text.ok) return failed(`header ${quote(name)} ${text.message}`);
    headers[name] = text.value;
  }
  return passed(headers);
}

/** Which probe types each check option applies to (others reject it with a field path). */
export const CHECK_FIELDS_BY_TYPE: Readonly<Record<ProbeType, readonly string[]>> = {
  tcp: ["send", "expect"],
  http: ["method", "path", "host", "headers", "status", "body"],
  https: [
    "method",
    "path",
    "host",
    "headers",
    "status",
    "body",
    "serverName",
    "caFile",
    "insecureSkipVerify",
  ],
  tls: ["serverName", "caFile", "insecureSkipVerify", "minDaysToExpiry"],
  kafka: [],
  redpanda: ["path"],
};
