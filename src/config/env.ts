/**
 * The seed format: the `config.env` of the original HELASEID ConfigMap (bash-like `KEY=value`
 * lines and arrays) and the same variables in the process environment, which override the file.
 * It describes exactly one Service. Which variables exist, how each is checked and what it
 * defaults to comes from the option table (`options.ts`).
 *
 * @module
 */

import {
  type Checked,
  type ConfigIssue,
  failed,
  IssueList,
  type Located,
  passed,
} from "./issues.ts";
import {
  ALERT_OPTIONS,
  type GivenOptions,
  GLOBAL_OPTIONS,
  GLOBAL_VARIABLES,
  type Option,
  type OptionBlock,
  type Options,
  type OptionValues,
  PORT_OPTIONS,
  PROBE_OPTIONS,
  PUBLISH_OPTIONS,
  SEED_SERVICE_VARIABLES,
  SEED_VARIABLES,
  SERVICE_OPTIONS,
  TEAMS_OPTIONS,
  WEBHOOK_OPTIONS,
} from "./options.ts";
import type {
  AlertOptions,
  ClusterConfig,
  GlobalSettings,
  ParsedConfig,
  SecretSource,
  ServiceConfig,
  Target,
} from "./schema.ts";
import { dirname } from "node:path";
import { readEnvChecks } from "./probe_checks.ts";
import { readEnvSourceGuard, readEnvSources } from "./sources.ts";
import { checkDuplicateTargets, closestName, quote } from "./validate.ts";

export { GLOBAL_VARIABLES, SEED_SERVICE_VARIABLES, SEED_VARIABLES } from "./options.ts";

/** The two variables of each webhook: the URL itself, or a file holding it (a mounted Secret). */
const WEBHOOK_VARIABLES = {
  teams: { url: TEAMS_OPTIONS.url.env!, file: TEAMS_OPTIONS.urlFile.env! },
  webhook: { url: WEBHOOK_OPTIONS.url.env!, file: WEBHOOK_OPTIONS.urlFile.env! },
} as const;

/** The process environment, as `Deno.env.toObject()` returns it. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** One assignment read from a `config.env` file. */
export interface EnvEntry {
  /** A scalar, or the items of a bash array `("a" "b")`. */
  readonly value: string | readonly string[];
  /** Line of the assignment, 1-based. */
  readonly line: number;
}

/** A parsed `config.env` file. */
export interface EnvFile {
  /** Every assignment; a key set twice keeps its last value, as in bash. */
  readonly entries: ReadonlyMap<string, EnvEntry>;
  /** Syntax errors, with `file:line` as path. */
  readonly issues: readonly ConfigIssue[];
  /** Keys set more than once. */
  readonly warnings: readonly string[];
}

/** Options of {@linkcode parseEnvFile}. */
export interface EnvFileOptions {
  /** Name of the file in messages (default `config.env`). */
  readonly source?: string;
}

interface _Scanner {
  readonly text: string;
  i: number;
  line: number;
}

type _Read<T> = { value: T } | { error: string; fatal?: boolean };

