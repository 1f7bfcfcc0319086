/**
 * Every configuration option, declared once: its key in the structured file, its seed/environment
 * variable, how its value is parsed and checked, its default and its line of documentation.
 *
 * The readers of both formats (`env.ts`, `file.ts`) loop over these tables, `validate` shows
 * values the way an option says, and a test holds the README's configuration reference to them.
 * Adding a scalar option is one entry here plus the code that uses the value: its variable is
 * read, its key is allowed, its default applied, its type added to the model
 * ({@linkcode OptionValues}), and the README test asks for its row.
 *
 * An option's structured key is its block's path plus its name in the table:
 * `services[].probe.interval` is `PROBE_OPTIONS.interval`.
 *
 * @module
 */

import {
  ALL_DOWN_MODES,
  type AllDownMode,
  DNS_RECORDS,
  type DnsRecord,
  type LogLevel,
  NODE_ADDRESS_TYPES,
  type NodeAddressType,
  PROBE_TYPES,
  type ProbeType,
  type Protocol,
  PROTOCOLS,
  REMOVED_SERVICE_MODES,
  type RemovedServiceMode,
  SOURCE_TYPES,
  type SourceType,
  TEAMS_CARD_SHAPES,
  type TeamsCardShape,
  UNHEALTHY_MODES,
  type UnhealthyMode,
} from "./choices.ts";
import {
  checkHeaders,
  checkHeaderText,
  checkMatcher,
  checkMethod,
  checkPath,
  checkSend,
  checkStatusRanges,
  formatMatcher,
  formatStatusRanges,
  type Matcher,
  type StatusRange,
} from "./checks.ts";
import { checkDuration, checkTimeoutFits, formatDuration } from "./duration.ts";
import {
  checkFailback,
  checkMapping,
  checkOverprovisioning,
  checkZonePreferences,
  formatFailback,
  formatZonePreferences,
  NO_PRIMARY_MODES,
  type NoPrimaryMode,
  PRIMARY_MODES,
  type PrimaryMode,
  type ZonePreferences,
} from "./zone_checks.ts";
import { checkClusterName, checkDnsName, checkLabelSelector, checkNameserver } from "./names.ts";
import { type Checked, failed, type Located, passed } from "./issues.ts";
import type { Millis } from "./schema.ts";
import {
  checkAddress,
  checkAppProtocol,
  checkBoolean,
  checkChoice,
  checkConfigMapKey,
  checkCount,
  checkDns1035Label,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkInteger,
  checkJitter,
  checkLogLevel,
  checkPort,
  checkText,
  checkZone,
  quote,
} from "./validate.ts";

/**
 * Where a raw value comes from: a seed or environment variable (always text) or the structured
 * file (any YAML value). It changes only how messages show the allowed values.
 */
export type OptionSource = "env" | "file";

/** The options read before this one in the same block, by name (`{ interval: 2000 }`). */
export type OptionBlock = Readonly<Record<string, unknown>>;

/** One configuration option. */
export interface Option<T> {
  /** Its seed/environment variable; absent when only the structured file has the option. */
  readonly env?: string;
  /** Parses and checks one raw value (for a list, one item of it). */
  parse(value: unknown, source: OptionSource): Checked<T>;
  /** Its value when not given; absent when it is required, has none, or is computed. */
  readonly default?: T;
  /** The seed format's default, where it differs from {@linkcode Option.default}. */
  readonly seedDefault?: T;
  /** A required option: the configuration is invalid without it. */
  readonly required?: boolean;
  /** Absent unless given: no value when not set (its default is computed where it is used). */
  readonly optional?: boolean;
  /** A default computed from the options read before it in its block. */
  derive?(block: OptionBlock): T | undefined;
  /** A check against the options read before it in its block. */
  fits?(value: T, block: OptionBlock): Checked<T>;
  /** How `validate` and the README show a value (default: as it is). */
  show?(value: T): string | number | boolean;
  /** The default in the README's words, when it is not a plain value. */
  readonly defaultText?: string;
  /** The seed format's default in the README's words, when it differs from the file's. */
  readonly seedDefaultText?: string;
  /** What `validate` notes about an accepted value: another spelling was read as `value`. */
  note?(raw: unknown, value: T, source: OptionSource): string | undefined;
  /** One line of documentation: the "meaning" column of the README's reference. */
  readonly doc: string;
}

/** A block of options by name: the keys of one mapping of the structured file. */
export type Options = Readonly<Record<string, Option<unknown>>>;

/** The type of an option's value. */
export type OptionValue<O> = O extends Option<infer T> ? T : never;

/**
 * The values of a block of options, by name: the settings type of the model. An option whose
 * value may be `undefined` (an {@linkcode Option.optional} one) is an optional key.
 */
export type OptionValues<G> =
  & {
    readonly [K in keyof G as undefined extends OptionValue<G[K]> ? never : K]: OptionValue<G[K]>;
  }
  & {
    readonly [K in keyof G as undefined extends OptionValue<G[K]> ? K : never]?: OptionValue<G[K]>;
  };

/** The options of a block that an input gave, each with the field path it came from. */
export type GivenOptions<G> = { readonly [K in keyof G]?: Located<OptionValue<G[K]>> };

/** Declares one option (keeps its value type for {@linkcode OptionValues}). */
function option<T>(spec: Option<T>): Option<T> {
  return spec;
}

const duration = { show: formatDuration, parse: (v: unknown) => checkDuration(v) };
const durationOrZero = {
  show: formatDuration,
  parse: (v: unknown) => checkDuration(v, { allowZero: true }),
};

/** The longest timeout applied when none is configured: `min(interval, 1s)`. */
export function defaultTimeout(interval: Millis): Millis {
  return Math.min(interval, 1000);
}

// ---------------------------------------------------------------------------------------------
// The tables, one per block of the structured file
// ---------------------------------------------------------------------------------------------

