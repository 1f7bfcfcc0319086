/**
 * The checks of single configuration values, shared by both input formats: each takes a raw
 * value (a string from `config.env` or the environment, any YAML value from the structured file)
 * and returns the normalized value or a message that quotes the bad value and says what is
 * allowed. The option table (`options.ts`) names which check each option uses.
 *
 * @module
 */

import { LOG_LEVEL_ALIASES, LOG_LEVELS, type LogLevel } from "./choices.ts";
import { type Checked, failed, type IssueList, type Located, passed } from "./issues.ts";
import { Secret } from "./secret.ts";
import type { Target } from "./schema.ts";

const MAX_QUOTED = 80;

/** A scalar quoted for a message (`'10.188.2.300'`), shortened when long. */
export function quote(value: unknown): string {
  const text = typeof value === "string" ? value : String(value);
  const short = text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED - 3)}...` : text;
  return `'${short}'`;
}

/** What kind of value it is, for "must be X, not a list" messages: never the value itself. */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "a boolean";
  return typeof value;
}

function _isScalar(value: unknown): value is string | number | boolean {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

/** Options of {@linkcode checkInteger}. */
export interface IntegerRange {
  /** Smallest allowed value. */
  readonly min: number;
  /** Largest allowed value (default: no limit). */
  readonly max?: number;
}

/** An integer within a range, from a number or a decimal string. */
export function checkInteger(value: unknown, range: IntegerRange): Checked<number> {
  const allowed = range.max === undefined
    ? `allowed ${range.min} or more`
    : `allowed ${range.min}-${range.max}`;
  if (!_isScalar(value) || typeof value === "boolean") {
    return failed(`must be an integer (${allowed}), not ${kindOf(value)}`);
  }
  const text = String(value).trim();
  if (typeof value === "string" ? !/^[+-]?\d+$/.test(text) : !Number.isInteger(value)) {
    return failed(`${quote(value)} is not an integer: ${allowed}`);
  }
  const n = Number(text);
  if (n < range.min || (range.max !== undefined && n > range.max)) {
    return failed(`${quote(value)} is out of range: ${allowed}`);
  }
  return passed(n);
}

/** A port number, 1-65535. */
export function checkPort(value: unknown): Checked<number> {
  return checkInteger(value, { min: 1, max: 65535 });
}

/** A `rise` or `fall` count: an integer of at least 1. */
export function checkCount(value: unknown): Checked<number> {
  return checkInteger(value, { min: 1 });
}

/** The probe jitter: a fraction of the interval from 0 to 0.5. */
export function checkJitter(value: unknown): Checked<number> {
  const allowed = "allowed 0 to 0.5 (a fraction of the interval)";
  if (!_isScalar(value) || typeof value === "boolean") {
    return failed(`must be a number (${allowed}), not ${kindOf(value)}`);
  }
  const text = String(value).trim();
  const n = typeof value === "number"
    ? value
    : /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text)
    ? Number(text)
    : NaN;
  if (!Number.isFinite(n)) return failed(`${quote(value)} is not a number: ${allowed}`);
  if (n < 0 || n > 0.5) return failed(`${quote(value)} is out of range: ${allowed}`);
  return passed(n);
}

const TRUE_WORDS = ["true", "yes", "on", "1"];
const FALSE_WORDS = ["false", "no", "off", "0"];

/** A boolean, from a boolean or one of true/false, yes/no, on/off, 1/0 (any case). */
export function checkBoolean(value: unknown): Checked<boolean> {
  const allowed = "allowed true, false, yes, no, on, off, 1, 0";
  if (typeof value === "boolean") return passed(value);
  if (!_isScalar(value)) return failed(`must be a boolean (${allowed}), not ${kindOf(value)}`);
  const word = String(value).trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return passed(true);
  if (FALSE_WORDS.includes(word)) return passed(false);
  return failed(`${quote(value)} is not a boolean: ${allowed}`);
}

/** Options of {@linkcode checkChoice}. */
export interface ChoiceOptions {
  /** What the value is, for the message: "log level", "protocol". */
  readonly what: string;
  /** Other spellings accepted for a choice, lower case: `{ warning: "warn" }`. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Show the allowed values upper case (environment variables). */
  readonly upperCase?: boolean;
}

/** One of a fixed set of values, matched case-insensitively and returned in canonical spelling. */
export function checkChoice<T extends string>(
  value: unknown,
  choices: readonly T[],
  options: ChoiceOptions,
): Checked<T> {
  const shown = choices.map((c) => options.upperCase ? c.toUpperCase() : c).join(", ");
  const allowed = `allowed ${shown}`;
  if (typeof value !== "string") {
    return failed(`must be a ${options.what} (${allowed}), not ${kindOf(value)}`);
  }
  const word = value.trim().toLowerCase();
  const canonical = options.aliases?.[word] ?? word;
  const found = choices.find((c) => c.toLowerCase() === canonical.toLowerCase());
  return found === undefined
    ? failed(`${quote(value)} is not a valid ${options.what}: ${allowed}`)
    : passed(found);
}

/**
 * A log level: debug, info, warn, error, in any case, or a level of the original HELASEID
 * ({@linkcode LOG_LEVEL_ALIASES}: warning, critical, fatal).
 */
export function checkLogLevel(
  value: unknown,
  options: { upperCase?: boolean } = {},
): Checked<LogLevel> {
  return checkChoice(value, LOG_LEVELS, {
    what: "log level",
    aliases: LOG_LEVEL_ALIASES,
    upperCase: options.upperCase,
  });
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL = 63;

/** Options of the DNS label checks. */
export interface LabelOptions {
  /** What the label names, for the message: "namespace", "port name". */
  readonly what: string;
}

function _checkLabel(
  value: unknown,
  options: { pattern: RegExp; rule: string; what: string },
): Checked<string> {
  const { pattern, rule, what } = options;
  if (typeof value !== "string") {
    return failed(`must be a ${what} (a string), not ${kindOf(value)}`);
  }
  if (value.length > MAX_LABEL) {
    return failed(
      `${quote(value)} is too long for a ${what}: allowed at most ${MAX_LABEL} characters`,
    );
  }
  if (!pattern.test(value)) {
    return failed(`${quote(value)} is not a valid ${what}: use ${rule}`);
  }
  return passed(value);
}

/** A DNS-1123 label (namespaces, port names, hostnames): `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63. */
export function checkDns1123Label(value: unknown, options: LabelOptions): Checked<string> {
  return _checkLabel(value, {
    pattern: DNS1123_LABEL,
    rule: "lowercase letters, digits and '-', starting and ending with a letter or digit",
    what: options.what,
  });
}