const ASSIGNMENT = /(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*/y;

/**
 * Parses `config.env` text the way bash would read the seed's ConfigMap: `KEY=value`,
 * `KEY="v"`, `KEY='v'`, `export KEY=v`, comments, and arrays that may span lines. Variables are
 * not expanded; unquoted values run to the end of the line or to a ` #` comment.
 */
export function parseEnvFile(input: string, options: EnvFileOptions = {}): EnvFile {
  const source = options.source ?? "config.env";
  // Files saved on Windows: a UTF-8 byte order mark and CRLF line ends read like plain LF text.
  const text = input.replace(/^\uFEFF/, "").replaceAll("\r\n", "\n");
  const s: _Scanner = { text, i: 0, line: 1 };
  const entries = new Map<string, EnvEntry>();
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  // One assignment (or blank line, or comment) per iteration; a syntax error skips its line,
  // an unterminated quote or array ends the file.
  while (s.i < text.length) {
    _skipBlanks(s);
    const c = text[s.i];
    if (c === undefined) break;
    if (c === "\n") {
      s.i++;
      s.line++;
      continue;
    }
    if (c === "#") {
      _skipToEol(s);
      continue;
    }
    const line = s.line;
    const read = _readAssignment(s);
    if ("error" in read) {
      issues.push({ path: `${source}:${line}`, message: read.error });
      if (read.fatal) break;
      _skipToEol(s);
      continue;
    }
    const [key, value] = read.value;
    if (entries.has(key)) {
      warnings.push(`${source}:${line}: '${key}' is set more than once: the last value wins`);
    }
    entries.set(key, { value, line });
  }
  return { entries, issues, warnings };
}

function _readAssignment(s: _Scanner): _Read<[string, string | readonly string[]]> {
  ASSIGNMENT.lastIndex = s.i;
  const match = ASSIGNMENT.exec(s.text);
  if (match === null) return { error: "expected KEY=value" };
  s.i = ASSIGNMENT.lastIndex;
  const key = match[1]!;
  let value: string | readonly string[];
  const c = s.text[s.i];
  if (c === "(") {
    const array = _readArray(s);
    if ("error" in array) return array;
    value = array.value;
  } else if (c === '"' || c === "'") {
    const word = _readWord(s, "");
    if ("error" in word) return word;
    value = word.value;
  } else {
    // Unquoted: the rest of the line, up to a comment that follows whitespace.
    const end = s.text.indexOf("\n", s.i);
    const rest = s.text.slice(s.i, end < 0 ? s.text.length : end);
    const comment = rest.search(/[ \t]#/);
    value = (comment < 0 ? rest : rest.slice(0, comment)).trim();
    s.i += rest.length;
    return { value: [key, value] };
  }
  _skipBlanks(s);
  if (s.text[s.i] === "#") _skipToEol(s);
  const next = s.text[s.i];
  if (next !== undefined && next !== "\n") {
    return { error: `unexpected text after the value of '${key}'` };
  }
  return { value: [key, value] };
}

/** A bash array `( word word ... )`, spanning lines, with `#` comments between words. */
function _readArray(s: _Scanner): _Read<string[]> {
  const startLine = s.line;
  s.i++; // "("
  const items: string[] = [];
  for (;;) {
    const c = s.text[s.i];
    if (c === undefined) {
      return {
        error: `unterminated array starting on line ${startLine}: missing ')'`,
        fatal: true,
      };
    }
    if (c === ")") {
      s.i++;
      return { value: items };
    }
    if (c === "\n") {
      s.line++;
      s.i++;
    } else if (c === " " || c === "\t" || c === "\r") {
      s.i++;
    } else if (c === "#") {
      _skipToEol(s);
    } else {
      const word = _readWord(s, "()");
      if ("error" in word) return word;
      items.push(word.value);
    }
  }
}

/** One shell word: unquoted, `"..."` and `'...'` segments up to whitespace or a stop char. */
function _readWord(s: _Scanner, stops: string): _Read<string> {
  let out = "";
  for (;;) {
    const c = s.text[s.i];
    if (c === undefined || c === " " || c === "\t" || c === "\n" || c === "\r") break;
    if (stops.includes(c)) break;
    if (c === "'") {
      const startLine = s.line;
      const end = s.text.indexOf("'", s.i + 1);
      if (end < 0) {
        return { error: `unterminated single quote starting on line ${startLine}`, fatal: true };
      }
      const segment = s.text.slice(s.i + 1, end);
      s.line += segment.split("\n").length - 1;
      out += segment;
      s.i = end + 1;
    } else if (c === '"') {
      const segment = _readDoubleQuoted(s);
      if ("error" in segment) return segment;
      out += segment.value;
    } else if (c === "\\" && s.i + 1 < s.text.length) {
      out += s.text[s.i + 1];
      s.i += 2;
    } else {
      out += c;
      s.i++;
    }
  }
  return { value: out };
}

/** A `"..."` segment: `\"`, `\\`, `\$` and `` \` `` are escapes, backslash-newline joins lines. */
function _readDoubleQuoted(s: _Scanner): _Read<string> {
  const startLine = s.line;
  let out = "";
  s.i++; // opening quote
  for (;;) {
    const c = s.text[s.i];
    if (c === undefined) {
      return { error: `unterminated double quote starting on line ${startLine}`, fatal: true };
    }
    s.i++;
    if (c === '"') return { value: out };
    if (c === "\n") s.line++;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = s.text[s.i];
    if (next === "\n") {
      s.line++;
      s.i++;
    } else if (next !== undefined && '"\\$`'.includes(next)) {
      out += next;
      s.i++;
    } else {
      out += c;
    }
  }
}

function _skipBlanks(s: _Scanner): void {
  while (s.text[s.i] === " " || s.text[s.i] === "\t" || s.text[s.i] === "\r") s.i++;
}

function _skipToEol(s: _Scanner): void {
  const end = s.text.indexOf("\n", s.i);
  s.i = end < 0 ? s.text.length : end;
}

/**
 * The items of an `IPS` value given as one string: bash-array text `("a" "b")`, or addresses
 * separated by spaces and/or commas (`docker run -e IPS="10.188.2.3 10.188.2.4"`).
 */
export function splitList(text: string): Checked<string[]> {
  const trimmed = text.trim();
  if (trimmed.startsWith("(")) {
    const s: _Scanner = { text: trimmed, i: 0, line: 1 };
    const array = _readArray(s);
    if ("error" in array) return failed("unterminated array: missing ')'");
    _skipBlanks(s);
    if (s.i < trimmed.length) return failed("unexpected text after the closing ')'");
    return passed(array.value);
  }
  return passed(trimmed.split(/[\s,]+/).filter((item) => item !== ""));
}

/** Options of {@linkcode parseSeedConfig}. */
export interface SeedOptions {
  /** The process environment; known variables override the file's. */
  readonly env: Environment;
  /** Text of a `config.env` file, if there is one. */
  readonly text?: string;
  /** Name of that file in messages (default `config.env`). */
  readonly source?: string;
  /** Namespace when `NAMESPACE` is not set (default "default"). */
  readonly defaultNamespace?: string;
}

type _Vars = ReadonlyMap<string, string | readonly string[]>;

/** Merged variables and where their issues and notes go. */
interface _Input {
  readonly vars: _Vars;
  readonly issues: IssueList;
  readonly notes: string[];
  /** Relative `TARGETS_FILE` paths are relative to this directory (the `config.env`'s). */
  readonly baseDir?: string;
}

/** Builds the one-service configuration of the seed format from a `config.env` and the environment. */
export function parseSeedConfig(options: SeedOptions): ParsedConfig {
  const source = options.source ?? "config.env";
  const issues = new IssueList();
  const notes: string[] = [];
  const warnings: string[] = [];
  const fileVars = new Map<string, string | readonly string[]>();
  if (options.text !== undefined) {
    const file = parseEnvFile(options.text, { source });
    issues.addAll(file.issues);
    warnings.push(...file.warnings);
    for (const [key, entry] of file.entries) {
      if (SEED_VARIABLES.includes(key)) {
        fileVars.set(key, entry.value);
        continue;
      }
      const suggestion = closestName(key, SEED_VARIABLES);
      warnings.push(
        `unknown variable '${key}' in ${source}: ` +
          (suggestion === undefined ? "ignored" : `did you mean '${suggestion}'?`),
      );
    }
  }
  const envVars = _knownEnv(options.env, SEED_VARIABLES);
  const vars: _Vars = new Map([...fileVars, ...envVars]);
  const input = {
    vars,
    issues,
    notes,
    baseDir: options.text === undefined ? "." : dirname(source),
  };

  const clusters = _seedClusters(input);
  const seeded = _seedService(input, { defaultNamespace: options.defaultNamespace });
  const service = seeded && clusters
    ? { ...seeded, clusters: clusters.map((cluster) => cluster.name) }
    : seeded;
  const globals = _values(_readGiven(input, GLOBAL_OPTIONS));
  // The environment's webhook variables replace the file's as a pair, so that the environment
  // can switch from a URL to a URL file without an ambiguity error.
  const layerOf = (names: { url: string; file: string }) =>
    envVars.has(names.url) || envVars.has(names.file) ? envVars : fileVars;
  const teams = _secretSource(
    { ...input, vars: layerOf(WEBHOOK_VARIABLES.teams) },
    WEBHOOK_VARIABLES.teams,
  );
  const webhook = _secretSource(
    { ...input, vars: layerOf(WEBHOOK_VARIABLES.webhook) },
    WEBHOOK_VARIABLES.webhook,
  );
  return {
    format: "env",
    services: service === undefined || issues.issues.length > 0 ? [] : [service],
    ...(clusters ? { clusters } : {}),
    ...globals,
    teams,
    webhook,
    alerts: _alertOptions(input),
    issues: issues.issues,
    warnings,
    notes,
  };
}

/** What the environment contributes next to a structured file. */
export interface EnvOverrides extends GlobalSettings {
  /** From `TEAMS_WEBHOOK_URL` or `TEAMS_WEBHOOK_URL_FILE`. */
  readonly teams?: SecretSource;
  /** From `WEBHOOK_URL` or `WEBHOOK_URL_FILE`. */
  readonly webhook?: SecretSource;
  /** From `TEAMS_CARD_SHAPE` and the variables of `ALERT_OPTIONS`. */
  readonly alerts: AlertOptions;
  /** Seed service variables that are set and therefore ignored. */
  readonly ignored: readonly string[];
  /** Problems with the variables, each under its variable's name. */
  readonly issues: readonly ConfigIssue[];
  /** Values accepted under another spelling. */
  readonly notes: readonly string[];
}

/** Reads the variables that override a structured file: `LOG_LEVEL`, webhooks and alerting. */
export function readEnvOverrides(env: Environment): EnvOverrides {
  const input = { vars: _knownEnv(env, GLOBAL_VARIABLES), issues: new IssueList(), notes: [] };
  const ignored = SEED_SERVICE_VARIABLES.filter((key) => (env[key] ?? "").trim() !== "");
  return {
    ..._values(_readGiven(input, GLOBAL_OPTIONS)),
    teams: _secretSource(input, WEBHOOK_VARIABLES.teams),
    webhook: _secretSource(input, WEBHOOK_VARIABLES.webhook),
    alerts: _alertOptions(input),
    ignored,
    issues: input.issues.issues,
    notes: input.notes,
  };
}

/** The known variables of the environment that are set and not empty. */
function _knownEnv(env: Environment, known: readonly string[]): Map<string, string> {
  const vars = new Map<string, string>();
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value.trim() !== "") vars.set(key, value);
  }
  return vars;
}

