/**
 * Reads a Service's topology settings from the structured file (issue 15): its `zones` block
 * (preference table, hints, per-zone Services). Every zone the preference table names must be
 * the zone of a configured target, unless the Service has sources (their zones are known only
 * at run time; a zone no target has is then skipped when borrowing).
 *
 * @module
 */

import type { IssueList } from "./issues.ts";
import { type Option, STRUCTURED_KEYS, ZONE_OPTIONS } from "./options.ts";
import type { Target, ZoneSettings } from "./schema.ts";
import { closestName, kindOf, quote } from "./validate.ts";

/** What {@linkcode readFileZones} needs besides the block. */
export interface TopologyContext {
  /** Where the issues go. */
  readonly issues: IssueList;
  /** The Service's configured targets (undefined when they were invalid). */
  readonly targets?: readonly Target[];
  /** The Service has sources: zones of targets are known only at run time. */
  readonly hasSources: boolean;
}

/** `a.b`, or `a["odd key"]` for a key that is not an identifier (zone names may hold dots). */
function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Unknown keys of a mapping at `path`, each an issue with a suggestion when one is close. */
function checkKeys(
  block: Readonly<Record<string, unknown>>,
  path: string,
  keys: readonly string[],
  issues: IssueList,
): void {
  for (const key of Object.keys(block)) {
    if (keys.includes(key)) continue;
    const suggestion = closestName(key, keys);
    issues.add(
      join(path, key),
      suggestion === undefined
        ? `unknown key: allowed ${keys.join(", ")}`
        : `unknown key: did you mean '${suggestion}'?`,
    );
  }
}

/**
 * The `zones` block of one service (`service` is its mapping at `path`): `undefined` when it
 * has none, `null` when something was wrong (reported).
 */
export function readFileZones(
  service: Readonly<Record<string, unknown>>,
  path: string,
  ctx: TopologyContext,
): ZoneSettings | undefined | null {
  const raw = service.zones;
  if (raw === undefined || raw === null) return undefined;
  const at = join(path, "zones");
  const { issues } = ctx;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    issues.add(
      at,
      `must be a mapping (keys ${STRUCTURED_KEYS.zones.join(", ")}), not ${kindOf(raw)}`,
    );
    return null;
  }
  const block = raw as Record<string, unknown>;
  const before = issues.issues.length;
  checkKeys(block, at, STRUCTURED_KEYS.zones, issues);
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(ZONE_OPTIONS) as [string, Option<unknown>][]) {
    const given = block[name];
    const value = given === undefined || given === null
      ? option.default
      : issues.take(join(at, name), option.parse(given, "file"));
    if (value !== undefined) values[name] = value;
  }
  const settings = { preferences: {}, ...values } as ZoneSettings;
  if (issues.issues.length === before && ctx.targets && !ctx.hasSources) {
    checkKnownZones(settings, join(at, "preferences"), { ...ctx, targets: ctx.targets });
  }
  return issues.issues.length > before ? null : settings;
}

/** Every zone the preference table names is the zone of a target. */
function checkKnownZones(
  settings: ZoneSettings,
  path: string,
  ctx: TopologyContext & { readonly targets: readonly Target[] },
): void {
  const known = [...new Set(ctx.targets.flatMap((t) => t.zone === undefined ? [] : [t.zone]))]
    .sort();
  const unknown = (zone: string, at: string) => {
    if (known.includes(zone)) return;
    const suggestion = closestName(zone, known);
    const allowed = known.length === 0
      ? "no target has a zone: set `zone` on the targets"
      : suggestion === undefined
      ? `the targets' zones are ${known.map(quote).join(", ")}`
      : `did you mean '${suggestion}'?`;
    ctx.issues.add(at, `${quote(zone)} is not the zone of any target: ${allowed}`);
  };
  for (const [client, list] of Object.entries(settings.preferences)) {
    const at = join(path, client);
    unknown(client, at);
    list.forEach((zone, i) => unknown(zone, join(at, i)));
  }
}
