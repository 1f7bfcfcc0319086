/**
 * The alert rules (manifests/optional/prometheusrule.yaml) with the real promtool: `check
 * rules`, then `test rules` with series that make each alert fire and series that must not,
 * and a check that no alert goes untested. `promtool check metrics` lints the agent's real
 * `/metrics` exposition (names, units, help) and must find nothing.
 */

import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { ROOT, startDryRunAgent, tool, toolOk } from "./_tools.ts";

const RULES = `${ROOT}manifests/optional/prometheusrule.yaml`;
/** Exported only with leases on (a cluster): the chart test checks it on a real scrape. */
const LEASE_METRIC = "helaseid_lease_held";

// deno-lint-ignore no-explicit-any
type Obj = any;

/** The rule groups of the PrometheusRule, as a plain Prometheus rule file. */
async function ruleFile(dir: string): Promise<{ path: string; alerts: string[] }> {
  const rule = parse(await Deno.readTextFile(RULES));
  assert.equal(rule.kind, "PrometheusRule");
  const path = `${dir}/rules.yaml`;
  await Deno.writeTextFile(path, stringify(rule.spec));
  const alerts = rule.spec.groups.flatMap((group: Obj) =>
    group.rules.map((r: Obj) => r.alert).filter(Boolean)
  );
  return { path, alerts };
}

const SVC = 'namespace="datastream",service="brokers"';
const A = `${SVC},address="192.0.2.1",port="9092"`;
const B = `${SVC},address="192.0.2.2",port="9092"`;
/** The labels an alert on one target carries. */
const TARGET_LABELS = {
  namespace: "datastream",
  service: "brokers",
  address: "192.0.2.1",
  port: "9092",
};
const SERVICE_LABELS = { namespace: "datastream", service: "brokers" };

/** One alert's promtool test: its series, and the alerts expected at each time. */
interface AlertCase {
  readonly name: string;
  readonly series: Record<string, string>;
  readonly checks: { at: string; alerts: Obj[] }[];
}

/** No alert at `quiet`; at `firing`, one alert with these labels and annotations. */
function quietThenFiring(
  quiet: string,
  firing: string,
  labels: Record<string, string>,
  annotations: { summary: string; description: string },
): AlertCase["checks"] {
  return [
    { at: quiet, alerts: [] },
    { at: firing, alerts: [{ exp_labels: labels, exp_annotations: annotations }] },
  ];
}