/** A variable's single value; `undefined` when unset, empty, or an array (reported). */
function _scalar(input: _Input, key: string): string | undefined {
  const { vars, issues } = input;
  const value = vars.get(key);
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    return value.length === 0 ? undefined : issues.add(key, "must be a single value, not an array");
  }
  return value.trim() === "" ? undefined : value.trim();
}

/** The checked value of an option's variable; `undefined` when unset or invalid (reported). */
function _readOption<T>(input: _Input, option: Option<T>, block: OptionBlock): T | undefined {
  const key = option.env;
  const text = key === undefined ? undefined : _scalar(input, key);
  if (key === undefined || text === undefined) return undefined;
  const value = input.issues.take(key, option.parse(text, "env"));
  if (value === undefined) return undefined;
  const note = option.note?.(text, value, "env");
  if (note !== undefined) input.notes.push(`${key}: ${note}`);
  return option.fits === undefined ? value : input.issues.take(key, option.fits(value, block));
}

/** The options of a block that are set, each with its variable as path; defaults stay implicit. */
function _readGiven<G extends Options>(
  input: _Input,
  options: G,
): GivenOptions<G> {
  const given: Record<string, Located<unknown>> = {};
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(options)) {
    const value = _readOption(input, option, values);
    if (value === undefined) continue;
    values[name] = value;
    given[name] = { value, path: option.env! };
  }
  return given as GivenOptions<G>;
}

