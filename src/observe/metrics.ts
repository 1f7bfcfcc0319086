/**
 * Prometheus metrics in the text exposition format 0.0.4, from a registry small enough to
 * cost nothing next to the probes (prom-client would cost memory we budget for targets).
 *
 * Counters and histograms are fed by the agent's events ({@linkcode Metrics} is an
 * `AgentListener`); gauges that describe the present (target up, endpoints, panic guard) are
 * computed at scrape time from the agent's status, so the series of a target that is no
 * longer configured disappear by themselves. Label values are bounded: probe errors map to
 * a fixed set of results, probe histograms are per Service, never per target.
 *
 * `helaseid_target_up` is 1 for a healthy target, 0 for an unhealthy one, and absent while a
 * target has no verdict yet (so `helaseid_target_up == 0` only ever fires on a real verdict).
 *
 * Probe series carry the check's `type` (`tcp`, `http`, `kafka`, ...): a target with several
 * checks counts one result and one duration per check.
 *
 * Targets come and go (sources, reloads; issue 12): no series is kept per target, and every
 * series of a Service that left the configuration is dropped on its `targetsChanged` (`gone`),
 * so memory does not grow with target or Service churn. Source and configuration gauges
 * (`helaseid_source_*`, `helaseid_config_*`) are read at scrape time from the discovery and
 * the reloader.
 *
 * @module
 */

import process from "node:process";
import {
  type AgentListener,
  checkStatuses,
  type ServiceStatus,
  type TargetCheck,
  type TargetsChange,
  type TargetTransition,
} from "../agent.ts";
import type { ServiceConfig } from "../config/schema.ts";
import type { SourceStatus } from "../discovery/mod.ts";
import type { ConfigStatus } from "../reload.ts";
import { BLOCKED_REASONS, type PublishState } from "../publish/reconciler.ts";
import type { WriteResult } from "../publish/writer.ts";

/** The `Content-Type` of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The values of the `result` label of `helaseid_probes_total`. */
export const PROBE_RESULTS = ["ok", "refused", "timeout", "unreachable", "error"] as const;
/** A bounded probe result. */
export type ProbeResultLabel = typeof PROBE_RESULTS[number];

/** The values of the `result` label of `helaseid_kube_writes_total`. */
export const WRITE_RESULTS = [
  "ok",
  "conflict",
  "invalid",
  "forbidden",
  "not_found",
  "throttled",
  "server_error",
  "unreachable",
  "error",
] as const;
/** A bounded write result. */
export type WriteResultLabel = typeof WRITE_RESULTS[number];

/** Maps a probe outcome to one of {@linkcode PROBE_RESULTS}; any other error text is `error`. */
export function probeResultLabel(
  result: { readonly ok: boolean; readonly error?: string },
): ProbeResultLabel {
  if (result.ok) return "ok";
  switch (result.error) {
    case "refused":
    case "timeout":
    case "unreachable":
      return result.error;
    default:
      return "error";
  }
}

/** Maps a write outcome (HTTP status, 0 when the server was not reached) to a bounded result. */
export function writeResultLabel(
  outcome: { readonly ok: boolean; readonly status?: number },
): WriteResultLabel {
  if (outcome.ok) return "ok";
  const status = outcome.status;
  if (status === undefined) return "error";
  if (status === 0) return "unreachable";
  if (status === 409) return "conflict";
  if (status === 422 || status === 400) return "invalid";
  if (status === 401 || status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 429) return "throttled";
  if (status >= 500) return "server_error";
  return "error";
}

const STANDARD_SERIES = [1, 2.5, 5];

/**
 * Histogram buckets for probe durations, in seconds: 1 ms, 2.5 ms, 5 ms, 10 ms, ... below the
 * largest timeout, then the largest timeout itself (so "answered in time" is one bucket).
 */
export function probeBuckets(maxTimeoutMs: number): number[] {
  const max = Math.max(maxTimeoutMs, 1) / 1000;
  const buckets: number[] = [];
  for (let decade = 0.001; decade < max; decade *= 10) {
    for (const step of STANDARD_SERIES) {
      const bound = round(step * decade);
      if (bound < max) buckets.push(bound);
    }
  }
  buckets.push(round(max));
  return buckets;
}

