/**
 * The structured configuration file (YAML or JSON): a list of Services plus global settings.
 * Unknown keys are errors, with a suggestion when they look like a typo.
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { IssueList, type Located } from "./issues.ts";
import {
  ALERT_OPTIONS,
  CLUSTER_OPTIONS,
  type GivenOptions,
  GLOBAL_OPTIONS,
  type Option,
  type Options,
  PORT_OPTIONS,
  PROBE_OPTIONS,
  PUBLISH_DEFAULTS,
  PUBLISH_OPTIONS,
  SERVICE_OPTIONS,
  STRUCTURED_KEYS,
  TARGET_OPTIONS,
  TEAMS_OPTIONS,
} from "./options.ts";
import type {
  AlertOptions,
  ClusterConfig,
  ParsedConfig,
  ProbeSettings,
  PublishSettings,
  SecretSource,
  ServiceConfig,
  ServicePort,
  SourceConfig,
  Target,
  TeamsCardShape,
} from "./schema.ts";
import { readFileChecks } from "./probe_checks.ts";
import { readFileSourceGuard, readFileSources } from "./sources.ts";
import { checkCompanionNames, readFilePrimary, readFileZones } from "./topology.ts";
import { checkDuplicateTargets, closestName, kindOf, quote } from "./validate.ts";

export { STRUCTURED_KEYS } from "./options.ts";

/** At most this many ports per EndpointSlice (API limit). */
const MAX_PORTS = 100;

/** Options of {@linkcode parseStructuredConfig}. */
export interface StructuredOptions {
  /** The file's path: shown in syntax errors, base of a relative `urlFile` (default `config.yaml`). */
  readonly source?: string;
  /** Namespace of a service without one (default "default"). */
  readonly defaultNamespace?: string;
}

/** Parses and checks a structured YAML or JSON configuration, collecting every issue. */
export function parseStructuredConfig(
  text: string,
  options: StructuredOptions = {},
): ParsedConfig {
  const source = options.source ?? "config.yaml";
  const issues = new IssueList();
  const warnings: string[] = [];
  const root = _readYaml(text, { source, issues, warnings });
  if (issues.issues.length > 0) {
    return { format: "structured", services: [], issues: issues.issues, warnings };
  }

  const notes: string[] = [];
  const ctx: _Context = {
    issues,
    warnings,
    notes,
    source,
    defaultNamespace: options.defaultNamespace ?? SERVICE_OPTIONS.namespace.default!,
  };
  const top = _mapping(root ?? {}, "", { ctx, keys: STRUCTURED_KEYS.root });
  if (top === undefined) {
    return { format: "structured", services: [], issues: issues.issues, warnings };
  }
  const globals = _given(top, "", { options: GLOBAL_OPTIONS, ctx });
  const alerts = _alerts(top.alerts, ctx);
  const defaults = _defaults(top.defaults, ctx);
  const clusters = _clusters(top.clusters, ctx);
  const services = _services(top.services, {
    ctx: { ...ctx, clusterNames: clusters?.map((cluster) => cluster.name) ?? [] },
    defaults,
  });
  return {
    format: "structured",
    services: issues.issues.length > 0 ? [] : services,
    ...(clusters === undefined ? {} : { clusters }),
    ...Object.fromEntries(Object.entries(globals).map(([name, given]) => [name, given.value])),
    ...alerts,
    issues: issues.issues,
    warnings,
    notes,
  };
}

/** The `clusters` list (issue 14); `undefined` when absent or invalid (reported). */
function _clusters(value: unknown, ctx: _Context): ClusterConfig[] | undefined {
  if (!_present(value)) return undefined;
  const list = _list(value, "clusters", ctx);
  if (list === undefined) return undefined;
  if (list.length === 0) {
    return ctx.issues.add("clusters", "at least one cluster (or leave it out)");
  }
  const clusters: ClusterConfig[] = [];
  const seen = new Map<string, string>();
  for (const [i, item] of list.entries()) {
    const at = _join("clusters", i);
    const block = _mapping(item, at, { ctx, keys: STRUCTURED_KEYS.cluster });
    if (block === undefined) continue;
    const cluster = _item(block, at, {
      options: CLUSTER_OPTIONS,
      ctx,
      required: { name: "the cluster's name" },
    }) as unknown as ClusterConfig | undefined;
    if (cluster === undefined) continue;
    const first = seen.get(cluster.name);
    if (first !== undefined) {
      ctx.issues.add(_join(at, "name"), `${quote(cluster.name)} is also the name of ${first}`);
      continue;
    }
    seen.set(cluster.name, at);
    const kubeconfig = cluster.kubeconfig;
    clusters.push({
      name: cluster.name,
      // Relative to the configuration file, not to wherever the agent happens to be started.
      ...(kubeconfig
        ? {
          kubeconfig: isAbsolute(kubeconfig) ? kubeconfig : join(dirname(ctx.source), kubeconfig),
        }
        : {}),
      ...(cluster.context ? { context: cluster.context } : {}),
    });
  }
  return clusters;
}