/** The values of what {@linkcode _readGiven} read, without their paths. */
function _values<G extends Options>(
  given: GivenOptions<G>,
): Partial<OptionValues<G>> {
  const values: Record<string, unknown> = {};
  for (const [name, located] of Object.entries(given)) values[name] = located!.value;
  return values as Partial<OptionValues<G>>;
}

/**
 * Every option of a block, from its variable or else its default (the seed's own where it has
 * one); `given` supplies options without a variable. `undefined` when any is invalid or missing.
 */
function _readAll<G extends Options>(
  input: _Input,
  options: G,
  given: Partial<Record<keyof G, unknown>> = {},
): OptionValues<G> | undefined {
  const values: Record<string, unknown> = {};
  let complete = true;
  for (const [name, option] of Object.entries(options)) {
    const set = option.env !== undefined && _scalar(input, option.env) !== undefined;
    const value = set
      ? _readOption(input, option, values)
      : given[name] ?? option.seedDefault ?? option.default ?? option.derive?.(values);
    // An optional option stays absent unless its variable is set (and valid).
    if (value === undefined && (set || !option.optional)) complete = false;
    if (value !== undefined) values[name] = value;
  }
  return complete ? values as OptionValues<G> : undefined;
}

/** A webhook URL given as `names.url` or `names.file`; both set is ambiguous. */
function _secretSource(
  input: _Input,
  names: { readonly url: string; readonly file: string },
): SecretSource | undefined {
  const { issues } = input;
  const url = _scalar(input, names.url);
  const file = _scalar(input, names.file);
  if (url !== undefined && file !== undefined) {
    return issues.add(names.file, `ambiguous: ${names.url} is set too: set only one of them`);
  }
  if (url !== undefined) return { kind: "url", url, path: names.url };
  if (file !== undefined) return { kind: "file", file, path: names.file };
  return undefined;
}

