import assert from "node:assert/strict";
import { parseStructuredConfig } from "../../src/config/file.ts";
import { type Config, PUBLISH_DEFAULTS } from "../../src/config/mod.ts";
import { assertIssue, issuesOf, load, WEBHOOK } from "./_support.ts";

const YAML = `# two Services
logLevel: info
alerts:
  teams:
    urlFile: secrets/teams-url
defaults:
  probe:
    interval: 500ms
    fall: 5
  publish:
    endpoints: false
services:
  - name: redpanda
    namespace: datastream
    ports: [9092]
    targets:
      - 10.188.2.3
      - address: 2001:DB8::4
        zone: zone-b
        hostname: broker-4
  - name: postgres
    ports:
      - { name: pg, port: 5432, protocol: TCP, appProtocol: postgresql }
      - { name: metrics, port: 9187 }
    targets: [10.0.0.1, 10.0.0.2]
    probe: { port: 9187, interval: 2s, timeout: 1500ms, rise: 3, jitter: 0 }
    publish: { unhealthy: remove, allDown: empty, createService: true }
`;

const EXPECTED: Config = {
  format: "structured",
  logLevel: "info",
  alerts: {},
  services: [{
    name: "redpanda",
    namespace: "datastream",
    ports: [{ name: "", port: 9092, protocol: "TCP" }],
    targets: [
      { address: "10.188.2.3" },
      { address: "2001:db8::4", zone: "zone-b", hostname: "broker-4" },
    ],
    probe: { type: "tcp", port: 9092, interval: 500, timeout: 500, rise: 2, fall: 5, jitter: 0.1 },
    publish: { ...PUBLISH_DEFAULTS, endpoints: false },
  }, {
    name: "postgres",
    namespace: "default",
    ports: [
      { name: "pg", port: 5432, protocol: "TCP", appProtocol: "postgresql" },
      { name: "metrics", port: 9187, protocol: "TCP" },
    ],
    targets: [{ address: "10.0.0.1" }, { address: "10.0.0.2" }],
    probe: { type: "tcp", port: 9187, interval: 2000, timeout: 1500, rise: 3, fall: 5, jitter: 0 },
    publish: {
      endpointSlices: true,
      endpoints: false,
      unhealthy: "remove",
      allDown: "empty",
      createService: true,
    },
  }],
};

Deno.test("a structured YAML file with a defaults block loads into the model", async () => {
  const { config, warnings } = await load({
    "/etc/helaseid/config.yaml": YAML,
    "/etc/helaseid/secrets/teams-url": WEBHOOK,
  }, { path: "/etc/helaseid/config.yaml" });
  assert.equal(config.alerts.teams?.url.reveal(), WEBHOOK);
  assert.deepEqual({ ...config, alerts: {} }, EXPECTED);
  assert.deepEqual(warnings, []);
});

Deno.test("the same configuration as JSON loads identically", async () => {
  const json = JSON.stringify(
    {
      logLevel: "INFO",
      defaults: { probe: { interval: "500ms", fall: 5 }, publish: { endpoints: false } },
      services: [{
        name: "redpanda",
        namespace: "datastream",
        ports: [9092],
        targets: ["10.188.2.3", { address: "2001:DB8::4", zone: "zone-b", hostname: "broker-4" }],
      }, {
        name: "postgres",
        ports: [
          { name: "pg", port: 5432, protocol: "tcp", appProtocol: "postgresql" },
          { name: "metrics", port: 9187 },
        ],
        targets: ["10.0.0.1", "10.0.0.2"],
        probe: { port: 9187, interval: 2, timeout: 1.5, rise: 3, jitter: 0 },
        publish: { unhealthy: "remove", allDown: "empty", createService: true },
      }],
    },
    null,
    "\t",
  );
  const { config } = await load({ "helaseid.json": json }, { path: "helaseid.json" });
  assert.deepEqual(config, EXPECTED);
});