/** Every cluster a service or one of its sources names must be one of `clusters`. */
function _checkClusterNames(
  clusters: readonly string[] | undefined,
  sources: readonly SourceConfig[] | undefined | null,
  path: string,
  ctx: _Context,
): void {
  const names = ctx.clusterNames ?? [];
  const allowed = names.length > 0
    ? `allowed: ${names.join(", ")}`
    : "no clusters are configured: add a `clusters` list";
  clusters?.forEach((name, j) => {
    if (!names.includes(name)) {
      ctx.issues.add(`${path}.clusters[${j}]`, `unknown cluster ${quote(name)}: ${allowed}`);
    }
  });
  sources?.forEach((source, j) => {
    if ("cluster" in source && source.cluster !== undefined && !names.includes(source.cluster)) {
      ctx.issues.add(
        `${path}.sources[${j}].cluster`,
        `unknown cluster ${quote(source.cluster)}: ${allowed}`,
      );
    }
  });
}

/** The YAML (or JSON) document as plain data; syntax errors are issues at `file:line:column`. */
function _readYaml(
  text: string,
  options: { source: string; issues: IssueList; warnings: string[] },
): unknown {
  const { issues, source } = options;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const where = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${source}:${line}:${col}`;
  };
  // The parser may report one mistake several times at the same place: show it once.
  const seen = new Set<string>();
  for (const error of doc.errors) {
    const line = `${where(error.pos[0])}\nsyntax error: ${_yamlMessage(error.message)}`;
    if (seen.has(line)) continue;
    seen.add(line);
    const [path, message] = line.split("\n") as [string, string];
    issues.add(path, message);
  }
  for (const warning of doc.warnings) {
    options.warnings.push(`${where(warning.pos[0])}: ${_yamlMessage(warning.message)}`);
  }
  if (doc.errors.length > 0) return undefined;
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    return issues.add(source, `syntax error: ${_yamlMessage(String((error as Error).message))}`);
  }
}

interface _Context {
  readonly issues: IssueList;
  readonly warnings: string[];
  /** Values accepted under another spelling. */
  readonly notes: string[];
  readonly source: string;
  readonly defaultNamespace: string;
  /** The names of `clusters` (issue 14), known before the services are read. */
  readonly clusterNames?: readonly string[];
}

/** A YAML parser message as an issue message: lower-case start, never a URL from the input. */
function _yamlMessage(message: string): string {
  const clean = message.replace(/[a-z][a-z0-9+.-]*:\/\/\S*/gi, "<redacted>").trim();
  return /^[A-Z][a-z]/.test(clean) ? clean[0]!.toLowerCase() + clean.slice(1) : clean;
}

function _present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** `a.b`, `a[0]`, or `a["odd key"]`. */
function _join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (!/^[A-Za-z_$][\w$-]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** A mapping with only known keys; every unknown key is an issue with a suggestion if any. */
function _mapping(
  value: unknown,
  path: string,
  options: { ctx: _Context; keys: readonly string[] },
): Record<string, unknown> | undefined {
  const { issues } = options.ctx;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const what = options.keys.join(", ");
    return issues.add(
      path || options.ctx.source,
      `must be a mapping (keys ${what}), not ${kindOf(value)}`,
    );
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (options.keys.includes(key)) continue;
    const suggestion = closestName(key, options.keys);
    issues.add(
      _join(path, key),
      suggestion === undefined
        ? `unknown key: allowed ${options.keys.join(", ")}`
        : `unknown key: did you mean '${suggestion}'?`,
    );
  }
  return record;
}

/** A list, or an issue. */
function _list(value: unknown, path: string, ctx: _Context): readonly unknown[] | undefined {
  return Array.isArray(value)
    ? value
    : ctx.issues.add(path, `must be a list, not ${kindOf(value)}`);
}

/** The options of a block that are present, checked, each with its path; defaults stay implicit. */
function _given<G extends Options>(
  block: Record<string, unknown>,
  path: string,
  options: { options: G; ctx: _Context },
): GivenOptions<G> {
  const given: Record<string, Located<unknown>> = {};
  for (const [name, option] of Object.entries(options.options)) {
    const value = _option(block, path, { key: name, option, ctx: options.ctx });
    if (value !== undefined) given[name] = value;
  }
  return given as GivenOptions<G>;
}

/** The option `key` of the block at `path`, checked; `undefined` when absent or invalid (reported). */
function _option<T>(
  block: Record<string, unknown>,
  path: string,
  options: { key: string; option: Option<T>; ctx: _Context },
): Located<T> | undefined {
  const { key, option, ctx } = options;
  const raw = block[key];
  if (!_present(raw)) return undefined;
  const at = _join(path, key);
  const value = ctx.issues.take(at, option.parse(raw, "file"));
  if (value === undefined) return undefined;
  const note = option.note?.(raw, value, "file");
  if (note !== undefined) ctx.notes.push(`${at}: ${note}`);
  return { value, path: at };
}

/**
 * The options of one list item's mapping (a port, a target) with their defaults; options
 * without a value or default are left out. `undefined` when a required option, or one with a
 * default, is missing or invalid.
 */
function _item<G extends Options>(
  block: Record<string, unknown>,
  path: string,
  options: { options: G; ctx: _Context; required: Partial<Record<keyof G, string>> },
): Record<string, unknown> | undefined {
  const { ctx, required } = options;
  const values: Record<string, unknown> = {};
  let complete = true;
  for (const [name, option] of Object.entries(options.options)) {
    const why = required[name];
    const value = _present(block[name])
      ? _option(block, path, { key: name, option, ctx })?.value
      : why !== undefined
      ? ctx.issues.add(_join(path, name), `required: ${why}`)
      : option.default;
    if (value !== undefined) values[name] = value;
    else if (option.required || option.default !== undefined) complete = false;
  }
  return complete ? values : undefined;
}

interface _Alerts {
  readonly teams?: SecretSource;
  readonly webhook?: SecretSource;
  readonly alerts?: AlertOptions;
}

/** The `alerts` block: webhook sources and delivery settings. Messages never quote a URL. */
function _alerts(value: unknown, ctx: _Context): _Alerts {
  if (!_present(value)) return {};
  const alerts = _mapping(value, "alerts", { ctx, keys: STRUCTURED_KEYS.alerts });
  if (alerts === undefined) return {};
  let teams: SecretSource | undefined;
  let shape: Located<TeamsCardShape> | undefined;
  if (_present(alerts.teams)) {
    const block = _mapping(alerts.teams, "alerts.teams", { ctx, keys: STRUCTURED_KEYS.teams });
    if (block !== undefined) {
      teams = _webhookSource(block, "alerts.teams", ctx);
      shape = _option(block, "alerts.teams", { key: "shape", option: TEAMS_OPTIONS.shape, ctx });
    }
  }
  let webhook: SecretSource | undefined;
  if (_present(alerts.webhook)) {
    const block = _mapping(alerts.webhook, "alerts.webhook", {
      ctx,
      keys: STRUCTURED_KEYS.webhook,
    });
    if (block !== undefined) webhook = _webhookSource(block, "alerts.webhook", ctx);
  }
  const delivery = _given(alerts, "alerts", { options: ALERT_OPTIONS, ctx });
  return {
    ...(teams === undefined ? {} : { teams }),
    ...(webhook === undefined ? {} : { webhook }),
    alerts: { ...(shape === undefined ? {} : { shape }), ...delivery },
  };
}

/**
 * The URL source of a channel block: `url` or `urlFile` (relative to the configuration file).
 * A block with neither is `missing`: fine only when the environment gives the URL.
 */
function _webhookSource(
  block: Record<string, unknown>,
  path: string,
  ctx: _Context,
): SecretSource | undefined {
  const hasUrl = _present(block.url);
  const hasFile = _present(block.urlFile);
  if (hasUrl && hasFile) {
    return ctx.issues.add(path, "ambiguous: both url and urlFile are set: set only one");
  }
  if (hasUrl) {
    if (typeof block.url !== "string") {
      return ctx.issues.add(`${path}.url`, `must be an https URL, not ${kindOf(block.url)}`);
    }
    return { kind: "url", url: block.url, path: `${path}.url` };
  }
  if (hasFile) {
    if (typeof block.urlFile !== "string" || block.urlFile.trim() === "") {
      return ctx.issues.add(
        `${path}.urlFile`,
        `must be a file path, not ${kindOf(block.urlFile)}`,
      );
    }
    const file = block.urlFile.trim();
    // Relative to the configuration file, not to wherever the agent happens to be started.
    const resolved = isAbsolute(file) ? file : join(dirname(ctx.source), file);
    return { kind: "file", file: resolved, path: `${path}.urlFile` };
  }
  return { kind: "missing", path };
}

/** Probe settings given in one block, each with the path it came from. */
type _ProbePart = GivenOptions<typeof PROBE_OPTIONS>;

interface _Defaults {
  readonly probe: _ProbePart;
  readonly publish: Partial<PublishSettings>;
}

function _defaults(value: unknown, ctx: _Context): _Defaults {
  const empty = { probe: {}, publish: {} };
  if (!_present(value)) return empty;
  const defaults = _mapping(value, "defaults", { ctx, keys: STRUCTURED_KEYS.defaults });
  if (defaults === undefined) return empty;
  const probe = _probePart(defaults.probe, "defaults.probe", {
    ctx,
    keys: STRUCTURED_KEYS.defaultProbe,
  });
  if (probe.timeout !== undefined && probe.interval !== undefined) {
    ctx.issues.take(
      probe.timeout.path,
      PROBE_OPTIONS.timeout.fits!(probe.timeout.value, { interval: probe.interval.value }),
    );
  }
  return { probe, publish: _publishPart(defaults.publish, "defaults.publish", ctx) };
}

function _probePart(
  value: unknown,
  path: string,
  options: { ctx: _Context; keys: readonly string[] },
): _ProbePart {
  if (!_present(value)) return {};
  const block = _mapping(value, path, options);
  if (block === undefined) return {};
  return _given(block, path, { options: PROBE_OPTIONS, ctx: options.ctx });
}

function _publishPart(value: unknown, path: string, ctx: _Context): Partial<PublishSettings> {
  if (!_present(value)) return {};
  const block = _mapping(value, path, { ctx, keys: STRUCTURED_KEYS.publish });
  if (block === undefined) return {};
  const given = _given(block, path, { options: PUBLISH_OPTIONS, ctx });
  return Object.fromEntries(Object.entries(given).map(([key, located]) => [key, located.value]));
}

function _services(
  value: unknown,
  options: { ctx: _Context; defaults: _Defaults },
): ServiceConfig[] {
  const { ctx } = options;
  if (!_present(value)) {
    ctx.issues.add("services", "required: a list of the Services whose endpoints HELASEID keeps");
    return [];
  }
  const list = _list(value, "services", ctx);
  if (list === undefined) return [];
  if (list.length === 0) ctx.issues.add("services", "at least one service is required");
  const services: ServiceConfig[] = [];
  const paths: string[] = [];
  const seen = new Map<string, string>();
  for (const [i, item] of list.entries()) {
    const path = `services[${i}]`;
    const service = _service(item, path, options);
    if (service === undefined) continue;
    const key = `${service.namespace}/${service.name}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, path);
    else ctx.issues.add(path, `${quote(key)} is listed twice: first at ${first}`);
    services.push(service);
    paths.push(path);
  }
  checkCompanionNames(services, paths, ctx.issues);
  return services;
}

