/**
 * HELASEID's composition root: parse the command line, load the configuration, build the real
 * dependencies (prober, clock, Kubernetes client, logger), run, and handle signals.
 *
 * @module
 */

import { Agent, type AgentListener } from "./src/agent.ts";
import { subscribeSighup, watchConfig } from "./src/config/watch.ts";
import { createSource } from "./src/discovery/create.ts";
import { Discovery, type SourceStatus } from "./src/discovery/mod.ts";
import { Reloader } from "./src/reload.ts";
import { checkAll, formatCheckTable } from "./src/check_command.ts";
import { BUILD_INFO } from "./src/build_info.ts";
import { EXIT, type Flags, HELP, parseCommandLine, parseListen } from "./src/cli.ts";
import { ConfigError, describeConfig, loadConfig } from "./src/config/mod.ts";
import type { Config } from "./src/config/schema.ts";
import { GLOBAL_OPTIONS } from "./src/config/options.ts";
import { systemClock } from "./src/health/scheduler.ts";
import { createKubeClient, inClusterNamespace, type KubeClient } from "./src/kube/client.ts";
import { EventRecorder, reportingInstance } from "./src/kube/events.ts";
import { MemoryKube } from "./src/kube/memory.ts";
import { configuredChannels, createNotifier, DROP_REASONS } from "./src/notify/mod.ts";
import { Logger } from "./src/observe/log.ts";
import { Metrics } from "./src/observe/metrics.ts";
import { writerIdentity } from "./src/publish/identity.ts";
import { LeaseClient } from "./src/kube/lease.ts";
import { type Ownership, ownershipFor } from "./src/publish/ownership_loop.ts";
import { publishesInto } from "./src/publish/cluster.ts";
import { ClusterEvents } from "./src/kube/cluster_events.ts";
import { serviceObject } from "./src/publish/objects.ts";
import { companionNames } from "./src/config/topology.ts";
import {
  agentReadiness,
  type ObserveServer,
  startServer,
  statusDocument,
} from "./src/observe/server.ts";

/** The version of this build (src/build_info.ts, stamped by `deno task stamp`). */
export const VERSION: string = BUILD_INFO.version;
/** The git commit of this build, or `unknown`. */
export const COMMIT: string = BUILD_INFO.commit;

/** Runs the command line `args` and returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const invocation = parseCommandLine(args);
  if (invocation.command === "error") {
    console.error(`helaseid: ${invocation.message}\n${invocation.help}`);
    return EXIT.usage;
  }
  if (invocation.help || invocation.command === "help") {
    console.log(HELP[invocation.command]);
    return EXIT.ok;
  }
  if (invocation.command === "version") {
    console.log(
      `helaseid ${VERSION} (deno ${Deno.version.deno}, ${Deno.build.target}, commit ${COMMIT})`,
    );
    return EXIT.ok;
  }
  const { flags } = invocation;
  // The configuration file's text as loaded: a reload compares the file with it.
  let loadedText: string | undefined;
  const load = () =>
    loadConfig({
      path: flags.config,
      env: Deno.env.toObject(),
      defaultNamespace: inClusterNamespace() ?? "default",
      readTextFile: async (path) => {
        const text = await Deno.readTextFile(path);
        if (path === flags.config) loadedText = text;
        return text;
      },
    });
  let loaded;
  try {
    loaded = await load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`helaseid: invalid configuration${flags.config ? ` in '${flags.config}'` : ""}`);
    for (const issue of error.issues) console.error(`  ${issue.path}: ${issue.message}`);
    return EXIT.usage;
  }
  const { config, warnings } = loaded;
  const log = new Logger({
    level: flags.logLevel ?? config.logLevel ?? GLOBAL_OPTIONS.logLevel.default,
    format: flags.logFormat ?? (Deno.stdout.isTerminal() ? "text" : "json"),
  });
  for (const warning of warnings) log.warn(warning);

  switch (invocation.command) {
    case "validate":
      // Notes go to stderr whatever the log level, so that stdout stays the normalized JSON.
      for (const note of loaded.notes) console.error(`note: ${note}`);
      console.log(JSON.stringify(describeConfig(config), null, 2));
      return EXIT.ok;
    case "check": {
      const rows = await checkAll(await withSourceTargets(config, flags, log));
      console.log(formatCheckTable(rows));
      return rows.every((row) => row.result.ok) ? EXIT.ok : EXIT.failure;
    }
    case "run":
      return await run(config, flags, log, { load, text: loadedText });
  }
}

/**
 * Shutdown budget after SIGTERM (the manifests' grace period is longer): writes in flight get
 * `SHUTDOWN.writes` ms to land, then every API call is aborted; whatever is still running at
 * `SHUTDOWN.total` ms is left behind, so a hung API server cannot hold the exit.
 */
