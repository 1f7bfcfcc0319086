/**
 * The typed configuration model. Both input formats (the seed's `config.env` and the structured
 * YAML/JSON file) are parsed into this one model; the seed format is a one-service instance.
 *
 * Everything here is readonly: a loaded configuration is never edited in place. The settings
 * types come from the option table (`options.ts`), the checks from `validate.ts`; both are
 * re-exported here so that the rest of the code imports the model from one place.
 *
 * @module
 */

import type { ProbeCheck } from "./checks.ts";
import type { Protocol, TeamsCardShape } from "./choices.ts";
import type { ConfigIssue, Located } from "./issues.ts";
import type {
  ALERT_OPTIONS,
  GLOBAL_OPTIONS,
  OptionValue,
  OptionValues,
  PROBE_OPTIONS,
  PUBLISH_OPTIONS,
  ZONE_OPTIONS,
} from "./options.ts";
import type { Secret } from "./secret.ts";
import type { PrimarySettings } from "./topology.ts";

export type { PrimarySettings } from "./topology.ts";

export * from "./choices.ts";
export {
  type Checked,
  ConfigError,
  type ConfigIssue,
  failed,
  formatIssue,
  IssueList,
  type Located,
  passed,
} from "./issues.ts";
export {
  ALERT_DEFAULTS,
  defaultTimeout,
  PROBE_DEFAULTS,
  PUBLISH_DEFAULTS,
  resolveAlertSettings,
  SEED_DEFAULTS,
} from "./options.ts";
export { Secret } from "./secret.ts";
export type { Matcher, ProbeCheck, StatusRange } from "./checks.ts";
export {
  checkAddress,
  checkAppProtocol,
  checkBoolean,
  checkChoice,
  checkCount,
  checkDns1035Label,
  checkDns1123Label,
  checkDuplicateTargets,
  checkInteger,
  checkJitter,
  checkLogLevel,
  checkPort,
  checkWebhookUrl,
  type ChoiceOptions,
  closestName,
  editDistance,
  type IntegerRange,
  kindOf,
  type LabelOptions,
  quote,
} from "./validate.ts";

/** A duration in milliseconds. */
export type Millis = number;

/** One instance behind a Service: an IP address with optional topology hints. */
export interface Target {
  /** IPv4 or IPv6 address, normalized (IPv6 lower case, compressed). */
  readonly address: string;
  /** Published as `zone` on the endpoint. */
  readonly zone?: string;
  /** Published as `hostname` on the endpoint (a DNS label). */
  readonly hostname?: string;
  /** The target's region (from a source's `topology.kubernetes.io/region`, or configured). */
  readonly region?: string;
  /** Which source found it (`dns kafka.test`); absent for a configured target. */
  readonly source?: string;
}

/** A DNS name resolved into targets (issue 12): `services[].sources[]` with `type: dns`. */
export interface DnsSourceConfig {
  readonly type: "dns";
  /** Names resolved, each a fully qualified or relative domain name. */
  readonly names: readonly string[];
  /** Records asked for: `A`, `AAAA`, both (`A+AAAA`), or `SRV` (targets' A/AAAA and port). */
  readonly record: "A" | "AAAA" | "A+AAAA" | "SRV";
  /** How often the names are resolved again. */
  readonly interval: Millis;
  /** Resolve again when the answer's smallest TTL runs out, if sooner than `interval`. */
  readonly honorTtl: boolean;
  /** The server asked (`host` or `host:port`, IPv6 in brackets); default the system's. */
  readonly nameserver?: string;
  /** How long one query may take before it counts as a failure. */
  readonly timeout: Millis;
}

/** Nodes with a label selector (issue 12): `type: nodes`. */
export interface NodesSourceConfig {
  readonly type: "nodes";
  /** Which Nodes (`role=kafka,zone in (a,b)`); empty = every Node. */
  readonly labelSelector?: string;
  /** Which address of the Node is the target. */
  readonly addressType: "InternalIP" | "ExternalIP";
  /** Leave out Nodes marked unschedulable (cordoned). */
  readonly skipUnschedulable: boolean;
  /** The cluster read (a name of `clusters`; default the first). */
  readonly cluster?: string;
}