function _service(
  value: unknown,
  path: string,
  options: { ctx: _Context; defaults: _Defaults },
): ServiceConfig | undefined {
  const { ctx, defaults } = options;
  const { issues } = ctx;
  const block = _mapping(value, path, { ctx, keys: STRUCTURED_KEYS.service });
  if (block === undefined) return undefined;
  const before = issues.issues.length;

  const name = _present(block.name)
    ? issues.take(_join(path, "name"), SERVICE_OPTIONS.name.parse(block.name, "file"))
    : issues.add(_join(path, "name"), "required: the name of the Service");
  const namespace = _present(block.namespace)
    ? issues.take(
      _join(path, "namespace"),
      SERVICE_OPTIONS.namespace.parse(block.namespace, "file"),
    )
    : ctx.defaultNamespace;
  const ports = _ports(block.ports, _join(path, "ports"), ctx);
  const clusters = _serviceClusters(block.clusters, _join(path, "clusters"), ctx);
  const sources = readFileSources(block, path, {
    namespace: namespace ?? ctx.defaultNamespace,
    baseDir: dirname(ctx.source),
    issues,
  });
  // With sources, the static list may be left out: the sources give the targets.
  const targets = sources && !_present(block.targets)
    ? []
    : _targets(block.targets, _join(path, "targets"), { ...ctx, allowEmpty: !!sources });
  _checkClusterNames(clusters, sources, path, ctx);
  const sourceGuard = _present(block.sources)
    ? readFileSourceGuard(block.sourceGuard, _join(path, "sourceGuard"), issues)
    : undefined;
  if (!_present(block.sources) && _present(block.sourceGuard)) {
    issues.add(_join(path, "sourceGuard"), "applies only to a service with sources");
  }

  const probe = _probe(block.probe, _join(path, "probe"), {
    ctx,
    defaults: defaults.probe,
    port: ports?.[0]?.port,
  });
  const checks = readFileChecks(block, path, {
    ...(probe === undefined ? {} : { type: probe.type, port: probe.port }),
    issues,
  });
  const publish: PublishSettings = {
    ...PUBLISH_DEFAULTS,
    ...defaults.publish,
    ..._publishPart(block.publish, _join(path, "publish"), ctx),
  };
  if (!publish.endpointSlices && !publish.endpoints) {
    ctx.warnings.push(
      `${_join(path, "publish")}: endpointSlices and endpoints are both false: ` +
        "targets are probed and alerted on but nothing is published",
    );
  }
  const zones = readFileZones(block, path, {
    issues,
    ...(targets === undefined ? {} : { targets }),
    hasSources: !!sources,
  });
  const primary = readFilePrimary(block, path, {
    issues,
    ...(targets === undefined ? {} : { targets }),
    hasSources: !!sources,
    ...(name === undefined ? {} : { name }),
    ...(probe === undefined ? {} : { probePort: probe.port }),
  });

  if (
    issues.issues.length > before || name === undefined || namespace === undefined ||
    ports === undefined || targets === undefined || probe === undefined || checks === null ||
    sources === null || (sources && sourceGuard === undefined)
  ) {
    return undefined;
  }
  return {
    name,
    namespace,
    ports,
    targets,
    ...(sources ? { sources, sourceGuard } : {}),
    ...(clusters ? { clusters } : {}),
    probe,
    ...(checks === undefined ? {} : { checks }),
    publish,
    ...(zones ? { zones } : {}),
    ...(primary ? { primary } : {}),
  };
}

