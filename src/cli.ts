/**
 * The command line (DESIGN §3.1): subcommands, flags, help texts and exit codes. Parsing only:
 * `main.ts` does what the parsed command asks.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LOG_FORMATS, type LogFormat, type LogLevel } from "./config/schema.ts";
import { parseLogLevel } from "./observe/log.ts";

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A subcommand. */
export type Command = "run" | "check" | "validate" | "version" | "help";

const COMMANDS: readonly Command[] = ["run", "check", "validate", "version", "help"];

/** Flags common to the subcommands (each accepts only its own: see `COMMAND_FLAGS`). */
export interface Flags {
  /** `--config`, `-c`: config.env or a structured file; without it, the environment. */
  readonly config?: string;
  /** `--kubeconfig` (run). */
  readonly kubeconfig?: string;
  /** `--context` (run). */
  readonly context?: string;
  /** `--dry-run` (run): write nothing to Kubernetes. */
  readonly dryRun: boolean;
  /** `--once` (run): publish once every target has a verdict, then exit. */
  readonly once: boolean;
  /** `--log-level`, over `LOG_LEVEL`. */
  readonly logLevel?: LogLevel;
  /** `--log-format`. */
  readonly logFormat?: LogFormat;
  /** `--listen` (run): `HOST:PORT`, `:PORT` or `off` (default {@linkcode DEFAULT_LISTEN}). */
  readonly listen: string;
}

/** A parsed command line. */
export type Invocation =
  | { readonly command: Command; readonly flags: Flags; readonly help: boolean }
  | { readonly command: "error"; readonly message: string; readonly help: string };

/** The default `--listen` address. */
export const DEFAULT_LISTEN = ":8080";

const COMMON = `Configuration:
  --config FILE        config.env (seed format: IPS, PORT, MAX_RETRY, INTERVAL, ...) or a
                       .yaml/.yml/.json file with a list of services. Without it the seed
                       variables are read from the environment. Environment overrides file.
  --log-level LEVEL    debug, info, warn or error (default: LOG_LEVEL, else info)
  --log-format FORMAT  json or text (default: json unless stdout is a terminal)
  -h, --help           show this help`;

const CLUSTER = `Cluster:
  --kubeconfig FILE    kubeconfig to use (default: KUBECONFIG, ~/.kube/config, or the pod's
                       service account when running in a cluster)
  --context NAME       kubeconfig context to use (default: the current one)`;

/** Help text of each subcommand. */
export const HELP: Record<Command, string> = {
  help: `helaseid - keeps a selector-less Kubernetes Service's EndpointSlices (and legacy
Endpoints) pointing only at the instances behind it that answer health checks.

Usage: helaseid [COMMAND] [FLAGS]

Commands:
  run        (default) probe the targets and keep the Service's endpoints in step
  check      probe every target once, print a table, exit 1 if any is down
  validate   load and validate the configuration, print it normalized, exit 2 on error
  version    print the version
  help       show this help; "helaseid help COMMAND" or "helaseid COMMAND --help" shows a
             command's flags

Flags:
  -h, --help           show this help
  -V, --version        print the version

Examples:
  helaseid --config /etc/helaseid/config.env              # as the original HELASEID
  IPS="10.188.2.3 10.188.2.4" PORT=9092 SERVICE_NAME=brokers NAMESPACE=data helaseid
  helaseid validate --config config.yaml
  helaseid run --config config.env --dry-run --log-format text

Exit codes: 0 ok, 1 unhealthy target or runtime failure, 2 bad usage or configuration.`,
  run: `Usage: helaseid run [FLAGS]

Probes every target on its own timer and publishes the verdicts in the Service's
EndpointSlices and Endpoints. Runs until SIGTERM or SIGINT (then finishes the writes in
flight and exits 0).

Targets may also come from sources (services[].sources: dns, nodes, pods, endpointslices,
configmap, file; or DNS_NAMES, NODE_SELECTOR, TARGETS_FILE), followed live. The --config file
is reloaded when it changes (a ConfigMap volume's update too, not a subPath mount) and on
SIGHUP; an invalid file is logged and the running configuration kept.

${COMMON}
${CLUSTER}
Run:
  --dry-run            write nothing to Kubernetes (no cluster needed): probing, alerts,
                       metrics and /status work as usual; the objects are logged instead
  --once               publish once every target has a verdict, then exit (1 if a write failed)
  --listen ADDR        address of /metrics, /healthz, /readyz, /status (default ${DEFAULT_LISTEN};
                       "off" disables the server)`,
  check: `Usage: helaseid check [FLAGS]

Probes every target once, prints a table (service, address, port, result, latency, error)
and exits 1 if any target is down. Writes nothing to Kubernetes.

${COMMON}`,
  validate: `Usage: helaseid validate [FLAGS]

Loads and validates the configuration, prints the normalized result (secrets redacted) and
exits 0, or prints every error with its field path and exits 2.

${COMMON}`,
  version: `Usage: helaseid version

Prints the version.`,
};