/** Buckets of API and publish latencies, seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Buckets of scheduling lag, seconds (the budget is 50 ms at p99). */
const LAG_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What the process metrics read; injectable so tests see fixed numbers. */
export interface ProcessStats {
  /** Resident set size, bytes. */
  rss(): number;
  /** V8 heap in use and reserved, and memory outside the heap (buffers), bytes. */
  heap(): { used: number; total: number; external: number };
  /** User plus system CPU time, seconds. */
  cpuSeconds(): number;
  /** When the process started, seconds since the epoch. */
  readonly startTime: number;
}

/** The real process's numbers (`Deno.memoryUsage`, `process.cpuUsage`). */
export function processStats(): ProcessStats {
  return {
    rss: () => Deno.memoryUsage().rss,
    heap: () => {
      const { heapUsed, heapTotal, external } = Deno.memoryUsage();
      return { used: heapUsed, total: heapTotal, external };
    },
    cpuSeconds: () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    },
    startTime: performance.timeOrigin / 1000,
  };
}

/** A finished API write, as {@linkcode Metrics.kubeWrite} counts it. */
export interface KubeWriteOutcome {
  /** Plural resource name (`endpointslices`, `endpoints`, `events`). */
  readonly resource: string;
  /** Whether the API accepted it. */
  readonly ok: boolean;
  /** HTTP status of a failure, 0 when the server was not reached. */
  readonly status?: number;
  /** How long the call took, ms. */
  readonly duration: number;
  /** The cluster written to: a `cluster` label when the agent publishes into several. */
  readonly cluster?: string;
}

/** Options of {@linkcode Metrics}. */
export interface MetricsOptions {
  /** Exposed as `helaseid_build_info{version}`. */
  readonly version: string;
  /** Exposed as `helaseid_build_info{commit}` (default `unknown`). */
  readonly commit?: string;
  /** The configured Services: their largest probe timeout bounds the probe buckets. */
  readonly services: readonly ServiceConfig[];
  /** The agent's status now, read at each scrape for the gauges (default: no services). */
  readonly status?: () => readonly ServiceStatus[];
  /** Defaults to {@linkcode processStats}. */
  readonly process?: ProcessStats;
  /** Every target source's state, read at each scrape (default: no sources). */
  readonly sources?: () => readonly SourceStatus[];
  /** The configuration in force and the last reload, read at each scrape (default: none). */
  readonly config?: () => ConfigStatus;
  /**
   * The clusters the agent publishes into (default: one). With several, API write series get
   * a `cluster` label, as the per-cluster gauges do.
   */
  readonly clusters?: readonly string[];
}

/** One probe type's series of a Service. */
interface ProbeSeries {
  readonly labels: string;
  readonly duration: HistogramSeries;
  readonly results: Record<ProbeResultLabel, number>;
}

/** Per-Service probe series, found by the ServiceConfig's identity on the hot path. */
interface ServiceSeries {
  readonly labels: string;
  /** By probe type, in the order first seen (configuration order). */
  readonly probes: Map<string, ProbeSeries>;
  readonly transitions: { healthy: number; unhealthy: number };
  /** Checks on the fast interval (confirming a change; issue 17). */
  fastChecks: number;
  panics: number;
  panic: boolean;
}

/** The agent's metrics; {@linkcode render} writes them in the text format. */
export class Metrics implements AgentListener {
  readonly #options: MetricsOptions;
  /** Whether API write series carry a `cluster` label (several clusters). */
  readonly #clusterLabel: boolean;
  readonly #process: ProcessStats;
  readonly #probeBuckets: readonly number[];
  readonly #services = new Map<string, ServiceSeries>();
  readonly #byConfig = new WeakMap<ServiceConfig, ServiceSeries>();
  readonly #lag: HistogramSeries = histogramSeries("", LAG_BUCKETS);
  readonly #publishLatency: HistogramSeries = histogramSeries("", LATENCY_BUCKETS);
  readonly #writeDurations = new Map<string, HistogramSeries>();
  readonly #writes = new Map<string, number>();
  readonly #notifications = new Map<string, number>();
  readonly #notificationsDropped = new Map<string, number>();
  /** The latest successful (re)load seen at a scrape, epoch ms. */
  #lastGoodReload = 0;

