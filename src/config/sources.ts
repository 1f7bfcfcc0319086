/**
 * Reads a Service's target sources (`ServiceConfig.sources`, issue 12) and their shrink guard
 * from either format: the `sources` list and `sourceGuard` block of the structured file, or the
 * seed variables `DNS_NAMES`, `NODE_SELECTOR` and `TARGETS_FILE` (one source of each kind).
 * Every option is checked against its source's `type`: one that does not apply, or a required
 * one missing, is an issue at its path.
 *
 * @module
 */

import { isAbsolute, join } from "node:path";
import type { SourceType } from "./choices.ts";
import type { IssueList } from "./issues.ts";
import { type Option, SOURCE_GUARD_OPTIONS, SOURCE_OPTIONS, STRUCTURED_KEYS } from "./options.ts";
import type { SourceConfig, SourceGuardSettings } from "./schema.ts";
import { closestName, kindOf } from "./validate.ts";

/** Options given for one source, by name, each with the field path or variable it came from. */
type Given = Record<string, { readonly value: unknown; readonly path: string }>;

/** For each type: the options that apply, and which of them are required (with why). */
const FIELDS: Readonly<
  Record<
    SourceType,
    { readonly allowed: readonly string[]; readonly required: Record<string, string> }
  >
> = {
  dns: {
    allowed: ["names", "record", "nameserver", "interval", "honorTtl", "timeout"],
    required: { names: "the DNS names to resolve" },
  },
  nodes: {
    allowed: ["labelSelector", "addressType", "skipUnschedulable", "cluster"],
    required: {},
  },
  pods: { allowed: ["namespace", "labelSelector", "readyOnly", "cluster"], required: {} },
  endpointslices: {
    allowed: ["namespace", "service", "readyOnly", "cluster"],
    required: { service: "the Service whose endpoints become targets" },
  },
  configmap: {
    allowed: ["namespace", "name", "key", "cluster"],
    required: { name: "the ConfigMap's name", key: "the key holding the list" },
  },
  file: { allowed: ["path", "interval"], required: { path: "the file listing the targets" } },
};

/** `interval` when not given: a DNS answer is asked for again sooner than a file is re-read. */
const DEFAULT_INTERVAL: Readonly<Record<"dns" | "file", number>> = {
  dns: 30_000,
  file: 300_000,
};

/** The settings of the shrink guard when nothing is configured. */
export const SOURCE_GUARD_DEFAULTS: SourceGuardSettings = {
  maxDrop: SOURCE_GUARD_OPTIONS.maxDrop.default! / 100,
  hold: SOURCE_GUARD_OPTIONS.hold.default!,
};

/** Where a source's relative names resolve and what it defaults to. */
export interface SourceContext {
  /** The Service's namespace: the default of `namespace`. */
  readonly namespace: string;
  /** Relative `path`s are relative to this directory (the configuration file's). */
  readonly baseDir: string;
  /** Where the issues go. */
  readonly issues: IssueList;
}

/**
 * One source from its type and given options, with the defaults of its type applied;
 * `undefined` when an option does not apply or a required one is missing (reported).
 */
