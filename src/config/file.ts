/**
 * The structured configuration file (YAML or JSON): a list of Services plus global settings.
 * Unknown keys are errors, with a suggestion when they look like a typo.
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { checkDuration, checkTimeoutFits } from "./duration.ts";
import {
  type AlertOptions,
  ALL_DOWN_MODES,
  checkAddress,
  checkAppProtocol,
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
  defaultTimeout,
  IssueList,
  kindOf,
  type Located,
  type Millis,
  type ParsedConfig,
  PROBE_DEFAULTS,
  PROBE_TYPES,
  type ProbeSettings,
  type ProbeType,
  PROTOCOLS,
  PUBLISH_DEFAULTS,
  type PublishSettings,
  quote,
  type SecretSource,
  type ServiceConfig,
  type ServicePort,
  type Target,
  TEAMS_CARD_SHAPES,
  type TeamsCardShape,
  UNHEALTHY_MODES,
} from "./schema.ts";

/** Keys of each block of the structured file. */
export const STRUCTURED_KEYS = {
  root: ["logLevel", "alerts", "defaults", "services"],
  alerts: ["teams", "webhook", "coalesce", "writeFailureThreshold", "degraded"],
  teams: ["url", "urlFile", "shape"],
  webhook: ["url", "urlFile"],
  defaults: ["probe", "publish"],
  service: ["name", "namespace", "ports", "targets", "probe", "publish"],
  port: ["name", "port", "protocol", "appProtocol"],
  target: ["address", "zone", "hostname"],
  probe: ["type", "port", "interval", "timeout", "rise", "fall", "jitter"],
  defaultProbe: ["type", "interval", "timeout", "rise", "fall", "jitter"],
  publish: ["endpointSlices", "endpoints", "unhealthy", "allDown", "createService"],
} as const;

