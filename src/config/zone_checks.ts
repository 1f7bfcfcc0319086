/**
 * Checks of the topology options (issue 15): a zone preference table and the overprovisioning
 * factor. Kept apart from `topology.ts` so that the option table can use them without an
 * import cycle.
 *
 * @module
 */

import { type Checked, failed, passed } from "./issues.ts";
import { checkDuration, formatDuration } from "./duration.ts";
import { checkZone, kindOf, quote } from "./validate.ts";

/** For clients in a zone (the key), the zones to borrow from, in order. */
export type ZonePreferences = Readonly<Record<string, readonly string[]>>;

/**
 * A preference table: a mapping of zone names to lists of zone names, no zone twice in a list
 * and never the key's own zone (a zone always serves itself first).
 */
export function checkZonePreferences(value: unknown): Checked<ZonePreferences> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return failed(`must be a mapping of zones to lists of zones, not ${kindOf(value)}`);
  }
  const table: Record<string, string[]> = {};
  for (const [key, list] of Object.entries(value as Record<string, unknown>)) {
    const zone = checkZone(key);
    if (!zone.ok) return failed(`${quote(key)}: ${zone.message}`);
    const items = typeof list === "string" ? [list] : list;
    if (!Array.isArray(items)) {
      return failed(`${quote(key)}: must be a list of zones, not ${kindOf(list)}`);
    }
    const zones: string[] = [];
    for (const item of items) {
      const checked = checkZone(item);
      if (!checked.ok) return failed(`${quote(key)}: ${checked.message}`);
      if (checked.value === zone.value) {
        return failed(`${quote(key)}: lists its own zone: a zone always serves itself first`);
      }
      if (zones.includes(checked.value)) {
        return failed(`${quote(key)}: lists ${quote(checked.value)} twice`);
      }
      zones.push(checked.value);
    }
    table[zone.value] = zones;
  }
  return passed(table);
}

/** A preference table as `validate` shows it: `eu-1a: eu-1b, eu-1c; eu-1b: eu-1a`. */
export function formatZonePreferences(table: ZonePreferences): string {
  return Object.entries(table).map(([zone, list]) => `${zone}: ${list.join(", ")}`).join("; ");
}

/** Envoy's overprovisioning factor: a number from 1 to 10 (1.4 = 140 %). */
export function checkOverprovisioning(value: unknown): Checked<number> {
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isFinite(number)) {
    return failed(`must be a number from 1 to 10, not ${kindOf(value)}`);
  }
  if (number < 1 || number > 10) {
    return failed(`${quote(value)} is out of range: allowed 1 to 10 (1.4 is Envoy's default)`);
  }
  return passed(number);
}

/** How the primary of a Service is found: chosen by HELASEID, or asked of the targets. */
export const PRIMARY_MODES = ["designate", "observe"] as const;

/** One of {@linkcode PRIMARY_MODES}. */
export type PrimaryMode = typeof PRIMARY_MODES[number];

/** What `observe` mode publishes when no target claims to be primary. */
export const NO_PRIMARY_MODES = ["empty", "keep"] as const;

/** One of {@linkcode NO_PRIMARY_MODES}. */
export type NoPrimaryMode = typeof NO_PRIMARY_MODES[number];

/** `failbackAfter`: a duration (`0`: at once), or `never`. */
export function checkFailback(value: unknown): Checked<number | "never"> {
  if (typeof value === "string" && value.trim().toLowerCase() === "never") return passed("never");
  const checked = checkDuration(value, { allowZero: true });
  return checked.ok ? checked : failed(`${checked.message}, or 'never'`);
}

/** `failbackAfter` as `validate` shows it. */
export function formatFailback(value: number | "never"): string {
  return value === "never" ? "never" : formatDuration(value);
}

/** A mapping (the role check's options), checked in `topology.ts`. */
export function checkMapping(value: unknown): Checked<Readonly<Record<string, unknown>>> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? passed(value as Record<string, unknown>)
    : failed(
      `must be a mapping (type, port, path, status, send, expect, ...), not ${kindOf(value)}`,
    );
}
