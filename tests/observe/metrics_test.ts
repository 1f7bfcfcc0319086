import assert from "node:assert/strict";
import type {
  ServiceStatus,
  TargetCheck,
  TargetStatus,
  TargetTransition,
} from "../../src/agent.ts";
import type { ServiceConfig } from "../../src/config/schema.ts";
import { initialHealth } from "../../src/health/state.ts";
import {
  Metrics,
  PROBE_RESULTS,
  probeBuckets,
  probeResultLabel,
  PROMETHEUS_CONTENT_TYPE,
  writeResultLabel,
} from "../../src/observe/metrics.ts";
import { BLOCKED_REASONS, type PublishState } from "../../src/publish/reconciler.ts";
import type { ServiceView } from "../../src/publish/views.ts";
import type { WriteResult } from "../../src/publish/writer.ts";
import { serviceConfig } from "../support/fakes.ts";
import { find, findAll, parsePrometheus, valueOf } from "./_prometheus.ts";

const SERVICE = serviceConfig(["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
const LABELS = { namespace: "datastream", service: "brokers" };
const PROCESS = {
  rss: () => 42_000_000,
  heap: () => ({ used: 20_000_000, total: 30_000_000, external: 1_000_000 }),
  cpuSeconds: () => 1.5,
  startTime: 1_795_000_000.25,
};

function check(
  address: string,
  result: { ok: boolean; latency: number; error?: string },
  times: { planned?: number; started?: number } = {},
  service: ServiceConfig = SERVICE,
): TargetCheck {
  const planned = times.planned ?? 1000;
  const started = times.started ?? planned;
  return {
    key: `${service.namespace}/${service.name}|${address}`,
    result,
    planned,
    started,
    finished: started + result.latency,
    cadence: "normal",
    service,
    target: { address },
    health: initialHealth(0),
  };
}

function transition(address: string, to: "healthy" | "unhealthy"): TargetTransition {
  return {
    from: to === "healthy" ? "unhealthy" : "healthy",
    to,
    at: 2000,
    after: 1000,
    service: SERVICE,
    target: { address },
    healthy: 1,
    unhealthy: 1,
    total: 3,
  };
}

function target(address: string, status: TargetStatus["status"]): TargetStatus {
  return {
    address,
    port: 9092,
    status,
    since: 0,
    checks: status === "unknown" ? 0 : 5,
    schedule: "normal",
    interval: 1000,
  };
}

function view(ready: boolean[], panic = false): ServiceView {
  return {
    endpoints: ready.map((r, i) => ({ address: `192.0.2.${i + 1}`, ready: r, serving: r })),
    panic,
    healthy: ready.filter(Boolean).length,
    unhealthy: ready.filter((r) => !r).length,
    unknown: 0,
  };
}

function write(overrides: Partial<WriteResult> = {}): WriteResult {
  return {
    service: "datastream/brokers",
    verb: "apply",
    reason: "changed",
    resource: "endpointslices",
    kind: "EndpointSlice",
    name: "brokers-helaseid-ipv4",
    ok: true,
    at: 5000,
    duration: 4,
    latency: 12,
    ...overrides,
  };
}

function setup(status: ServiceStatus[] = []) {
  let current = status;
  const metrics = new Metrics({
    version: "1.2.3",
    services: [SERVICE],
    status: () => current,
    process: PROCESS,
  });
  return {
    metrics,
    setStatus: (next: ServiceStatus[]) => current = next,
    scrape: () => parsePrometheus(metrics.render()),
  };
}

Deno.test("metrics: a fresh registry renders valid text with zeroed series for each Service", () => {
  const { scrape } = setup();
  const exposition = scrape();
  assert.equal(exposition.types.get("helaseid_probes_total"), "counter");
  assert.equal(exposition.types.get("helaseid_probe_duration_seconds"), "histogram");
  assert.equal(exposition.types.get("helaseid_target_up"), "gauge");
  for (const result of PROBE_RESULTS) {
    assert.equal(valueOf(exposition, "helaseid_probes_total", { ...LABELS, result }), 0);
  }
  assert.equal(
    valueOf(exposition, "helaseid_target_transitions_total", { ...LABELS, to: "unhealthy" }),
    0,
  );
  assert.equal(valueOf(exposition, "helaseid_build_info", { version: "1.2.3" }), 1);
  assert.equal(valueOf(exposition, "process_resident_memory_bytes"), 42_000_000);
  assert.equal(valueOf(exposition, "deno_heap_size_used_bytes"), 20_000_000);
  assert.equal(valueOf(exposition, "deno_external_memory_bytes"), 1_000_000);
  assert.equal(valueOf(exposition, "process_cpu_seconds_total"), 1.5);
  assert.equal(valueOf(exposition, "process_start_time_seconds"), 1_795_000_000.25);
  assert.equal(PROMETHEUS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("metrics: probe counters, durations and lag follow the checks fed", () => {
  const { metrics, scrape } = setup();
  metrics.check(check("192.0.2.1", { ok: true, latency: 0.4 }));
  metrics.check(check("192.0.2.2", { ok: true, latency: 3 }, { planned: 1000, started: 1020 }));
  metrics.check(check("192.0.2.3", { ok: false, latency: 50, error: "timeout" }));
  metrics.check(check("192.0.2.3", { ok: false, latency: 1, error: "refused" }));
  const exposition = scrape();
  const probes = (result: string) =>
    valueOf(exposition, "helaseid_probes_total", { ...LABELS, result });
  assert.equal(probes("ok"), 2);
  assert.equal(probes("timeout"), 1);
  assert.equal(probes("refused"), 1);
  assert.equal(probes("error"), 0);

  const bucket = (le: string) =>
    valueOf(exposition, "helaseid_probe_duration_seconds_bucket", { ...LABELS, le });
  assert.equal(bucket("0.001"), 2, "0.4 ms and 1 ms");
  assert.equal(bucket("0.005"), 3, "cumulative: plus 3 ms");
  assert.equal(bucket("0.05"), 4, "the timeout lands in the timeout's bucket");
  assert.equal(bucket("+Inf"), 4);
  assert.equal(valueOf(exposition, "helaseid_probe_duration_seconds_count", LABELS), 4);
  const sum = valueOf(exposition, "helaseid_probe_duration_seconds_sum", LABELS)!;
  assert.ok(Math.abs(sum - 0.0544) < 1e-9, `sum ${sum}`);
  // Per Service and probe type only: no target address on the probe histogram.
  for (const sample of findAll(exposition, "helaseid_probe_duration_seconds_bucket")) {
    assert.deepEqual(Object.keys(sample.labels).sort(), ["le", "namespace", "service", "type"]);
    assert.equal(sample.labels.type, "tcp");
  }

  assert.equal(valueOf(exposition, "helaseid_scheduling_lag_seconds_count"), 4);
  assert.equal(valueOf(exposition, "helaseid_scheduling_lag_seconds_bucket", { le: "0.01" }), 3);
  assert.equal(valueOf(exposition, "helaseid_scheduling_lag_seconds_bucket", { le: "0.025" }), 4);
});

Deno.test("metrics: probe buckets run from 1 ms to the largest configured timeout", () => {
  assert.deepEqual(probeBuckets(50), [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05]);
  assert.deepEqual(probeBuckets(1000), [
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
  ]);
  assert.deepEqual(probeBuckets(300).slice(-3), [0.1, 0.25, 0.3]);
  const slow = serviceConfig(["192.0.2.9"], {
    name: "slow",
    probe: { ...SERVICE.probe, timeout: 2000, interval: 5000 },
  });
  const metrics = new Metrics({ version: "x", services: [SERVICE, slow], process: PROCESS });
  const exposition = parsePrometheus(metrics.render());
  const bounds = findAll(exposition, "helaseid_probe_duration_seconds_bucket", { service: "slow" })
    .map((sample) => sample.labels.le);
  assert.equal(bounds.at(-2), "2");
  assert.equal(bounds.at(-1), "+Inf");
});

Deno.test("metrics: free-form probe errors map to a bounded result label", () => {
  const { metrics, scrape } = setup();
  const errors = [
    "refused",
    "timeout",
    "unreachable",
    "reset",
    "Connection refused (os error 111)",
    "tls: bad certificate",
    `random ${crypto.randomUUID()}`,
  ];
  for (const error of errors) metrics.check(check("192.0.2.1", { ok: false, latency: 1, error }));
  metrics.check(check("192.0.2.1", { ok: false, latency: 1 }));
  const results = new Set(
    findAll(scrape(), "helaseid_probes_total").map((sample) => sample.labels.result),
  );
  assert.deepEqual([...results].sort(), [...PROBE_RESULTS].sort());
  assert.equal(probeResultLabel({ ok: false, error: "reset" }), "error");
  assert.equal(probeResultLabel({ ok: true, error: "refused" }), "ok");
});

Deno.test("metrics: target_up follows the status; unknown and removed targets have no series", () => {
  const status = (targets: TargetStatus[]): ServiceStatus[] => [{
    namespace: "datastream",
    name: "brokers",
    targets,
    publish: undefined,
  }];
  const { setStatus, scrape } = setup(status([
    target("192.0.2.1", "healthy"),
    target("192.0.2.2", "unhealthy"),
    target("192.0.2.3", "unknown"),
  ]));
  let exposition = scrape();
  const up = (address: string) =>
    find(exposition, "helaseid_target_up", { ...LABELS, address, port: "9092" })?.value;
  assert.equal(up("192.0.2.1"), 1);
  assert.equal(up("192.0.2.2"), 0);
  assert.equal(up("192.0.2.3"), undefined, "no verdict yet: absent, not 0");
  const health = (h: string) =>
    valueOf(exposition, "helaseid_service_targets", { ...LABELS, health: h });
  assert.deepEqual([health("healthy"), health("unhealthy"), health("unknown")], [1, 1, 1]);

  setStatus(status([target("192.0.2.2", "healthy")]));
  exposition = scrape();
  assert.equal(up("192.0.2.2"), 1);
  assert.equal(up("192.0.2.1"), undefined, "a target no longer configured loses its series");
  assert.equal(findAll(exposition, "helaseid_target_up").length, 1);
});

Deno.test("metrics: endpoints, panic guard, blocked reasons and failures come from publish state", () => {
  const publish = (state: Partial<PublishState>): ServiceStatus[] => [{
    namespace: "datastream",
    name: "brokers",
    targets: [target("192.0.2.1", "unhealthy")],
    publish: { service: "datastream/brokers", writes: new Map(), failures: 0, ...state },
  }];
  const { metrics, setStatus, scrape } = setup(publish({ blocked: "waiting-first-checks" }));
  let exposition = scrape();
  assert.equal(find(exposition, "helaseid_service_endpoints", LABELS), undefined, "no view yet");
  assert.equal(
    valueOf(exposition, "helaseid_service_blocked", { ...LABELS, reason: "waiting-first-checks" }),
    1,
  );
  assert.equal(
    valueOf(exposition, "helaseid_service_blocked", { ...LABELS, reason: "service-missing" }),
    0,
  );

  setStatus(publish({ view: view([true, false, false]), failures: 2 }));
  exposition = scrape();
  const endpoints = (state: string) =>
    valueOf(exposition, "helaseid_service_endpoints", { ...LABELS, state });
  assert.equal(endpoints("ready"), 1);
  assert.equal(endpoints("not_ready"), 2);
  assert.equal(valueOf(exposition, "helaseid_service_panic", LABELS), 0);
  assert.equal(valueOf(exposition, "helaseid_service_publish_failures", LABELS), 2);
  assert.equal(
    findAll(exposition, "helaseid_service_blocked").filter((s) => s.value === 1).length,
    0,
  );

  const panicking = publish({ view: view([true, true, true], true) });
  setStatus(panicking);
  metrics.publishState(panicking[0]!.publish!);
  metrics.publishState(panicking[0]!.publish!);
  metrics.publishState(publish({ view: view([true, false, false]) })[0]!.publish!);
  metrics.publishState(panicking[0]!.publish!);
  exposition = scrape();
  assert.equal(valueOf(exposition, "helaseid_service_panic", LABELS), 1);
  assert.equal(endpoints("ready"), 3);
  assert.equal(valueOf(exposition, "helaseid_service_panic_engaged_total", LABELS), 2);
});

Deno.test("metrics: transitions are counted by the verdict reached", () => {
  const { metrics, scrape } = setup();
  metrics.transition(transition("192.0.2.1", "unhealthy"));
  metrics.transition(transition("192.0.2.1", "healthy"));
  metrics.transition(transition("192.0.2.2", "unhealthy"));
  const exposition = scrape();
  const count = (to: string) =>
    valueOf(exposition, "helaseid_target_transitions_total", { ...LABELS, to });
  assert.equal(count("unhealthy"), 2);
  assert.equal(count("healthy"), 1);
});

Deno.test("metrics: API writes by resource and bounded result, durations and publish latency", () => {
  const { metrics, scrape } = setup();
  metrics.write(write());
  metrics.write(write({ resource: "endpoints", kind: "Endpoints", name: "brokers", latency: 30 }));
  metrics.write(write({ ok: false, status: 0, error: "ECONNREFUSED", latency: undefined }));
  metrics.write(write({ ok: false, status: 409, duration: 700 }));
  metrics.write(write({ ok: false, status: 503 }));
  metrics.kubeWrite({ resource: "events", ok: true, duration: 2 });
  const exposition = scrape();
  const writes = (resource: string, result: string) =>
    valueOf(exposition, "helaseid_kube_writes_total", { resource, result });
  assert.equal(writes("endpointslices", "ok"), 1);
  assert.equal(writes("endpointslices", "unreachable"), 1);
  assert.equal(writes("endpointslices", "conflict"), 1);
  assert.equal(writes("endpointslices", "server_error"), 1);
  assert.equal(writes("endpoints", "ok"), 1);
  assert.equal(writes("events", "ok"), 1);
  assert.equal(
    valueOf(exposition, "helaseid_kube_write_duration_seconds_count", {
      resource: "endpointslices",
    }),
    4,
  );
  assert.equal(
    valueOf(exposition, "helaseid_kube_write_duration_seconds_bucket", {
      resource: "endpointslices",
      le: "0.5",
    }),
    3,
    "the 700 ms write is above 0.5 s",
  );
  // Only acknowledged writes with a known trigger measure the publish latency.
  assert.equal(valueOf(exposition, "helaseid_publish_latency_seconds_count"), 2);
  assert.equal(valueOf(exposition, "helaseid_publish_latency_seconds_bucket", { le: "0.025" }), 1);
  assert.equal(valueOf(exposition, "helaseid_publish_latency_seconds_bucket", { le: "0.05" }), 2);
  assert.equal(writeResultLabel({ ok: false, status: 422 }), "invalid");
  assert.equal(writeResultLabel({ ok: false, status: 403 }), "forbidden");
  assert.equal(writeResultLabel({ ok: false, status: 429 }), "throttled");
  assert.equal(writeResultLabel({ ok: false }), "error");
});

Deno.test("metrics: with several clusters, API writes are counted per cluster; with one, not labelled", () => {
  const several = new Metrics({
    version: "1.2.3",
    services: [SERVICE],
    process: PROCESS,
    clusters: ["east", "west"],
  });
  several.write({ ...write(), cluster: "east" } as WriteResult);
  several.write({ ...write(), cluster: "west" } as WriteResult);
  several.write({ ...write({ ok: false, status: 503 }), cluster: "west" } as WriteResult);
  several.kubeWrite({ resource: "events", ok: true, duration: 2, cluster: "west" });
  const exposition = parsePrometheus(several.render());
  const writes = (cluster: string, resource: string, result: string) =>
    valueOf(exposition, "helaseid_kube_writes_total", { cluster, resource, result });
  assert.equal(writes("east", "endpointslices", "ok"), 1);
  assert.equal(writes("west", "endpointslices", "ok"), 1);
  assert.equal(writes("west", "endpointslices", "server_error"), 1);
  assert.equal(writes("west", "events", "ok"), 1);
  assert.equal(writes("east", "events", "ok"), undefined);
  assert.equal(
    valueOf(exposition, "helaseid_kube_write_duration_seconds_count", {
      cluster: "west",
      resource: "endpointslices",
    }),
    2,
  );
  // One cluster: the series keep their labels of before (dashboards and alert rules match them).
  const { metrics, scrape } = setup();
  metrics.kubeWrite({ resource: "events", ok: true, duration: 2, cluster: "default" });
  assert.ok(!metrics.render().includes('cluster="default"'), "no cluster label with one cluster");
  assert.equal(
    valueOf(scrape(), "helaseid_kube_writes_total", { resource: "events", result: "ok" }),
    1,
  );
});

Deno.test("metrics: label values are escaped as the text format requires", () => {
  const { metrics, scrape } = setup();
  const channel = 'te"am\\s\nline';
  metrics.notification(channel, "sent");
  metrics.notification(channel, "sent");
  metrics.notification("teams", "failed");
  const text = metrics.render();
  assert.ok(text.includes(String.raw`channel="te\"am\\s\nline"`), "escaped in the text");
  const exposition = scrape();
  assert.equal(valueOf(exposition, "helaseid_notifications_total", { channel, result: "sent" }), 2);
  assert.equal(
    valueOf(exposition, "helaseid_notifications_total", { channel: "teams", result: "failed" }),
    1,
  );
});

Deno.test("metrics: the real process numbers are plausible", () => {
  const metrics = new Metrics({ version: "x", services: [] });
  const exposition = parsePrometheus(metrics.render());
  const rss = valueOf(exposition, "process_resident_memory_bytes")!;
  assert.ok(rss > 1_000_000, `rss ${rss}`);
  assert.ok(valueOf(exposition, "process_cpu_seconds_total")! > 0);
  const start = valueOf(exposition, "process_start_time_seconds")!;
  assert.ok(Math.abs(start - Date.now() / 1000) < 3600, `start ${start}`);
});

Deno.test("metrics: the test parser rejects what Prometheus would reject", () => {
  const bad = [
    "no_type 1\n",
    '# TYPE a counter\na{x="\\q"} 1\n',
    "# TYPE a counter\na 1\na 2\n",
    "# TYPE a counter\na one\n",
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n',
    "# TYPE a counter\na 1",
  ];
  for (const text of bad) assert.throws(() => parsePrometheus(text), Error, text);
});

Deno.test("metrics: every blocked reason has a series; a conflict shows in its own gauge", () => {
  const publish = (state: Partial<PublishState>): ServiceStatus[] => [{
    namespace: "datastream",
    name: "brokers",
    targets: [target("192.0.2.1", "healthy")],
    publish: { service: "datastream/brokers", writes: new Map(), failures: 0, ...state },
  }];
  const { setStatus, scrape } = setup(publish({ view: view([true]) }));
  let exposition = scrape();
  assert.deepEqual(
    findAll(exposition, "helaseid_service_blocked").map((s) => [s.labels.reason, s.value]),
    BLOCKED_REASONS.map((reason) => [reason, 0]),
  );
  assert.equal(valueOf(exposition, "helaseid_service_conflict", LABELS), 0);
  for (const reason of ["access-denied", "namespace-missing"] as const) {
    setStatus(publish({ blocked: reason, blockedSince: 1, detail: "x" }));
    exposition = scrape();
    assert.equal(valueOf(exposition, "helaseid_service_blocked", { ...LABELS, reason }), 1);
    assert.equal(valueOf(exposition, "helaseid_service_conflict", LABELS), 0);
  }
  setStatus(publish({
    blocked: "conflict",
    blockedSince: 1,
    detail: "another HELASEID writer 'b/2' ...",
    conflict: { writer: "b/2", retryAt: 10_001 },
  }));
  exposition = scrape();
  assert.equal(valueOf(exposition, "helaseid_service_conflict", LABELS), 1);
  assert.equal(
    valueOf(exposition, "helaseid_service_blocked", { ...LABELS, reason: "conflict" }),
    1,
  );
  assert.equal(
    findAll(exposition, "helaseid_service_blocked").filter((s) => s.value === 1).length,
    1,
  );
});

Deno.test("metrics: each check of a combined result counts under its probe type; a tls check's certificate is a gauge", () => {
  const service = serviceConfig(["192.0.2.1"], {
    checks: [{ type: "kafka", port: 9092 }, { type: "tls", port: 9093 }],
  });
  const notAfter = Date.UTC(2027, 0, 1);
  const results = [
    { check: { type: "kafka" as const, port: 9092 }, result: { ok: true, latency: 2 } },
    {
      check: { type: "tls" as const, port: 9093 },
      result: {
        ok: false,
        latency: 30,
        error: "tls: certificate expires soon",
        certificate: { notAfter, daysLeft: 3 },
      },
    },
  ];
  const status: ServiceStatus[] = [{
    namespace: "datastream",
    name: "brokers",
    publish: undefined,
    targets: [{
      ...target("192.0.2.1", "unhealthy"),
      results: [
        { type: "kafka", port: 9092, ok: true, latency: 2 },
        {
          type: "tls",
          port: 9093,
          ok: false,
          latency: 30,
          error: "tls: certificate expires soon",
          certificate: { notAfter, daysLeft: 3 },
        },
      ],
    }],
  }];
  const metrics = new Metrics({
    version: "1.2.3",
    services: [service],
    status: () => status,
    process: PROCESS,
  });
  const fresh = parsePrometheus(metrics.render());
  // Each configured type's series exist at zero before the first check.
  for (const type of ["kafka", "tls"]) {
    assert.equal(valueOf(fresh, "helaseid_probes_total", { ...LABELS, type, result: "ok" }), 0);
  }
  assert.equal(find(fresh, "helaseid_probes_total", { type: "tcp" }), undefined);

  const combined = { ok: false, latency: 30, error: "tls: certificate expires soon", results };
  metrics.check({ ...check("192.0.2.1", combined, {}, service) });
  metrics.check({ ...check("192.0.2.1", combined, {}, service) });
  const exposition = parsePrometheus(metrics.render());
  const probes = (type: string, result: string) =>
    valueOf(exposition, "helaseid_probes_total", { ...LABELS, type, result });
  assert.deepEqual([probes("kafka", "ok"), probes("kafka", "error")], [2, 0]);
  assert.deepEqual([probes("tls", "ok"), probes("tls", "error")], [0, 2]);
  const durations = (type: string) =>
    valueOf(exposition, "helaseid_probe_duration_seconds_sum", { ...LABELS, type });
  assert.ok(Math.abs(durations("kafka")! - 0.004) < 1e-9);
  assert.ok(Math.abs(durations("tls")! - 0.06) < 1e-9);
  assert.equal(
    valueOf(exposition, "helaseid_scheduling_lag_seconds_count"),
    2,
    "one per target check",
  );

  assert.equal(exposition.types.get("helaseid_tls_certificate_not_after_seconds"), "gauge");
  const gauges = findAll(exposition, "helaseid_tls_certificate_not_after_seconds");
  assert.deepEqual(gauges.map((g) => [g.labels, g.value]), [
    [{ ...LABELS, address: "192.0.2.1", port: "9093" }, notAfter / 1000],
  ]);
});