const CASES: AlertCase[] = [
  {
    name: "HelaseidTargetDown",
    series: {
      // Down from minute 1 on both replicas: fires once, after `for: 5m`.
      [`helaseid_target_up{${A},pod="r1"}`]: "1 0x20",
      [`helaseid_target_up{${A},pod="r2"}`]: "1 0x20",
      // Down on one replica only: the other still reaches it, not an alert.
      [`helaseid_target_up{${B},pod="r1"}`]: "0x20",
      [`helaseid_target_up{${B},pod="r2"}`]: "1x20",
    },
    checks: quietThenFiring("5m", "7m", { ...TARGET_LABELS, severity: "warning" }, {
      summary: "Target 192.0.2.1:9092 of datastream/brokers is down",
      description: "HELASEID has judged 192.0.2.1:9092 unhealthy for 5 minutes " +
        "and publishes it as not ready. Its last error is on the agent's status page (/) and " +
        "in /status.",
    }),
  },
  {
    name: "HelaseidAllTargetsDown",
    series: {
      [`helaseid_service_panic{${SVC}}`]: "0 1x10",
      // A blip shorter than `for: 1m` does not page.
      ['helaseid_service_panic{namespace="datastream",service="other"}']: "0 1 0x10",
    },
    checks: quietThenFiring("1m", "3m", { ...SERVICE_LABELS, severity: "critical" }, {
      summary: "Every target of datastream/brokers is down: failing open",
      description: "No target of datastream/brokers is healthy, so the panic " +
        "guard publishes all of them as ready (fail-open): clients reach brokers that fail. " +
        "Check the brokers, and the network between the agent and them.",
    }),
  },
  {
    name: "HelaseidWritesFailing",
    series: {
      [`helaseid_service_publish_failures{${SVC}}`]: "0 0 3x10",
      // Failures that recover within `for` do not fire.
      ['helaseid_service_publish_failures{namespace="datastream",service="other"}']: "0 2 2 0x10",
    },
    checks: quietThenFiring("6m", "8m", { ...SERVICE_LABELS, severity: "critical" }, {
      summary: "HELASEID cannot write the endpoints of datastream/brokers",
      description: "3 consecutive publishing attempts of datastream/brokers " +
        "failed: its EndpointSlices no longer follow the targets' health. The agent's log " +
        "and /status name the failing write and its HTTP status.",
    }),
  },
  {
    name: "HelaseidApiAccessLost",
    series: {
      [`helaseid_service_blocked{${SVC},reason="access-denied"}`]: "0 1x10",
      // Another reason of the same Service is not this alert.
      [`helaseid_service_blocked{${SVC},reason="service-missing"}`]: "1x10",
    },
    checks: quietThenFiring("2m", "4m", { ...SERVICE_LABELS, severity: "critical" }, {
      summary: "HELASEID is refused access to datastream/brokers",
      description: "The Kubernetes API refuses the agent's ServiceAccount (403) a " +
        "call it needs for datastream/brokers: nothing is published there. Check the " +
        "Role and RoleBinding in datastream; /readyz names the refused call.",
    }),
  },
  {
    name: "HelaseidAnotherWriter",
    series: {
      [`helaseid_service_conflict{${SVC}}`]: "0 1x10",
      ['helaseid_service_conflict{namespace="datastream",service="other"}']: "0x10",
    },
    checks: quietThenFiring("5m", "7m", { ...SERVICE_LABELS, severity: "warning" }, {
      summary: "Another writer rewrites the endpoints of datastream/brokers",
      description: "Another HELASEID (or another tool) keeps rewriting the objects of " +
        "datastream/brokers, and this agent holds off. Run one writer per Service; " +
        "/status names the other writer.",
    }),
  },
  {
    name: "HelaseidCertificateExpiring",
    series: {
      // 10 days left at 2h (the test's clock starts at 0); 30 days left for B.
      [`helaseid_tls_certificate_not_after_seconds{${A}}`]: `${10 * 86400 + 7200}x200`,
      [`helaseid_tls_certificate_not_after_seconds{${B}}`]: `${30 * 86400}x200`,
    },
    checks: quietThenFiring("30m", "2h", { ...TARGET_LABELS, severity: "warning" }, {
      summary: "The certificate of 192.0.2.1:9092 (datastream/brokers) expires soon",
      description: "The certificate a tls check of 192.0.2.1:9092 last saw " +
        "expires in 10d 0h 0m 0s. Renew it before the check starts failing.",
    }),
  },
  {
    name: "HelaseidLeaseLost",
    series: {
      // Neither replica holds the Lease from minute 1 on.
      [`helaseid_lease_held{${SVC},pod="r1"}`]: "1 0x10",
      [`helaseid_lease_held{${SVC},pod="r2"}`]: "0x10",
      // A handover: one replica lets go, the other takes it; the Service always has a holder.
      ['helaseid_lease_held{namespace="datastream",service="other",pod="r1"}']: "1 1 0x10",
      ['helaseid_lease_held{namespace="datastream",service="other",pod="r2"}']: "0 1 1x10",
    },
    checks: quietThenFiring("1m", "3m", { ...SERVICE_LABELS, severity: "critical" }, {
      summary: "No replica holds the Lease of datastream/brokers",
      description: "With leases on, no replica of HELASEID has held the Lease of " +
        "datastream/brokers for a minute: nobody writes its endpoints. Check the " +
        "replicas' logs (LeaseLost Events on the Service) and their Lease permissions.",
    }),
  },
  {
    name: "HelaseidSourceFailing",
    series: {
      // Failing on one replica from minute 1: that replica's set goes stale, so it fires.
      [`helaseid_source_up{${SVC},source="dns kafka.test",type="dns",pod="r1"}`]: "1 0x10",
      [`helaseid_source_up{${SVC},source="dns kafka.test",type="dns",pod="r2"}`]: "1x10",
      // A failure shorter than `for: 5m` does not fire.
      [`helaseid_source_up{${SVC},source="nodes role=kafka",type="nodes",pod="r1"}`]: "1 0 0 1x10",
    },
    checks: quietThenFiring("5m", "7m", {
      ...SERVICE_LABELS,
      source: "dns kafka.test",
      severity: "warning",
    }, {
      summary: "Target source dns kafka.test of datastream/brokers is failing",
      description: "The target source dns kafka.test of datastream/brokers " +
        "has failed for 5 minutes: its last good set stays in force, so targets it would add " +
        "or remove are not followed. /readyz and /status name its error.",
    }),
  },
  {
    name: "HelaseidSourceShrinkHeld",
    series: {
      // Held from minute 2: an alert at once (the hold itself is the grace).
      [`helaseid_source_held{${SVC},source="dns kafka.test",pod="r1"}`]: "0 0 1x10",
      [`helaseid_source_held{${SVC},source="nodes role=kafka",pod="r1"}`]: "0x10",
    },
    checks: quietThenFiring("1m", "2m", {
      ...SERVICE_LABELS,
      source: "dns kafka.test",
      severity: "warning",
    }, {
      summary: "A sudden shrink of target source dns kafka.test of datastream/brokers is held",
      description: "The target source dns kafka.test of datastream/brokers " +
        "lost most or all of its targets at once. HELASEID holds the change " +
        "(sourceGuard.hold) before applying it: check the source now. /status shows from how " +
        "many targets to how many, and until when.",
    }),
  },
  {
    name: "HelaseidConfigReloadFailed",
    series: {
      ['helaseid_config_reload_success{instance="10.0.0.7:8080",job="helaseid",pod="h-1"}']:
        "1 0x10",
      // Rejected, then fixed within a minute: no alert.
      ['helaseid_config_reload_success{instance="10.0.0.8:8080",job="helaseid",pod="h-2"}']:
        "1 0 1x10",
    },
    checks: quietThenFiring("1m", "2m", {
      instance: "10.0.0.7:8080",
      job: "helaseid",
      pod: "h-1",
      severity: "warning",
    }, {
      summary: "HELASEID on 10.0.0.7:8080 rejected its reloaded configuration",
      description: "The last configuration reload of HELASEID on 10.0.0.7:8080 " +
        "was invalid and rejected whole: the previous configuration keeps running, and the " +
        "change you made is not in force. The agent's ERROR line and /status " +
        "(config.lastReload.issues) name each issue.",
    }),
  },
];