Deno.test("structured defaults: PROBE_DEFAULTS, timeout min(interval, 1s), first port", () => {
  const parsed = parseStructuredConfig(
    `services:
  - name: a
    ports: [{ name: x, port: 8080 }, { name: y, port: 9090 }]
    targets: [10.0.0.1]
  - name: b
    ports: [80]
    targets: [10.0.0.1]
    probe: { interval: 300ms }
`,
    { defaultNamespace: "ops" },
  );
  assert.deepEqual(parsed.issues, []);
  assert.deepEqual(parsed.services.map((s) => [s.namespace, s.probe]), [
    ["ops", {
      type: "tcp",
      port: 8080,
      interval: 2000,
      timeout: 1000,
      rise: 2,
      fall: 3,
      jitter: 0.1,
    }],
    ["ops", { type: "tcp", port: 80, interval: 300, timeout: 300, rise: 2, fall: 3, jitter: 0.1 }],
  ]);
});

Deno.test("an unknown key anywhere is an error suggesting the closest key", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `loglevel: info
alert: {}
services:
  - name: a
    namespce: ops
    ports: [{ name: x, prot: 80 }]
    targets: [{ adress: 10.0.0.1 }]
    probe: { intervl: 2s, colour: blue }
    publish: { endpoint: true }
`,
  }, { path: "c.yaml" }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    "loglevel: unknown key: did you mean 'logLevel'?",
    "alert: unknown key: did you mean 'alerts'?",
    "services[0].namespce: unknown key: did you mean 'namespace'?",
    "services[0].ports[0].prot: unknown key: did you mean 'port'?",
    "services[0].ports[0].port: required: the port number",
    "services[0].targets[0].adress: unknown key: did you mean 'address'?",
    "services[0].targets[0].address: required: the IP address of the target",
    "services[0].probe.intervl: unknown key: did you mean 'interval'?",
    "services[0].probe.colour: unknown key: allowed type, port, interval, timeout, rise, fall, " +
    "jitter, fastInterval, downInterval, path, method, status, body, host, headers, send, " +
    "expect, serverName, caFile, " +
    "insecureSkipVerify, minDaysToExpiry",
    "services[0].publish.endpoint: unknown key: did you mean 'endpoints'?",
  ]);
});

Deno.test("every structured validation rule reports its path and value, all at once", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `logLevel: verbose
services:
  - name: 1st-service
    namespace: Ops
    ports: [0, 70000, { name: Web, port: 80, protocol: ICMP, appProtocol: "not valid" }]
    targets: [10.188.2.3, 10.188.2.300, 127.0.0.1, { address: 10.188.2.3, hostname: web_1, zone: "" }]
    probe: { type: icmp, port: 65536, interval: 0, timeout: -1s, rise: 0, fall: 1.5, jitter: 1 }
    publish: { endpointSlices: maybe, endpoints: 2, unhealthy: hide, allDown: blank, createService: x }
`,
  }, { path: "c.yaml" }));
  const expected: [string, string][] = [
    ["logLevel", "'verbose' is not a valid log level: allowed debug, info, warn, error"],
    ["services[0].name", "'1st-service' is not a valid Service name"],
    ["services[0].namespace", "'Ops' is not a valid namespace"],
    ["services[0].ports[0]", "'0' is out of range: allowed 1-65535"],
    ["services[0].ports[1]", "'70000' is out of range: allowed 1-65535"],
    ["services[0].ports[2].name", "'Web' is not a valid port name"],
    ["services[0].ports[2].protocol", "'ICMP' is not a valid protocol: allowed TCP, UDP, SCTP"],
    ["services[0].ports[2].appProtocol", "'not valid' is not a valid appProtocol"],
    ["services[0].targets[1]", "'10.188.2.300' is not an IP address"],
    ["services[0].targets[2]", "'127.0.0.1' is a loopback address"],
    ["services[0].targets[3].zone", "must not be empty"],
    ["services[0].targets[3].hostname", "'web_1' is not a valid hostname"],
    ["services[0].targets[3]", "'10.188.2.3' is listed twice: first at services[0].targets[0]"],
    [
      "services[0].probe.type",
      "'icmp' is not a valid probe type: allowed tcp, http, https, tls, kafka, redpanda",
    ],
    ["services[0].probe.port", "'65536' is out of range: allowed 1-65535"],
    ["services[0].probe.interval", "'0' must be a positive duration such as 500ms, 2s or 0.01"],
    ["services[0].probe.timeout", "'-1s' must be a positive duration"],
    ["services[0].probe.rise", "'0' is out of range: allowed 1 or more"],
    ["services[0].probe.fall", "'1.5' is not an integer: allowed 1 or more"],
    ["services[0].probe.jitter", "'1' is out of range: allowed 0 to 0.5"],
    ["services[0].publish.endpointSlices", "'maybe' is not a boolean"],
    ["services[0].publish.endpoints", "'2' is not a boolean"],
    ["services[0].publish.createService", "'x' is not a boolean"],
    ["services[0].publish.unhealthy", "'hide' is not a valid mode: allowed notReady, remove"],
    ["services[0].publish.allDown", "'blank' is not a valid mode: allowed publishAll, empty"],
  ];
  for (const [path, start] of expected) assertIssue(issues, `${path}: ${start}`);
  assert.equal(issues.length, expected.length);
});

