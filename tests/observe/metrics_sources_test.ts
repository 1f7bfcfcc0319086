/**
 * Metrics of changing targets (issue 12): source and configuration gauges, and series that
 * leave with the targets and Services they describe.
 */

import assert from "node:assert/strict";
import type { ServiceStatus, TargetCheck, TargetStatus } from "../../src/agent.ts";
import type { ServiceConfig } from "../../src/config/schema.ts";
import type { SourceStatus } from "../../src/discovery/mod.ts";
import { initialHealth } from "../../src/health/state.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import type { ConfigStatus } from "../../src/reload.ts";
import { serviceConfig } from "../support/fakes.ts";
import { findAll, parsePrometheus, valueOf } from "./_prometheus.ts";

const SERVICE = serviceConfig(["192.0.2.1"]);
const OTHER = serviceConfig(["192.0.2.9"], { name: "cache" });
const PROCESS = {
  rss: () => 1,
  heap: () => ({ used: 1, total: 1, external: 1 }),
  cpuSeconds: () => 1,
  startTime: 1,
};

function target(address: string): TargetStatus {
  return {
    address,
    port: 9092,
    status: "healthy",
    since: 0,
    checks: 3,
    schedule: "normal",
    interval: 1000,
  };
}

function status(service: ServiceConfig, addresses: readonly string[]): ServiceStatus {
  return {
    namespace: service.namespace,
    name: service.name,
    targets: addresses.map(target),
    publish: undefined,
  };
}

function check(service: ServiceConfig, address: string): TargetCheck {
  return {
    key: `${service.namespace}/${service.name}|${address}`,
    result: { ok: true, latency: 2 },
    planned: 0,
    started: 0,
    finished: 2,
    cadence: "normal",
    service,
    target: { address },
    health: initialHealth(0),
  };
}

function setup(initial: {
  services?: ServiceConfig[];
  status?: ServiceStatus[];
  sources?: SourceStatus[];
  config?: ConfigStatus;
} = {}) {
  let current = initial;
  const metrics = new Metrics({
    version: "1.2.3",
    services: initial.services ?? [SERVICE],
    status: () => current.status ?? [],
    sources: () => current.sources ?? [],
    config: () => current.config ?? { hash: "0", loadedAt: 0 },
    process: PROCESS,
  });
  return {
    metrics,
    set: (next: typeof initial) => current = { ...current, ...next },
    scrape: () => parsePrometheus(metrics.render()),
  };
}

const SOURCE: SourceStatus = {
  service: "datastream/brokers",
  source: "dns kafka.test",
  type: "dns",
  answered: true,
  targets: 3,
  skipped: 1,
  updatedAt: 1000,
};
const WHERE = { namespace: "datastream", service: "brokers", source: "dns kafka.test" };

Deno.test("metrics: a source answering is up with its targets, skipped addresses and no hold", () => {
  const { scrape } = setup({ sources: [SOURCE] });
  const out = scrape();
  assert.equal(valueOf(out, "helaseid_source_up", { ...WHERE, type: "dns" }), 1);
  assert.equal(valueOf(out, "helaseid_source_targets", WHERE), 3);
  assert.equal(valueOf(out, "helaseid_source_skipped_targets", WHERE), 1);
  assert.equal(valueOf(out, "helaseid_source_held", WHERE), 0);
});

Deno.test("metrics: a failing source is down and keeps its last set's count; a held shrink is 1", () => {
  const { scrape } = setup({
    sources: [{
      ...SOURCE,
      error: "SERVFAIL",
      failingSince: 900,
      held: { since: 900, until: 60_900, from: 3, to: 0 },
    }],
  });
  const out = scrape();
  assert.equal(valueOf(out, "helaseid_source_up", WHERE), 0);
  assert.equal(valueOf(out, "helaseid_source_targets", WHERE), 3);
  assert.equal(valueOf(out, "helaseid_source_held", WHERE), 1);
});

Deno.test("metrics: a source that never answered has no up series yet; a gone source has none", () => {
  const { scrape, set } = setup({ sources: [{ ...SOURCE, answered: false, targets: 0 }] });
  assert.equal(valueOf(scrape(), "helaseid_source_up", WHERE), undefined);
  assert.equal(valueOf(scrape(), "helaseid_source_targets", WHERE), 0);
  set({ sources: [] });
  assert.deepEqual(findAll(scrape(), "helaseid_source_targets"), []);
});

