/**
 * The probe options through both configuration formats: what a user writes becomes the exact
 * checks the probers take, every mistake is reported at its field, and a configuration without
 * any of it has no `checks` (the agent keeps its TCP connect).
 */

import assert from "node:assert/strict";
import { describeConfig } from "../../src/config/mod.ts";
import { issuesOf, load, SEED_CONFIG_ENV } from "../config/_support.ts";

const SEED_ENV = {
  IPS: "10.188.2.3 10.188.2.4",
  PORT: "9092",
  SERVICE_NAME: "brokers",
  NAMESPACE: "datastream",
};

async function seedChecks(env: Record<string, string>) {
  const { config } = await load({}, { env: { ...SEED_ENV, ...env } });
  return config.services[0]!.checks;
}

function yaml(service: string): string {
  return `services:
  - name: brokers
    ports: [{ name: kafka, port: 9092 }]
    targets: [10.188.2.3, 10.188.2.4]
${service.replace(/^/gm, "    ")}
`;
}

async function fileChecks(service: string) {
  const { config } = await load({ "/c.yaml": yaml(service) }, { path: "/c.yaml" });
  return config.services[0]!.checks;
}

async function fileIssues(service: string): Promise<string[]> {
  const issues = await issuesOf(load({ "/c.yaml": yaml(service) }, { path: "/c.yaml" }));
  return issues.map((issue) => `${issue.path}: ${issue.message}`);
}

Deno.test("probe config: nothing set means no checks, in both formats (a TCP connect as before)", async () => {
  assert.equal(await seedChecks({}), undefined);
  assert.equal(await fileChecks("probe: { interval: 1s }"), undefined);
  const { config } = await load({ "/c.env": SEED_CONFIG_ENV }, { path: "/c.env" });
  assert.equal("checks" in config.services[0]!, false);
  assert.equal("checks" in (describeConfig(config) as { services: object[] }).services[0]!, false);
});

Deno.test("probe config: seed variables make one check with its port resolved", async () => {
  assert.deepEqual(await seedChecks({ PROBE: "kafka" }), [{ type: "kafka", port: 9092 }]);
  assert.deepEqual(await seedChecks({ PROBE: "redpanda" }), [{ type: "redpanda", port: 9644 }]);
  assert.deepEqual(await seedChecks({ PROBE: "Redpanda", PROBE_PORT: "19644" }), [
    { type: "redpanda", port: 19644 },
  ]);
  assert.deepEqual(
    await seedChecks({
      PROBE: "https",
      PROBE_PORT: "8443",
      PROBE_PATH: "/healthz",
      PROBE_STATUS: "200-299, 301",
      PROBE_BODY: "/ok|ready/i",
      PROBE_HEADERS: "X-Probe: helaseid; Accept: text/plain",
      PROBE_SERVER_NAME: "api.internal.example",
      PROBE_CA_FILE: "/etc/helaseid/ca.pem",
    }),
    [{
      type: "https",
      port: 8443,
      path: "/healthz",
      status: [{ from: 200, to: 299 }, { from: 301, to: 301 }],
      body: { kind: "regex", pattern: "ok|ready", flags: "i" },
      headers: { "X-Probe": "helaseid", Accept: "text/plain" },
      serverName: "api.internal.example",
      caFile: "/etc/helaseid/ca.pem",
    }],
  );
  // A tcp check with send/expect is a check too; the escapes are decoded once.
  assert.deepEqual(await seedChecks({ PROBE_SEND: "PING\\r\\n", PROBE_EXPECT: "+PONG" }), [
    {
      type: "tcp",
      port: 9092,
      send: "PING\r\n",
      expect: { kind: "string", pattern: "+PONG", flags: "" },
    },
  ]);
});

Deno.test("probe config: seed mistakes are reported under their variables", async () => {
  const issues = await issuesOf(load({}, {
    env: {
      ...SEED_ENV,
      PROBE: "icmp",
      PROBE_STATUS: "399-200",
      PROBE_BODY: "/(unclosed/",
      PROBE_SEND: "x".repeat(4097),
    },
  }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    "PROBE: 'icmp' is not a valid probe type: allowed tcp, http, https, tls, kafka, redpanda",
    "PROBE_STATUS: '399-200' is an empty range: write the smaller code first",
    "PROBE_BODY: '/(unclosed/' is not a valid regular expression: /(unclosed/: Unterminated group",
    "PROBE_SEND: is 4097 bytes long: allowed at most 4096",
  ]);
  const misplaced = await issuesOf(
    load({}, { env: { ...SEED_ENV, PROBE: "kafka", PROBE_PATH: "/x" } }),
  );
  assert.deepEqual(misplaced.map((i) => `${i.path}: ${i.message}`), [
    "PROBE_PATH: does not apply to a 'kafka' probe: it is an option of http, https, redpanda probes",
  ]);
});

