/**
 * The text of a target list: a `file` source's file, a `configmap` source's key. Pure: text in,
 * targets and errors out; reading, watching and deciding what a failure means are the callers'.
 *
 * Two formats:
 * - **text**: addresses separated by spaces, commas or newlines; `#` starts a comment that runs
 *   to the end of the line. The seed's bash-array form `("10.188.2.3" "10.188.2.4")` is read
 *   as `IPS` is (`splitList` of `src/config/env.ts`).
 * - **yaml** (JSON is YAML): a list whose items are an address, or a mapping
 *   `{address, zone, region, hostname}` (`address` required, the others optional text).
 *
 * Without `options.format` the format is sniffed: YAML when the first line that is neither blank
 * nor a comment starts with `-`, `[` or `{` (none of which can start an address, so a text list
 * is never mistaken for YAML), text otherwise.
 *
 * Addresses are checked only for being IP addresses: loopback, link-local and the like are
 * left to the merge (`checkAddress`), which drops them with a per-target reason. A value that
 * is not an IP address at all (a host name, a typo) is an error naming its line or item, so a
 * caller can refuse the whole list and keep its last good one (Prometheus' file_sd rule: "only
 * changes resulting in well-formed target groups are applied").
 *
 * @module
 */

import { isIP } from "node:net";
import { isSeq, LineCounter, parseDocument } from "yaml";
import { splitList } from "../config/env.ts";
import { checkAddress, kindOf, quote } from "../config/validate.ts";
import type { DiscoveredTarget } from "./types.ts";

/** The formats of a target list: see the module documentation. */
export type TargetListFormat = "text" | "yaml";

/** Options of {@linkcode parseTargetList}. */
export interface TargetListOptions {
  /** The format; sniffed from the first meaningful line when not given. */
  readonly format?: TargetListFormat;
}

/** What {@linkcode parseTargetList} found. */
export interface TargetList {
  /** The targets of valid entries, in list order (duplicates kept: the merge drops them). */
  readonly targets: DiscoveredTarget[];
  /** One line per problem, naming where it is and the bad value: `line 3: 'kafka-1' is not an IP address`. */
  readonly errors: string[];
}

/** The keys of a YAML list item given as a mapping. */
export const TARGET_ITEM_KEYS = ["address", "zone", "region", "hostname"] as const;

/**
 * Reads a target list (text or YAML/JSON, see the module documentation). Never throws: every
 * problem is an entry of `errors`; a list with errors should be refused whole by the caller.
 * An empty list (no text, only comments, `[]`) is no targets and no errors.
 */
export function parseTargetList(text: string, options: TargetListOptions = {}): TargetList {
  // Files saved on Windows: a byte order mark and CRLF line ends read like plain text.
  const clean = text.replace(/^\uFEFF/, "").replaceAll("\r\n", "\n");
  const format = options.format ?? sniffTargetListFormat(clean);
  return format === "yaml" ? _parseYaml(clean) : _parseText(clean);
}

/** The format {@linkcode parseTargetList} reads `text` as when none is given. */
export function sniffTargetListFormat(text: string): TargetListFormat {
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    return /^[-[{]/.test(trimmed) ? "yaml" : "text";
  }
  return "text";
}

function _parseText(text: string): TargetList {
  const targets: DiscoveredTarget[] = [];
  const errors: string[] = [];
  const add = (item: string, where: string) => {
    const error = _addressError(item);
    if (error === undefined) targets.push({ address: item });
    else errors.push(`${where}: ${error}`);
  };
  if (text.trim().startsWith("(")) {
    // The seed's bash array, which may span lines and quote its items.
    const items = splitList(text);
    if (!items.ok) return { targets, errors: [`bash array: ${items.message}`] };
    items.value.forEach((item, i) => add(item.trim(), `item ${i + 1}`));
    return { targets, errors };
  }
  for (const [i, line] of text.split("\n").entries()) {
    const hash = line.indexOf("#");
    const content = hash < 0 ? line : line.slice(0, hash);
    for (const item of content.split(/[\s,]+/)) {
      if (item !== "") add(item, `line ${i + 1}`);
    }
  }
  return { targets, errors };
}

function _parseYaml(text: string): TargetList {
  const targets: DiscoveredTarget[] = [];
  const errors: string[] = [];
  const lineCounter = new LineCounter();
  const line = (offset: number | undefined) => lineCounter.linePos(offset ?? 0).line;
  let doc;
  try {
    doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  } catch (error) {
    return { targets, errors: [`syntax error: ${_yamlMessage(error)}`] };
  }
  for (const error of doc.errors) {
    errors.push(`line ${line(error.pos[0])}: syntax error: ${_yamlMessage(error.message)}`);
  }
  if (errors.length > 0) return { targets, errors: [...new Set(errors)] };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    return { targets, errors: [`syntax error: ${_yamlMessage(error)}`] };
  }
  const root = doc.contents;
  if (value === null || value === undefined) return { targets, errors };
  if (!Array.isArray(value) || !isSeq(root)) {
    const at = line(root?.range?.[0]);
    return { targets, errors: [`line ${at}: expected a list of targets, not ${kindOf(value)}`] };
  }
  for (const [i, itemValue] of value.entries()) {
    const node = root.items[i] as { range?: readonly number[] } | null | undefined;
    const item = _item(itemValue);
    if ("target" in item) targets.push(item.target);
    else errors.push(`item ${i + 1} (line ${line(node?.range?.[0])}): ${item.error}`);
  }
  return { targets, errors };
}

/** One YAML list item: an address, or a mapping with `address` and optional topology. */
function _item(value: unknown): { target: DiscoveredTarget } | { error: string } {
  if (typeof value === "string") {
    const address = value.trim();
    const error = _addressError(address);
    return error === undefined ? { target: { address } } : { error };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: `must be an IP address or a mapping with 'address', not ${kindOf(value)}` };
  }
  const fields = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(fields)) {
    if (!(TARGET_ITEM_KEYS as readonly string[]).includes(key)) {
      problems.push(`unknown key ${quote(key)}: use ${TARGET_ITEM_KEYS.join(", ")}`);
    }
  }
  if (fields.address === undefined) problems.push("'address' is required");
  const address = typeof fields.address === "string" ? fields.address.trim() : fields.address;
  const addressError = address === undefined ? undefined : _addressError(address);
  if (addressError !== undefined) problems.push(`address: ${addressError}`);
  const target: { -readonly [K in keyof DiscoveredTarget]: DiscoveredTarget[K] } = {
    address: address as string,
  };
  for (const key of ["zone", "region", "hostname"] as const) {
    const field = fields[key];
    if (field === undefined || field === null) continue;
    if (typeof field !== "string" || field.trim() === "") {
      problems.push(`${key}: must be non-empty text, not ${quote(field)}`);
    } else {
      target[key] = field.trim();
    }
  }
  return problems.length > 0 ? { error: problems.join("; ") } : { target };
}

/**
 * Why `value` is not an IP address, or undefined when it is one. Loopback, link-local and such
 * addresses pass (the merge drops them with its own reason); an ambiguous `010.1.1.1` does not.
 */
function _addressError(value: unknown): string | undefined {
  const checked = checkAddress(value);
  if (checked.ok || (typeof value === "string" && isIP(value) !== 0)) return undefined;
  return checked.message;
}

/** A YAML parser message: lower-case start, never a URL from the input. */
function _yamlMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const clean = message.replace(/[a-z][a-z0-9+.-]*:\/\/\S*/gi, "<redacted>").trim();
  return /^[A-Z][a-z]/.test(clean) ? clean[0]!.toLowerCase() + clean.slice(1) : clean;
}
