import assert from "node:assert/strict";
import { describeConfig, loadConfig } from "../../src/config/mod.ts";
import { assertIssue, issuesOf, load, SEED_CONFIG_ENV, WEBHOOK } from "./_support.ts";

const STRUCTURED = `services:
  - name: redpanda
    namespace: datastream
    ports: [9092]
    targets: [10.188.2.3, 10.188.2.4]
`;

Deno.test("the file's extension picks the format", async () => {
  for (const path of ["c.yaml", "c.YML", "c.json"]) {
    const text = path.endsWith(".json")
      ? JSON.stringify({ services: [{ name: "a", ports: [80], targets: ["10.0.0.1"] }] })
      : "services: [{ name: a, ports: [80], targets: [10.0.0.1] }]";
    const { config } = await load({ [path]: text }, { path });
    assert.equal(config.format, "structured", path);
  }
  const { config } = await load({ "/config/config.env": SEED_CONFIG_ENV }, {
    path: "/config/config.env",
  });
  assert.equal(config.format, "env");
});

Deno.test("any other extension is sniffed from the first meaningful line", async () => {
  const env = await load({ "/config/settings": `# seed settings\n\n${SEED_CONFIG_ENV}` }, {
    path: "/config/settings",
  });
  assert.equal(env.config.format, "env");
  const exported = await load({ "a.conf": `export ${SEED_CONFIG_ENV}` }, { path: "a.conf" });
  assert.equal(exported.config.format, "env");
  const structured = await load({ "b.conf": `# structured\n${STRUCTURED}` }, { path: "b.conf" });
  assert.equal(structured.config.format, "structured");
});

Deno.test("a structured file still takes LOG_LEVEL and the Teams webhook from the environment", async () => {
  const { config, warnings } = await load({
    "c.yaml": `logLevel: error\nalerts: { teams: { urlFile: /not/mounted } }\n${STRUCTURED}`,
  }, { path: "c.yaml", env: { LOG_LEVEL: "Debug", TEAMS_WEBHOOK_URL: WEBHOOK, PATH: "/bin" } });
  assert.equal(config.logLevel, "debug");
  assert.equal(config.alerts.teams?.url.reveal(), WEBHOOK);
  assert.deepEqual(warnings, []);
  const fromFile = await load({ "/s/url": WEBHOOK, "c.yaml": STRUCTURED }, {
    path: "c.yaml",
    env: { TEAMS_WEBHOOK_URL_FILE: "/s/url" },
  });
  assert.equal(fromFile.config.alerts.teams?.url.reveal(), WEBHOOK);
});

Deno.test("seed service variables next to a structured file are ignored with a warning", async () => {
  const { config, warnings } = await load({ "c.yaml": STRUCTURED }, {
    path: "c.yaml",
    env: { IPS: "10.9.9.9", PORT: "1", SERVICE_NAME: "other", MAX_RETRY: "1" },
  });
  assert.equal(config.services[0]?.name, "redpanda");
  assert.deepEqual(warnings, [
    "environment variables SERVICE_NAME, IPS, PORT, MAX_RETRY are ignored: " +
    "the structured configuration file describes the services",
  ]);
});

Deno.test("environment overrides of a structured file are validated too, all at once", async () => {
  const issues = await issuesOf(load({
    "c.yaml": STRUCTURED.replace("10.188.2.4", "10.188.2.400"),
  }, {
    path: "c.yaml",
    env: { LOG_LEVEL: "loud", TEAMS_WEBHOOK_URL: WEBHOOK, TEAMS_WEBHOOK_URL_FILE: "/s" },
  }));
  assert.deepEqual(issues.map((i) => i.path), [
    "services[0].targets[1]",
    "LOG_LEVEL",
    "TEAMS_WEBHOOK_URL_FILE",
  ]);
});

Deno.test("a missing configuration file is an error naming its path", async () => {
  const issues = await issuesOf(load({}, { path: "/etc/helaseid/config.yaml" }));
  assert.deepEqual(issues, [{
    path: "/etc/helaseid/config.yaml",
    message: "cannot read the configuration file: no such file",
  }]);
  // The default reader, Deno.readTextFile, fails the same way (with or without read permission).
  const real = await issuesOf(loadConfig({ path: "/nonexistent/helaseid.yaml", env: {} }));
  assert.equal(real.length, 1);
  assert.equal(real[0]?.path, "/nonexistent/helaseid.yaml");
  assert.match(real[0]!.message, /^cannot read the configuration file: /);
});