/** The flags each subcommand accepts (besides `--help` and `--version`, accepted by all). */
const COMMAND_FLAGS: Record<Command, readonly string[]> = {
  run: ["config", "log-level", "log-format", "kubeconfig", "context", "dry-run", "once", "listen"],
  check: ["config", "log-level", "log-format"],
  validate: ["config", "log-level", "log-format"],
  version: [],
  help: [],
};

const OPTIONS = {
  config: { type: "string", short: "c" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  once: { type: "boolean", default: false },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  listen: { type: "string", default: DEFAULT_LISTEN },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", short: "V", default: false },
} as const;

/** Parses `args` (without the program name). */
export function parseCommandLine(args: readonly string[]): Invocation {
  let command: Command = "run";
  let rest = [...args];
  const first = rest[0];
  const explicit = first !== undefined && !first.startsWith("-");
  if (explicit) {
    if (!(COMMANDS as readonly string[]).includes(first)) {
      return usageError(`Unknown command '${first}': use one of ${COMMANDS.join(", ")}`, "help");
    }
    command = first as Command;
    rest = rest.slice(1);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: true,
      tokens: true,
      options: OPTIONS,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return usageError(message.replace(/\. To specify.*$/s, ""), command);
  }
  const { values, positionals, tokens } = parsed;
  // `helaseid help run` is `helaseid run --help`.
  let topic: Command | undefined;
  if (command === "help" && positionals.length > 0) {
    const [name, ...extra] = positionals;
    if (!(COMMANDS as readonly string[]).includes(name!)) {
      return usageError(`Unknown command '${name}': use one of ${COMMANDS.join(", ")}`, "help");
    }
    if (extra.length > 0) return usageError(`Unexpected argument '${extra[0]}'`, "help");
    topic = name as Command;
  } else if (positionals.length > 0) {
    return usageError(`Unexpected argument '${positionals[0]}'`, command);
  }
  // A flag of another subcommand is a mistake (a `check --listen` would be silently ignored).
  for (const token of tokens) {
    if (token.kind !== "option" || token.name === "help" || token.name === "version") continue;
    if (COMMAND_FLAGS[command].includes(token.name)) continue;
    const owners = COMMANDS.filter((c) => COMMAND_FLAGS[c].includes(token.name));
    return usageError(
      `Cannot use '${token.rawName}' with '${command}': it is a flag of ${
        owners.map((owner) => `'${owner}'`).join(", ")
      }`,
      command,
    );
  }
  if (topic) return { command: topic, help: true, flags: defaultFlags() };
  if (values.version) command = "version";
  // `helaseid --help` is about the program; `helaseid run --help` about running.
  if (values.help && !explicit) command = "help";
  let logLevel: LogLevel | undefined;
  if (values["log-level"] !== undefined) {
    logLevel = parseLogLevel(values["log-level"]);
    if (!logLevel) {
      return usageError(
        `Cannot use --log-level '${values["log-level"]}': use debug, info, warn or error`,
        command,
      );
    }
  }
  const logFormat = values["log-format"];
  if (logFormat !== undefined && !(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    return usageError(`Cannot use --log-format '${logFormat}': use json or text`, command);
  }
  if (values.listen !== "off" && !parseListen(values.listen)) {
    return usageError(
      `Cannot use --listen '${values.listen}': use HOST:PORT, :PORT or off`,
      command,
    );
  }
  return {
    command,
    help: values.help,
    flags: {
      config: values.config,
      kubeconfig: values.kubeconfig,
      context: values.context,
      dryRun: values["dry-run"],
      once: values.once,
      logLevel,
      logFormat: logFormat as LogFormat | undefined,
      listen: values.listen,
    },
  };
}

function defaultFlags(): Flags {
  return { dryRun: false, once: false, listen: DEFAULT_LISTEN };
}

/** Splits a `--listen` value (`:8080`, `127.0.0.1:8080`, `[::1]:8080`) into host and port. */
export function parseListen(value: string): { hostname: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { hostname: match[1] ?? (match[2] || "0.0.0.0"), port };
}

function usageError(message: string, command: Command): Invocation {
  return {
    command: "error",
    message,
    help: `Run 'helaseid ${command === "help" ? "" : `${command} `}--help' for usage`,
  };
}