/** A DNS-1035 label (Service names): like DNS-1123 but starting with a letter. */
export function checkDns1035Label(value: unknown, options: LabelOptions): Checked<string> {
  return _checkLabel(value, {
    pattern: DNS1035_LABEL,
    rule:
      "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
    what: options.what,
  });
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A DNS-1123 subdomain (ConfigMap names): labels joined by dots, at most 253 characters. */
export function checkDns1123Subdomain(value: unknown, options: LabelOptions): Checked<string> {
  if (typeof value !== "string") return failed(`must be a ${options.what}, not ${kindOf(value)}`);
  if (value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
    return failed(
      `${quote(value)} is not a valid ${options.what}: use lowercase letters, digits, '-' and ` +
        "'.', at most 253 characters",
    );
  }
  return passed(value);
}

/** A ConfigMap key: letters, digits, `-`, `_` and `.`, at most 253 characters. */
export function checkConfigMapKey(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be a ConfigMap key, not ${kindOf(value)}`);
  if (!/^[-._a-zA-Z0-9]{1,253}$/.test(value) || value === "." || value === "..") {
    return failed(
      `${quote(value)} is not a valid ConfigMap key: use letters, digits, '-', '_' and '.'`,
    );
  }
  return passed(value);
}

/** An `appProtocol`: a qualified name such as `http`, `kafka` or `kubernetes.io/h2c`. */
export function checkAppProtocol(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be a string, not ${kindOf(value)}`);
  const slash = value.lastIndexOf("/");
  const prefix = slash < 0 ? undefined : value.slice(0, slash);
  const name = slash < 0 ? value : value.slice(slash + 1);
  const prefixOk = prefix === undefined ||
    (prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix));
  if (!prefixOk || name.length > MAX_LABEL || !QUALIFIED_NAME.test(name)) {
    return failed(
      `${
        quote(value)
      } is not a valid appProtocol: use a name such as 'http' or 'kubernetes.io/h2c'`,
    );
  }
  return passed(value);
}

// --- IP addresses -----------------------------------------------------------------------------

/** IPv4 octets, "leading-zero" for an ambiguous form like `010.1.1.1`, or undefined. */
function _parseIPv4(text: string): number[] | "leading-zero" | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let leadingZero = false;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    if (part.length > 1 && part.startsWith("0")) leadingZero = true;
    const n = Number(part);
    if (n > 255) return undefined;
    octets.push(n);
  }
  return leadingZero ? "leading-zero" : octets;
}