Deno.test("metrics: config gauges follow Prometheus' reload convention", () => {
  const { scrape, set } = setup({ config: { path: "/etc/h.yaml", hash: "abc", loadedAt: 10_000 } });
  let out = scrape();
  assert.equal(valueOf(out, "helaseid_config_reload_success"), 1);
  assert.equal(valueOf(out, "helaseid_config_last_reload_success_timestamp_seconds"), 10);
  assert.equal(valueOf(out, "helaseid_config_info", { hash: "abc" }), 1);

  set({
    config: {
      path: "/etc/h.yaml",
      hash: "abc",
      loadedAt: 10_000,
      lastReload: { ok: false, at: 20_000, trigger: "file", hash: "abc", issues: ["x"] },
    },
  });
  out = scrape();
  assert.equal(valueOf(out, "helaseid_config_reload_success"), 0);
  assert.equal(valueOf(out, "helaseid_config_last_reload_success_timestamp_seconds"), 10);

  // A valid reload that changed nothing keeps the hash and `loadedAt`, and still succeeded.
  set({
    config: {
      path: "/etc/h.yaml",
      hash: "abc",
      loadedAt: 10_000,
      lastReload: { ok: true, at: 30_000, trigger: "signal", hash: "abc", changes: [] },
    },
  });
  out = scrape();
  assert.equal(valueOf(out, "helaseid_config_reload_success"), 1);
  assert.equal(valueOf(out, "helaseid_config_last_reload_success_timestamp_seconds"), 30);

  set({ config: { hash: "def", loadedAt: 40_000 } });
  out = scrape();
  assert.equal(valueOf(out, "helaseid_config_info", { hash: "abc" }), undefined);
  assert.equal(valueOf(out, "helaseid_config_info", { hash: "def" }), 1);
});

Deno.test("metrics: a removed target's series disappear and target churn does not grow the registry", () => {
  const { metrics, scrape, set } = setup({ status: [status(SERVICE, ["192.0.2.1"])] });
  metrics.check(check(SERVICE, "192.0.2.1"));
  const before = metrics.render().split("\n").length;
  // A Pod source churning: every round one address leaves and a new one joins.
  for (let round = 2; round < 202; round++) {
    const address = `192.0.2.${round % 250 + 2}`;
    const previous = round === 2 ? "192.0.2.1" : `192.0.2.${(round - 1) % 250 + 2}`;
    const current = { ...SERVICE, targets: [{ address }] };
    set({ status: [status(SERVICE, [address])] });
    metrics.targetsChanged({
      service: current,
      added: [{ address }],
      removed: [{ address: previous }],
    });
    metrics.check(check(current, address));
  }
  const out = scrape();
  assert.equal(metrics.render().split("\n").length, before);
  const up = findAll(out, "helaseid_target_up");
  assert.deepEqual(up.map((sample) => sample.labels.address), ["192.0.2.203"]);
  assert.equal(
    valueOf(out, "helaseid_probes_total", { service: "brokers", result: "ok" }),
    201,
  );
});

Deno.test("metrics: every series of a gone Service is dropped, and a Service back starts at zero", () => {
  const { metrics, scrape } = setup({ services: [SERVICE, OTHER] });
  metrics.check(check(OTHER, "192.0.2.9"));
  assert.equal(valueOf(scrape(), "helaseid_probes_total", { service: "cache", result: "ok" }), 1);

  metrics.targetsChanged({ service: OTHER, added: [], removed: OTHER.targets, gone: true });
  const out = scrape();
  for (const sample of out.samples) {
    assert.notEqual(sample.labels.service, "cache", `${sample.name} kept the gone Service`);
  }
  assert.equal(valueOf(out, "helaseid_probes_total", { service: "brokers", result: "ok" }), 0);

  // A late publishing state of the gone Service brings nothing back.
  metrics.publishState({ service: "datastream/cache", writes: new Map(), failures: 0 });
  assert.equal(findAll(scrape(), "helaseid_fast_checks_total", { service: "cache" }).length, 0);

  // Configured again by a later reload: zeroed series at once, then counting afresh.
  metrics.targetsChanged({ service: OTHER, added: OTHER.targets, removed: [] });
  assert.equal(valueOf(scrape(), "helaseid_probes_total", { service: "cache", result: "ok" }), 0);
  metrics.check(check(OTHER, "192.0.2.9"));
  assert.equal(valueOf(scrape(), "helaseid_probes_total", { service: "cache", result: "ok" }), 1);
});