Deno.test("ports: more than one needs unique names, at most 100", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `services:
  - name: a
    ports: [9092, { name: kafka, port: 9093 }, { name: kafka, port: 9094 }]
    targets: [10.0.0.1]
  - name: b
    ports: [${Array.from({ length: 101 }, (_, i) => i + 1).join(", ")}]
    targets: [10.0.0.1]
  - name: c
    ports: []
    targets: []
`,
  }, { path: "c.yaml" }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    "services[0].ports[0]: port 9092 has no name: with more than one port every port needs " +
    "a unique name",
    "services[0].ports[2].name: 'kafka' is also the name of services[0].ports[1]: port names " +
    "must be unique",
    "services[1].ports: 101 ports: allowed at most 100",
    "services[2].ports: at least one port is required",
    "services[2].targets: at least one target is required (or sources)",
  ]);
});

Deno.test("services: required, a list, no duplicate namespace/name", async () => {
  assert.deepEqual(await issuesOf(load({ "c.yaml": "logLevel: info\n" }, { path: "c.yaml" })), [{
    path: "services",
    message: "required: a list of the Services whose endpoints HELASEID keeps",
  }]);
  assert.deepEqual(await issuesOf(load({ "c.yaml": "services: {}\n" }, { path: "c.yaml" })), [{
    path: "services",
    message: "must be a list, not a mapping",
  }]);
  assert.deepEqual(await issuesOf(load({ "c.yaml": "services: []\n" }, { path: "c.yaml" })), [{
    path: "services",
    message: "at least one service is required",
  }]);
  assert.deepEqual(await issuesOf(load({ "c.yaml": "- a\n- b\n" }, { path: "c.yaml" })), [{
    path: "c.yaml",
    message:
      "must be a mapping (keys logLevel, leases, leaseDuration, leaseRenewDeadline, leaseRetryPeriod, watchConfig, removedServices, leaseNamespace, clusters, alerts, defaults, services), not a list",
  }]);
  const issues = await issuesOf(load({
    "c.yaml": `services:
  - { name: api, namespace: ops, ports: [80], targets: [10.0.0.1] }
  - { name: api, ports: [80], targets: [10.0.0.2] }
  - { name: api, namespace: ops, ports: [81], targets: [10.0.0.3] }
  - { ports: [80], targets: [10.0.0.4] }
`,
  }, { path: "c.yaml", defaultNamespace: "default" }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    "services[2]: 'ops/api' is listed twice: first at services[0]",
    "services[3].name: required: the name of the Service",
  ]);
});