Deno.test("probe config: the README's Probe types example reads as the checks it describes", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("### Probe types"));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
  const { config } = await load({ "/c.yaml": example }, { path: "/c.yaml" });
  const [brokers, api, cache] = config.services;
  assert.deepEqual(brokers!.checks, [{ type: "kafka", port: 9092 }, {
    type: "redpanda",
    port: 9644,
  }]);
  assert.deepEqual(brokers!.probe.type, "tcp");
  assert.deepEqual(api!.checks, [{
    type: "https",
    port: 443,
    path: "/healthz",
    status: [{ from: 200, to: 299 }],
    body: { kind: "regex", pattern: '"status":\\s*"ok"', flags: "" },
    serverName: "api.internal.example",
    caFile: "/etc/helaseid/ca.pem",
  }]);
  assert.deepEqual(cache!.checks, [{
    type: "tcp",
    port: 6379,
    send: "PING\r\n",
    expect: { kind: "string", pattern: "+PONG", flags: "" },
  }]);
  // validate shows them the way they are written.
  const shown = describeConfig(config) as { services: { checks?: unknown[] }[] };
  assert.deepEqual(shown.services[1]!.checks, [{
    type: "https",
    port: 443,
    path: "/healthz",
    status: "200-299",
    body: '/"status":\\s*"ok"/',
    serverName: "api.internal.example",
    caFile: "/etc/helaseid/ca.pem",
  }]);
  assert.deepEqual(shown.services[2]!.checks, [{
    type: "tcp",
    port: 6379,
    send: "PING\\r\\n",
    expect: "+PONG",
  }]);
});

Deno.test("probe config: a probes item's port wins; the probe port is the default", async () => {
  assert.deepEqual(
    await fileChecks(
      "probes: [{ type: kafka, port: 19092 }, { type: http, path: /ready, status: [200, 204] }]",
    ),
    [
      { type: "kafka", port: 19092 },
      {
        type: "http",
        port: 9092,
        path: "/ready",
        status: [{ from: 200, to: 200 }, { from: 204, to: 204 }],
      },
    ],
  );
  assert.deepEqual(await fileChecks("probe: { type: tls, port: 9093, minDaysToExpiry: 14 }"), [
    { type: "tls", port: 9093, minDaysToExpiry: 14 },
  ]);
});

Deno.test("probe config: structured mistakes are reported with their field paths, all at once", async () => {
  assert.deepEqual(
    await fileIssues(`probes:
  - { type: kafka, path: /x }
  - { type: http, status: "200-", body: "/[/" }
  - { port: 9644, colour: red }
  - { type: tcp, send: "\\\\q", expect: "" }`),
    [
      "services[0].probes[0].path: does not apply to a 'kafka' probe: it is an option of http, https, redpanda probes",
      "services[0].probes[1].status: '200-' is not a status or a range: allowed status codes 100-599 and ranges such as '200-299'",
      "services[0].probes[1].body: '/[/' is not a valid regular expression: /[/: Unterminated character class",
      "services[0].probes[2].colour: unknown key: allowed type, port, path, method, status, body, host, headers, send, expect, serverName, caFile, insecureSkipVerify, minDaysToExpiry",
      "services[0].probes[2].type: required: the protocol of this check",
      "services[0].probes[3].send: '\\q' has an unknown escape at character 1: allowed \\r \\n \\t \\0 \\\\ \\xHH",
      "services[0].probes[3].expect: must not be empty",
    ],
  );
  assert.deepEqual(await fileIssues("probe: { type: kafka }\nprobes: [{ type: redpanda }]"), [
    "services[0].probes: a check is set in probe too (type): list every check in probes, and keep only the timing in probe",
  ]);
  assert.deepEqual(await fileIssues("probes: []"), [
    "services[0].probes: at least one check is required",
  ]);
  assert.deepEqual(await fileIssues("probe: { type: kafka, status: 200 }"), [
    "services[0].probe.status: does not apply to a 'kafka' probe: it is an option of http, https probes",
  ]);
  assert.deepEqual(
    await fileIssues("probe: { type: http, status: 600, headers: { Connection: keep-alive } }"),
    [
      "services[0].probe.status: '600' is out of range: allowed status codes 100-599 and ranges such as '200-299'",
      "services[0].probe.headers: 'Connection' is set by HELASEID itself",
    ],
  );
});