/** Options at the top of the structured file. */
export const GLOBAL_OPTIONS = {
  /**
   * Log level; the command line's `--log-level` wins.
   *
   * @default {"info"}
   */
  logLevel: option<LogLevel>({
    env: "LOG_LEVEL",
    parse: (v, source) => checkLogLevel(v, { upperCase: source === "env" }),
    default: "info",
    seedDefaultText: "`INFO`",
    note: (raw, value, source) => {
      const shown = source === "env" ? value.toUpperCase() : value;
      return String(raw).trim().toLowerCase() === value
        ? undefined
        : `${quote(raw)} is read as '${shown}' (a level of the original HELASEID)`;
    },
    doc: "`debug`, `info`, `warn` or `error`, in any case (the original's `WARNING`, `CRITICAL` " +
      "and `FATAL` are read as `warn`, `error`, `error`); `--log-level` wins",
  }),
  /**
   * Several replicas share the Services by Lease (issue 13); off, one agent writes everything.
   *
   * @default {false}
   */
  leases: option<boolean>({
    env: "LEASES",
    parse: checkBoolean,
    default: false,
    doc: "one of several replicas: a Service is written only by the holder of its Lease (see " +
      "[High availability](#high-availability))",
  }),
  /**
   * How long a Lease's claim lasts after it was last seen renewed.
   *
   * @default {15000} 15s
   */
  leaseDuration: option<Millis>({
    env: "LEASE_DURATION",
    ...duration,
    default: 15_000,
    doc: "with `leases`: a replica takes over a Lease not renewed for this long",
  }),
  /**
   * A holder that has not renewed its Lease for this long stops writing.
   *
   * @default {10000} 10s
   */
  leaseRenewDeadline: option<Millis>({
    env: "LEASE_RENEW_DEADLINE",
    ...duration,
    default: 10_000,
    doc: "with `leases`: a holder that could not renew for this long stops writing; shorter " +
      "than the lease duration",
  }),
  /**
   * How often a holder renews and a candidate tries.
   *
   * @default {2000} 2s
   */
  leaseRetryPeriod: option<Millis>({
    env: "LEASE_RETRY_PERIOD",
    ...duration,
    default: 2000,
    doc: "with `leases`: how often Leases are renewed and tried; under renew deadline ÷ 1.2",
  }),
  /**
   * Reload the configuration file when it changes (SIGHUP always reloads).
   *
   * @default {true}
   */
  watchConfig: option<boolean>({
    env: "WATCH_CONFIG",
    parse: checkBoolean,
    default: true,
    doc: "reload the configuration file when it changes, a ConfigMap volume's update included " +
      "(not a `subPath` mount: those never change); `SIGHUP` reloads in any case",
  }),
  /**
   * What a reload does with the objects of a Service it removed.
   *
   * @default {"keep"}
   */
  removedServices: option<RemovedServiceMode>({
    parse: (v) => checkChoice(v, REMOVED_SERVICE_MODES, { what: "mode" }),
    default: "keep",
    doc: "a Service or companion a reload removed: `keep` leaves its objects as last written, " +
      "`delete` deletes the EndpointSlices and Endpoints HELASEID wrote for it",
  }),
  /** The namespace of the replicas' own Leases. */
  leaseNamespace: option<string>({
    env: "LEASE_NAMESPACE",
    parse: (v) => checkDns1123Label(v, { what: "namespace" }),
    defaultText: "the pod's, else the first Service's",
    doc: "with `leases`: where each replica announces itself with a Lease",
  }),
} as const;

/** Options of `alerts.teams`: Microsoft Teams (Workflows webhook) alerts. */
export const TEAMS_OPTIONS = {
  /** The Workflows webhook URL, a secret. */
  url: option<string>({
    env: "TEAMS_WEBHOOK_URL",
    parse: checkText,
    doc: "Microsoft Teams alerts: a Workflows webhook URL (from the Secret " +
      "`datastream-hslc-dev`); never logged",
  }),
  /** A file holding the webhook URL (a mounted Secret), relative to the configuration file. */
  urlFile: option<string>({
    env: "TEAMS_WEBHOOK_URL_FILE",
    parse: checkText,
    doc: "the same URL read from a file, such as a mounted Secret; set only one of the two",
  }),
  /**
   * What the webhook receives (see {@linkcode TEAMS_CARD_SHAPES}).
   *
   * @default {"workflows"}
   */
  shape: option<TeamsCardShape>({
    env: "TEAMS_CARD_SHAPE",
    parse: (v) => checkChoice(v, TEAMS_CARD_SHAPES, { what: "shape" }),
    default: "workflows",
    doc: "what the Teams webhook receives: `workflows` or `card` (see [Alerts](#alerts))",
  }),
} as const;

/** Options of `alerts.webhook`: alerts as JSON to any webhook. */
export const WEBHOOK_OPTIONS = {
  /** The webhook URL, a secret. */
  url: option<string>({
    env: "WEBHOOK_URL",
    parse: checkText,
    doc: "alerts as JSON to any other webhook (see [Alerts](#alerts)); never logged",
  }),
  /** A file holding the webhook URL, relative to the configuration file. */
  urlFile: option<string>({
    env: "WEBHOOK_URL_FILE",
    parse: checkText,
    doc: "the same URL read from a file; set only one of the two",
  }),
} as const;

/** Options of `alerts`: delivery of every channel. A loaded configuration keeps only what was given. */
export const ALERT_OPTIONS = {
  /**
   * Transitions of a Service within this window make one alert; 0 sends each.
   *
   * @default {2000} 2s
   */
  coalesce: option<Millis>({
    env: "ALERT_COALESCE",
    ...durationOrZero,
    default: 2000,
    doc: "transitions of one Service within this window make one alert; `0` sends each",
  }),
  /**
   * Alert when writes to the Kubernetes API have failed for this long.
   *
   * @default {60000} 1m
   */
  writeFailureThreshold: option<Millis>({
    env: "ALERT_WRITE_FAILURE_AFTER",
    ...durationOrZero,
    default: 60_000,
    doc: "alert when writes to the Kubernetes API have failed for this long",
  }),
  /**
   * Alert when some but not all targets of a Service are down.
   *
   * @default {true}
   */
  degraded: option<boolean>({
    env: "ALERT_DEGRADED",
    parse: checkBoolean,
    default: true,
    doc: "alert when some, not all, targets of a Service are down",
  }),
} as const;