function buildSource(
  type: SourceType,
  at: string,
  given: Given,
  ctx: SourceContext,
): SourceConfig | undefined {
  const { allowed, required } = FIELDS[type];
  let valid = true;
  for (const [name, { path }] of Object.entries(given)) {
    if (allowed.includes(name)) continue;
    const types = Object.entries(FIELDS).filter(([, f]) => f.allowed.includes(name)).map(([t]) =>
      t
    );
    ctx.issues.add(
      path,
      `does not apply to a '${type}' source: it is an option of ${types.join(", ")} sources`,
    );
    valid = false;
  }
  for (const [name, why] of Object.entries(required)) {
    if (given[name] !== undefined) continue;
    ctx.issues.add(`${at}.${name}`, `required for a '${type}' source: ${why}`);
    valid = false;
  }
  if (!valid) return undefined;
  const value = <T>(name: keyof typeof SOURCE_OPTIONS, fallback?: T): T =>
    (given[name]?.value ?? SOURCE_OPTIONS[name].default ?? fallback) as T;
  const cluster = given.cluster ? { cluster: given.cluster.value as string } : {};
  switch (type) {
    case "dns":
      return {
        type,
        names: value("names"),
        record: value("record"),
        interval: value("interval", DEFAULT_INTERVAL.dns),
        honorTtl: value("honorTtl"),
        ...(given.nameserver ? { nameserver: given.nameserver.value as string } : {}),
        timeout: value("timeout"),
      };
    case "nodes": {
      const selector = value<string | undefined>("labelSelector");
      return {
        type,
        ...(selector ? { labelSelector: selector } : {}),
        addressType: value("addressType"),
        skipUnschedulable: value("skipUnschedulable"),
        ...cluster,
      };
    }
    case "pods": {
      const selector = value<string | undefined>("labelSelector");
      return {
        type,
        namespace: value("namespace", ctx.namespace),
        ...(selector ? { labelSelector: selector } : {}),
        readyOnly: value("readyOnly"),
        ...cluster,
      };
    }
    case "endpointslices":
      return {
        type,
        namespace: value("namespace", ctx.namespace),
        service: value("service"),
        readyOnly: value("readyOnly"),
        ...cluster,
      };
    case "configmap":
      return {
        type,
        namespace: value("namespace", ctx.namespace),
        name: value("name"),
        key: value("key"),
        ...cluster,
      };
    case "file": {
      const path = value<string>("path");
      return {
        type,
        path: isAbsolute(path) ? path : join(ctx.baseDir, path),
        interval: value("interval", DEFAULT_INTERVAL.file),
      };
    }
  }
}

/** Checks one raw option value under `path`; `undefined` when invalid (reported). */
function parseGiven(
  option: Option<unknown>,
  raw: unknown,
  path: string,
  options: { issues: IssueList; source: "env" | "file" },
): { value: unknown; path: string } | undefined {
  const value = options.issues.take(path, option.parse(raw, options.source));
  return value === undefined ? undefined : { value, path };
}

/** A list option (`names`) item by item under `path[i]`; `undefined` when any is invalid. */
function parseList(
  option: Option<unknown>,
  items: readonly unknown[],
  path: string,
  options: { issues: IssueList; source: "env" | "file" },
): { value: unknown; path: string } | undefined {
  if (items.length === 0) {
    options.issues.add(path, "at least one is required");
    return undefined;
  }
  const values: unknown[] = [];
  for (const [i, item] of items.entries()) {
    const parsed = parseGiven(option, item, `${path}[${i}]`, options);
    if (parsed === undefined) return undefined;
    if (!values.includes(parsed.value)) values.push(parsed.value);
  }
  return { value: values, path };
}

/**
 * The `sources` list of one service of the structured file (its mapping at `path`);
 * `undefined` when it has none, `null` when something was wrong (reported).
 */