/** The promtool unit-test file for {@linkcode CASES}. */
function unitTests(rulePath: string, cases: readonly AlertCase[] = CASES): string {
  return stringify({
    rule_files: [rulePath],
    evaluation_interval: "1m",
    tests: cases.map((c) => ({
      name: c.name,
      interval: "1m",
      input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: c.checks.map((check) => ({
        eval_time: check.at,
        alertname: c.name,
        exp_alerts: check.alerts,
      })),
    })),
  });
}

Deno.test("alerts: promtool check rules accepts the PrometheusRule's groups", async () => {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-alerts-" });
  try {
    const { path, alerts } = await ruleFile(dir);
    const out = await toolOk("promtool", ["check", "rules", path]);
    assert.match(out, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("alerts: promtool test rules fires each alert on its series and not on the others", async () => {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-alerts-" });
  try {
    const { path, alerts } = await ruleFile(dir);
    // Every alert is tested, and every test names an alert that exists.
    assert.deepEqual(CASES.map((c) => c.name).sort(), [...alerts].sort());
    for (const c of CASES) {
      assert.ok(c.checks.some((check) => check.alerts.length === 0), `${c.name}: a quiet case`);
      assert.ok(c.checks.some((check) => check.alerts.length > 0), `${c.name}: a firing case`);
    }
    await Deno.writeTextFile(`${dir}/tests.yaml`, unitTests(path));
    const passed = await tool("promtool", ["test", "rules", `${dir}/tests.yaml`]);
    assert.equal(passed.code, 0, `${passed.stdout}\n${passed.stderr}`);
    assert.match(passed.stdout, /SUCCESS/);

    // The tests can fail: expect HelaseidTargetDown one minute early and promtool says so.
    const early: AlertCase = {
      ...CASES[0]!,
      checks: [{ at: "5m", alerts: CASES[0]!.checks[1]!.alerts }],
    };
    await Deno.writeTextFile(`${dir}/early.yaml`, unitTests(path, [early]));
    const failed = await tool("promtool", ["test", "rules", `${dir}/early.yaml`]);
    assert.notEqual(failed.code, 0);
    assert.match(failed.stdout + failed.stderr, /HelaseidTargetDown/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("alerts: every metric the rules use is in the agent's real /metrics", async () => {
  const rule = parse(await Deno.readTextFile(RULES));
  const used = new Set<string>();
  for (const group of rule.spec.groups) {
    for (const r of group.rules) {
      for (const name of String(r.expr).match(/helaseid_[a-z_]+/g) ?? []) used.add(name);
    }
  }
  await using bed = await startDryRunAgent({ "192.0.2.51": "accept", "192.0.2.52": "refuse" });
  const { body } = await bed.get("/metrics");
  const families = new Set([...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  for (const name of used) {
    // Leases need a cluster: chart_test.ts scrapes helaseid_lease_held from the agent it runs.
    if (name === LEASE_METRIC) continue;
    assert.ok(families.has(name), `${name} is exported`);
  }
  assert.ok(used.has(LEASE_METRIC));
});

Deno.test("alerts: promtool check metrics finds nothing in the agent's /metrics", async () => {
  await using bed = await startDryRunAgent({ "192.0.2.53": "accept", "192.0.2.54": "refuse" });
  const { status, body } = await bed.get("/metrics");
  assert.equal(status, 200);
  assert.match(body, /^helaseid_target_up\{.*address="192\.0\.2\.54".*\} 0$/m);
  const lint = await tool("promtool", ["check", "metrics"], { stdin: body });
  assert.equal(lint.code, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
  assert.equal(lint.stdout + lint.stderr, "", "no lint finding");

  // The lint can fail: a counter without _total is reported.
  const bad = "# HELP helaseid_bad A counter.\n# TYPE helaseid_bad counter\nhelaseid_bad 1\n";
  const found = await tool("promtool", ["check", "metrics"], { stdin: bad });
  assert.notEqual(found.code, 0);
  assert.match(found.stdout + found.stderr, /helaseid_bad.*_total/);
});