/** Options of each entry of `services`. Ports and targets are lists, read item by item. */
export const SERVICE_OPTIONS = {
  /** The Service whose endpoints HELASEID keeps (a DNS-1035 label). */
  name: option<string>({
    env: "SERVICE_NAME",
    parse: (v) => checkDns1035Label(v, { what: "Service name" }),
    required: true,
    doc: "the Service whose endpoints HELASEID keeps",
  }),
  /**
   * Its namespace (a DNS-1123 label).
   *
   * @default {"default"} or the pod's namespace
   */
  namespace: option<string>({
    env: "NAMESPACE",
    parse: (v) => checkDns1123Label(v, { what: "namespace" }),
    default: "default",
    defaultText: "the pod's namespace, else `default`",
    doc: "its namespace",
  }),
  /** The ports to check and publish: each a port number or a mapping of `PORT_OPTIONS`. */
  ports: option<number>({
    parse: checkPort,
    required: true,
    doc: "a port number, or `{name, port, protocol, appProtocol}`; with several ports each " +
      "needs a unique name; at most 100",
  }),
  /** The clusters the Service is published into. */
  clusters: option<string>({
    env: "EXTRA_CONTEXTS",
    parse: checkClusterName,
    defaultText: "the first cluster",
    seedDefaultText: "none",
    doc: "the clusters the Service is published into: names of `clusters`, a list; " +
      "`EXTRA_CONTEXTS`: kubeconfig contexts to publish into besides the default one, " +
      "separated by spaces or commas",
  }),
  /** The targets: each an address or a mapping of `TARGET_OPTIONS`. */
  targets: option<string>({
    env: "IPS",
    parse: checkAddress,
    required: true,
    doc: 'the targets: an address or `{address, zone, hostname}`; `IPS` is a bash array `("a" ' +
      '"b")`, or addresses separated by spaces or commas (`IPS="10.188.2.3 10.188.2.4"`)',
  }),
} as const;

/** Options of each entry of `clusters` (issue 14): a cluster HELASEID publishes into. */
export const CLUSTER_OPTIONS = {
  /** Its name in `services[].clusters`, alerts, metrics and `/status`. */
  name: option<string>({
    parse: checkClusterName,
    required: true,
    doc: "the cluster's name in `services[].clusters`, sources, alerts, metrics and `/status`; " +
      "the first cluster is the default (see [Several clusters](#several-clusters))",
  }),
  /** Its kubeconfig. */
  kubeconfig: option<string>({
    parse: checkText,
    defaultText: "`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, or in-cluster",
    doc: "the kubeconfig of the cluster (relative to the configuration file)",
  }),
  /** Its context in that kubeconfig. */
  context: option<string>({
    parse: checkText,
    defaultText: "`--context`, else the kubeconfig's current context",
    doc: "the context of the cluster in that kubeconfig",
  }),
} as const;

/** Options of each entry of `services[].ports`. */
export const PORT_OPTIONS = {
  /**
   * Name of the port: must equal the Service's port name ("" for a single unnamed port).
   *
   * @default {""}
   */
  name: option<string>({
    env: "PORT_NAME",
    parse: (v) => checkDns1123Label(v, { what: "port name" }),
    default: "",
    doc: "name of the port; when publishing, HELASEID uses the name of the Service's port with " +
      "this target port",
  }),
  /** The port number to check and publish. */
  port: option<number>({
    env: "PORT",
    parse: checkPort,
    required: true,
    doc: "the port to check and publish",
  }),
  /**
   * Port protocol.
   *
   * @default {"TCP"}
   */
  protocol: option<Protocol>({
    env: "PROTOCOL",
    parse: (v, source) =>
      checkChoice(v, PROTOCOLS, { what: "protocol", upperCase: source === "env" }),
    default: "TCP",
    doc: "`TCP`, `UDP` or `SCTP` (the check is a TCP connect)",
  }),
  /** The port's `appProtocol`, such as `kafka` or `kubernetes.io/h2c`. */
  appProtocol: option<string>({
    parse: checkAppProtocol,
    doc: "the port's `appProtocol`, such as `kafka` or `kubernetes.io/h2c`",
  }),
} as const;

/** Options of each mapping in `services[].targets`. */
export const TARGET_OPTIONS = {
  /** IPv4 or IPv6 address, normalized (IPv6 lower case, compressed). */
  address: option<string>({
    parse: checkAddress,
    required: true,
    doc: "the IP address of the target",
  }),
  /** Published as `zone` on the endpoint. */
  zone: option<string>({ parse: checkZone, doc: "published as the endpoint's `zone`" }),
  /** The target's region (zone preferences group zones by it). */
  region: option<string>({ parse: checkZone, doc: "the target's region" }),
  /** Published as `hostname` on the endpoint. */
  hostname: option<string>({
    parse: (v) => checkDns1123Label(v, { what: "hostname" }),
    doc: "published as the endpoint's `hostname` (a DNS label)",
  }),
} as const;

/**
 * Options of each entry of `services[].sources` (issue 12). `type` says which apply; the rest
 * are checked against it in `sources.ts`. The seed format has one source of each of `dns`,
 * `nodes` and `file`, turned on by `DNS_NAMES`, `NODE_SELECTOR` and `TARGETS_FILE`.
 */
