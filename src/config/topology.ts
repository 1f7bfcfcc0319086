/**
 * Reads a Service's topology settings from the structured file (issue 15): its `zones` block
 * (preference table, hints, per-zone Services) and its `primary` block (the companion Service
 * of the primary), and checks that companion Service names collide with nothing. Every zone the preference table names must be
 * the zone of a configured target, unless the Service has sources (their zones are known only
 * at run time; a zone no target has is then skipped when borrowing).
 *
 * @module
 */

import { CHECK_FIELDS_BY_TYPE, type ProbeCheck } from "./checks.ts";
import type { IssueList } from "./issues.ts";
import {
  CHECK_OPTIONS,
  type Option,
  PRIMARY_OPTIONS,
  PROBES_OPTIONS,
  STRUCTURED_KEYS,
  ZONE_OPTIONS,
} from "./options.ts";
import type { Millis, Target, ZoneSettings } from "./schema.ts";
import { checkDns1035Label, closestName, kindOf, quote } from "./validate.ts";
import { checkMapping, type NoPrimaryMode, type PrimaryMode } from "./zone_checks.ts";

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

/** A Service's primary companion (issue 15): `services[].primary`, resolved. */
export interface PrimarySettings {
  /** `designate`: HELASEID picks; `observe`: a role check says. */
  readonly mode: PrimaryMode;
  /** The companion Service's name (default `<service>-primary`). */
  readonly service: string;
  /** `designate`: zones or regions, most preferred first. */
  readonly prefer: readonly string[];
  /** `designate`: how long a more preferred target is healthy before a failback. */
  readonly failbackAfter: Millis | "never";
  /** `observe`: the check that passes on the primary only, its port resolved. */
  readonly check?: ProbeCheck;
  /** `observe`: no claimant → no primary (`empty`) or the last one (`keep`). */
  readonly noPrimary: NoPrimaryMode;
}

/** Options given only in one mode. */
const MODE_ONLY: Readonly<Record<string, PrimaryMode>> = {
  prefer: "designate",
  failbackAfter: "designate",
  check: "observe",
  noPrimary: "observe",
};

/**
 * The `primary` block of one service (`service` is its mapping at `path`): `undefined` when
 * it has none, `null` when something was wrong (reported).
 */
export function readFilePrimary(
  service: Readonly<Record<string, unknown>>,
  path: string,
  ctx: TopologyContext & { readonly name?: string; readonly probePort?: number },
): PrimarySettings | undefined | null {
  const raw = service.primary;
  if (raw === undefined || raw === null) return undefined;
  const at = join(path, "primary");
  const { issues } = ctx;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    issues.add(
      at,
      `must be a mapping (keys ${STRUCTURED_KEYS.primary.join(", ")}), not ${kindOf(raw)}`,
    );
    return null;
  }
  const block = raw as Record<string, unknown>;
  const before = issues.issues.length;
  checkKeys(block, at, STRUCTURED_KEYS.primary, issues);
  const given = (name: string) => block[name] !== undefined && block[name] !== null;
  const read = <T>(name: keyof typeof PRIMARY_OPTIONS): T | undefined => {
    const option = PRIMARY_OPTIONS[name] as Option<unknown>;
    if (!given(name)) return option.default as T | undefined;
    return issues.take(join(at, name), option.parse(block[name], "file")) as T | undefined;
  };
  const mode = read<PrimaryMode>("mode") ?? "designate";
  for (const [name, only] of Object.entries(MODE_ONLY)) {
    if (given(name) && only !== mode) {
      issues.add(join(at, name), `applies only to mode '${only}', not '${mode}'`);
    }
  }
  const name = read<string>("service") ?? (ctx.name ? `${ctx.name}-primary` : undefined);
  if (name !== undefined && name === ctx.name) {
    issues.add(join(at, "service"), `${quote(name)} is the Service itself: name another one`);
  }
  const prefer = readPrefer(block.prefer, join(at, "prefer"), ctx);
  const check = mode === "observe"
    ? readRoleCheck(block.check, join(at, "check"), { issues, port: ctx.probePort })
    : undefined;
  const settings = {
    mode,
    service: name ?? "",
    prefer: prefer ?? [],
    failbackAfter: read<number | "never">("failbackAfter") ?? 300_000,
    ...(check ? { check } : {}),
    noPrimary: read<NoPrimaryMode>("noPrimary") ?? "empty",
  };
  return issues.issues.length > before || name === undefined ? null : settings;
}