/** The alert delivery variables that are set: the Teams card shape and `ALERT_OPTIONS`. */
function _alertOptions(input: _Input): AlertOptions {
  const { shape } = _readGiven(input, { shape: TEAMS_OPTIONS.shape });
  return { ...(shape === undefined ? {} : { shape }), ..._readGiven(input, ALERT_OPTIONS) };
}

/** The one Service of the seed format, or `undefined` when something is missing or invalid. */
function _seedService(
  input: _Input,
  options: { defaultNamespace?: string },
): ServiceConfig | undefined {
  const { vars, issues } = input;
  const required = <T>(option: Option<T>, why: string): T | undefined => {
    const key = option.env!;
    const value = vars.get(key);
    const text = _scalar(input, key);
    // A non-empty array was reported by `_scalar` already.
    const reported = typeof value === "object" && value.length > 0;
    if (text === undefined && !reported) issues.add(key, `required: ${why}`);
    return text === undefined ? undefined : _readOption(input, option, {});
  };
  const optional = <T>(option: Option<T>, fallback: T | undefined): T | undefined =>
    _scalar(input, option.env!) === undefined ? fallback : _readOption(input, option, {});

  const name = required(
    SERVICE_OPTIONS.name,
    "the name of the Service whose endpoints HELASEID keeps",
  );
  const namespace = optional(
    SERVICE_OPTIONS.namespace,
    options.defaultNamespace ?? SERVICE_OPTIONS.namespace.default,
  );
  const port = required(PORT_OPTIONS.port, "the port to check and publish, such as PORT=9092");
  const portName = optional(PORT_OPTIONS.name, PORT_OPTIONS.name.default);
  const protocol = optional(PORT_OPTIONS.protocol, PORT_OPTIONS.protocol.default);
  const sources = readEnvSources({
    namespace: namespace ?? SERVICE_OPTIONS.namespace.default!,
    baseDir: input.baseDir ?? ".",
    issues,
    raw: (key) => {
      const value = vars.get(key);
      return typeof value === "string" && value.trim() === "" ? undefined : value;
    },
    split: (key, text) => issues.take(key, splitList(text)),
  });
  // With sources, IPS may be left out: the sources give the targets.
  const targets = sources && input.vars.get(SERVICE_OPTIONS.targets.env!) === undefined
    ? []
    : _seedTargets(input);
  const sourceGuard = sources
    ? readEnvSourceGuard((option) => _readOption(input, option, {}))
    : undefined;
  const probe = _readAll(input, PROBE_OPTIONS, { port });
  const checks = readEnvChecks({
    ...(probe === undefined ? {} : { type: probe.type, port: probe.port }),
    portGiven: _scalar(input, PROBE_OPTIONS.port.env!) !== undefined,
    issues,
    read: (option) => _readOption(input, option, {}),
  });
  const publish = _readAll(input, PUBLISH_OPTIONS);

  if (
    name === undefined || namespace === undefined || port === undefined ||
    portName === undefined || protocol === undefined || targets === undefined ||
    probe === undefined || publish === undefined || checks === null || sources === null
  ) {
    return undefined;
  }
  return {
    name,
    namespace,
    ports: [{ name: portName, port, protocol }],
    targets,
    ...(sources ? { sources, sourceGuard } : {}),
    probe,
    ...(checks === undefined ? {} : { checks }),
    publish,
  };
}