export const SOURCE_OPTIONS = {
  /** The kind of source. */
  type: option<SourceType>({
    parse: (v) => checkChoice(v, SOURCE_TYPES, { what: "source type" }),
    required: true,
    doc: "where more targets come from: `dns`, `nodes`, `pods`, `endpointslices`, " +
      "`configmap` or `file` (see [Dynamic targets](#dynamic-targets))",
  }),
  /** `dns`: the names resolved. */
  names: option<string>({
    env: "DNS_NAMES",
    parse: checkDnsName,
    doc: "`dns`: the names to resolve, a list (`DNS_NAMES`: separated by spaces or commas)",
  }),
  /**
   * `dns`: the records asked for.
   *
   * @default {"A"}
   */
  record: option<DnsRecord>({
    env: "DNS_RECORD",
    parse: (v, source) =>
      checkChoice(v, DNS_RECORDS, { what: "record type", upperCase: source === "env" }),
    default: "A",
    doc: "`dns`: `A`, `AAAA`, `A+AAAA`, or `SRV` (the targets' addresses, and their port, which " +
      "must be the probe's)",
  }),
  /** `dns`: the server asked. */
  nameserver: option<string>({
    env: "DNS_NAMESERVER",
    parse: checkNameserver,
    defaultText: "the first of `/etc/resolv.conf`, with its `search` list and `ndots`",
    doc: "`dns`: the server to ask, `host` or `host:port` (`[v6]:port`)",
  }),
  /**
   * `dns` and `file`: how often the names are resolved or the file read again.
   *
   * @default `dns` 30s, `file` 5m
   */
  interval: option<Millis>({
    env: "DNS_INTERVAL",
    ...duration,
    defaultText: "`dns` `30s`, `file` `5m`",
    seedDefaultText: "`30s`",
    doc: "`dns`: how often the names are resolved again; `file`: how often the file is read " +
      "even without a change event",
  }),
  /**
   * `dns`: resolve again when the answer's smallest TTL runs out, if sooner.
   *
   * @default {false}
   */
  honorTtl: option<boolean>({
    parse: checkBoolean,
    default: false,
    doc: "`dns`: resolve again when the answer's TTL runs out (at least 1s), if before `interval`",
  }),
  /**
   * `dns`: how long one query may take.
   *
   * @default {2000} 2s
   */
  timeout: option<Millis>({
    ...duration,
    default: 2000,
    doc: "`dns`: how long one query may take before it counts as failed",
  }),
  /** `nodes` and `pods`: which objects. */
  labelSelector: option<string>({
    env: "NODE_SELECTOR",
    parse: checkLabelSelector,
    defaultText: "every object",
    doc: "`nodes`, `pods`: a label selector (`role=kafka,zone in (a,b)`); `NODE_SELECTOR` turns " +
      "on a `nodes` source (`NODE_SELECTOR=*` for every Node)",
  }),
  /**
   * `nodes`: the Node address published.
   *
   * @default {"InternalIP"}
   */
  addressType: option<NodeAddressType>({
    env: "NODE_ADDRESS_TYPE",
    parse: (v) => checkChoice(v, NODE_ADDRESS_TYPES, { what: "address type" }),
    default: "InternalIP",
    doc: "`nodes`: `InternalIP` or `ExternalIP`; a Node without one is left out",
  }),
  /**
   * `nodes`: leave out cordoned Nodes.
   *
   * @default {true}
   */
  skipUnschedulable: option<boolean>({
    parse: checkBoolean,
    default: true,
    doc: "`nodes`: leave out Nodes marked unschedulable (cordoned)",
  }),
  /** `pods`, `endpointslices`, `configmap`: where the objects are. */
  namespace: option<string>({
    parse: (v) => checkDns1123Label(v, { what: "namespace" }),
    defaultText: "the Service's",
    doc: "`pods`, `endpointslices`, `configmap`: the objects' namespace",
  }),
  /**
   * `pods` and `endpointslices`: only what is ready.
   *
   * @default {true}
   */
  readyOnly: option<boolean>({
    parse: checkBoolean,
    default: true,
    doc: "`pods`: only Running and Ready Pods; `endpointslices`: only endpoints not marked " +
      "not ready",
  }),
  /** `endpointslices`: the other Service. */
  service: option<string>({
    parse: (v) => checkDns1035Label(v, { what: "Service name" }),
    doc: "`endpointslices`: the Service whose endpoints become targets",
  }),
  /** `configmap`: the ConfigMap. */
  name: option<string>({
    parse: (v) => checkDns1123Subdomain(v, { what: "ConfigMap name" }),
    doc: "`configmap`: the ConfigMap's name",
  }),
  /** `configmap`: the key holding the list. */
  key: option<string>({
    parse: checkConfigMapKey,
    doc: "`configmap`: the key whose value lists the targets, as a `file` does",
  }),
  /** Kubernetes sources: the cluster read. */
  cluster: option<string>({
    parse: checkClusterName,
    defaultText: "the first cluster",
    doc: "`nodes`, `pods`, `endpointslices`, `configmap`: the cluster read (a name of " +
      "`clusters`): targets known in one cluster, published in another",
  }),
  /** `file`: the list file. */
  path: option<string>({
    env: "TARGETS_FILE",
    parse: checkText,
    doc: "`file`: a file of targets (addresses separated by spaces, commas or lines, `#` " +
      "comments; or a YAML/JSON list like `targets`), watched for changes",
  }),
} as const;

/** Options of `services[].sourceGuard`: how a sudden shrink of a source's set is held. */
export const SOURCE_GUARD_OPTIONS = {
  /**
   * A source losing more than this percentage of its targets at once is held.
   *
   * @default {50}
   */
  maxDrop: option<number>({
    env: "SOURCE_MAX_DROP",
    parse: (v) => checkInteger(v, { min: 0, max: 100 }),
    default: 50,
    doc: "a source whose set loses more than this percentage of its targets at once (or all " +
      "of them) is held and alerted on",
  }),
  /**
   * How long a shrunk set is held before it is applied.
   *
   * @default {300000} 5m
   */
  hold: option<Millis>({
    env: "SOURCE_HOLD",
    ...durationOrZero,
    default: 300_000,
    doc: "how long such a shrunk set is held before it is applied (`0`: at once)",
  }),
} as const;