/** Pods with a label selector (issue 12): `type: pods`. */
export interface PodsSourceConfig {
  readonly type: "pods";
  /** The Pods' namespace (default the Service's). */
  readonly namespace: string;
  /** Which Pods; empty = every Pod of the namespace. */
  readonly labelSelector?: string;
  /** Only Pods that are Running and Ready. */
  readonly readyOnly: boolean;
  /** The cluster read (a name of `clusters`; default the first). */
  readonly cluster?: string;
}

/** The endpoints of another Service (issue 12): `type: endpointslices`. */
export interface EndpointSlicesSourceConfig {
  readonly type: "endpointslices";
  /** The other Service's namespace (default the Service's). */
  readonly namespace: string;
  /** The other Service's name. */
  readonly service: string;
  /** Only endpoints whose `conditions.ready` is not false. */
  readonly readyOnly: boolean;
  /** The cluster read (a name of `clusters`; default the first). */
  readonly cluster?: string;
}

/** A list of targets in one key of a ConfigMap (issue 12): `type: configmap`. */
export interface ConfigMapSourceConfig {
  readonly type: "configmap";
  /** The ConfigMap's namespace (default the Service's). */
  readonly namespace: string;
  /** The ConfigMap's name. */
  readonly name: string;
  /** The key holding the list (the format of a `file` source). */
  readonly key: string;
  /** The cluster read (a name of `clusters`; default the first). */
  readonly cluster?: string;
}

/** A file listing targets, watched for changes (issue 12): `type: file`. */
export interface FileSourceConfig {
  readonly type: "file";
  /** The file: addresses separated by spaces, commas or lines (`#` comments), or YAML/JSON. */
  readonly path: string;
  /** How often it is read again even without a change event. */
  readonly interval: Millis;
}

/** A cluster HELASEID publishes into (issue 14): `clusters[]`. */
export interface ClusterConfig {
  /** Its name in `services[].clusters`, alerts, metrics (`cluster` label) and `/status`. */
  readonly name: string;
  /** Its kubeconfig (default: `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, in-cluster). */
  readonly kubeconfig?: string;
  /** Its context in that kubeconfig (default: the kubeconfig's current one, or `--context`). */
  readonly context?: string;
}

/** One source of a Service's targets. */
export type SourceConfig =
  | DnsSourceConfig
  | NodesSourceConfig
  | PodsSourceConfig
  | EndpointSlicesSourceConfig
  | ConfigMapSourceConfig
  | FileSourceConfig;

/** How a sudden shrink of a source's set is held (issue 12): `services[].sourceGuard`. */
export interface SourceGuardSettings {
  /** A set losing more than this share of its targets at once (0-1) is held; empty always is. */
  readonly maxDrop: number;
  /** How long a shrunk set is held before it is applied (0 = applied at once). */
  readonly hold: Millis;
}

/**
 * How and how often a target is checked (Envoy/HAProxy semantics, DESIGN §3.4): one field per
 * entry of `PROBE_OPTIONS`, documented there.
 */
export type ProbeSettings = OptionValues<typeof PROBE_OPTIONS>;

/** A port the Service publishes (the fields of `PORT_OPTIONS`). */
export interface ServicePort {
  /** Must equal the Service's port name ("" for a single unnamed port). */
  readonly name: string;
  /** The port number, 1-65535. */
  readonly port: number;
  /** `TCP` unless configured. */
  readonly protocol: Protocol;
  /** Published as the port's `appProtocol` when configured. */
  readonly appProtocol?: string;
}

/** What HELASEID writes for a Service: one field per entry of `PUBLISH_OPTIONS`. */
export type PublishSettings = OptionValues<typeof PUBLISH_OPTIONS>;

/** A Service's zone routing (issue 15): one field per entry of `ZONE_OPTIONS`. */
export type ZoneSettings = OptionValues<typeof ZONE_OPTIONS>;

/** One Service whose endpoints HELASEID keeps. */
export interface ServiceConfig {
  /** The Service's name (a DNS-1035 label). */
  readonly name: string;
  /** Its namespace. */
  readonly namespace: string;
  /** The ports published, at least one; with several, each named. */
  readonly ports: readonly ServicePort[];
  /**
   * The instances behind the Service, no address twice: the configured ones, and (in the
   * agent's copy) those its sources found. At least one when the Service has no sources.
   */
  readonly targets: readonly Target[];
  /** The clusters it is published into (names of `clusters`); absent: the first cluster. */
  readonly clusters?: readonly string[];
  /** Where more targets come from (issue 12); absent when the list above is all. */
  readonly sources?: readonly SourceConfig[];
  /** How a sudden shrink of a source's set is held (set when `sources` is). */
  readonly sourceGuard?: SourceGuardSettings;
  /** How its targets are checked. */
  readonly probe: ProbeSettings;
  /**
   * The protocol checks of every target, all of which must pass, each with its port resolved;
   * absent when the probe is a bare TCP connect on `probe.port` (the original behaviour).
   */
  readonly checks?: readonly ProbeCheck[];
  /** What is written for it. */
  readonly publish: PublishSettings;
  /** Zone routing (issue 15): hints and per-zone Services; absent without a `zones` block. */
  readonly zones?: ZoneSettings;
  /** The primary's companion Service (issue 15); absent without a `primary` block. */
  readonly primary?: PrimarySettings;
}