  /** Makes the registry, with every configured Service's probe series at zero. */
  constructor(options: MetricsOptions) {
    this.#options = options;
    this.#clusterLabel = (options.clusters?.length ?? 1) > 1;
    this.#process = options.process ?? processStats();
    const timeouts = options.services.map((service) => service.probe.timeout);
    this.#probeBuckets = probeBuckets(timeouts.length > 0 ? Math.max(...timeouts) : 1000);
    // Every configured Service's series exist from the start, so rate() sees the first event.
    for (const service of options.services) {
      const series = this.#service(service.namespace, service.name);
      for (const check of service.checks ?? [{ type: service.probe.type }]) {
        this.#probe(series, check.type);
      }
    }
  }

  /** Counts a finished check: each probe type's result and duration, the scheduling lag. */
  check(event: TargetCheck): void {
    const series = this.#seriesOf(event.service);
    const { result, service } = event;
    const checks = checkStatuses(result, service.probe.port);
    if (checks === undefined) count(this.#probe(series, service.probe.type), result);
    else for (const check of checks) count(this.#probe(series, check.type), check);
    if (event.cadence === "fast") series.fastChecks++;
    observe(this.#lag, Math.max(0, event.started - event.planned) / 1000);
  }

  /**
   * Follows the set of Services: a new one gets its series at zero (so rate() sees its first
   * check), a Service gone from the configuration loses every series. Removed targets have no
   * series of their own to drop (probe series are per Service, gauges come from the status).
   */
  targetsChanged(event: TargetsChange): void {
    const { service } = event;
    const key = `${service.namespace}/${service.name}`;
    if (event.gone) {
      this.#services.delete(key);
      this.#byConfig.delete(service);
      return;
    }
    const series = this.#seriesOf(service);
    for (const check of service.checks ?? [{ type: service.probe.type }]) {
      this.#probe(series, check.type);
    }
  }

  /** Counts a change of verdict. */
  transition(event: TargetTransition): void {
    this.#seriesOf(event.service).transitions[event.to]++;
  }

  /** Counts an API write of the publisher and its publish latency. */
  write(result: WriteResult): void {
    this.kubeWrite(result);
    if (result.ok && result.latency !== undefined) {
      observe(this.#publishLatency, Math.max(0, result.latency) / 1000);
    }
  }

  /** Counts how often each Service's panic guard engaged (a short panic between scrapes too). */
  publishState(state: PublishState): void {
    // A Service gone from the configuration gets no series back from a late publishing state.
    const series = this.#services.get(state.service);
    if (series === undefined) return;
    const panic = state.view?.panic ?? series.panic;
    if (panic && !series.panic) series.panics++;
    series.panic = panic;
  }

  /** Counts any API write (the publisher's, the event recorder's). */
  kubeWrite(outcome: KubeWriteOutcome): void {
    const cluster = this.#clusterLabel ? outcome.cluster : undefined;
    const resource = labelPairs({
      ...(cluster === undefined ? {} : { cluster }),
      resource: outcome.resource,
    });
    const key = `${resource},${labelPairs({ result: writeResultLabel(outcome) })}`;
    this.#writes.set(key, (this.#writes.get(key) ?? 0) + 1);
    let durations = this.#writeDurations.get(resource);
    if (!durations) {
      durations = histogramSeries(resource, LATENCY_BUCKETS);
      this.#writeDurations.set(resource, durations);
    }
    observe(durations, Math.max(0, outcome.duration) / 1000);
  }

  /**
   * Counts an alert delivery attempt. Both values must come from small fixed sets
   * (`channel`: "teams"; `result`: "sent", "failed", "dropped", ...): they become labels.
   */
  notification(channel: string, result: string, reason?: string): void {
    const key = labelPairs({ channel, result });
    this.#notifications.set(key, (this.#notifications.get(key) ?? 0) + 1);
    // A drop's reason (`superseded`, `expired`, `queue-full`, `shutdown`) is a label too.
    if (reason === undefined) return;
    const dropped = labelPairs({ channel, reason });
    this.#notificationsDropped.set(dropped, (this.#notificationsDropped.get(dropped) ?? 0) + 1);
  }

  /**
   * Makes `helaseid_notifications_dropped_total{channel,reason}` exist at zero for every
   * configured channel and drop reason, so that Prometheus' increase() sees the first drop.
   * Both lists must be small and fixed: they become labels.
   */
  notificationChannels(channels: readonly string[], reasons: readonly string[]): void {
    for (const channel of channels) {
      for (const reason of reasons) {
        const key = labelPairs({ channel, reason });
        if (!this.#notificationsDropped.has(key)) this.#notificationsDropped.set(key, 0);
      }
    }
  }

  /** Every metric, in the text exposition format 0.0.4. */
  render(): string {
    const out = new TextWriter();
    this.#renderStatus(out);
    this.#renderSources(out);
    this.#renderConfig(out);
    this.#renderProbes(out);
    this.#renderWrites(out);

    out.family("helaseid_notifications_total", {
      type: "counter",
      help: "Alert delivery attempts by result.",
    });
    for (const [labels, value] of this.#notifications) {
      out.sample(labels, value);
    }
    out.family("helaseid_notifications_dropped_total", {
      type: "counter",
      help: "Alerts dropped unsent, by reason.",
    });
    for (const [labels, value] of this.#notificationsDropped) out.sample(labels, value);

    out.family("helaseid_build_info", {
      type: "gauge",
      help: "Version and commit of HELASEID and version of the Deno runtime.",
    });
    out.sample(
      labelPairs({
        version: this.#options.version,
        commit: this.#options.commit ?? "unknown",
        deno: Deno.version.deno,
      }),
      1,
    );

    out.family("process_resident_memory_bytes", {
      type: "gauge",
      help: "Resident memory size in bytes.",
    });
    out.sample("", this.#process.rss());
    const heap = this.#process.heap();
    out.family("deno_heap_size_used_bytes", { type: "gauge", help: "V8 heap in use, in bytes." });
    out.sample("", heap.used);
    out.family("deno_heap_size_total_bytes", {
      type: "gauge",
      help: "V8 heap reserved, in bytes.",
    });
    out.sample("", heap.total);
    out.family("deno_external_memory_bytes", {
      type: "gauge",
      help: "Memory held by JavaScript objects outside the V8 heap, in bytes.",
    });
    out.sample("", heap.external);
    out.family("process_cpu_seconds_total", {
      type: "counter",
      help: "Total user and system CPU time spent.",
    });
    out.sample("", this.#process.cpuSeconds());
    out.family("process_start_time_seconds", {
      type: "gauge",
      help: "Start time of the process since the epoch, in seconds.",
    });
    out.sample("", this.#process.startTime);
    return out.text();
  }

  /** Gauges of the present, from the agent's status: configured targets only. */
  #renderStatus(out: TextWriter): void {
    const services = this.#options.status?.() ?? [];
    const labelled = services.map((service) => ({
      service,
      labels: labelPairs({ namespace: service.namespace, service: service.name }),
    }));
    // Publishing is per cluster (issue 14): with several, each series gets a `cluster` label.
    const published = labelled.flatMap(({ service, labels }) =>
      service.clusters
        ? service.clusters.map((cluster) => ({
          service: {
            ...service,
            publish: cluster.publish,
            ...(cluster.lease ? { lease: cluster.lease } : { lease: undefined }),
          },
          labels: `${labels},${labelPairs({ cluster: cluster.name })}`,
        }))
        : [{ service, labels }]
    );

    out.family("helaseid_target_up", {
      type: "gauge",
      help: "1 if the target is healthy, 0 if unhealthy; absent until its first verdict.",
    });
    for (const { service, labels } of labelled) {
      for (const target of service.targets) {
        if (target.status === "unknown") continue;
        const where = labelPairs({ address: target.address, port: String(target.port) });
        out.sample(`${labels},${where}`, target.status === "healthy" ? 1 : 0);
      }
    }

    out.family("helaseid_primary", {
      type: "gauge",
      help: "1 for the target the Service's primary Service shows; absent while it has none.",
    });
    for (const { service, labels } of labelled) {
      if (service.primary === undefined) continue;
      out.sample(`${labels},${labelPairs({ target: service.primary })}`, 1);
    }

    out.family("helaseid_service_targets", {
      type: "gauge",
      help: "Configured targets by health verdict.",
    });
    for (const { service, labels } of labelled) {
      const counts = { healthy: 0, unhealthy: 0, unknown: 0 };
      for (const target of service.targets) counts[target.status]++;
      for (const [health, count] of Object.entries(counts)) {
        out.sample(`${labels},${labelPairs({ health })}`, count);
      }
    }

    out.family("helaseid_service_endpoints", {
      type: "gauge",
      help: "Endpoints the Service shows as last published, by readiness.",
    });
    for (const { service, labels } of published) {
      const view = service.publish?.view;
      if (!view) continue;
      const ready = view.endpoints.filter((endpoint) => endpoint.ready).length;
      out.sample(`${labels},state="ready"`, ready);
      out.sample(`${labels},state="not_ready"`, view.endpoints.length - ready);
    }

    out.family("helaseid_service_panic", {
      type: "gauge",
      help: "1 while the panic guard publishes every target because none is healthy.",
    });
    for (const { service, labels } of published) {
      out.sample(labels, service.publish?.view?.panic ? 1 : 0);
    }

    out.family("helaseid_service_blocked", {
      type: "gauge",
      help: "1 while the Service cannot be published, by reason.",
    });
    for (const { service, labels } of published) {
      // Every reason gets a series, so an alert on `== 1` sees the 0 before it.
      const current = service.publish?.blocked;
      for (const reason of BLOCKED_REASONS) {
        out.sample(`${labels},${labelPairs({ reason })}`, reason === current ? 1 : 0);
      }
    }

    out.family("helaseid_service_conflict", {
      type: "gauge",
      help:
        "1 while another HELASEID writer rewrites the Service's objects and this agent holds off.",
    });
    for (const { service, labels } of published) {
      out.sample(labels, service.publish?.blocked === "conflict" ? 1 : 0);
    }

    if (services.some((service) => service.lease)) {
      out.family("helaseid_lease_held", {
        type: "gauge",
        help: "With leases on: 1 while this replica holds the Service's Lease and writes it.",
      });
      for (const { service, labels } of published) {
        if (service.lease) out.sample(labels, service.lease.held ? 1 : 0);
      }
    }

    out.family("helaseid_service_publish_failures", {
      type: "gauge",
      help:
        "Consecutive failed publishing attempts of the Service (0 when the last one succeeded).",
    });
    for (const { service, labels } of published) {
      out.sample(labels, service.publish?.failures ?? 0);
    }

    out.family("helaseid_tls_certificate_not_after_seconds", {
      type: "gauge",
      help: "When the certificate a tls check last saw expires, seconds since the epoch.",
    });
    for (const { service, labels } of published) {
      for (const target of service.targets) {
        for (const check of target.results ?? []) {
          if (check.certificate === undefined) continue;
          const where = labelPairs({ address: target.address, port: String(check.port) });
          out.sample(`${labels},${where}`, check.certificate.notAfter / 1000);
        }
      }
    }
  }

  /** Gauges of each target source, from the discovery's statuses. */
  #renderSources(out: TextWriter): void {
    const sources = (this.#options.sources?.() ?? []).map((source) => ({
      source,
      labels: sourceLabels(source),
    }));
    out.family("helaseid_source_up", {
      type: "gauge",
      help: "1 if the target source answers without error, 0 while it fails (its last good " +
        "set stays in force); absent until its first answer or failure.",
    });
    for (const { source, labels } of sources) {
      if (!source.answered && source.error === undefined) continue;
      out.sample(`${labels},${labelPairs({ type: source.type })}`, source.error ? 0 : 1);
    }
    out.family("helaseid_source_targets", {
      type: "gauge",
      help: "Targets of the source's set in force.",
    });
    for (const { source, labels } of sources) out.sample(labels, source.targets);
    out.family("helaseid_source_skipped_targets", {
      type: "gauge",
      help: "Addresses the source found that are not published (rejected by the API's rules).",
    });
    for (const { source, labels } of sources) out.sample(labels, source.skipped);
    out.family("helaseid_source_held", {
      type: "gauge",
      help: "1 while a sudden shrink of the source's set is held before it is applied.",
    });
    for (const { source, labels } of sources) out.sample(labels, source.held ? 1 : 0);
  }

  /** Gauges of the configuration in force and its last reload (Prometheus' own names). */
  #renderConfig(out: TextWriter): void {
    const config = this.#options.config?.();
    if (config === undefined) return;
    const last = config.lastReload;
    // A valid reload that changed nothing leaves `loadedAt` as it was: it still succeeded.
    const good = Math.max(config.loadedAt, last?.ok ? last.at : 0);
    this.#lastGoodReload = Math.max(this.#lastGoodReload, good);
    out.family("helaseid_config_reload_success", {
      type: "gauge",
      help: "1 if the last configuration reload succeeded (or none was tried), 0 if it failed " +
        "and the previous configuration still runs.",
    });
    out.sample("", last === undefined || last.ok ? 1 : 0);
    out.family("helaseid_config_last_reload_success_timestamp_seconds", {
      type: "gauge",
      help: "When the configuration was last loaded or reloaded successfully, seconds since " +
        "the epoch.",
    });
    out.sample("", this.#lastGoodReload / 1000);
    out.family("helaseid_config_info", {
      type: "gauge",
      help: "The hash of the configuration in force.",
    });
    out.sample(labelPairs({ hash: config.hash }), 1);
  }

  #renderProbes(out: TextWriter): void {
    out.family("helaseid_probes_total", {
      type: "counter",
      help: "Finished checks by probe type and result (one per configured check of a target).",
    });
    for (const series of this.#services.values()) {
      for (const probe of series.probes.values()) {
        for (const result of PROBE_RESULTS) {
          out.sample(`${probe.labels},result="${result}"`, probe.results[result]);
        }
      }
    }
    out.family("helaseid_fast_checks_total", {
      type: "counter",
      help: "Finished checks on the fast interval, confirming a failure or a recovery " +
        "(one helaseid_probes_total sample per configured check each).",
    });
    for (const series of this.#services.values()) out.sample(series.labels, series.fastChecks);
    out.family("helaseid_probe_duration_seconds", {
      type: "histogram",
      help: "Time from the start of a check to its answer or timeout, by probe type.",
    });
    for (const series of this.#services.values()) {
      for (const probe of series.probes.values()) out.histogram(probe.duration);
    }
    out.family("helaseid_target_transitions_total", {
      type: "counter",
      help: "Changes of a target's verdict, by the verdict reached.",
    });
    for (const series of this.#services.values()) {
      for (const to of ["healthy", "unhealthy"] as const) {
        out.sample(`${series.labels},to="${to}"`, series.transitions[to]);
      }
    }
    out.family("helaseid_service_panic_engaged_total", {
      type: "counter",
      help: "Times the panic guard engaged for the Service.",
    });
    for (const series of this.#services.values()) {
      out.sample(series.labels, series.panics);
    }
    out.family("helaseid_scheduling_lag_seconds", {
      type: "histogram",
      help: "Delay between when a check was due and when it started.",
    });
    out.histogram(this.#lag);
  }

  #renderWrites(out: TextWriter): void {
    out.family("helaseid_kube_writes_total", {
      type: "counter",
      help: "Kubernetes API writes by result.",
    });
    for (const [labels, value] of this.#writes) {
      out.sample(labels, value);
    }
    out.family("helaseid_kube_write_duration_seconds", {
      type: "histogram",
      help: "Duration of Kubernetes API writes.",
    });
    for (const series of this.#writeDurations.values()) {
      out.histogram(series);
    }
    out.family("helaseid_publish_latency_seconds", {
      type: "histogram",
      help: "From the probe result that changed a verdict to the API acknowledging the write.",
    });
    out.histogram(this.#publishLatency);
  }

  #seriesOf(service: ServiceConfig): ServiceSeries {
    let series = this.#byConfig.get(service);
    // A Service dropped as gone and configured again starts from fresh series.
    if (!series || this.#services.get(`${service.namespace}/${service.name}`) !== series) {
      series = this.#service(service.namespace, service.name);
      this.#byConfig.set(service, series);
    }
    return series;
  }

  /** A Service's series of one probe type (`type` comes from the configuration: bounded). */
  #probe(series: ServiceSeries, type: string): ProbeSeries {
    let probe = series.probes.get(type);
    if (!probe) {
      const labels = `${series.labels},${labelPairs({ type })}`;
      probe = {
        labels,
        duration: histogramSeries(labels, this.#probeBuckets),
        results: { ok: 0, refused: 0, timeout: 0, unreachable: 0, error: 0 },
      };
      series.probes.set(type, probe);
    }
    return probe;
  }

  #service(namespace: string, name: string): ServiceSeries {
    const key = `${namespace}/${name}`;
    let series = this.#services.get(key);
    if (!series) {
      const labels = labelPairs({ namespace, service: name });
      series = {
        labels,
        probes: new Map(),
        transitions: { healthy: 0, unhealthy: 0 },
        fastChecks: 0,
        panics: 0,
        panic: false,
      };
      this.#services.set(key, series);
    }
    return series;
  }
}

/** `namespace`, `service` (as every Service's series) and `source` of a source's series. */
function sourceLabels(source: SourceStatus): string {
  const slash = source.service.indexOf("/");
  return labelPairs({
    namespace: source.service.slice(0, slash),
    service: source.service.slice(slash + 1),
    source: source.source,
  });
}

/** Counts one check's result and duration. */
function count(
  probe: ProbeSeries,
  result: { readonly ok: boolean; readonly latency: number; readonly error?: string },
): void {
  probe.results[probeResultLabel(result)]++;
  observe(probe.duration, result.latency / 1000);
}

/** One histogram series: per-bucket (non-cumulative) counts, made cumulative when rendered. */
interface HistogramSeries {
  /** Rendered labels (`a="b",c="d"`), without `le`. */
  readonly labels: string;
  readonly buckets: readonly number[];
  readonly counts: number[];
  sum: number;
  count: number;
}

function histogramSeries(labels: string, buckets: readonly number[]): HistogramSeries {
  return { labels, buckets, counts: new Array(buckets.length).fill(0), sum: 0, count: 0 };
}

function observe(series: HistogramSeries, value: number): void {
  series.sum += value;
  series.count++;
  const { buckets } = series;
  for (let i = 0; i < buckets.length; i++) {
    if (value <= buckets[i]!) {
      series.counts[i]!++;
      return;
    }
  }
}

/** Builds the text format: a family's header, then its samples. */
class TextWriter {
  readonly #lines: string[] = [];
  #name = "";

  /** Starts a family; the samples that follow belong to it. */
  family(name: string, meta: { type: "counter" | "gauge" | "histogram"; help: string }): void {
    this.#name = name;
    this.#lines.push(`# HELP ${name} ${escapeHelp(meta.help)}`, `# TYPE ${name} ${meta.type}`);
  }

  sample(labels: string, value: number): void {
    this.#line(this.#name, labels, value);
  }

  histogram(series: HistogramSeries): void {
    const prefix = series.labels ? `${series.labels},` : "";
    // Stored per bucket; the format wants each bucket to count everything at or below it.
    let cumulative = 0;
    series.buckets.forEach((bound, i) => {
      cumulative += series.counts[i]!;
      this.#line(`${this.#name}_bucket`, `${prefix}le="${formatValue(bound)}"`, cumulative);
    });
    this.#line(`${this.#name}_bucket`, `${prefix}le="+Inf"`, series.count);
    this.#line(`${this.#name}_sum`, series.labels, series.sum);
    this.#line(`${this.#name}_count`, series.labels, series.count);
  }

  text(): string {
    return this.#lines.join("\n") + "\n";
  }

  #line(name: string, labels: string, value: number): void {
    this.#lines.push(`${name}${labels ? `{${labels}}` : ""} ${formatValue(value)}`);
  }
}

/** Renders labels as `name="value",...` with values escaped as the text format requires. */
function labelPairs(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(
    ",",
  );
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Rounds away binary noise (0.0025 × 10 is not 0.025 in floating point). */
function round(value: number): number {
  return Number(value.toPrecision(6));
}
