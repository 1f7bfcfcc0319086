/**
 * Loads HELASEID's configuration: the seed's `config.env` and environment variables, or a
 * structured YAML/JSON file, into one validated {@linkcode Config}. Every problem is reported
 * at once in a {@linkcode ConfigError}.
 *
 * @module
 */

import { type Environment, parseSeedConfig, readEnvOverrides } from "./env.ts";
import { formatDuration } from "./duration.ts";
import { parseStructuredConfig } from "./file.ts";
import { ConfigError, IssueList } from "./issues.ts";
import {
  ALERT_DEFAULTS,
  ALERT_OPTIONS,
  CHECK_OPTIONS,
  GLOBAL_OPTIONS,
  type Options,
  PRIMARY_OPTIONS,
  PROBE_OPTIONS,
  PUBLISH_OPTIONS,
  resolveAlertSettings,
  SOURCE_OPTIONS,
  TEAMS_OPTIONS,
  WEBHOOK_OPTIONS,
  ZONE_OPTIONS,
} from "./options.ts";
import type {
  AlertOptions,
  AlertSettings,
  Config,
  GlobalSettings,
  ParsedConfig,
  Secret,
  SecretSource,
} from "./schema.ts";
import { checkWebhookUrl, quote } from "./validate.ts";

export {
  ALERT_DEFAULTS,
  type AlertSettings,
  ALL_DOWN_MODES,
  type AllDownMode,
  type Config,
  ConfigError,
  type ConfigFormat,
  type ConfigIssue,
  defaultTimeout,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  type Matcher,
  type Millis,
  PROBE_DEFAULTS,
  PROBE_TYPES,
  type ProbeCheck,
  type ProbeSettings,
  type ProbeType,
  type Protocol,
  PROTOCOLS,
  PUBLISH_DEFAULTS,
  type PublishSettings,
  Secret,
  SEED_DEFAULTS,
  type ServiceConfig,
  type ServicePort,
  type StatusRange,
  type Target,
  TEAMS_CARD_SHAPES,
  type TeamsCardShape,
  type TeamsSettings,
  UNHEALTHY_MODES,
  type UnhealthyMode,
  type WebhookSettings,
} from "./schema.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export type { Environment } from "./env.ts";

/** Where the configuration comes from. */
export interface LoadOptions {
  /** Configuration file (`.env` → seed format, `.yaml/.yml/.json` → structured, else sniffed); without it, the environment alone (seed format). */
  readonly path?: string;
  /** The process environment: seed variables, and overrides of the file. */
  readonly env: Environment;
  /** Namespace of a Service that names none (default "default"). */
  readonly defaultNamespace?: string;
  /** Reads a file (default `Deno.readTextFile`). */
  readonly readTextFile?: (path: string) => Promise<string>;
}

/** A loaded configuration and the warnings to log about it. */
export interface LoadedConfig {
  /** The validated configuration. */
  readonly config: Config;
  /** Problems that do not stop the agent: unknown `config.env` keys, ignored variables. */
  readonly warnings: readonly string[];
  /**
   * Values accepted under another spelling, such as the original's `LOG_LEVEL=CRITICAL` read as
   * `error`: `validate` shows them.
   */
  readonly notes: readonly string[];
}

