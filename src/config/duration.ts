/**
 * Durations as people write them in configuration: `500ms`, `2s`, `1m30s`, `1h`, and bare
 * seconds (`0.01`, `"5"`) as the seed's `INTERVAL` uses them.
 *
 * @module
 */

import { type Checked, ConfigError, failed, passed } from "./issues.ts";
import type { Millis } from "./schema.ts";
import { kindOf, quote } from "./validate.ts";

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const NUMBER = String.raw`(?:\d+(?:\.\d*)?|\.\d+)`;
const BARE_SECONDS = new RegExp(`^${NUMBER}$`);
const WITH_UNITS = new RegExp(`^(?:${NUMBER}(?:ms|h|m|s))+$`);
const PART = new RegExp(`(${NUMBER})(ms|h|m|s)`, "g");

/** The longest duration accepted: anything longer is surely a mistake. */
const MAX_DURATION: Millis = 24 * 3_600_000;

/** Options of {@linkcode checkDuration} and {@linkcode parseDuration}. */
export interface DurationOptions {
  /** Accept `0` (default false: durations must be positive). */
  readonly allowZero?: boolean;
}

/** A duration in whole milliseconds, or what is wrong with the input. */
export function checkDuration(
  value: unknown,
  options: DurationOptions = {},
): Checked<Millis> {
  const expected = options.allowZero
    ? "must be a duration such as 0, 500ms, 2s or 0.01"
    : "must be a positive duration such as 500ms, 2s or 0.01";
  let ms: number;
  if (typeof value === "number") {
    ms = value * 1000;
  } else if (typeof value === "string") {
    const text = value.trim();
    if (BARE_SECONDS.test(text)) {
      ms = Number(text) * 1000;
    } else if (WITH_UNITS.test(text)) {
      ms = 0;
      for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit!]!;
    } else {
      return failed(`${quote(value)} ${expected}`);
    }
  } else {
    return failed(`${expected}, not ${kindOf(value)}`);
  }
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !options.allowZero)) {
    return failed(`${quote(value)} ${expected}`);
  }
  const rounded = Math.round(ms);
  if (rounded === 0 && ms > 0) return failed(`${quote(value)} is too short: allowed 1ms or more`);
  if (rounded > MAX_DURATION) {
    return failed(`${quote(value)} is too long: allowed up to ${formatDuration(MAX_DURATION)}`);
  }
  return passed(rounded);
}

/** Parses a duration (`500ms`, `2s`, `1m30s`, bare seconds) or throws a {@linkcode ConfigError}. */
export function parseDuration(
  value: string | number,
  path: string,
  options: DurationOptions = {},
): Millis {
  const checked = checkDuration(value, options);
  if (!checked.ok) throw new ConfigError([{ path, message: checked.message }]);
  return checked.value;
}

/** The shortest text {@linkcode parseDuration} reads back: 10 → "10ms", 90000 → "1m30s". */
export function formatDuration(ms: Millis): string {
  if (ms === 0) return "0s";
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${_trim(ms)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  return [
    hours > 0 ? `${hours}h` : "",
    minutes > 0 ? `${minutes}m` : "",
    seconds > 0 ? `${_trim(seconds)}s` : "",
  ].join("");
}

/** A number without floating-point noise (`0.30000000000000004` → `0.3`). */
function _trim(n: number): string {
  return String(Number(n.toFixed(6)));
}

/** A timeout that fits its interval: a check must end before the next one starts. */
export function checkTimeoutFits(timeout: Millis, interval: Millis): Checked<Millis> {
  return timeout <= interval ? passed(timeout) : failed(
    `${quote(formatDuration(timeout))} is longer than the interval (${
      formatDuration(interval)
    }): allowed at most the interval`,
  );
}