/** The eight 16-bit groups of an IPv6 address, or undefined. Zone ids (`%eth0`) are refused. */
function _parseIPv6(text: string): number[] | undefined {
  if (!text.includes(":") || text.includes("%")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string, last: boolean): number[] | undefined => {
    if (part === "") return [];
    const groups: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (last && i === pieces.length - 1 && piece.includes(".")) {
        const v4 = _parseIPv4(piece);
        if (v4 === undefined || v4 === "leading-zero") return undefined;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  if (halves.length === 1) {
    const groups = parseGroups(text, true);
    return groups?.length === 8 ? groups : undefined;
  }
  const head = parseGroups(halves[0]!, false);
  const tail = parseGroups(halves[1]!, true);
  if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 text of an IPv6 address: lower case, no leading zeros, longest zero run as `::`. */
function _formatIPv6(groups: readonly number[]): string {
  // Find the longest run of two or more zero groups (the first one on a tie).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

const REJECTED = "which the Kubernetes API rejects for endpoints";

/**
 * An endpoint IP address, normalized (IPv6 lower case, compressed). Refuses what the API server
 * refuses: loopback, link-local, unspecified and multicast addresses.
 */
export function checkAddress(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be an IP address, not ${kindOf(value)}`);
  const text = value.trim();
  const v4 = _parseIPv4(text);
  if (v4 === "leading-zero") {
    return failed(
      `${quote(value)} is ambiguous: IPv4 numbers with leading zeros may be read as octal`,
    );
  }
  if (v4 !== undefined) {
    const [a, b] = v4 as [number, number, number, number];
    if (v4.every((o) => o === 0)) {
      return failed(`${quote(value)} is the unspecified address, ${REJECTED}`);
    }
    if (a === 127) return failed(`${quote(value)} is a loopback address, ${REJECTED}`);
    if (a === 169 && b === 254) {
      return failed(`${quote(value)} is a link-local address, ${REJECTED}`);
    }
    if (a >= 224 && a <= 239) return failed(`${quote(value)} is a multicast address, ${REJECTED}`);
    return passed(v4.join("."));
  }
  const v6 = _parseIPv6(text);
  if (v6 === undefined) return failed(`${quote(value)} is not an IP address`);
  const [g0] = v6 as [number];
  if (v6.every((g) => g === 0)) {
    return failed(`${quote(value)} is the unspecified address, ${REJECTED}`);
  }
  if (v6.slice(0, 7).every((g) => g === 0) && v6[7] === 1) {
    return failed(`${quote(value)} is a loopback address, ${REJECTED}`);
  }
  if ((g0 & 0xffc0) === 0xfe80) {
    return failed(`${quote(value)} is a link-local address, ${REJECTED}`);
  }
  if ((g0 & 0xff00) === 0xff00) {
    return failed(`${quote(value)} is a multicast address, ${REJECTED}`);
  }
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) {
    const v4Text = [v6[6]! >> 8, v6[6]! & 0xff, v6[7]! >> 8, v6[7]! & 0xff].join(".");
    return failed(`${quote(value)} is an IPv4-mapped IPv6 address: write it as '${v4Text}'`);
  }
  return passed(_formatIPv6(v6));
}

/** Reports every target whose (normalized) address repeats an earlier one. */
export function checkDuplicateTargets(
  targets: readonly Located<Target>[],
  issues: IssueList,
): void {
  const seen = new Map<string, string>();
  for (const { value, path } of targets) {
    const first = seen.get(value.address);
    if (first === undefined) seen.set(value.address, path);
    else issues.add(path, `${quote(value.address)} is listed twice: first at ${first}`);
  }
}

/** A zone name (published as `zone` on the endpoint): any non-empty text, trimmed. */
export function checkZone(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be a zone name, not ${kindOf(value)}`);
  return value.trim() === "" ? failed("must not be empty") : passed(value.trim());
}

/** A string, trimmed; its meaning is checked later (a file path, a URL read from the environment). */
export function checkText(value: unknown): Checked<string> {
  return typeof value === "string"
    ? passed(value.trim())
    : failed(`must be text, not ${kindOf(value)}`);
}

/** A webhook URL (Teams or JSON): https, or http to a loopback host (tests). Never echoes the URL. */
export function checkWebhookUrl(value: unknown): Checked<Secret> {
  const message = "must be an https URL";
  if (typeof value !== "string") return failed(`${message}, not ${kindOf(value)}`);
  // The URL parser would percent-encode inner whitespace; a pasted URL never contains any.
  if (/\s/.test(value.trim())) return failed(message);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return failed(message);
  }
  if (url.protocol === "https:" && url.hostname !== "") return passed(new Secret(value.trim()));
  if (url.protocol === "http:" && _isLoopbackHost(url.hostname)) {
    return passed(new Secret(value.trim()));
  }
  return failed(`${message} (http is allowed only for loopback hosts, for tests)`);
}

function _isLoopbackHost(hostname: string): boolean {
  if (hostname === "localhost" || hostname === "[::1]") return true;
  const v4 = _parseIPv4(hostname);
  return Array.isArray(v4) && v4[0] === 127;
}

/** Default {@linkcode closestName} distance: a third of the longer word, at least 1. */
function _maxDistance(a: string, b: string): number {
  return Math.max(1, Math.floor(Math.max(a.length, b.length) / 3));
}

/** Edit distance with adjacent transpositions (optimal string alignment), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from(
    { length: s.length + 1 },
    (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[s.length]![t.length]!;
}

/** The known name closest to a misspelt one, if it is close enough to be a likely typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance <= _maxDistance(name, candidate) && distance < bestDistance) {
      [best, bestDistance] = [candidate, distance];
    }
  }
  return best;
}