/** Loads and validates the configuration; throws a {@linkcode ConfigError} listing every problem. */
export async function loadConfig(options: LoadOptions): Promise<LoadedConfig> {
  const read = options.readTextFile ?? ((path: string) => Deno.readTextFile(path));
  const defaultNamespace = options.defaultNamespace ?? "default";
  const { path, env } = options;
  let parsed: ParsedConfig;
  if (path === undefined) {
    parsed = parseSeedConfig({ env, defaultNamespace });
  } else {
    const text = await _readConfigFile(path, read);
    parsed = _formatOf(path, text) === "env"
      ? parseSeedConfig({ env, text, source: path, defaultNamespace })
      : _withEnvOverrides(parseStructuredConfig(text, { source: path, defaultNamespace }), env);
  }
  const issues = new IssueList();
  issues.addAll(parsed.issues);
  // Read and check the webhooks even when other fields failed, so that every issue shows at once.
  const teams = parsed.teams === undefined ? undefined : await _resolveWebhook(parsed.teams, {
    read,
    issues,
    variables: `${TEAMS_OPTIONS.url.env} or ${TEAMS_OPTIONS.urlFile.env}`,
  });
  const webhook = parsed.webhook === undefined ? undefined : await _resolveWebhook(parsed.webhook, {
    read,
    issues,
    variables: `${WEBHOOK_OPTIONS.url.env} or ${WEBHOOK_OPTIONS.urlFile.env}`,
  });
  issues.throwIfAny();
  const warnings = [...parsed.warnings];
  const shape = parsed.alerts?.shape;
  if (shape !== undefined && teams === undefined) {
    warnings.push(`${shape.path} is set but no Teams webhook is configured: ignored`);
  }
  const alerts = _alertSettings(parsed.alerts ?? {}, { teams, webhook });
  const config: Config = {
    format: parsed.format,
    services: parsed.services,
    ...(parsed.clusters ? { clusters: parsed.clusters } : {}),
    alerts,
    ..._globals((name) => parsed[name]),
  };
  return { config, warnings, notes: parsed.notes ?? [] };
}

async function _readConfigFile(
  path: string,
  read: (path: string) => Promise<string>,
): Promise<string> {
  try {
    // A byte order mark (files saved by some Windows editors) is not part of the configuration.
    return (await read(path)).replace(/^\uFEFF/, "");
  } catch (error) {
    throw new ConfigError([{
      path,
      message: `cannot read the configuration file: ${_reason(error)}`,
    }], { cause: error });
  }
}

function _reason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message : String(error);
}