/**
 * Options of `services[].zones` (issue 15): the zones' preferences, and what is published from
 * them. The block turns zone routing on; see `src/publish/zones.ts` for the rule.
 */
export const ZONE_OPTIONS = {
  /** For clients in a zone, the zones to borrow from, in order. */
  preferences: option<ZonePreferences>({
    parse: checkZonePreferences,
    show: formatZonePreferences,
    defaultText: "none: the zone's region, then all",
    doc: "for clients in a zone, the zones they borrow from, in order, when their own has too " +
      "few healthy targets: `{eu-1a: [eu-1b, eu-1c]}` (see [Zones and primary](#zones-and-primary))",
  }),
  /**
   * Write `hints.forZones` on every ready endpoint (or none).
   *
   * @default {true}
   */
  hints: option<boolean>({
    parse: checkBoolean,
    default: true,
    doc: "write `hints.forZones` on the ready endpoints (all or none), for a ClusterIP " +
      "Service with `trafficDistribution`",
  }),
  /**
   * A zone whose healthy share times this is under 1 borrows (Envoy's rule).
   *
   * @default {1.4}
   */
  overprovisioning: option<number>({
    parse: checkOverprovisioning,
    default: 1.4,
    doc: "a zone whose healthy share × this is under 1 borrows the next preferred zone's " +
      "endpoints (Envoy's rule: 1.4 borrows under ~71 %)",
  }),
  /**
   * Also publish a headless Service `<service>-<zone>` per zone.
   *
   * @default {false}
   */
  services: option<boolean>({
    parse: checkBoolean,
    default: false,
    doc: "also publish a headless Service `<service>-<zone>` per zone, with the endpoints " +
      "serving that zone (for DNS without `zonal`); created when missing with `createService`",
  }),
} as const;

/**
 * Options of `services[].primary` (issue 15): a companion Service with at most one ready
 * endpoint, the primary, chosen by preference (`designate`) or by a role check (`observe`).
 */
export const PRIMARY_OPTIONS = {
  /**
   * How the primary is found.
   *
   * @default {"designate"}
   */
  mode: option<PrimaryMode>({
    parse: (v) => checkChoice(v, PRIMARY_MODES, { what: "mode" }),
    default: "designate",
    doc: "`designate`: HELASEID picks the primary by `prefer` and moves it when it falls; " +
      "`observe`: the target whose `check` passes is primary",
  }),
  /** The companion Service's name. */
  service: option<string>({
    parse: (v) => checkDns1035Label(v, { what: "Service name" }),
    defaultText: "`<service>-primary`",
    doc: "the companion Service that shows the primary alone (selector-less; created when " +
      "missing if `createService`)",
  }),
  /** Zones or regions, most preferred first. */
  prefer: option<string>({
    parse: checkZone,
    defaultText: "the targets' order",
    doc: "`designate`: zones or regions, most preferred first; ties keep the targets' order",
  }),
  /**
   * How long a more preferred target must be healthy before the primary moves back to it.
   *
   * @default {300000} 5m
   */
  failbackAfter: option<number | "never">({
    parse: checkFailback,
    show: formatFailback,
    default: 300_000,
    doc: "`designate`: move back to a more preferred target once it has been healthy this " +
      "long; `0` at once, `never` not at all",
  }),
  /** `observe`: the role check of every healthy target. */
  check: option<Readonly<Record<string, unknown>>>({
    parse: checkMapping,
    defaultText: "none",
    doc: "`observe`: the check that passes on the primary only: `{type: http, port: 8008, " +
      "path: /primary}` (Patroni) or `{type: tcp, send: ..., expect: ...}`",
  }),
  /**
   * `observe`: no claimant → publish no primary, or keep the last one.
   *
   * @default {"empty"}
   */
  noPrimary: option<NoPrimaryMode>({
    parse: (v) => checkChoice(v, NO_PRIMARY_MODES, { what: "mode" }),
    default: "empty",
    doc: "`observe`: when no target claims to be primary, publish none (`empty`) or keep " +
      "the last one (`keep`)",
  }),
} as const;