/** Microsoft Teams (Workflows webhook) alerts. */
export interface TeamsSettings {
  /** The Workflows webhook URL. */
  readonly url: Secret;
  /** Payload shape (default {@linkcode ALERT_DEFAULTS}.shape). */
  readonly shape?: TeamsCardShape;
}

/** Alerts as JSON to any webhook (Slack-style or Alertmanager-style receivers, relays). */
export interface WebhookSettings {
  /** The webhook URL. */
  readonly url: Secret;
}

/**
 * Alert channels and delivery settings (one optional field per entry of `ALERT_OPTIONS`).
 * Fields left out take {@linkcode ALERT_DEFAULTS}: a loaded configuration carries only what
 * was configured.
 */
export type AlertSettings =
  & {
    readonly teams?: TeamsSettings;
    readonly webhook?: WebhookSettings;
  }
  & Partial<OptionValues<typeof ALERT_OPTIONS>>;

/** Where a configuration came from: shown by `validate` and in errors. */
export type ConfigFormat = "env" | "structured";

/**
 * Settings of the whole agent, one optional field per entry of `GLOBAL_OPTIONS`: `logLevel`
 * (from `LOG_LEVEL` or the file's `logLevel`; the CLI flag wins over both). Only what was
 * given is set.
 */
export type GlobalSettings = Partial<OptionValues<typeof GLOBAL_OPTIONS>>;

/** A complete, validated configuration. */
export interface Config extends GlobalSettings {
  /** The format it was read from. */
  readonly format: ConfigFormat;
  /** Every Service, at least one. */
  readonly services: readonly ServiceConfig[];
  /** Alert channels and delivery settings. */
  readonly alerts: AlertSettings;
  /**
   * The clusters published into (issue 14), the first the default; absent: one cluster, the
   * connection given on the command line (or in-cluster).
   */
  readonly clusters?: readonly ClusterConfig[];
}

/**
 * Where a webhook URL comes from, before any file is read. `missing` is a file's channel block
 * that names neither `url` nor `urlFile`: an error unless the environment gives the URL.
 */
export type SecretSource =
  | { readonly kind: "url"; readonly url: string; readonly path: string }
  | { readonly kind: "file"; readonly file: string; readonly path: string }
  | { readonly kind: "missing"; readonly path: string };

/**
 * Alert delivery settings as one input format gave them, each with the field path it came
 * from: the Teams card shape and one field per entry of `ALERT_OPTIONS`.
 */
export type AlertOptions =
  & { readonly shape?: Located<TeamsCardShape> }
  & { readonly [K in keyof typeof ALERT_OPTIONS]?: Located<OptionValue<typeof ALERT_OPTIONS[K]>> };

/** A configuration as one input format parsed it, before secrets are read and checked. */
export interface ParsedConfig extends GlobalSettings {
  /** The format it was read from. */
  readonly format: ConfigFormat;
  /** Complete only when `issues` is empty. */
  readonly services: readonly ServiceConfig[];
  /** The clusters given (`clusters`, or the seed's `EXTRA_CONTEXTS`). */
  readonly clusters?: readonly ClusterConfig[];
  /** The Teams webhook URL's source. */
  readonly teams?: SecretSource;
  /** The generic JSON webhook. */
  readonly webhook?: SecretSource;
  /** Alert delivery settings given. */
  readonly alerts?: AlertOptions;
  /** Every problem found. */
  readonly issues: readonly ConfigIssue[];
  /** What does not stop the agent but deserves a log line. */
  readonly warnings: readonly string[];
  /** Values accepted under another spelling, for `validate` to show (`LOG_LEVEL=CRITICAL`). */
  readonly notes?: readonly string[];
}
