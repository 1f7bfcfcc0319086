/**
 * Reads the protocol checks of a Service (`ServiceConfig.checks`) from either format: the
 * check options of `probe` (or the `PROBE_*` variables) for one check, or the `probes` list for
 * several. A Service whose probe is a bare TCP connect gets no `checks` at all, so that a
 * configuration without any of this reads exactly as before.
 *
 * @module
 */

import { CHECK_FIELDS_BY_TYPE, type ProbeCheck, REDPANDA_ADMIN_PORT } from "./checks.ts";
import type { ProbeType } from "./choices.ts";
import type { IssueList } from "./issues.ts";
import { CHECK_OPTIONS, type Option, PROBES_OPTIONS, STRUCTURED_KEYS } from "./options.ts";
import { closestName, kindOf } from "./validate.ts";

/** Check options as given, by name, each with the field path or variable it came from. */
export type GivenCheck = Readonly<
  Record<string, { readonly value: unknown; readonly path: string }>
>;

/** The port a check goes to when it names none: 9644 for `redpanda`, else the probe's port. */
function defaultCheckPort(type: ProbeType, probePort: number): number {
  return type === "redpanda" ? REDPANDA_ADMIN_PORT : probePort;
}

/**
 * One check from its type, port and given options; each option that does not apply to the type
 * is an issue at its path. `undefined` when any was.
 */
function buildCheck(
  type: ProbeType,
  port: number,
  given: GivenCheck,
  issues: IssueList,
): ProbeCheck | undefined {
  const allowed = CHECK_FIELDS_BY_TYPE[type];
  const check: Record<string, unknown> = { type, port };
  let valid = true;
  for (const [name, { value, path }] of Object.entries(given)) {
    if (allowed.includes(name)) {
      check[name] = value;
      continue;
    }
    const types = Object.entries(CHECK_FIELDS_BY_TYPE).filter(([, fields]) => fields.includes(name))
      .map(([t]) => t);
    issues.add(
      path,
      `does not apply to a '${type}' probe: it is an option of ${types.join(", ")} probes`,
    );
    valid = false;
  }
  return valid ? check as unknown as ProbeCheck : undefined;
}

/** The check options present in a mapping of the structured file, parsed, with their paths. */
function _fileOptions(
  block: Readonly<Record<string, unknown>>,
  path: string,
  issues: IssueList,
): GivenCheck | undefined {
  const given: Record<string, { value: unknown; path: string }> = {};
  let valid = true;
  for (const [name, option] of Object.entries(CHECK_OPTIONS) as [string, Option<unknown>][]) {
    const raw = block[name];
    if (raw === undefined || raw === null) continue;
    const at = `${path}.${name}`;
    const value = issues.take(at, option.parse(raw, "file"));
    if (value === undefined) valid = false;
    else given[name] = { value, path: at };
  }
  return valid ? given : undefined;
}

/** Options of {@linkcode readFileChecks}. */
export interface FileChecksOptions {
  /**
   * The service's resolved probe type (own, else `defaults.probe`, else `tcp`); absent when the
   * probe block was invalid: the check options are still checked, so every issue shows at once.
   */
  readonly type?: ProbeType;
  /** The service's resolved probe port (absent like the type). */
  readonly port?: number;
  /** Where the issues go. */
  readonly issues: IssueList;
}

/**
 * The checks of one service of the structured file (`service` is its mapping at `path`): its
 * `probes` list, else the check options of its `probe`; `undefined` for a bare TCP connect.
 * `null` when something was wrong (reported).
 */