/** The name of the default cluster next to `EXTRA_CONTEXTS`. */
export const DEFAULT_CLUSTER = "default";

/**
 * `EXTRA_CONTEXTS`: the default cluster and one more per context of the kubeconfig (issue 14),
 * the Service published into all of them; `undefined` when unset or invalid (reported).
 */
function _seedClusters(input: _Input): ClusterConfig[] | undefined {
  const key = SERVICE_OPTIONS.clusters.env!;
  const value = input.vars.get(key);
  if (value === undefined) return undefined;
  const items = typeof value === "string" ? input.issues.take(key, splitList(value)) : value;
  if (items === undefined || items.length === 0) return undefined;
  const clusters: ClusterConfig[] = [{ name: DEFAULT_CLUSTER }];
  for (const [i, item] of items.entries()) {
    const context = input.issues.take(`${key}[${i}]`, SERVICE_OPTIONS.clusters.parse(item, "env"));
    if (context === undefined) continue;
    if (clusters.some((cluster) => cluster.name === context)) {
      input.issues.add(
        `${key}[${i}]`,
        `${
          quote(context)
        } is listed twice (or is '${DEFAULT_CLUSTER}', the default cluster's name)`,
      );
      continue;
    }
    clusters.push({ name: context, context });
  }
  return clusters;
}

/** The targets of `IPS`, each checked under `IPS[i]`; `undefined` when any is invalid. */
function _seedTargets(input: _Input): Target[] | undefined {
  const { issues } = input;
  const key = SERVICE_OPTIONS.targets.env!;
  const value = input.vars.get(key);
  if (value === undefined || (typeof value === "string" && value.trim() === "")) {
    return issues.add(
      key,
      `required: the addresses to check, such as IPS=("10.188.2.3" "10.188.2.4") ` +
        "(or a source: DNS_NAMES, NODE_SELECTOR or TARGETS_FILE)",
    );
  }
  const items = typeof value === "string" ? issues.take(key, splitList(value)) : value;
  if (items === undefined) return undefined;
  if (items.length === 0) return issues.add(key, "at least one address is required");
  const before = issues.issues.length;
  const targets: Located<Target>[] = [];
  for (const [i, item] of items.entries()) {
    const path = `${key}[${i}]`;
    const address = issues.take(path, SERVICE_OPTIONS.targets.parse(item, "env"));
    if (address !== undefined) targets.push({ value: { address }, path });
  }
  checkDuplicateTargets(targets, issues);
  return issues.issues.length > before ? undefined : targets.map((t) => t.value);
}