export function readFileSources(
  service: Readonly<Record<string, unknown>>,
  path: string,
  ctx: SourceContext,
): readonly SourceConfig[] | undefined | null {
  const { issues } = ctx;
  const raw = service.sources;
  if (raw === undefined || raw === null) return undefined;
  const listPath = `${path}.sources`;
  if (!Array.isArray(raw)) {
    issues.add(listPath, `must be a list of sources, not ${kindOf(raw)}`);
    return null;
  }
  if (raw.length === 0) {
    issues.add(listPath, "at least one source is required (or leave sources out)");
    return null;
  }
  const before = issues.issues.length;
  const sources: SourceConfig[] = [];
  for (const [i, item] of raw.entries()) {
    const at = `${listPath}[${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      issues.add(
        at,
        `must be a mapping (keys type, names, labelSelector, ...), not ${kindOf(item)}`,
      );
      continue;
    }
    const block = item as Record<string, unknown>;
    const given: Given = {};
    let complete = true;
    for (const [key, value] of Object.entries(block)) {
      if (!STRUCTURED_KEYS.source.includes(key)) {
        const suggestion = closestName(key, STRUCTURED_KEYS.source);
        issues.add(
          `${at}.${key}`,
          suggestion === undefined
            ? `unknown key: allowed ${STRUCTURED_KEYS.source.join(", ")}`
            : `unknown key: did you mean '${suggestion}'?`,
        );
        complete = false;
        continue;
      }
      if (key === "type" || value === undefined || value === null) continue;
      const option = SOURCE_OPTIONS[key as keyof typeof SOURCE_OPTIONS] as Option<unknown>;
      const options = { issues, source: "file" as const };
      const parsed = key === "names"
        ? parseList(option, Array.isArray(value) ? value : [value], `${at}.${key}`, options)
        : parseGiven(option, value, `${at}.${key}`, options);
      if (parsed === undefined) complete = false;
      else given[key] = parsed;
    }
    const type = block.type === undefined || block.type === null
      ? issues.add(`${at}.type`, `required: one of ${FIELD_TYPES}`)
      : issues.take(`${at}.type`, SOURCE_OPTIONS.type.parse(block.type, "file"));
    if (type === undefined || !complete) continue;
    const source = buildSource(type, at, given, ctx);
    if (source !== undefined) sources.push(source);
  }
  checkDuplicateSources(sources, listPath, issues);
  return issues.issues.length > before ? null : sources;
}

const FIELD_TYPES = Object.keys(FIELDS).join(", ");

/** Two sources that are the same source would only double the work. */
function checkDuplicateSources(
  sources: readonly SourceConfig[],
  path: string,
  issues: IssueList,
): void {
  const seen = new Map<string, number>();
  sources.forEach((source, i) => {
    const key = JSON.stringify(source);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else issues.add(`${path}[${i}]`, `is the same source as ${path}[${first}]`);
  });
}

/** The `sourceGuard` block of a service (`undefined` block → the defaults). */
export function readFileSourceGuard(
  value: unknown,
  path: string,
  issues: IssueList,
): SourceGuardSettings | undefined {
  if (value === undefined || value === null) return SOURCE_GUARD_DEFAULTS;
  if (typeof value !== "object" || Array.isArray(value)) {
    return issues.add(path, `must be a mapping (keys maxDrop, hold), not ${kindOf(value)}`);
  }
  const block = value as Record<string, unknown>;
  let valid = true;
  for (const key of Object.keys(block)) {
    if (STRUCTURED_KEYS.sourceGuard.includes(key)) continue;
    issues.add(`${path}.${key}`, `unknown key: allowed ${STRUCTURED_KEYS.sourceGuard.join(", ")}`);
    valid = false;
  }
  const read = (name: "maxDrop" | "hold"): number | undefined => {
    const raw = block[name];
    if (raw === undefined || raw === null) return SOURCE_GUARD_DEFAULTS[name];
    const value = issues.take(
      `${path}.${name}`,
      (SOURCE_GUARD_OPTIONS[name] as Option<number>).parse(raw, "file"),
    );
    if (value === undefined) valid = false;
    return name === "maxDrop" && value !== undefined ? value / 100 : value;
  };
  const maxDrop = read("maxDrop");
  const hold = read("hold");
  return valid && maxDrop !== undefined && hold !== undefined ? { maxDrop, hold } : undefined;
}

/** Options of {@linkcode readEnvSources}. */
export interface EnvSourcesOptions extends SourceContext {
  /** A variable's raw value: text, a `config.env` array, or `undefined` when unset or empty. */
  readonly raw: (name: string) => string | readonly string[] | undefined;
  /** Splits one variable's text into items (`IPS`'s rules). */
  readonly split: (name: string, text: string) => readonly string[] | undefined;
}

/**
 * The seed format's sources: a `dns` source when `DNS_NAMES` is set, a `nodes` source when
 * `NODE_SELECTOR` is (`*` = every Node), a `file` source when `TARGETS_FILE` is. Options of a
 * kind whose switch is off are reported, not ignored. `undefined` when none is set, `null`
 * when something was wrong (reported).
 */
export function readEnvSources(
  options: EnvSourcesOptions,
): readonly SourceConfig[] | undefined | null {
  const { issues, raw } = options;
  const before = issues.issues.length;
  const text = (name: string): string | undefined => {
    const value = raw(name);
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      issues.add(name, "must be a single value, not an array");
      return undefined;
    }
    return value.trim() === "" ? undefined : value.trim();
  };
  const sourceOptions = { issues, source: "env" as const };
  const read = (name: keyof typeof SOURCE_OPTIONS) => {
    const option = SOURCE_OPTIONS[name] as Option<unknown>;
    const value = option.env === undefined ? undefined : text(option.env);
    return value === undefined ? undefined : parseGiven(option, value, option.env!, sourceOptions);
  };
  const sources: SourceConfig[] = [];
  const NAMES = SOURCE_OPTIONS.names.env!;
  const SELECTOR = SOURCE_OPTIONS.labelSelector.env!;
  const FILE = SOURCE_OPTIONS.path.env!;
  const dnsNames = raw(NAMES);
  const dnsOptions = ["record", "nameserver", "interval"] as const;
  if (dnsNames !== undefined) {
    const items = typeof dnsNames === "string" ? options.split(NAMES, dnsNames) : dnsNames;
    const names = items &&
      parseList(
        SOURCE_OPTIONS.names as Option<unknown>,
        items,
        NAMES,
        sourceOptions,
      );
    const given: Given = {};
    if (names) given.names = names;
    for (const name of dnsOptions) {
      const value = read(name);
      if (value) given[name] = value;
    }
    if (names) {
      const source = buildSource("dns", NAMES, given, options);
      if (source) sources.push(source);
    }
  } else {
    for (const name of dnsOptions) unused(name, NAMES, text, issues);
  }
  const selector = text(SELECTOR);
  if (selector !== undefined) {
    const given: Given = {};
    if (selector !== "*") {
      const parsed = read("labelSelector");
      if (parsed) given.labelSelector = parsed;
    }
    const address = read("addressType");
    if (address) given.addressType = address;
    if (selector === "*" || given.labelSelector) {
      const source = buildSource("nodes", SELECTOR, given, options);
      if (source) sources.push(source);
    }
  } else {
    unused("addressType", SELECTOR, text, issues);
  }
  const file = read("path");
  if (file) {
    const source = buildSource("file", FILE, { path: file }, options);
    if (source) sources.push(source);
  }
  if (issues.issues.length > before) return null;
  return sources.length === 0 ? undefined : sources;
}

/** An option of a seed source whose switch variable is not set: a mistake worth saying. */
function unused(
  name: keyof typeof SOURCE_OPTIONS,
  switchVariable: string,
  text: (name: string) => string | undefined,
  issues: IssueList,
): void {
  const variable = SOURCE_OPTIONS[name].env;
  if (variable !== undefined && text(variable) !== undefined) {
    issues.add(variable, `has no effect without ${switchVariable}`);
  }
}

/** The seed format's shrink guard, from `SOURCE_MAX_DROP` and `SOURCE_HOLD`. */
export function readEnvSourceGuard(
  read: (option: Option<number>) => number | undefined,
): SourceGuardSettings {
  const maxDrop = read(SOURCE_GUARD_OPTIONS.maxDrop);
  const hold = read(SOURCE_GUARD_OPTIONS.hold);
  return {
    maxDrop: maxDrop === undefined ? SOURCE_GUARD_DEFAULTS.maxDrop : maxDrop / 100,
    hold: hold ?? SOURCE_GUARD_DEFAULTS.hold,
  };
}