/**
 * A service's probe settings: its own `probe` block, else `defaults.probe`, else
 * {@linkcode PROBE_DEFAULTS}; the port defaults to the first service port.
 */
function _probe(
  value: unknown,
  path: string,
  options: { ctx: _Context; defaults: _ProbePart; port: number | undefined },
): ProbeSettings | undefined {
  const { ctx, defaults: d } = options;
  const before = ctx.issues.issues.length;
  // The check options (`path`, `status`, ...) sit beside the timing; probe_checks.ts reads them.
  const keys = [...STRUCTURED_KEYS.probe, ...STRUCTURED_KEYS.check];
  const own = _probePart(value, path, { ctx, keys });
  if (ctx.issues.issues.length > before) return undefined;
  // Each setting: the service's own, else defaults.probe, else the port given, else the table's.
  const given: Partial<ProbeSettings> = { port: options.port };
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(PROBE_OPTIONS)) {
    const key = name as keyof ProbeSettings;
    const value = (own[key] ?? d[key])?.value ?? given[key] ?? option.default ??
      option.derive?.(values);
    if (value !== undefined) values[name] = value;
  }
  // A defaults block at odds with itself was reported once, in `_defaults`.
  const timeoutFromDefaults = own.timeout === undefined && d.timeout !== undefined;
  if (!(timeoutFromDefaults && own.interval === undefined && d.interval !== undefined)) {
    const fits = PROBE_OPTIONS.timeout.fits!(values.timeout as number, values);
    if (!fits.ok) {
      const note = timeoutFromDefaults ? " (the timeout comes from defaults.probe.timeout)" : "";
      return ctx.issues.add(_join(path, "timeout"), fits.message + note);
    }
  }
  // The fast and down intervals against the interval and timeout they end up with.
  for (const name of ["fastInterval", "downInterval"] as const) {
    const located = own[name] ?? d[name];
    const fits = located && PROBE_OPTIONS[name].fits!(located.value, values);
    if (fits && !fits.ok) return ctx.issues.add(located.path, fits.message);
  }
  if (values.port === undefined) return undefined;
  return values as ProbeSettings;
}

