/**
 * Structured logging: one line per event with stable keys, JSON (for collectors) or text (for
 * terminals). Values that are {@linkcode Secret}s print as `<redacted>`; URLs that carry
 * credentials in their query or user info are redacted too.
 *
 * @module
 */

import {
  LOG_LEVEL_ALIASES,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  Secret,
} from "../config/schema.ts";

/** Key/value context of a log line. Keys are stable: dashboards and alerts may rely on them. */
export type LogFields = Readonly<Record<string, unknown>>;

/** A sink for finished lines (stdout in production, an array in tests). */
export type LogWriter = (line: string) => void;

/** Where a line goes and how it looks. */
export interface LoggerOptions {
  /** Lines below this level are dropped (default "info"). */
  readonly level?: LogLevel;
  /** "json" (default) or "text". */
  readonly format?: LogFormat;
  /** Defaults to writing the line and a newline to stdout. */
  readonly write?: LogWriter;
  /** Wall clock for the `time` key (default `Date.now`). */
  readonly now?: () => number;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const encoder = new TextEncoder();

/** A leveled, structured logger. `with()` derives one that adds fields to every line. */
export class Logger {
  readonly #level: LogLevel;
  readonly #format: LogFormat;
  readonly #write: LogWriter;
  readonly #now: () => number;
  readonly #fields: LogFields;

  constructor(options: LoggerOptions = {}, fields: LogFields = {}) {
    this.#level = options.level ?? "info";
    this.#format = options.format ?? "json";
    this.#write = options.write ?? ((line) => Deno.stdout.writeSync(encoder.encode(line + "\n")));
    this.#now = options.now ?? Date.now;
    this.#fields = fields;
  }

  /** The level below which lines are dropped. */
  get level(): LogLevel {
    return this.#level;
  }

  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger {
    return new Logger(
      { level: this.#level, format: this.#format, write: this.#write, now: this.#now },
      { ...this.#fields, ...fields },
    );
  }

  /** True when lines of `level` are written (to skip building costly fields). */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.#level];
  }

  /** Detail for debugging. */
  debug(message: string, fields?: LogFields): void {
    this.#log("debug", message, fields);
  }
  /** Normal operation: transitions, writes. */
  info(message: string, fields?: LogFields): void {
    this.#log("info", message, fields);
  }
  /** Something is off but handled. */
  warn(message: string, fields?: LogFields): void {
    this.#log("warn", message, fields);
  }
  /** Something failed. */
  error(message: string, fields?: LogFields): void {
    this.#log("error", message, fields);
  }

  #log(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const time = new Date(this.#now()).toISOString();
    const all: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ ...this.#fields, ...fields })) {
      if (value !== undefined) all[key] = clean(value);
    }
    this.#write(
      this.#format === "json"
        ? JSON.stringify({ time, level, msg: message, ...all })
        : textLine(time, level, message, all),
    );
  }
}

/** Parses a level name as users write it (`INFO`, `warning`, `Debug`). */
export function parseLogLevel(value: string): LogLevel | undefined {
  const lower = value.trim().toLowerCase();
  const level = LOG_LEVEL_ALIASES[lower] ?? lower;
  return (LOG_LEVELS as readonly string[]).includes(level) ? level as LogLevel : undefined;
}

/** A logger that drops everything (for tests and tools that must stay quiet). */
export function silentLogger(): Logger {
  return new Logger({ level: "error", write: () => {} });
}

function textLine(time: string, level: LogLevel, message: string, fields: Record<string, unknown>) {
  const parts = [time, level.toUpperCase().padEnd(5), message];
  for (const [key, value] of Object.entries(fields)) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    parts.push(`${key}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`);
  }
  return parts.join(" ");
}

/** Redacts secrets wherever they hide: Secret objects, URL credentials, Error causes. */
function clean(value: unknown, depth = 0): unknown {
  if (value instanceof Secret) return "<redacted>";
  if (typeof value === "string") return redactUrls(value);
  if (value instanceof Error) {
    const cause = value.cause !== undefined && depth < 3
      ? clean(value.cause, depth + 1)
      : undefined;
    const message = redactUrls(value.message);
    // Wrapping errors often repeat their cause's text already: say it once.
    return typeof cause !== "string" || message.includes(cause) ? message : `${message}: ${cause}`;
  }
  if (Array.isArray(value)) return value.map((item) => clean(item, depth + 1));
  if (value && typeof value === "object" && depth < 5) {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key, clean(inner, depth + 1)]),
    );
  }
  return value;
}

/**
 * Webhook URLs carry their credential in the query (Teams Workflows `sig=`) or user info:
 * keep scheme, host and path, which are what one needs to debug.
 */
export function redactUrls(text: string): string {
  return text.replace(
    /\b(https?:\/\/)([^\s/?#"'@]*@)?([^\s?#"']*)(\?[^\s#"']*)?/g,
    (whole, scheme: string, userinfo: string | undefined, rest: string, query?: string) =>
      userinfo || query
        ? `${scheme}${userinfo ? "<redacted>@" : ""}${rest}${query ? "?<redacted>" : ""}`
        : whole,
  );
}