export function readFileChecks(
  service: Readonly<Record<string, unknown>>,
  path: string,
  options: FileChecksOptions,
): readonly ProbeCheck[] | undefined | null {
  const { issues } = options;
  const before = issues.issues.length;
  const probe = service.probe;
  const probeBlock = typeof probe === "object" && probe !== null && !Array.isArray(probe)
    ? probe as Record<string, unknown>
    : {};
  const own = _fileOptions(probeBlock, `${path}.probe`, issues);
  const { type: probeType, port: probePort } = options;
  if (service.probes === undefined || service.probes === null) {
    if (own === undefined || probeType === undefined || probePort === undefined) return null;
    if (probeType === "tcp" && Object.keys(own).length === 0) return undefined;
    const port = probeBlock.port === undefined ? defaultCheckPort(probeType, probePort) : probePort;
    const check = buildCheck(probeType, port, own, issues);
    return check === undefined ? null : [check];
  }
  const listPath = `${path}.probes`;
  const inProbe = Object.keys(own ?? {});
  if (probeBlock.type !== undefined) inProbe.unshift("type");
  if (inProbe.length > 0) {
    issues.add(
      listPath,
      `a check is set in probe too (${inProbe.join(", ")}): list every check in probes, ` +
        "and keep only the timing in probe",
    );
  }
  if (!Array.isArray(service.probes)) {
    issues.add(listPath, `must be a list of checks, not ${kindOf(service.probes)}`);
    return null;
  }
  if (service.probes.length === 0) issues.add(listPath, "at least one check is required");
  const checks: ProbeCheck[] = [];
  for (const [i, item] of service.probes.entries()) {
    const at = `${listPath}[${i}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      issues.add(at, `must be a mapping (keys type, port, path, ...), not ${kindOf(item)}`);
      continue;
    }
    const block = item as Record<string, unknown>;
    for (const key of Object.keys(block)) {
      if (STRUCTURED_KEYS.probesItem.includes(key)) continue;
      const suggestion = closestName(key, STRUCTURED_KEYS.probesItem);
      issues.add(
        `${at}.${key}`,
        suggestion === undefined
          ? `unknown key: allowed ${STRUCTURED_KEYS.probesItem.join(", ")}`
          : `unknown key: did you mean '${suggestion}'?`,
      );
    }
    const type = block.type === undefined || block.type === null
      ? issues.add(`${at}.type`, "required: the protocol of this check")
      : issues.take(`${at}.type`, PROBES_OPTIONS.type.parse(block.type, "file"));
    const port = block.port === undefined || block.port === null
      ? undefined
      : issues.take(`${at}.port`, PROBES_OPTIONS.port.parse(block.port, "file"));
    const given = _fileOptions(block, at, issues);
    if (type === undefined || given === undefined || probePort === undefined) continue;
    const check = buildCheck(type, port ?? defaultCheckPort(type, probePort), given, issues);
    if (check !== undefined) checks.push(check);
  }
  return issues.issues.length > before ? null : checks;
}

/** Options of {@linkcode readEnvChecks}. */
export interface EnvChecksOptions {
  /** The probe type (`PROBE`, default `tcp`); absent when invalid (options still checked). */
  readonly type?: ProbeType;
  /** The probe port (`PROBE_PORT`, else `PORT`); absent when invalid. */
  readonly port?: number;
  /** Whether `PROBE_PORT` was set. */
  readonly portGiven: boolean;
  /** Where the issues go. */
  readonly issues: IssueList;
  /** Reads one option's variable: its checked value, `undefined` when unset or invalid. */
  readonly read: (option: Option<unknown>) => unknown;
}

/**
 * The one check of the seed format from the `PROBE_*` variables; `undefined` for a bare TCP
 * connect, `null` when something was wrong (reported).
 */
export function readEnvChecks(options: EnvChecksOptions): readonly ProbeCheck[] | undefined | null {
  const given: Record<string, { value: unknown; path: string }> = {};
  for (const [name, option] of Object.entries(CHECK_OPTIONS) as [string, Option<unknown>][]) {
    const value = options.read(option);
    if (value !== undefined) given[name] = { value, path: option.env! };
  }
  const { type, port: probePort } = options;
  if (type === undefined || probePort === undefined) return null;
  if (type === "tcp" && Object.keys(given).length === 0) return undefined;
  const port = options.portGiven ? probePort : defaultCheckPort(type, probePort);
  const check = buildCheck(type, port, given, options.issues);
  return check === undefined ? null : [check];
}
