/**
 * The fixed sets of values some options take. They sit apart from the option table
 * (`options.ts`) only so that the validators can use them without an import cycle.
 *
 * @module
 */

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/**
 * Other spellings of the log levels, lower case: the levels of the original (Python) HELASEID,
 * so that an upgraded pod with `LOG_LEVEL=CRITICAL` starts instead of crash-looping.
 */
export const LOG_LEVEL_ALIASES: Readonly<Record<string, LogLevel>> = {
  warning: "warn",
  critical: "error",
  fatal: "error",
};

/** Log line formats. */
export const LOG_FORMATS = ["json", "text"] as const;
/** A log line format. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Probe kinds: the protocol a check speaks (see `src/probe/`). */
export const PROBE_TYPES = ["tcp", "http", "https", "tls", "kafka", "redpanda"] as const;
/** A probe kind. */
export type ProbeType = typeof PROBE_TYPES[number];

/** Port protocols the EndpointSlice API accepts. */
export const PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
/** A port protocol. */
export type Protocol = typeof PROTOCOLS[number];

/** What to do with unhealthy targets. */
export const UNHEALTHY_MODES = ["notReady", "remove"] as const;
/** What to do with unhealthy targets. */
export type UnhealthyMode = typeof UNHEALTHY_MODES[number];

/** What to publish when no target is healthy. */
export const ALL_DOWN_MODES = ["publishAll", "empty"] as const;
/** What to publish when no target is healthy. */
export type AllDownMode = typeof ALL_DOWN_MODES[number];

/**
 * What a Teams webhook receives: `workflows` wraps the Adaptive Card in a message with one
 * attachment (what the Workflows "post to a channel when a webhook request is received"
 * template expects); `card` posts the bare Adaptive Card (flows that parse the card themselves).
 */
export const TEAMS_CARD_SHAPES = ["workflows", "card"] as const;
/** What a Teams webhook receives; see {@linkcode TEAMS_CARD_SHAPES}. */
export type TeamsCardShape = typeof TEAMS_CARD_SHAPES[number];

/** Kinds of target source (issue 12): `services[].sources[].type`. */
export const SOURCE_TYPES = [
  "dns",
  "nodes",
  "pods",
  "endpointslices",
  "configmap",
  "file",
] as const;
/** A kind of target source. */
export type SourceType = typeof SOURCE_TYPES[number];

/** DNS records a `dns` source asks for. */
export const DNS_RECORDS = ["A", "AAAA", "A+AAAA", "SRV"] as const;
/** DNS records a `dns` source asks for. */
export type DnsRecord = typeof DNS_RECORDS[number];

/** Node addresses a `nodes` source publishes. */
export const NODE_ADDRESS_TYPES = ["InternalIP", "ExternalIP"] as const;
/** A Node address type. */
export type NodeAddressType = typeof NODE_ADDRESS_TYPES[number];

/** What happens to the objects of a Service a reload removed from the configuration. */
export const REMOVED_SERVICE_MODES = ["keep", "delete"] as const;
/** What happens to the objects of a Service a reload removed. */
export type RemovedServiceMode = typeof REMOVED_SERVICE_MODES[number];