/** Options of `services[].probe` and `defaults.probe` (Envoy/HAProxy semantics, DESIGN §3.4). */
export const PROBE_OPTIONS = {
  /**
   * The kind of check.
   *
   * @default {"tcp"}
   */
  type: option<ProbeType>({
    env: "PROBE",
    parse: (v) => checkChoice(v, PROBE_TYPES, { what: "probe type" }),
    default: "tcp",
    doc: "the check: `tcp`, `http`, `https`, `tls`, `kafka` or `redpanda` (see " +
      "[Probe types](#probe-types))",
  }),
  /** Port to check; the service's first port when not given (`redpanda`: 9644). */
  port: option<number>({
    env: "PROBE_PORT",
    parse: checkPort,
    defaultText: "the first port (`redpanda`: `9644`)",
    doc: "the port to check, when not the published one",
  }),
  /**
   * Time between the starts of two checks of one target.
   *
   * @default {2000} 2s
   */
  interval: option<Millis>({
    env: "INTERVAL",
    ...duration,
    default: 2000,
    doc: "time between two checks of one target; `0.01` is legal",
  }),
  /** A check that has not answered by then failed; never more than the interval. */
  timeout: option<Millis>({
    env: "TIMEOUT",
    ...duration,
    derive: (block) =>
      typeof block.interval === "number" ? defaultTimeout(block.interval) : undefined,
    fits: (value, block) =>
      typeof block.interval === "number" ? checkTimeoutFits(value, block.interval) : passed(value),
    defaultText: "the shorter of the interval and `1s`",
    doc: "a check that has not connected by then failed; at most the interval",
  }),
  /**
   * Consecutive successes for an unhealthy target to become healthy (the seed format: 1).
   *
   * @default {2}
   */
  rise: option<number>({
    env: "RISE",
    parse: checkCount,
    default: 2,
    seedDefault: 1,
    doc: "consecutive successes before an unhealthy target is healthy again",
  }),
  /**
   * Consecutive failures for a healthy (or unknown) target to become unhealthy.
   *
   * @default {3}
   */
  fall: option<number>({
    env: "MAX_RETRY",
    parse: checkCount,
    default: 3,
    doc: "consecutive failures before a target is unhealthy",
  }),
  /**
   * Random spread of each interval, as a fraction of it (0 to 0.5; 0.1 = ±10%).
   *
   * @default {0.1}
   */
  jitter: option<number>({
    env: "JITTER",
    parse: checkJitter,
    default: 0.1,
    doc: "each check moves randomly by up to ±jitter × interval around its slot (0 to 0.5)",
  }),
  /**
   * Time between the starts of the checks that confirm a change (HAProxy `fastinter`): after a
   * healthy target fails a check, or an unhealthy one passes, until it falls or recovers.
   * Absent unless given; see {@linkcode defaultFastInterval}.
   */
  fastInterval: option<Millis | undefined>({
    env: "FAST_INTERVAL",
    ...duration,
    optional: true,
    fits: (value, block) =>
      typeof block.interval === "number" && value !== undefined
        ? checkIntervalFits(value, { interval: block.interval })
        : passed(value),
    defaultText: "the shorter of the interval and `200ms`",
    seedDefaultText: "the interval (no fast checks)",
    doc: "time between the checks that confirm a failure or a recovery; at most the interval",
  }),
  /**
   * How often an unhealthy target is checked (HAProxy `downinter`, Envoy
   * `unhealthy_interval`). Absent unless given: the interval.
   */
  downInterval: option<Millis | undefined>({
    env: "DOWN_INTERVAL",
    ...duration,
    optional: true,
    fits: (value, block) =>
      typeof block.timeout === "number" && value !== undefined
        ? checkIntervalFits(value, { timeout: block.timeout })
        : passed(value),
    defaultText: "the interval",
    doc: "time between two checks of an unhealthy target; at least the timeout",
  }),
} as const;

/**
 * The fast interval applied when none is configured: the shorter of the interval and 200 ms in
 * the structured file (measured: a refused target leaves within one interval + 2 × 200 ms at
 * fall 3), the interval itself in the seed format, which keeps the seed's behaviour.
 */
export function defaultFastInterval(interval: Millis, format: "env" | "structured"): Millis {
  return format === "env" ? interval : Math.min(interval, 200);
}

/** A fast interval of at most the interval, or a down interval of at least the timeout. */
function checkIntervalFits(
  value: Millis,
  bound: { readonly interval?: Millis; readonly timeout?: Millis },
): Checked<Millis> {
  if (bound.interval !== undefined && value > bound.interval) {
    return failed(
      `${quote(formatDuration(value))} is longer than the interval (${
        formatDuration(bound.interval)
      }): allowed at most the interval`,
    );
  }
  if (bound.timeout !== undefined && value < bound.timeout) {
    return failed(
      `${quote(formatDuration(value))} is shorter than the timeout (${
        formatDuration(bound.timeout)
      }): allowed at least the timeout`,
    );
  }
  return passed(value);
}

/**
 * Options of the protocol check in `services[].probe` and in each `services[].probes[]` item,
 * each for some probe types only (`CHECK_FIELDS_BY_TYPE` in `checks.ts`). None has a table
 * default: an absent option takes the prober's default, which its doc states.
 */
export const CHECK_OPTIONS = {
  /** `http`/`https`/`redpanda`: the request path. */
  path: option<string>({
    env: "PROBE_PATH",
    parse: checkPath,
    defaultText: "`/` (`redpanda`: `/v1/status/ready`)",
    doc: "`http`, `https`, `redpanda`: the request path",
  }),
  /** `http`/`https`: the request method. */
  method: option<string>({
    env: "PROBE_METHOD",
    parse: checkMethod,
    defaultText: "`GET`",
    doc: "`http`, `https`: the request method",
  }),
  /** `http`/`https`: accepted statuses, such as `200-299,301`. */
  status: option<readonly StatusRange[]>({
    env: "PROBE_STATUS",
    parse: checkStatusRanges,
    show: formatStatusRanges,
    defaultText: "`200-399`",
    doc: "`http`, `https`: accepted statuses, codes and ranges such as `200-299,301`",
  }),
  /** `http`/`https`: text the body must contain, or `/regex/flags`. */
  body: option<Matcher>({
    env: "PROBE_BODY",
    parse: checkMatcher,
    show: formatMatcher,
    defaultText: "none",
    doc: "`http`, `https`: text the body (first 64 KiB) must contain, or `/regex/flags`",
  }),
  /** `http`/`https`: the `Host` header. */
  host: option<string>({
    env: "PROBE_HOST",
    parse: checkHeaderText,
    defaultText: "the address and port",
    doc: "`http`, `https`: the `Host` header",
  }),
  /** `http`/`https`: extra request headers. */
  headers: option<Readonly<Record<string, string>>>({
    env: "PROBE_HEADERS",
    parse: checkHeaders,
    show: (headers) =>
      Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join("; "),
    defaultText: "none",
    doc: "`http`, `https`: extra request headers, a mapping (variable: `Name: value; Name: value`)",
  }),
  /** `tcp`: bytes to send once connected, escapes decoded. */
  send: option<string>({
    env: "PROBE_SEND",
    parse: checkSend,
    show: (text) => JSON.stringify(text).slice(1, -1),
    defaultText: "nothing",
    doc: "`tcp`: text to send once connected (at most 4 KiB; `\\r \\n \\t \\0 \\\\ \\xHH` " +
      "escapes)",
  }),
  /** `tcp`: text the reply must contain, or `/regex/flags`. */
  expect: option<Matcher>({
    env: "PROBE_EXPECT",
    parse: checkMatcher,
    show: formatMatcher,
    defaultText: "none",
    doc: "`tcp`: text the reply (first 64 KiB) must contain, or `/regex/flags`",
  }),
  /** `https`/`tls`: the certificate name, sent as SNI. */
  serverName: option<string>({
    env: "PROBE_SERVER_NAME",
    parse: checkHeaderText,
    defaultText: "the address",
    doc: "`https`, `tls`: the name the certificate must carry, sent as SNI",
  }),
  /** `https`/`tls`: PEM file of the CA certificates to trust. */
  caFile: option<string>({
    env: "PROBE_CA_FILE",
    parse: checkHeaderText,
    defaultText: "the runtime's roots",
    doc: "`https`, `tls`: PEM file of the CA certificates to trust, for a private CA",
  }),
  /** `https`/`tls`: accept any certificate. */
  insecureSkipVerify: option<boolean>({
    env: "PROBE_INSECURE_SKIP_VERIFY",
    parse: checkBoolean,
    defaultText: "`false`",
    doc: "`https`, `tls`: accept any certificate (chain, name and dates unchecked)",
  }),
  /** `tls`: fail when fewer days are left. */
  minDaysToExpiry: option<number>({
    env: "PROBE_MIN_DAYS_TO_EXPIRY",
    parse: (v) => checkInteger(v, { min: 0, max: 3650 }),
    defaultText: "none (only an expired certificate fails)",
    doc: "`tls`: fail when the certificate expires in fewer days",
  }),
} as const;

