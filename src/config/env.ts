/**
 * The seed format: the `config.env` of the original HELASEID ConfigMap (bash-like `KEY=value`
 * lines and arrays) and the same variables in the process environment, which override the file.
 * It describes exactly one Service.
 *
 * @module
 */

import { checkDuration, checkTimeoutFits } from "./duration.ts";
import {
  type AlertOptions,
  ALL_DOWN_MODES,
  checkAddress,
  checkBoolean,
  checkChoice,
  checkCount,
  checkDns1035Label,
  checkDns1123Label,
  checkDuplicateTargets,
  type Checked,
  checkJitter,
  checkLogLevel,
  checkPort,
  closestName,
  type ConfigIssue,
  defaultTimeout,
  failed,
  IssueList,
  type Located,
  type LogLevel,
  type ParsedConfig,
  passed,
  PROTOCOLS,
  PUBLISH_DEFAULTS,
  type SecretSource,
  SEED_DEFAULTS,
  type ServiceConfig,
  type Target,
  TEAMS_CARD_SHAPES,
  UNHEALTHY_MODES,
} from "./schema.ts";

/** Variables that describe the one Service of the seed format. */
export const SEED_SERVICE_VARIABLES = [
  "SERVICE_NAME",
  "NAMESPACE",
  "IPS",
  "PORT",
  "PORT_NAME",
  "PROTOCOL",
  "INTERVAL",
  "TIMEOUT",
  "RISE",
  "MAX_RETRY",
  "JITTER",
  "PUBLISH_ENDPOINTS",
  "UNHEALTHY",
  "ALL_DOWN",
  "CREATE_SERVICE",
] as const;

/** Variables that apply to any format: they override a structured file too. */
export const GLOBAL_VARIABLES = [
  "LOG_LEVEL",
  "TEAMS_WEBHOOK_URL",
  "TEAMS_WEBHOOK_URL_FILE",
  "TEAMS_CARD_SHAPE",
  "WEBHOOK_URL",
  "WEBHOOK_URL_FILE",
  "ALERT_COALESCE",
  "ALERT_WRITE_FAILURE_AFTER",
  "ALERT_DEGRADED",
] as const;

/** The two variables of each webhook: the URL itself, or a file holding it (a mounted Secret). */
const WEBHOOK_VARIABLES = {
  teams: { url: "TEAMS_WEBHOOK_URL", file: "TEAMS_WEBHOOK_URL_FILE" },
  webhook: { url: "WEBHOOK_URL", file: "WEBHOOK_URL_FILE" },
} as const;