const SHUTDOWN = { writes: 2000, total: 4000 };

/** How `run` reloads its configuration (issue 12). */
interface ConfigSource {
  /** Loads and validates the configuration again, from the same file and environment. */
  readonly load: () => ReturnType<typeof loadConfig>;
  /** The file's text as first loaded (the watch compares the file with it). */
  readonly text?: string;
}

async function run(
  config: Config,
  flags: Flags,
  log: Logger,
  source: ConfigSource,
): Promise<number> {
  const shutdown = new AbortController();
  const clusters = connectClusters(config, flags, log, shutdown.signal);
  if (!clusters) return EXIT.usage;
  const client = clusters[0]!.client;
  const dryRun = client instanceof MemoryKube;
  const discovery = discoveryFor(config, flags, log, {
    signal: shutdown.signal,
    clusters,
    onStatus: (status) => {
      notifier?.sourceStatus(status);
      events.sourceStatus(status);
    },
  });
  const reloader: Reloader = new Reloader({
    initial: config,
    ...(flags.config === undefined ? {} : { path: flags.config }),
    load: source.load,
    now: () => systemClock.now(),
    log: log.with({ component: "reload" }),
    onResult: (result) => notifier?.reload(result),
    apply: async (next) => {
      for (const cluster of clusters) {
        if (cluster.client instanceof MemoryKube) seedServices(cluster.client, next);
      }
      await agent.reconfigure(discovery.configure(next.services), {
        removed: next.removedServices ?? "keep",
      });
    },
  });
  const metrics = new Metrics({
    version: VERSION,
    commit: COMMIT,
    services: config.services,
    status: () => agent.status(),
    sources: () => discovery.statuses(),
    config: () => reloader.status(),
    clusters: clusters.map((cluster) => cluster.name),
  });
  // Events go to each cluster a Service is published into (issue 14).
  const recorders = new Map(clusters.map((cluster) => [
    cluster.name,
    new EventRecorder({
      client: cluster.client,
      log: log.with({ component: "events", cluster: cluster.name }),
      instance: reportingInstance(Deno.env.toObject()),
      uid: (namespace, name) => agent.serviceUid(namespace, name, cluster.name),
      onWrite: (outcome) => metrics.kubeWrite({ ...outcome, cluster: cluster.name }),
    }),
  ]));
  const events = clusters.length === 1 ? recorders.get(clusters[0]!.name)! : new ClusterEvents({
    recorders,
    clustersOf: (service) => agent.clustersOf(service),
    // By the agent's own map: building its whole status per Event would cost O(targets).
    clustersOfKey: (key) => agent.clustersOf(key),
  });
  const notifier = createNotifier(config, {
    ...(flags.config === undefined ? {} : { configPath: flags.config }),
    sources: () => discovery.statuses(),
    log: log.with({ component: "notify" }),
    cluster: clusters.map((cluster) => cluster.name).join(", "),
    onResult: (channel, result, reason) => metrics.notification(channel, result, reason),
  });
  metrics.notificationChannels(configuredChannels(config), DROP_REASONS);
  const listeners: AgentListener[] = [metrics, events, ...(notifier ? [notifier] : [])];
  const identity = writerIdentity(Deno.env.toObject());
  // Leases (issue 13) per cluster (issue 14): writing a Service into a cluster needs its
  // Lease there. Only on a real cluster and a long run: --once and --dry-run write alone.
  const ownerships = new Map<string, Ownership>();
  try {
    clusters.forEach((cluster, index) => {
      if (dryRun || flags.once) return;
      const services = config.services.filter((service) =>
        publishesInto(service, cluster.name, index === 0)
      );
      if (services.length === 0) return;
      const ownership = ownershipFor({ ...config, services }, {
        leases: new LeaseClient(cluster.client),
        identity,
        podNamespace: Deno.env.get("POD_NAMESPACE") || inClusterNamespace(),
        // The pod owns its replica Lease only in its own cluster (the first).
        ...(index === 0 && Deno.env.get("POD_NAME") && Deno.env.get("POD_UID")
          ? { pod: { name: Deno.env.get("POD_NAME")!, uid: Deno.env.get("POD_UID")! } }
          : {}),
        clock: systemClock,
        log: log.with({ component: "leases", cluster: cluster.name }),
        onChange: (change) => {
          agent.ownershipChanged(change.service, cluster.name);
          // Writing again under a Lease that stayed ours: the log line says it, no Event.
          if (change.reason === "resumed") return;
          const [namespace = "", service = ""] = change.service.split("/");
          recorders.get(cluster.name)!.record({
            namespace,
            service,
            reason: change.reason === "acquired"
              ? "LeaseAcquired"
              : change.reason === "lost"
              ? "LeaseLost"
              : "LeaseReleased",
            type: change.reason === "lost" ? "Warning" : "Normal",
            action: "Lease",
            note: change.reason === "acquired"
              ? `${identity} holds the Lease and writes the Service` +
                (change.previous ? ` (taken over from ${change.previous})` : "")
              : change.reason === "lost"
              ? `${identity} lost the Lease (not renewed within the renew deadline, or taken)`
              : `${identity} released the Lease`,
            at: change.at,
          });
        },
      });
      if (ownership) ownerships.set(cluster.name, ownership);
    });
  } catch (error) {
    log.error("invalid lease settings", { error });
    return EXIT.usage;
  }
  // The annotation breaks the inference cycle through the closures above.
  const agent: Agent = new Agent({
    config: { ...config, services: discovery.configure(config.services) },
    clusters: clusters.map((cluster) => ({
      ...cluster,
      ...(ownerships.has(cluster.name) ? { ownership: ownerships.get(cluster.name)! } : {}),
    })),
    log,
    listeners,
    writer: identity,
  });
  let server: ObserveServer | undefined;
  const listen = flags.listen === "off" ? undefined : parseListen(flags.listen);
  if (listen) {
    try {
      server = startServer({
        listen,
        metrics,
        status: () =>
          statusDocument(agent.status(), {
            version: VERSION,
            commit: COMMIT,
            sources: discovery.statuses(),
            config: reloader.status(),
          }),
        ready: () =>
          agentReadiness(agent, {
            dryRun,
            sources: () => discovery.statuses(),
            config: () => reloader.status(),
          }),
        log: log.with({ component: "http" }),
      });
    } catch (error) {
      log.error("cannot serve metrics and health endpoints", { error, listen: flags.listen });
      return EXIT.failure;
    }
  }
  const stopped = Promise.withResolvers<string>();
  const onSignal = (signal: Deno.Signal) => () => stopped.resolve(signal);
  const signals = (["SIGTERM", "SIGINT"] as const).map((signal) => {
    const handler = onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  log.info("starting", {
    version: VERSION,
    commit: COMMIT,
    cluster: client.name,
    dryRun,
    clusters: clusters.map((cluster) => cluster.name),
    listen: server ? `${server.addr.hostname}:${server.addr.port}` : "off",
    services: config.services.map((s) => `${s.namespace}/${s.name}`),
    targets: config.services.reduce((n, s) => n + s.targets.length, 0),
  });
  agent.start();
  discovery.start({
    reconfigure: (services) =>
      agent.reconfigure(services, { removed: reloader.config.removedServices ?? "keep" }),
    setWaiting: (service, reason) => agent.setWaiting(service, reason),
  });
  for (const ownership of ownerships.values()) ownership.start();
  // Live reload: SIGHUP always; the file's changes unless `watchConfig: false`.
  const reload = (trigger: "file" | "signal") => void reloader.reload(trigger);
  const configWatch = flags.config === undefined || flags.once
    ? undefined
    : config.watchConfig === false
    ? ((remove) => ({ stop: () => Promise.resolve(remove()) }))(
      subscribeSighup(() => reload("signal")),
    )
    : watchConfig(flags.config, {
      clock: systemClock,
      onChange: reload,
      ...(source.text === undefined ? {} : { loaded: source.text }),
      onError: (error) => log.warn("cannot read the configuration file to watch it", { error }),
    });
  let code: number = EXIT.ok;
  try {
    if (flags.once) {
      code = await once(agent, config, stopped.promise, discovery);
    } else {
      const signal = await stopped.promise;
      log.info("stopping", { signal });
    }
  } finally {
    for (const remove of signals) remove();
    const began = systemClock.now();
    const abort = setTimeout(() => shutdown.abort(), SHUTDOWN.writes);
    const cleanup = (async () => {
      await configWatch?.stop();
      await discovery.stop();
      await agent.stop();
      // Release our Leases (client-go's ReleaseOnCancel): another replica takes over at once.
      await Promise.all([...ownerships.values()].map((ownership) => ownership.stop()));
      const left = SHUTDOWN.total - (systemClock.now() - began);
      await Promise.all([
        ...[...recorders.values()].map((recorder) => recorder.stop()),
        notifier?.close(Math.max(0, left - 500)),
      ]);
      await server?.shutdown();
    })();
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const finished = await Promise.race([
      cleanup.then(() => true),
      new Promise<false>((resolve) => deadline = setTimeout(() => resolve(false), SHUTDOWN.total)),
    ]);
    clearTimeout(abort);
    clearTimeout(deadline);
    shutdown.abort();
    if (!finished) log.warn("stopped without waiting any longer for the shutdown to finish");
    log.info("stopped", { ms: Math.round(systemClock.now() - began) });
  }
  return code;
}

/**
 * `--once`: wait for every source's first answer and every verdict (bounded by the sources'
 * timeout plus fall × interval + timeout), publish, exit.
 */
async function once(
  agent: Agent,
  config: Config,
  stopped: Promise<string>,
  discovery: Discovery,
): Promise<number> {
  const bound = Math.max(
    ...config.services.map((s) => s.probe.fall * s.probe.interval * 1.5 + s.probe.timeout),
  );
  const sources = config.services.some((service) => service.sources) ? SOURCES_TIMEOUT : 0;
  const deadline = systemClock.now() + bound + sources;
  let interrupted = false;
  stopped.then(() => interrupted = true);
  const ready = () => discovery.answered && agent.verdicts;
  while (!ready() && systemClock.now() < deadline && !interrupted) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await agent.flush();
  return agent.published ? EXIT.ok : EXIT.failure;
}

/** The client of cluster `name` (default the first) for Kubernetes sources; see `discoveryFor`. */
function connectSourceClient(
  config: Config,
  flags: Flags,
  name: string | undefined,
  options: { readonly signal: AbortSignal; readonly clusters?: readonly Connected[] },
): KubeClient | string {
  const connected = options.clusters ?? [];
  if (name !== undefined && connected.length > 0 && !connected.some((c) => c.name === name)) {
    return `unknown cluster '${name}'`;
  }
  const client = (connected.find((c) => c.name === name) ?? connected[0])?.client ??
    new MemoryKube();
  const cluster = config.clusters?.find((c) => c.name === (name ?? config.clusters?.[0]?.name));
  return sourceClient(client, flags, {
    signal: options.signal,
    ...(cluster?.kubeconfig ? { kubeconfig: cluster.kubeconfig } : {}),
    ...(cluster?.context ? { context: cluster.context } : {}),
  });
}

/**
 * The discovery of the target sources: each Kubernetes source reads the cluster it names (the
 * first by default), under `--dry-run` or for `check` the configured cluster when one answers.
 */
function discoveryFor(
  config: Config,
  flags: Flags,
  log: Logger,
  options: {
    readonly signal: AbortSignal;
    readonly clusters?: readonly Connected[];
    readonly onStatus?: (status: SourceStatus) => void;
  },
): Discovery {
  // One client per cluster, made when a Kubernetes source first asks (reading a kubeconfig is
  // I/O: not once per source, nor for DNS and file sources).
  const clients = new Map<string | undefined, KubeClient | string>();
  const clientOf = (name: string | undefined): KubeClient | string => {
    let client = clients.get(name);
    if (client === undefined) {
      client = connectSourceClient(config, flags, name, options);
      clients.set(name, client);
    }
    return client;
  };
  return new Discovery({
    clock: systemClock,
    log: log.with({ component: "discovery" }),
    create: (source, service) =>
      createSource(source, service, { clock: systemClock, log, clientOf }),
    ...(options.onStatus ? { onStatus: options.onStatus } : {}),
  });
}

/** How long `check` and `--once` wait for every source's first answer. */
const SOURCES_TIMEOUT = 10_000;

/** `check`: the configuration with the targets its sources give now (each asked once). */
async function withSourceTargets(config: Config, flags: Flags, log: Logger): Promise<Config> {
  if (!config.services.some((service) => service.sources)) return config;
  const controller = new AbortController();
  const discovery = discoveryFor(config, flags, log, { signal: controller.signal });
  discovery.configure(config.services);
  try {
    const services = await discovery.resolveOnce(SOURCES_TIMEOUT);
    for (const status of discovery.statuses()) {
      if (status.error) log.warn("source failing", { source: status.source, error: status.error });
    }
    return { ...config, services };
  } finally {
    await discovery.stop();
    controller.abort();
  }
}

/** A cluster to publish into, connected. */
interface Connected {
  readonly name: string;
  readonly client: KubeClient;
}

/**
 * The clusters written to (issue 14): the configured `clusters`, each with its kubeconfig and
 * context (the command line's where it names none), or the one connection of the command line.
 * Under `--dry-run`, an in-memory cluster each. `undefined` when one cannot be connected.
 */
function connectClusters(
  config: Config,
  flags: Flags,
  log: Logger,
  signal: AbortSignal,
): Connected[] | undefined {
  if (!config.clusters) {
    const client = connect(config, flags, log, signal);
    return client && [{ name: client.name, client }];
  }
  const connected: Connected[] = [];
  for (const [index, cluster] of config.clusters.entries()) {
    const services = config.services.filter((service) =>
      publishesInto(service, cluster.name, index === 0)
    );
    if (flags.dryRun) {
      connected.push({ name: cluster.name, client: dryRunCluster({ ...config, services }, log) });
      continue;
    }
    try {
      const client = createKubeClient({
        kubeconfig: cluster.kubeconfig ?? flags.kubeconfig,
        context: cluster.context ?? (cluster.kubeconfig ? undefined : flags.context),
        signal,
      });
      connected.push({ name: cluster.name, client });
    } catch (error) {
      log.error("cannot connect to Kubernetes", { cluster: cluster.name, error });
      return undefined;
    }
  }
  return connected;
}

/** The Kubernetes client: the real one, or the in-memory one for `--dry-run`. */
function connect(
  config: Config,
  flags: Flags,
  log: Logger,
  signal: AbortSignal,
): KubeClient | undefined {
  if (!flags.dryRun) {
    try {
      return createKubeClient({ kubeconfig: flags.kubeconfig, context: flags.context, signal });
    } catch (error) {
      log.error("cannot connect to Kubernetes", { error });
      return undefined;
    }
  }
  return dryRunCluster(config, log);
}

/** An in-memory cluster for `--dry-run` that logs the writes it would make. */
function dryRunCluster(config: Config, log: Logger): MemoryKube {
  const memory = new MemoryKube({
    onWrite: (write) =>
      log.info(`dry-run: would ${write.verb} ${write.resource} ${write.namespace}/${write.name}`, {
        object: write.object,
      }),
  });
  seedServices(memory, config);
  return memory;
}

/** Without a cluster, each Service is assumed to exist as configured: selector-less, same ports. */
function seedServices(memory: MemoryKube, config: Config): void {
  for (const service of config.services) {
    const ref = { resource: "services" as const, namespace: service.namespace, name: service.name };
    if (memory.get(ref)) continue;
    memory.seed(serviceObject(service, { uid: `dry-run-${service.name}` }));
    // Its companion Services (issue 15: primary, per zone) too.
    for (const name of companionNames(service)) {
      const companion = { ...service, name };
      memory.seed(serviceObject(companion, { uid: `dry-run-${name}` }));
    }
  }
}

/**
 * The cluster Kubernetes target sources read: the one written to, or under `--dry-run` the
 * configured cluster when there is one (reading is harmless); else why there is none.
 */
function sourceClient(
  client: KubeClient,
  flags: Flags,
  options: { signal: AbortSignal; kubeconfig?: string; context?: string },
): KubeClient | string {
  if (!(client instanceof MemoryKube)) return client;
  try {
    return createKubeClient({
      kubeconfig: options.kubeconfig ?? flags.kubeconfig,
      context: options.context ?? (options.kubeconfig ? undefined : flags.context),
      signal: options.signal,
    });
  } catch (error) {
    return `no cluster to read from under --dry-run (${
      error instanceof Error ? error.message : String(error)
    })`;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