Deno.test("errors of every kind are reported together, never the webhook URL", async () => {
  const issues = await issuesOf(load({
    "config.env": `IPS=("10.188.2.3" "0.0.0.0")
PORT=0
INTERVAL=soon
SERVICE_NAME=ok
TEAMS_WEBHOOK_URL=${WEBHOOK.replace("https", "http")}
`,
  }, { path: "config.env" }));
  assert.deepEqual(issues.map((i) => i.path), [
    "PORT",
    "IPS[1]",
    "INTERVAL",
    "TEAMS_WEBHOOK_URL",
  ]);
  assertIssue(issues, "TEAMS_WEBHOOK_URL: must be an https URL");
  for (const issue of issues) assert.ok(!issue.message.includes("s3cr3t"));
});

Deno.test("describeConfig() gives a JSON-able view with durations as text and the secret redacted", async () => {
  const { config } = await load({ "config.env": SEED_CONFIG_ENV }, {
    path: "config.env",
    env: { TEAMS_WEBHOOK_URL: WEBHOOK },
  });
  const view = describeConfig(config);
  const json = JSON.stringify(view);
  assert.ok(!json.includes("s3cr3t"));
  assert.deepEqual(JSON.parse(json), view);
  assert.deepEqual(view, {
    format: "env",
    logLevel: "info",
    alerts: {
      teams: { url: "<redacted>", shape: "workflows" },
      coalesce: "2s",
      writeFailureThreshold: "1m",
      degraded: true,
    },
    services: [{
      name: "datastream-redpanda-api-dev",
      namespace: "datastream",
      ports: [{ name: "", port: 9092, protocol: "TCP" }],
      targets: [{ address: "10.188.2.3" }, { address: "10.188.2.4" }, {
        address: "10.188.2.5",
      }],
      probe: {
        type: "tcp",
        port: 9092,
        interval: "10ms",
        timeout: "10ms",
        rise: 1,
        fall: 10,
        jitter: 0.1,
      },
      publish: {
        endpointSlices: true,
        endpoints: true,
        unhealthy: "notReady",
        allDown: "publishAll",
        createService: false,
      },
    }],
  });
});

// Runs with --allow-all like every test: without read/write it fails, it never skips itself.
Deno.test({
  name: "real files: config.env and a YAML file with a relative urlFile",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "helaseid-config-" });
    try {
      await Deno.writeTextFile(`${dir}/config.env`, SEED_CONFIG_ENV);
      const seed = await loadConfig({ path: `${dir}/config.env`, env: {} });
      assert.equal(seed.config.services[0]?.probe.interval, 10);

      await Deno.writeTextFile(`${dir}/teams-url`, `${WEBHOOK}\n`);
      await Deno.writeTextFile(
        `${dir}/helaseid.yaml`,
        `alerts: { teams: { urlFile: teams-url } }\n${STRUCTURED}`,
      );
      const structured = await loadConfig({ path: `${dir}/helaseid.yaml`, env: {} });
      assert.equal(structured.config.alerts.teams?.url.reveal(), WEBHOOK);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("describeConfig() shows every alert setting, both URLs redacted", async () => {
  const { config } = await load({ "c.yaml": STRUCTURED }, {
    path: "c.yaml",
    env: {
      TEAMS_WEBHOOK_URL: WEBHOOK,
      TEAMS_CARD_SHAPE: "card",
      WEBHOOK_URL: `${WEBHOOK}&other=s3cr3t`,
      ALERT_COALESCE: "0",
      ALERT_WRITE_FAILURE_AFTER: "90s",
      ALERT_DEGRADED: "false",
    },
  });
  const view = describeConfig(config) as { alerts: unknown };
  assert.ok(!JSON.stringify(view).includes("s3cr3t"));
  assert.deepEqual(view.alerts, {
    teams: { url: "<redacted>", shape: "card" },
    webhook: { url: "<redacted>" },
    coalesce: "0s",
    writeFailureThreshold: "1m30s",
    degraded: false,
  });
});

Deno.test("the alert variables override a structured file key by key", async () => {
  const { config } = await load({
    "/s/hook": "https://hooks.example.com/from-file",
    "c.yaml": `alerts:
  webhook: { urlFile: /s/hook }
  coalesce: 5s
  degraded: false
${STRUCTURED}`,
  }, { path: "c.yaml", env: { ALERT_COALESCE: "1s", ALERT_WRITE_FAILURE_AFTER: "2m" } });
  assert.equal(config.alerts.webhook?.url.reveal(), "https://hooks.example.com/from-file");
  assert.equal(config.alerts.coalesce, 1000);
  assert.equal(config.alerts.writeFailureThreshold, 120_000);
  assert.equal(config.alerts.degraded, false);
  const replaced = await load({
    "c.yaml": `alerts: { webhook: { urlFile: /not/mounted } }\n${STRUCTURED}`,
  }, { path: "c.yaml", env: { WEBHOOK_URL: "https://hooks.example.com/env" } });
  assert.equal(replaced.config.alerts.webhook?.url.reveal(), "https://hooks.example.com/env");
});