/** Every variable the seed format knows. */
export const SEED_VARIABLES: readonly string[] = [...SEED_SERVICE_VARIABLES, ...GLOBAL_VARIABLES];

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
export function parseEnvFile(text: string, options: EnvFileOptions = {}): EnvFile {
  const source = options.source ?? "config.env";
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

/** Merged variables and where their issues go. */
interface _Input {
  readonly vars: _Vars;
  readonly issues: IssueList;
}

/** Builds the one-service configuration of the seed format from a `config.env` and the environment. */
export function parseSeedConfig(options: SeedOptions): ParsedConfig {
  const source = options.source ?? "config.env";
  const issues = new IssueList();
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

  const service = _seedService({ vars, issues }, { defaultNamespace: options.defaultNamespace });
  const logLevel = _logLevel({ vars, issues });
  // The environment's webhook variables replace the file's as a pair, so that the environment
  // can switch from a URL to a URL file without an ambiguity error.
  const layerOf = (names: { url: string; file: string }) =>
    envVars.has(names.url) || envVars.has(names.file) ? envVars : fileVars;
  const teams = _secretSource(
    { vars: layerOf(WEBHOOK_VARIABLES.teams), issues },
    WEBHOOK_VARIABLES.teams,
  );
  const webhook = _secretSource(
    { vars: layerOf(WEBHOOK_VARIABLES.webhook), issues },
    WEBHOOK_VARIABLES.webhook,
  );
  return {
    format: "env",
    services: service === undefined || issues.issues.length > 0 ? [] : [service],
    logLevel,
    teams,
    webhook,
    alerts: _alertOptions({ vars, issues }),
    issues: issues.issues,
    warnings,
  };
}

/** What the environment contributes next to a structured file. */
export interface EnvOverrides {
  /** From `LOG_LEVEL`. */
  readonly logLevel?: LogLevel;
  /** From `TEAMS_WEBHOOK_URL` or `TEAMS_WEBHOOK_URL_FILE`. */
  readonly teams?: SecretSource;
  /** From `WEBHOOK_URL` or `WEBHOOK_URL_FILE`. */
  readonly webhook?: SecretSource;
  /** From `TEAMS_CARD_SHAPE`, `ALERT_COALESCE`, `ALERT_WRITE_FAILURE_AFTER`, `ALERT_DEGRADED`. */
  readonly alerts: AlertOptions;
  /** Seed service variables that are set and therefore ignored. */
  readonly ignored: readonly string[];
  readonly issues: readonly ConfigIssue[];
}

/** Reads the variables that override a structured file: `LOG_LEVEL`, webhooks and alerting. */
export function readEnvOverrides(env: Environment): EnvOverrides {
  const issues = new IssueList();
  const vars = _knownEnv(env, GLOBAL_VARIABLES);
  const ignored = SEED_SERVICE_VARIABLES.filter((key) => (env[key] ?? "").trim() !== "");
  return {
    logLevel: _logLevel({ vars, issues }),
    teams: _secretSource({ vars, issues }, WEBHOOK_VARIABLES.teams),
    webhook: _secretSource({ vars, issues }, WEBHOOK_VARIABLES.webhook),
    alerts: _alertOptions({ vars, issues }),
    ignored,
    issues: issues.issues,
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

function _logLevel(input: _Input): LogLevel | undefined {
  const { issues } = input;
  const text = _scalar(input, "LOG_LEVEL");
  return text === undefined
    ? undefined
    : issues.take("LOG_LEVEL", checkLogLevel(text, { upperCase: true }));
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

/** The alert delivery variables that are set. */
function _alertOptions(input: _Input): AlertOptions {
  const { issues } = input;
  const read = <T>(key: string, check: (text: string) => Checked<T>) => {
    const text = _scalar(input, key);
    const value = text === undefined ? undefined : issues.take(key, check(text));
    return value === undefined ? undefined : { value, path: key };
  };
  const shape = read(
    "TEAMS_CARD_SHAPE",
    (t) => checkChoice(t, TEAMS_CARD_SHAPES, { what: "shape" }),
  );
  const coalesce = read("ALERT_COALESCE", (t) => checkDuration(t, { allowZero: true }));
  const threshold = read("ALERT_WRITE_FAILURE_AFTER", (t) => checkDuration(t, { allowZero: true }));
  const degraded = read("ALERT_DEGRADED", checkBoolean);
  return {
    ...(shape === undefined ? {} : { shape }),
    ...(coalesce === undefined ? {} : { coalesce }),
    ...(threshold === undefined ? {} : { writeFailureThreshold: threshold }),
    ...(degraded === undefined ? {} : { degraded }),
  };
}

/** The one Service of the seed format, or `undefined` when something is missing or invalid. */
function _seedService(
  input: _Input,
  options: { defaultNamespace?: string },
): ServiceConfig | undefined {
  const { vars, issues } = input;
  const required = (key: string, why: string): string | undefined => {
    const value = vars.get(key);
    const text = _scalar(input, key);
    // A non-empty array was reported by `_scalar` already.
    const reported = typeof value === "object" && value.length > 0;
    if (text === undefined && !reported) issues.add(key, `required: ${why}`);
    return text;
  };
  const optional = <T>(key: string, check: (text: string) => Checked<T>, fallback: T) => {
    const text = _scalar(input, key);
    return text === undefined ? fallback : issues.take(key, check(text));
  };

  const nameText = required(
    "SERVICE_NAME",
    "the name of the Service whose endpoints HELASEID keeps",
  );
  const name = nameText === undefined
    ? undefined
    : issues.take("SERVICE_NAME", checkDns1035Label(nameText, { what: "Service name" }));
  const namespace = optional(
    "NAMESPACE",
    (text) => checkDns1123Label(text, { what: "namespace" }),
    options.defaultNamespace ?? "default",
  );
  const portText = required("PORT", "the port to check and publish, such as PORT=9092");
  const port = portText === undefined ? undefined : issues.take("PORT", checkPort(portText));
  const portName = optional("PORT_NAME", (t) => checkDns1123Label(t, { what: "port name" }), "");
  const protocol = optional(
    "PROTOCOL",
    (text) => checkChoice(text, PROTOCOLS, { what: "protocol", upperCase: true }),
    "TCP" as const,
  );
  const targets = _seedTargets(input);

  const interval = optional("INTERVAL", checkDuration, SEED_DEFAULTS.interval);
  const timeout = optional(
    "TIMEOUT",
    checkDuration,
    defaultTimeout(interval ?? SEED_DEFAULTS.interval),
  );
  if (timeout !== undefined && interval !== undefined) {
    issues.take("TIMEOUT", checkTimeoutFits(timeout, interval));
  }
  const rise = optional("RISE", checkCount, SEED_DEFAULTS.rise);
  const fall = optional("MAX_RETRY", checkCount, SEED_DEFAULTS.fall);
  const jitter = optional("JITTER", checkJitter, SEED_DEFAULTS.jitter);

  const endpoints = optional("PUBLISH_ENDPOINTS", checkBoolean, PUBLISH_DEFAULTS.endpoints);
  const unhealthy = optional(
    "UNHEALTHY",
    (text) => checkChoice(text, UNHEALTHY_MODES, { what: "mode" }),
    PUBLISH_DEFAULTS.unhealthy,
  );
  const allDown = optional(
    "ALL_DOWN",
    (text) => checkChoice(text, ALL_DOWN_MODES, { what: "mode" }),
    PUBLISH_DEFAULTS.allDown,
  );
  const createService = optional("CREATE_SERVICE", checkBoolean, PUBLISH_DEFAULTS.createService);

  if (
    name === undefined || namespace === undefined || port === undefined ||
    portName === undefined || protocol === undefined || targets === undefined ||
    interval === undefined || timeout === undefined || rise === undefined ||
    fall === undefined || jitter === undefined || endpoints === undefined ||
    unhealthy === undefined || allDown === undefined || createService === undefined
  ) {
    return undefined;
  }
  return {
    name,
    namespace,
    ports: [{ name: portName, port, protocol }],
    targets,
    probe: { type: "tcp", port, interval, timeout, rise, fall, jitter },
    publish: { ...PUBLISH_DEFAULTS, endpoints, unhealthy, allDown, createService },
  };
}

/** The targets of `IPS`, each checked under `IPS[i]`; `undefined` when any is invalid. */
function _seedTargets(input: _Input): Target[] | undefined {
  const { issues } = input;
  const value = input.vars.get("IPS");
  if (value === undefined || (typeof value === "string" && value.trim() === "")) {
    return issues.add(
      "IPS",
      `required: the addresses to check, such as IPS=("10.188.2.3" "10.188.2.4")`,
    );
  }
  const items = typeof value === "string" ? issues.take("IPS", splitList(value)) : value;
  if (items === undefined) return undefined;
  if (items.length === 0) return issues.add("IPS", "at least one address is required");
  const before = issues.issues.length;
  const targets: Located<Target>[] = [];
  for (const [i, item] of items.entries()) {
    const address = issues.take(`IPS[${i}]`, checkAddress(item));
    if (address !== undefined) targets.push({ value: { address }, path: `IPS[${i}]` });
  }
  checkDuplicateTargets(targets, issues);
  return issues.issues.length > before ? undefined : targets.map((t) => t.value);
}
