/**
 * The Grafana dashboard (manifests/optional/grafana-dashboard.json) asks only for what the
 * agent really exports: every metric a query names is a family of the real `/metrics` (a
 * histogram's `_bucket`/`_sum`/`_count` only on histograms), and every label a selector
 * filters on is a label of that family's samples. Every query is valid PromQL: promtool parses
 * each as a recording rule, Grafana's variables replaced by values.
 */

import assert from "node:assert/strict";
import { parsePrometheus } from "../observe/_prometheus.ts";
import { stringify } from "yaml";
import { ROOT, startDryRunAgent, tool } from "./_tools.ts";

const DASHBOARD = `${ROOT}manifests/optional/grafana-dashboard.json`;
/** Labels Prometheus adds when it scrapes, not the agent. */
const SCRAPE_LABELS = new Set(["job", "instance", "pod", "namespace_pod"]);
const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"];
const METRIC = /\b((?:helaseid|process|deno)_[a-z0-9_]+)(\{[^}]*\})?/g;

// deno-lint-ignore no-explicit-any
type Obj = any;

/** Every query of the dashboard's panels, with the panel's title. */
function queries(dashboard: Obj): { panel: string; expr: string }[] {
  return dashboard.panels.flatMap((panel: Obj) =>
    (panel.targets ?? []).map((target: Obj) => ({ panel: panel.title, expr: target.expr }))
  );
}

Deno.test("dashboard: well-formed panels, each with at least one query", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  assert.equal(dashboard.uid, "helaseid");
  const ids = dashboard.panels.map((panel: Obj) => panel.id);
  assert.equal(new Set(ids).size, ids.length, "unique panel ids");
  for (const panel of dashboard.panels) {
    assert.ok(panel.targets.length > 0, `${panel.title}: a query`);
    assert.equal(panel.datasource.uid, "${datasource}", `${panel.title}: the chosen data source`);
  }
  const titles = dashboard.panels.map((panel: Obj) => panel.title);
  for (
    const wanted of [
      "Targets up per Service",
      "Transitions",
      "Publish latency",
      "Kubernetes API writes",
      "Alerts delivered and dropped",
    ]
  ) assert.ok(titles.includes(wanted), `a panel '${wanted}'`);
});

/**
 * What is wrong with the dashboard's queries against `body` (a `/metrics` exposition): one line
 * per metric not exported, histogram read without its series suffix, or label not on the family.
 */
function problems(dashboard: Obj, body: string): { problems: string[]; read: Set<string> } {
  const exposition = parsePrometheus(body);
  const found: string[] = [];
  const read = new Set<string>();
  const baseOf = (name: string) => {
    const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
    const base = suffix ? name.slice(0, -suffix.length) : name;
    return suffix && exposition.types.get(base) === "histogram" ? base : name;
  };
  const labelsOf = (family: string) => {
    const names = new Set<string>();
    for (const sample of exposition.samples) {
      if (baseOf(sample.name) !== family) continue;
      for (const label of Object.keys(sample.labels)) names.add(label);
    }
    return names;
  };
  for (const variable of dashboard.templating.list) {
    if (variable.type !== "query") continue;
    for (const [, name] of variable.definition.matchAll(METRIC)) {
      if (!exposition.types.has(name)) {
        found.push(`variable ${variable.name}: ${name} not exported`);
      }
    }
  }
  for (const { panel, expr } of queries(dashboard)) {
    const names = [...expr.matchAll(METRIC)];
    if (names.length === 0) found.push(`${panel}: '${expr}' names no metric`);
    for (const [, name, selector] of names) {
      const family = baseOf(name!);
      if (!exposition.types.has(family)) {
        found.push(`${panel}: ${name} not exported`);
        continue;
      }
      if (exposition.types.get(family) === "histogram" && family === name) {
        found.push(`${panel}: histogram ${family} read without _bucket, _sum or _count`);
      }
      // A family without samples here (helaseid_service_endpoints has none in --dry-run, where
      // nothing is published) cannot show its labels: its name is checked, not its labels.
      const have = labelsOf(family);
      if (have.size > 0) {
        for (const [, label] of (selector ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*[=!]~?/g)) {
          if (!SCRAPE_LABELS.has(label!) && !have.has(label!)) {
            found.push(`${panel}: ${family} has no label '${label}'`);
          }
        }
      }
      read.add(family);
    }
  }
  return { problems: found, read };
}

Deno.test("dashboard: every query names metrics and labels the agent really exports", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  // A Service with a healthy and an unhealthy target, so that every labelled family has samples.
  await using bed = await startDryRunAgent({ "192.0.2.61": "accept", "192.0.2.62": "refuse" });
  const { status, body } = await bed.get("/metrics");
  assert.equal(status, 200);
  const { problems: found, read } = problems(dashboard, body);
  assert.deepEqual(found, []);
  // The panels the issue asks for, by what they read.
  for (
    const family of [
      "helaseid_target_up",
      "helaseid_target_transitions_total",
      "helaseid_publish_latency_seconds",
      "helaseid_kube_writes_total",
      "helaseid_notifications_total",
      "helaseid_notifications_dropped_total",
    ]
  ) assert.ok(read.has(family), `a panel reads ${family}`);

  // The check can fail: a made-up metric, a bare histogram and a label the family lacks.
  const broken = structuredClone(dashboard);
  broken.panels[0].targets = [
    { expr: "sum(rate(helaseid_made_up_total[5m]))" },
    { expr: "helaseid_publish_latency_seconds" },
    { expr: 'helaseid_target_up{zone="a"}' },
  ];
  assert.deepEqual(problems(broken, body).problems, [
    `${broken.panels[0].title}: helaseid_made_up_total not exported`,
    `${
      broken.panels[0].title
    }: histogram helaseid_publish_latency_seconds read without _bucket, _sum or _count`,
    `${broken.panels[0].title}: helaseid_target_up has no label 'zone'`,
  ]);
});

/** A Prometheus rule file with each query as a recording rule, Grafana's variables filled in. */
function queriesAsRules(dashboard: Obj): string {
  const fill = (expr: string) =>
    expr.replaceAll("$__rate_interval", "5m").replaceAll("$namespace", ".*")
      .replaceAll("$service", ".*");
  return stringify({
    groups: [{
      name: "dashboard",
      rules: queries(dashboard).map(({ expr }, i) => ({
        record: `dashboard:query_${i}`,
        expr: fill(expr),
      })),
    }],
  });
}

Deno.test("dashboard: promtool parses every query as PromQL", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  const dir = await Deno.makeTempDir({ prefix: "helaseid-dashboard-" });
  try {
    await Deno.writeTextFile(`${dir}/queries.yaml`, queriesAsRules(dashboard));
    const checked = await tool("promtool", ["check", "rules", `${dir}/queries.yaml`]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, new RegExp(`SUCCESS: ${queries(dashboard).length} rules found`));
    // The check can fail: an unbalanced query is refused.
    const broken = structuredClone(dashboard);
    broken.panels[0].targets = [{ expr: "sum(rate(helaseid_kube_writes_total[5m])" }];
    await Deno.writeTextFile(`${dir}/broken.yaml`, queriesAsRules(broken));
    const refused = await tool("promtool", ["check", "rules", `${dir}/broken.yaml`]);
    assert.notEqual(refused.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