const STRUCTURED_EXTENSIONS = [".yaml", ".yml", ".json"];
const ASSIGNMENT_LINE = /^(export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=/;

/** The format of a file: by extension, else by its first meaningful line. */
function _formatOf(path: string, text: string): "env" | "structured" {
  const lower = path.toLowerCase();
  if (lower.endsWith(".env")) return "env";
  if (STRUCTURED_EXTENSIONS.some((ext) => lower.endsWith(ext))) return "structured";
  const first = text.split("\n").map((line) => line.trim()).find((line) =>
    line !== "" && !line.startsWith("#")
  );
  return first !== undefined && ASSIGNMENT_LINE.test(first) ? "env" : "structured";
}

/** A structured file with `LOG_LEVEL`, the webhook and the alert variables of the environment applied. */
function _withEnvOverrides(parsed: ParsedConfig, env: Environment): ParsedConfig {
  const overrides = readEnvOverrides(env);
  const warnings = [...parsed.warnings];
  if (overrides.ignored.length > 0) {
    warnings.push(
      `environment variables ${overrides.ignored.join(", ")} are ignored: ` +
        "the structured configuration file describes the services",
    );
  }
  return {
    ...parsed,
    ..._globals((name) => overrides[name] ?? parsed[name]),
    teams: overrides.teams ?? parsed.teams,
    webhook: overrides.webhook ?? parsed.webhook,
    alerts: { ...parsed.alerts, ...overrides.alerts },
    issues: [...parsed.issues, ...overrides.issues],
    warnings,
    notes: [...parsed.notes ?? [], ...overrides.notes],
  };
}

/** The webhook URL of a source, read from its file if need be; never quoted in a message. */
async function _resolveWebhook(
  source: SecretSource,
  options: {
    read: (path: string) => Promise<string>;
    issues: IssueList;
    /** The environment variables that could give the URL instead, for the message. */
    variables: string;
  },
): Promise<Secret | undefined> {
  const { issues } = options;
  if (source.kind === "missing") {
    return issues.add(
      source.path,
      `url or urlFile is required (or the environment variable ${options.variables})`,
    );
  }
  if (source.kind === "url") return issues.take(source.path, checkWebhookUrl(source.url));
  let text: string;
  try {
    text = (await options.read(source.file)).trim();
  } catch (error) {
    return issues.add(source.path, `cannot read ${quote(source.file)}: ${_reason(error)}`);
  }
  if (text === "") return issues.add(source.path, `the file ${quote(source.file)} is empty`);
  const checked = checkWebhookUrl(text);
  return checked.ok
    ? checked.value
    : issues.add(source.path, `the URL in ${quote(source.file)} ${checked.message}`);
}

/** A plain, JSON-able view of a configuration for `helaseid validate`: durations as text, secrets redacted. */
export function describeConfig(config: Config): unknown {
  return {
    format: config.format,
    ..._show(GLOBAL_OPTIONS, _globals((name) => config[name])) as GlobalSettings,
    alerts: _describeAlerts(config.alerts),
    ...(config.clusters ? { clusters: config.clusters.map((cluster) => ({ ...cluster })) } : {}),
    services: config.services.map((service) => ({
      name: service.name,
      namespace: service.namespace,
      ...(service.clusters ? { clusters: [...service.clusters] } : {}),
      ports: service.ports.map((port) => ({ ...port })),
      targets: service.targets.map((target) => ({ ...target })),
      probe: _show(PROBE_OPTIONS, service.probe),
      ...(service.checks === undefined ? {} : {
        checks: service.checks.map((check) => _show(CHECK_OPTIONS, { ...check })),
      }),
      publish: _show(PUBLISH_OPTIONS, service.publish),
      ...(service.zones === undefined ? {} : { zones: _show(ZONE_OPTIONS, service.zones) }),
      ...(service.primary === undefined ? {} : {
        primary: _show(PRIMARY_OPTIONS, {
          ...service.primary,
          ...(service.primary.check
            ? { check: _show(CHECK_OPTIONS, { ...service.primary.check }) }
            : {}),
        }),
      }),
      ...(service.sources === undefined ? {} : {
        sources: service.sources.map((source) => _show(SOURCE_OPTIONS, { ...source })),
        sourceGuard: {
          maxDrop: `${Math.round((service.sourceGuard?.maxDrop ?? 0) * 100)}%`,
          hold: formatDuration(service.sourceGuard?.hold ?? 0),
        },
      }),
    })),
  };
}

/** The global settings (`GLOBAL_OPTIONS`) that `valueOf` gives, leaving out those it has not. */
function _globals(
  valueOf: <K extends keyof GlobalSettings>(name: K) => GlobalSettings[K],
): GlobalSettings {
  const settings: Record<string, unknown> = {};
  for (const name of Object.keys(GLOBAL_OPTIONS) as (keyof GlobalSettings)[]) {
    const value = valueOf(name);
    if (value !== undefined) settings[name] = value;
  }
  return settings as GlobalSettings;
}

/** Settings as `validate` shows them: each value the way its option says (durations as text). */
function _show(options: Options, values: Readonly<Record<string, unknown>>): unknown {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => {
      const option = options[name];
      return [name, option?.show === undefined ? value : option.show(value)];
    }),
  );
}

/** The alert settings of a configuration: only what was given, defaults stay implicit. */
function _alertSettings(
  given: AlertOptions,
  urls: { readonly teams?: Secret; readonly webhook?: Secret },
): AlertSettings {
  const { shape } = given;
  const delivery: Record<string, unknown> = {};
  for (const name of Object.keys(ALERT_OPTIONS) as (keyof typeof ALERT_OPTIONS)[]) {
    const located = given[name];
    if (located !== undefined) delivery[name] = located.value;
  }
  return {
    ...(urls.teams === undefined ? {} : {
      teams: shape === undefined ? { url: urls.teams } : { url: urls.teams, shape: shape.value },
    }),
    ...(urls.webhook === undefined ? {} : { webhook: { url: urls.webhook } }),
    ...delivery,
  };
}

/** The alert settings with their defaults applied, URLs redacted. */
function _describeAlerts(alerts: AlertSettings): unknown {
  return {
    ...(alerts.teams === undefined ? {} : {
      teams: { url: "<redacted>", shape: alerts.teams.shape ?? ALERT_DEFAULTS.shape },
    }),
    ...(alerts.webhook === undefined ? {} : { webhook: { url: "<redacted>" } }),
    ..._show(ALERT_OPTIONS, resolveAlertSettings(alerts)) as Record<string, unknown>,
  };
}