/**
 * Options of each item of `services[].probes`: several checks of every target, all of which
 * must pass. Each item also takes the options of {@linkcode CHECK_OPTIONS}.
 */
export const PROBES_OPTIONS = {
  /** The protocol of this check. */
  type: option<ProbeType>({
    parse: (v) => checkChoice(v, PROBE_TYPES, { what: "probe type" }),
    required: true,
    doc: "one check of several, all of which must pass: its type, its `port`, and the check " +
      "options above (`path`, `status`, ...); `probe` then holds only the timing",
  }),
  /** Port of this check. */
  port: option<number>({
    parse: checkPort,
    defaultText: "the first port (`redpanda`: `9644`)",
    doc: "the port this check goes to",
  }),
} as const;

/** Options of `services[].publish` and `defaults.publish`: what HELASEID writes for a Service. */
export const PUBLISH_OPTIONS = {
  /**
   * Write EndpointSlices.
   *
   * @default {true}
   */
  endpointSlices: option<boolean>({
    parse: checkBoolean,
    default: true,
    doc: "write EndpointSlices",
  }),
  /**
   * Write the legacy Endpoints object too (deprecated from Kubernetes 1.33).
   *
   * @default {true}
   */
  endpoints: option<boolean>({
    env: "PUBLISH_ENDPOINTS",
    parse: checkBoolean,
    default: true,
    doc: "also write the legacy Endpoints object",
  }),
  /**
   * Unhealthy targets stay listed as not ready, or are removed.
   *
   * @default {"notReady"}
   */
  unhealthy: option<UnhealthyMode>({
    env: "UNHEALTHY",
    parse: (v) => checkChoice(v, UNHEALTHY_MODES, { what: "mode" }),
    default: "notReady",
    doc: "`notReady` keeps unhealthy targets listed as not ready; `remove` leaves them out",
  }),
  /**
   * Panic guard: publish every target as ready when none is healthy, or none.
   *
   * @default {"publishAll"}
   */
  allDown: option<AllDownMode>({
    env: "ALL_DOWN",
    parse: (v) => checkChoice(v, ALL_DOWN_MODES, { what: "mode" }),
    default: "publishAll",
    doc: "panic guard: when no target is healthy, publish all of them as ready (`publishAll`) " +
      "or none (`empty`)",
  }),
  /**
   * Create a missing selector-less Service (else report it and wait).
   *
   * @default {false}
   */
  createService: option<boolean>({
    env: "CREATE_SERVICE",
    parse: checkBoolean,
    default: false,
    doc: "create the Service (headless, no selector) when it is missing; needs " +
      "`manifests/optional/rbac-create-service.yaml`",
  }),
} as const;

/** Whether a block describes the one Service of the seed format or applies to any format. */
export type OptionScope = "service" | "global";

/** A block of options and where it sits in the structured file. */
export interface OptionBlockSpec {
  /** Path of the block in the structured file, `[]` marking list items: `services[].probe`. */
  readonly path: string;
  /** Its options by key. */
  readonly options: Options;
  /** `service` variables are ignored next to a structured file; `global` ones override it. */
  readonly scope: OptionScope;
}

/** Every block of options, in the order their variables are listed. */
export const OPTION_BLOCKS: readonly OptionBlockSpec[] = [
  { path: "services[]", options: SERVICE_OPTIONS, scope: "service" },
  { path: "services[].ports[]", options: PORT_OPTIONS, scope: "service" },
  { path: "services[].targets[]", options: TARGET_OPTIONS, scope: "service" },
  { path: "services[].probe", options: PROBE_OPTIONS, scope: "service" },
  { path: "services[].probe", options: CHECK_OPTIONS, scope: "service" },
  { path: "services[].probes[]", options: PROBES_OPTIONS, scope: "service" },
  { path: "services[].publish", options: PUBLISH_OPTIONS, scope: "service" },
  { path: "services[].sources[]", options: SOURCE_OPTIONS, scope: "service" },
  { path: "services[].sourceGuard", options: SOURCE_GUARD_OPTIONS, scope: "service" },
  { path: "services[].zones", options: ZONE_OPTIONS, scope: "service" },
  { path: "services[].primary", options: PRIMARY_OPTIONS, scope: "service" },
  { path: "", options: GLOBAL_OPTIONS, scope: "global" },
  { path: "clusters[]", options: CLUSTER_OPTIONS, scope: "global" },
  { path: "alerts.teams", options: TEAMS_OPTIONS, scope: "global" },
  { path: "alerts.webhook", options: WEBHOOK_OPTIONS, scope: "global" },
  { path: "alerts", options: ALERT_OPTIONS, scope: "global" },
];