function _ports(value: unknown, path: string, ctx: _Context): ServicePort[] | undefined {
  const { issues } = ctx;
  if (!_present(value)) return issues.add(path, "required: the ports to check and publish");
  const list = _list(value, path, ctx);
  if (list === undefined) return undefined;
  if (list.length === 0) return issues.add(path, "at least one port is required");
  if (list.length > MAX_PORTS) {
    return issues.add(path, `${list.length} ports: allowed at most ${MAX_PORTS}`);
  }
  const before = issues.issues.length;
  const ports: Located<ServicePort>[] = [];
  for (const [i, item] of list.entries()) {
    const at = _join(path, i);
    if (typeof item !== "object" || item === null) {
      const port = issues.take(at, SERVICE_OPTIONS.ports.parse(item, "file"));
      if (port === undefined) continue;
      const { name, protocol } = PORT_OPTIONS;
      ports.push({ value: { name: name.default!, port, protocol: protocol.default! }, path: at });
      continue;
    }
    const block = _mapping(item, at, { ctx, keys: STRUCTURED_KEYS.port });
    if (block === undefined) continue;
    const servicePort = _item(block, at, {
      options: PORT_OPTIONS,
      ctx,
      required: { port: "the port number" },
    });
    if (servicePort === undefined) continue;
    ports.push({ value: servicePort as unknown as ServicePort, path: at });
  }
  _checkPortNames(ports, issues);
  return issues.issues.length > before ? undefined : ports.map((p) => p.value);
}