/** At most this many ports per EndpointSlice (API limit). */
export const MAX_PORTS = 100;

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

  const ctx: _Context = {
    issues,
    warnings,
    source,
    defaultNamespace: options.defaultNamespace ?? "default",
  };
  const top = _mapping(root ?? {}, "", { ctx, keys: STRUCTURED_KEYS.root });
  if (top === undefined) {
    return { format: "structured", services: [], issues: issues.issues, warnings };
  }
  const logLevel = _present(top.logLevel)
    ? issues.take("logLevel", checkLogLevel(top.logLevel))
    : undefined;
  const alerts = _alerts(top.alerts, ctx);
  const defaults = _defaults(top.defaults, ctx);
  const services = _services(top.services, { ctx, defaults });
  return {
    format: "structured",
    services: issues.issues.length > 0 ? [] : services,
    logLevel,
    ...alerts,
    issues: issues.issues,
    warnings,
  };
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
  readonly source: string;
  readonly defaultNamespace: string;
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
  const { issues } = ctx;
  const field = <T>(
    block: Record<string, unknown>,
    at: {
      readonly path: string;
      readonly key: string;
      readonly check: (value: unknown) => Checked<T>;
    },
  ): Located<T> | undefined => {
    if (!_present(block[at.key])) return undefined;
    const path = _join(at.path, at.key);
    const checked = issues.take(path, at.check(block[at.key]));
    return checked === undefined ? undefined : { value: checked, path };
  };
  let teams: SecretSource | undefined;
  let shape: Located<TeamsCardShape> | undefined;
  if (_present(alerts.teams)) {
    const block = _mapping(alerts.teams, "alerts.teams", { ctx, keys: STRUCTURED_KEYS.teams });
    if (block !== undefined) {
      teams = _webhookSource(block, "alerts.teams", ctx);
      shape = field(block, {
        path: "alerts.teams",
        key: "shape",
        check: (v) => checkChoice(v, TEAMS_CARD_SHAPES, { what: "shape" }),
      });
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
  const duration = (v: unknown) => checkDuration(v, { allowZero: true });
  const coalesce = field(alerts, { path: "alerts", key: "coalesce", check: duration });
  const threshold = field(alerts, {
    path: "alerts",
    key: "writeFailureThreshold",
    check: duration,
  });
  const degraded = field(alerts, { path: "alerts", key: "degraded", check: checkBoolean });
  return {
    ...(teams === undefined ? {} : { teams }),
    ...(webhook === undefined ? {} : { webhook }),
    alerts: {
      ...(shape === undefined ? {} : { shape }),
      ...(coalesce === undefined ? {} : { coalesce }),
      ...(threshold === undefined ? {} : { writeFailureThreshold: threshold }),
      ...(degraded === undefined ? {} : { degraded }),
    },
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
interface _ProbePart {
  readonly type?: Located<ProbeType>;
  readonly port?: Located<number>;
  readonly interval?: Located<Millis>;
  readonly timeout?: Located<Millis>;
  readonly rise?: Located<number>;
  readonly fall?: Located<number>;
  readonly jitter?: Located<number>;
}

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
      checkTimeoutFits(probe.timeout.value, probe.interval.value),
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
  const { issues } = options.ctx;
  const field = <T>(
    key: keyof _ProbePart,
    check: (value: unknown) => Checked<T>,
  ): Located<T> | undefined => {
    if (!_present(block[key])) return undefined;
    const at = _join(path, key);
    const checked = issues.take(at, check(block[key]));
    return checked === undefined ? undefined : { value: checked, path: at };
  };
  return {
    type: field("type", (v) => checkChoice(v, PROBE_TYPES, { what: "probe type" })),
    port: field("port", checkPort),
    interval: field("interval", (v) => checkDuration(v)),
    timeout: field("timeout", (v) => checkDuration(v)),
    rise: field("rise", checkCount),
    fall: field("fall", checkCount),
    jitter: field("jitter", checkJitter),
  };
}

function _publishPart(value: unknown, path: string, ctx: _Context): Partial<PublishSettings> {
  if (!_present(value)) return {};
  const block = _mapping(value, path, { ctx, keys: STRUCTURED_KEYS.publish });
  if (block === undefined) return {};
  const read = <K extends keyof PublishSettings>(
    key: K,
    check: (value: unknown) => Checked<PublishSettings[K]>,
  ): Partial<PublishSettings> => {
    if (!_present(block[key])) return {};
    const value = ctx.issues.take(_join(path, key), check(block[key]));
    return value === undefined ? {} : { [key]: value };
  };
  return {
    ...read("endpointSlices", checkBoolean),
    ...read("endpoints", checkBoolean),
    ...read("unhealthy", (v) => checkChoice(v, UNHEALTHY_MODES, { what: "mode" })),
    ...read("allDown", (v) => checkChoice(v, ALL_DOWN_MODES, { what: "mode" })),
    ...read("createService", checkBoolean),
  };
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
  }
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
    ? issues.take(_join(path, "name"), checkDns1035Label(block.name, { what: "Service name" }))
    : issues.add(_join(path, "name"), "required: the name of the Service");
  const namespace = _present(block.namespace)
    ? issues.take(
      _join(path, "namespace"),
      checkDns1123Label(block.namespace, { what: "namespace" }),
    )
    : ctx.defaultNamespace;
  const ports = _ports(block.ports, _join(path, "ports"), ctx);
  const targets = _targets(block.targets, _join(path, "targets"), ctx);

  const probe = _probe(block.probe, _join(path, "probe"), {
    ctx,
    defaults: defaults.probe,
    port: ports?.[0]?.port,
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

  if (
    issues.issues.length > before || name === undefined || namespace === undefined ||
    ports === undefined || targets === undefined || probe === undefined
  ) {
    return undefined;
  }
  return { name, namespace, ports, targets, probe, publish };
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
  const own = _probePart(value, path, { ctx, keys: STRUCTURED_KEYS.probe });
  if (ctx.issues.issues.length > before) return undefined;
  const interval = own.interval ?? d.interval ?? { value: PROBE_DEFAULTS.interval, path: "" };
  const timeout = own.timeout ?? d.timeout ?? { value: defaultTimeout(interval.value), path: "" };
  const timeoutFromDefaults = timeout === d.timeout;
  // A defaults block at odds with itself was reported once, in `_defaults`.
  if (!(timeoutFromDefaults && interval === d.interval)) {
    const fits = checkTimeoutFits(timeout.value, interval.value);
    if (!fits.ok) {
      const note = timeoutFromDefaults ? " (the timeout comes from defaults.probe.timeout)" : "";
      return ctx.issues.add(_join(path, "timeout"), fits.message + note);
    }
  }
  const port = own.port?.value ?? options.port;
  if (port === undefined) return undefined;
  return {
    type: (own.type ?? d.type)?.value ?? "tcp",
    port,
    interval: interval.value,
    timeout: timeout.value,
    rise: (own.rise ?? d.rise)?.value ?? PROBE_DEFAULTS.rise,
    fall: (own.fall ?? d.fall)?.value ?? PROBE_DEFAULTS.fall,
    jitter: (own.jitter ?? d.jitter)?.value ?? PROBE_DEFAULTS.jitter,
  };
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
      const port = issues.take(at, checkPort(item));
      if (port !== undefined) ports.push({ value: { name: "", port, protocol: "TCP" }, path: at });
      continue;
    }
    const block = _mapping(item, at, { ctx, keys: STRUCTURED_KEYS.port });
    if (block === undefined) continue;
    const name = _present(block.name)
      ? issues.take(_join(at, "name"), checkDns1123Label(block.name, { what: "port name" }))
      : "";
    const port = _present(block.port)
      ? issues.take(_join(at, "port"), checkPort(block.port))
      : issues.add(_join(at, "port"), "required: the port number");
    const protocol = _present(block.protocol)
      ? issues.take(
        _join(at, "protocol"),
        checkChoice(block.protocol, PROTOCOLS, { what: "protocol" }),
      )
      : "TCP";
    const appProtocol = _present(block.appProtocol)
      ? issues.take(_join(at, "appProtocol"), checkAppProtocol(block.appProtocol))
      : undefined;
    if (name === undefined || port === undefined || protocol === undefined) continue;
    const servicePort: ServicePort = appProtocol === undefined
      ? { name, port, protocol }
      : { name, port, protocol, appProtocol };
    ports.push({ value: servicePort, path: at });
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

function _targets(value: unknown, path: string, ctx: _Context): Target[] | undefined {
  const { issues } = ctx;
  if (!_present(value)) return issues.add(path, "required: the addresses to check and publish");
  const list = _list(value, path, ctx);
  if (list === undefined) return undefined;
  if (list.length === 0) return issues.add(path, "at least one target is required");
  const before = issues.issues.length;
  const targets: Located<Target>[] = [];
  for (const [i, item] of list.entries()) {
    const at = _join(path, i);
    if (typeof item !== "object" || item === null) {
      const address = issues.take(at, checkAddress(item));
      if (address !== undefined) targets.push({ value: { address }, path: at });
      continue;
    }
    const block = _mapping(item, at, { ctx, keys: STRUCTURED_KEYS.target });
    if (block === undefined) continue;
    const address = _present(block.address)
      ? issues.take(_join(at, "address"), checkAddress(block.address))
      : issues.add(_join(at, "address"), "required: the IP address of the target");
    let zone: string | undefined;
    if (_present(block.zone)) {
      zone = typeof block.zone !== "string"
        ? issues.add(_join(at, "zone"), `must be a zone name, not ${kindOf(block.zone)}`)
        : block.zone.trim() === ""
        ? issues.add(_join(at, "zone"), "must not be empty")
        : block.zone.trim();
    }
    const hostname = _present(block.hostname)
      ? issues.take(_join(at, "hostname"), checkDns1123Label(block.hostname, { what: "hostname" }))
      : undefined;
    if (address === undefined) continue;
    targets.push({
      value: {
        address,
        ...(zone === undefined ? {} : { zone }),
        ...(hostname === undefined ? {} : { hostname }),
      },
      path: at,
    });
  }
  checkDuplicateTargets(targets, issues);
  return issues.issues.length > before ? undefined : targets.map((t) => t.value);
}