/** `prefer`: zones or regions of the targets (unchecked with sources). */
function readPrefer(
  raw: unknown,
  path: string,
  ctx: TopologyContext,
): readonly string[] | undefined {
  if (raw === undefined || raw === null) return [];
  const items = typeof raw === "string" ? [raw] : raw;
  if (!Array.isArray(items)) {
    ctx.issues.add(path, `must be a list of zones or regions, not ${kindOf(raw)}`);
    return undefined;
  }
  const known = new Set(ctx.targets?.flatMap((t) => [t.zone, t.region]).filter((z) => z));
  const list: string[] = [];
  for (const [i, item] of items.entries()) {
    const zone = ctx.issues.take(join(path, i), PRIMARY_OPTIONS.prefer.parse(item, "file"));
    if (zone === undefined) return undefined;
    if (ctx.targets && !ctx.hasSources && !known.has(zone)) {
      const suggestion = closestName(zone, [...known] as string[]);
      ctx.issues.add(
        join(path, i),
        `${quote(zone)} is not the zone or region of any target` +
          (suggestion ? `: did you mean '${suggestion}'?` : ""),
      );
      return undefined;
    }
    list.push(zone);
  }
  return list;
}

/** `observe`'s role check: a probe check mapping (`type` required, its options by type). */
function readRoleCheck(
  raw: unknown,
  path: string,
  ctx: { readonly issues: IssueList; readonly port?: number },
): ProbeCheck | undefined {
  const { issues } = ctx;
  if (raw === undefined || raw === null) {
    issues.add(
      path,
      "required in mode 'observe': the check that passes on the primary only, such as " +
        "{type: http, port: 8008, path: /primary}",
    );
    return undefined;
  }
  const block = issues.take(path, checkMapping(raw));
  if (block === undefined) return undefined;
  const before = issues.issues.length;
  const keys = [...STRUCTURED_KEYS.probesItem];
  checkKeys(block, path, keys, issues);
  const type = block.type === undefined || block.type === null
    ? issues.add(join(path, "type"), "required: the protocol of the role check")
    : issues.take(join(path, "type"), PROBES_OPTIONS.type.parse(block.type, "file"));
  const port = block.port === undefined || block.port === null
    ? ctx.port
    : issues.take(join(path, "port"), PROBES_OPTIONS.port.parse(block.port, "file"));
  const check: Record<string, unknown> = { ...(type ? { type } : {}), port };
  for (const [name, option] of Object.entries(CHECK_OPTIONS) as [string, Option<unknown>][]) {
    if (block[name] === undefined || block[name] === null) continue;
    if (type && !CHECK_FIELDS_BY_TYPE[type].includes(name)) {
      issues.add(join(path, name), `does not apply to a '${type}' check`);
      continue;
    }
    const value = issues.take(join(path, name), option.parse(block[name], "file"));
    if (value !== undefined) check[name] = value;
  }
  return issues.issues.length > before || type === undefined || port === undefined
    ? undefined
    : check as unknown as ProbeCheck;
}

/** A companion Service name with where it was configured. */
interface Companion {
  readonly name: string;
  readonly path: string;
}

/**
 * Names of the companion Services of one Service: its primary Service and, with
 * `zones.services`, `<service>-<zone>` for each zone of its configured targets.
 */
export function companionNames(
  service: {
    readonly name: string;
    readonly targets: readonly Target[];
    readonly zones?: ZoneSettings;
    readonly primary?: PrimarySettings;
  },
): string[] {
  const names = service.primary ? [service.primary.service] : [];
  if (service.zones?.services) {
    const zones = new Set(service.targets.flatMap((t) => t.zone === undefined ? [] : [t.zone]));
    for (const zone of [...zones].sort()) names.push(zoneServiceName(service.name, zone));
  }
  return names;
}

/** The per-zone companion Service of `service` for `zone`: `<service>-<zone>`, lower case. */
export function zoneServiceName(service: string, zone: string): string {
  return `${service}-${zone.toLowerCase()}`;
}

/**
 * Companion Service names collide neither with a configured Service of the same namespace
 * nor with another companion; `paths[i]` is where `services[i]` was configured.
 */
export function checkCompanionNames(
  services: readonly {
    readonly name: string;
    readonly namespace: string;
    readonly targets: readonly Target[];
    readonly zones?: ZoneSettings;
    readonly primary?: PrimarySettings;
  }[],
  paths: readonly string[],
  issues: IssueList,
): void {
  const taken = new Map<string, string>();
  services.forEach((service, i) => taken.set(`${service.namespace}/${service.name}`, paths[i]!));
  services.forEach((service, i) => {
    const companions: Companion[] = companionNames(service).map((name) => ({
      name,
      path: service.primary?.service === name
        ? `${paths[i]}.primary.service`
        : `${paths[i]}.zones.services`,
    }));
    for (const { name, path } of companions) {
      const key = `${service.namespace}/${name}`;
      const first = taken.get(key);
      if (first !== undefined) {
        issues.add(path, `${quote(name)} is already the Service of ${first}: name another one`);
        continue;
      }
      const label = checkDns1035Label(name, { what: "Service name" });
      if (!label.ok) issues.add(path, label.message);
      taken.set(key, path);
    }
  });
}