/** With more than one port, the API needs every port named, each name once. */
function _checkPortNames(ports: readonly Located<ServicePort>[], issues: IssueList): void {
  if (ports.length < 2) return;
  const seen = new Map<string, string>();
  for (const { value, path } of ports) {
    if (value.name === "") {
      issues.add(
        path,
        `port ${value.port} has no name: with more than one port every port needs a unique name`,
      );
      continue;
    }
    const first = seen.get(value.name);
    if (first === undefined) seen.set(value.name, path);
    else {
      issues.add(
        _join(path, "name"),
        `${quote(value.name)} is also the name of ${first}: port names must be unique`,
      );
    }
  }
}

/** A service's `clusters`: names, each once. */
function _serviceClusters(value: unknown, path: string, ctx: _Context): string[] | undefined {
  if (!_present(value)) return undefined;
  const list = _list(value, path, ctx);
  if (list === undefined) return undefined;
  if (list.length === 0) return ctx.issues.add(path, "at least one cluster (or leave it out)");
  const names: string[] = [];
  for (const [i, item] of list.entries()) {
    const name = ctx.issues.take(_join(path, i), SERVICE_OPTIONS.clusters.parse(item, "file"));
    if (name === undefined) continue;
    if (names.includes(name)) ctx.issues.add(_join(path, i), `${quote(name)} is listed twice`);
    else names.push(name);
  }
  return names;
}

function _targets(
  value: unknown,
  path: string,
  ctx: _Context & { readonly allowEmpty: boolean },
): Target[] | undefined {
  const { issues } = ctx;
  if (!_present(value)) {
    return issues.add(path, "required: the addresses to check and publish (or sources)");
  }
  const list = _list(value, path, ctx);
  if (list === undefined) return undefined;
  if (list.length === 0 && !ctx.allowEmpty) {
    return issues.add(path, "at least one target is required (or sources)");
  }
  const before = issues.issues.length;
  const targets: Located<Target>[] = [];
  for (const [i, item] of list.entries()) {
    const at = _join(path, i);
    if (typeof item !== "object" || item === null) {
      const address = issues.take(at, SERVICE_OPTIONS.targets.parse(item, "file"));
      if (address !== undefined) targets.push({ value: { address }, path: at });
      continue;
    }
    const block = _mapping(item, at, { ctx, keys: STRUCTURED_KEYS.target });
    if (block === undefined) continue;
    const target = _item(block, at, {
      options: TARGET_OPTIONS,
      ctx,
      required: { address: "the IP address of the target" },
    });
    if (target !== undefined) targets.push({ value: target as unknown as Target, path: at });
  }
  checkDuplicateTargets(targets, issues);
  return issues.issues.length > before ? undefined : targets.map((t) => t.value);
}