/** Keys of the structured file that hold blocks, not values, with their documentation. */
export const STRUCTURED_BLOCKS: Readonly<Record<string, string>> = {
  "defaults.probe": "defaults of every service's `probe` (without `port` and the check options)",
  "defaults.publish": "defaults of every service's `publish`",
};

function _variables(scope: OptionScope): string[] {
  return OPTION_BLOCKS.filter((block) => block.scope === scope).flatMap((block) =>
    Object.values(block.options).flatMap((o) => o.env === undefined ? [] : [o.env])
  );
}

/** Variables that describe the one Service of the seed format. */
export const SEED_SERVICE_VARIABLES: readonly string[] = _variables("service");

/** Variables that apply to any format: they override a structured file too. */
export const GLOBAL_VARIABLES: readonly string[] = _variables("global");

/** Every variable the seed format knows. */
export const SEED_VARIABLES: readonly string[] = [...SEED_SERVICE_VARIABLES, ...GLOBAL_VARIABLES];

/** Keys of each block of the structured file. */
export const STRUCTURED_KEYS = {
  root: [...Object.keys(GLOBAL_OPTIONS), "clusters", "alerts", "defaults", "services"],
  cluster: Object.keys(CLUSTER_OPTIONS),
  alerts: ["teams", "webhook", ...Object.keys(ALERT_OPTIONS)],
  teams: Object.keys(TEAMS_OPTIONS),
  webhook: Object.keys(WEBHOOK_OPTIONS),
  defaults: ["probe", "publish"],
  service: [
    ...Object.keys(SERVICE_OPTIONS),
    "probe",
    "probes",
    "publish",
    "sources",
    "sourceGuard",
    "zones",
    "primary",
  ],
  source: Object.keys(SOURCE_OPTIONS),
  sourceGuard: Object.keys(SOURCE_GUARD_OPTIONS),
  zones: Object.keys(ZONE_OPTIONS),
  primary: Object.keys(PRIMARY_OPTIONS),
  port: Object.keys(PORT_OPTIONS),
  target: Object.keys(TARGET_OPTIONS),
  probe: Object.keys(PROBE_OPTIONS),
  /** Keys of the protocol check, allowed in `probe` besides its own and in `probes[]` items. */
  check: Object.keys(CHECK_OPTIONS),
  probesItem: [...Object.keys(PROBES_OPTIONS), ...Object.keys(CHECK_OPTIONS)],
  defaultProbe: Object.keys(PROBE_OPTIONS).filter((key) => key !== "port"),
  publish: Object.keys(PUBLISH_OPTIONS),
} as const satisfies Record<string, readonly string[]>;

// ---------------------------------------------------------------------------------------------
// Defaults, derived from the tables
// ---------------------------------------------------------------------------------------------

/** The defaults of a block; options without one are left out. */
function _defaults<G extends Options>(
  options: G,
  format: "env" | "structured",
): Partial<OptionValues<G>> {
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(options)) {
    const value = (format === "env" ? option.seedDefault : undefined) ?? option.default ??
      option.derive?.(values);
    if (value !== undefined) values[name] = value;
  }
  return values as Partial<OptionValues<G>>;
}

/** The default of one option in a format: the seed's own where it has one. */
export function defaultOf<T>(option: Option<T>, format: "env" | "structured"): T | undefined {
  return (format === "env" ? option.seedDefault : undefined) ?? option.default;
}

const _probe = _defaults(PROBE_OPTIONS, "structured");
const _seed = _defaults(PROBE_OPTIONS, "env");

/** Defaults of the structured file's probe settings (DESIGN §3.4). */
export const PROBE_DEFAULTS: {
  readonly interval: Millis;
  readonly timeout: Millis;
  readonly rise: number;
  readonly fall: number;
  readonly jitter: number;
} = {
  interval: _probe.interval!,
  timeout: _probe.timeout!,
  rise: _probe.rise!,
  fall: _probe.fall!,
  jitter: _probe.jitter!,
};

/** Defaults of the seed format's probe settings where its `config.env` is silent. */
export const SEED_DEFAULTS: {
  readonly interval: Millis;
  readonly fall: number;
  readonly rise: number;
  readonly jitter: number;
} = {
  interval: _seed.interval!,
  fall: _seed.fall!,
  rise: _seed.rise!,
  jitter: _seed.jitter!,
};

/** Publishing defaults. */
export const PUBLISH_DEFAULTS: OptionValues<typeof PUBLISH_OPTIONS> = _defaults(
  PUBLISH_OPTIONS,
  "structured",
) as OptionValues<typeof PUBLISH_OPTIONS>;

/** Defaults of the alert settings and of the Teams card shape. */
export const ALERT_DEFAULTS: OptionValues<typeof ALERT_OPTIONS> & {
  readonly shape: TeamsCardShape;
} = {
  ...(_defaults(ALERT_OPTIONS, "structured") as OptionValues<typeof ALERT_OPTIONS>),
  shape: TEAMS_OPTIONS.shape.default!,
};

/**
 * The delivery settings of `ALERT_OPTIONS` with the defaults applied where the configuration is
 * silent (a loaded configuration keeps only what was given).
 */
export function resolveAlertSettings(
  given: Partial<OptionValues<typeof ALERT_OPTIONS>>,
): OptionValues<typeof ALERT_OPTIONS> {
  const settings: Record<string, unknown> = {};
  for (const name of Object.keys(ALERT_OPTIONS) as (keyof typeof ALERT_OPTIONS)[]) {
    settings[name] = given[name] ?? ALERT_DEFAULTS[name];
  }
  return settings as OptionValues<typeof ALERT_OPTIONS>;
}