Deno.test("probe timeout must not exceed the interval, wherever each comes from", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `defaults:
  probe: { interval: 1s, timeout: 2s }
services:
  - { name: a, ports: [80], targets: [10.0.0.1], probe: { interval: 3s } }
  - { name: b, ports: [80], targets: [10.0.0.1], probe: { interval: 100ms, timeout: 200ms } }
`,
  }, { path: "c.yaml" }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    "defaults.probe.timeout: '2s' is longer than the interval (1s): allowed at most the interval",
    "services[1].probe.timeout: '200ms' is longer than the interval (100ms): allowed at most " +
    "the interval",
  ]);
  const fromDefaults = await issuesOf(load({
    "c.yaml": `defaults: { probe: { timeout: 1s } }
services: [{ name: a, ports: [80], targets: [10.0.0.1], probe: { interval: 500ms } }]
`,
  }, { path: "c.yaml" }));
  assert.deepEqual(fromDefaults, [{
    path: "services[0].probe.timeout",
    message: "'1s' is longer than the interval (500ms): allowed at most the interval " +
      "(the timeout comes from defaults.probe.timeout)",
  }]);
});

Deno.test("YAML syntax errors are reported with line and column", async () => {
  const issues = await issuesOf(load({
    "c.yaml": "services:\n  - name: a\n  name: b\nlogLevel: [info\n",
  }, { path: "c.yaml" }));
  assert.ok(issues.length >= 1);
  for (const issue of issues) {
    assert.match(issue.path, /^c\.yaml:\d+:\d+$/);
    assert.match(issue.message, /^syntax error: /);
  }
  const duplicate = await issuesOf(
    load({ "c.json": '{\n  "logLevel": "info",\n  "logLevel": "debug"\n}' }, {
      path: "c.json",
    }),
  );
  assert.deepEqual(duplicate, [{
    path: "c.json:3:3",
    message: "syntax error: map keys must be unique",
  }]);
});

Deno.test("alerts: url or urlFile, never both, never echoed", async () => {
  const base = "services: [{ name: a, ports: [80], targets: [10.0.0.1] }]\n";
  const cases: [string, string][] = [
    [
      `alerts: { teams: { url: "${WEBHOOK}", urlFile: /x } }`,
      "alerts.teams: ambiguous: both url and urlFile are set: set only one",
    ],
    [
      `alerts: { teams: { url: "${WEBHOOK.replace("https", "http")}" } }`,
      "alerts.teams.url: must be an https URL (http is allowed only for loopback hosts, for tests)",
    ],
    [
      `alerts: { teams: { url: ["${WEBHOOK}"] } }`,
      "alerts.teams.url: must be an https URL, not a list",
    ],
    [`alerts: { teams: {} }`, "alerts.teams: url or urlFile is required"],
    [
      `alerts: "${WEBHOOK}"`,
      "alerts: must be a mapping (keys teams, webhook, coalesce, writeFailureThreshold, " +
      "degraded), not a string",
    ],
    [
      `alerts: { teams: { url: "${WEBHOOK}" }, slack: "${WEBHOOK}" }`,
      "alerts.slack: unknown key: allowed teams, webhook, coalesce, writeFailureThreshold, degraded",
    ],
    [
      `alerts: { webhook: { url: "${WEBHOOK}", urlFile: /x } }`,
      "alerts.webhook: ambiguous: both url and urlFile are set: set only one",
    ],
    [
      `alerts: { webhook: { url: "${WEBHOOK.replace("https", "http")}" } }`,
      "alerts.webhook.url: must be an https URL (http is allowed only for loopback hosts",
    ],
    [
      `alerts: { webhook: {} }`,
      "alerts.webhook: url or urlFile is required (or the environment variable WEBHOOK_URL " +
      "or WEBHOOK_URL_FILE)",
    ],
    [`alerts: { teams: { url: "${WEBHOOK}  }`, "syntax error"],
  ];
  for (const [yaml, expected] of cases) {
    const issues = await issuesOf(load({ "c.yaml": `${yaml}\n${base}` }, { path: "c.yaml" }));
    const text = issues.map((i) => `${i.path}: ${i.message}`).join("\n");
    assert.ok(text.includes(expected), `${text}\n--- does not contain ---\n${expected}`);
    assert.ok(!text.includes("s3cr3t"), text);
  }
});

Deno.test("alerts: webhook, Teams card shape and delivery settings", async () => {
  const yaml = `alerts:
  teams: { urlFile: secrets/teams-url, shape: Card }
  webhook: { url: "https://hooks.example.com/services/T0/B0/s3cr3t" }
  coalesce: 500ms
  writeFailureThreshold: 2m
  degraded: no
services: [{ name: a, ports: [80], targets: [10.0.0.1] }]
`;
  const { config, warnings } = await load({
    "/etc/helaseid/config.yaml": yaml,
    "/etc/helaseid/secrets/teams-url": WEBHOOK,
  }, { path: "/etc/helaseid/config.yaml" });
  assert.deepEqual(warnings, []);
  assert.equal(config.alerts.teams?.url.reveal(), WEBHOOK);
  assert.equal(
    config.alerts.webhook?.url.reveal(),
    "https://hooks.example.com/services/T0/B0/s3cr3t",
  );
  assert.equal(
    JSON.stringify(config.alerts),
    '{"teams":{"url":"<redacted>","shape":"card"},"webhook":{"url":"<redacted>"},' +
      '"coalesce":500,"writeFailureThreshold":120000,"degraded":false}',
  );
});

Deno.test("alerts: zero disables coalescing and alerts on the first failed write", async () => {
  const { config } = await load({
    "c.yaml": `alerts: { coalesce: 0, writeFailureThreshold: "0s", degraded: true }
services: [{ name: a, ports: [80], targets: [10.0.0.1] }]
`,
  }, { path: "c.yaml" });
  assert.deepEqual(config.alerts, { coalesce: 0, writeFailureThreshold: 0, degraded: true });
});

Deno.test("alerts: every invalid delivery setting is reported, typos with a suggestion", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `alerts:
  teams: { url: "${WEBHOOK}", shape: adaptive, colour: red }
  webhook: { urlFile: 3 }
  coalesse: 1s
  coalesce: soon
  writeFailureThreshold: -1m
  degraded: maybe
services: [{ name: a, ports: [80], targets: [10.0.0.1] }]
`,
  }, { path: "c.yaml" }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    "alerts.coalesse: unknown key: did you mean 'coalesce'?",
    "alerts.teams.colour: unknown key: allowed url, urlFile, shape",
    "alerts.teams.shape: 'adaptive' is not a valid shape: allowed workflows, card",
    "alerts.webhook.urlFile: must be a file path, not a number",
    "alerts.coalesce: 'soon' must be a duration such as 0, 500ms, 2s or 0.01",
    "alerts.writeFailureThreshold: '-1m' must be a duration such as 0, 500ms, 2s or 0.01",
    "alerts.degraded: 'maybe' is not a boolean: allowed true, false, yes, no, on, off, 1, 0",
  ]);
  for (const issue of issues) assert.ok(!issue.message.includes("s3cr3t"), issue.message);
});

Deno.test("alerts: a Teams block may leave the URL to the environment (a Secret)", async () => {
  const yaml = `alerts: { teams: { shape: card } }
services: [{ name: a, ports: [80], targets: [10.0.0.1] }]
`;
  const { config } = await load({ "c.yaml": yaml }, {
    path: "c.yaml",
    env: { TEAMS_WEBHOOK_URL: WEBHOOK },
  });
  assert.equal(config.alerts.teams?.url.reveal(), WEBHOOK);
  assert.equal(config.alerts.teams?.shape, "card");
  assert.deepEqual(await issuesOf(load({ "c.yaml": yaml }, { path: "c.yaml" })), [{
    path: "alerts.teams",
    message: "url or urlFile is required (or the environment variable TEAMS_WEBHOOK_URL or " +
      "TEAMS_WEBHOOK_URL_FILE)",
  }]);
});
