import assert from "node:assert/strict";
import { parseEnvFile, parseSeedConfig, splitList } from "../../src/config/env.ts";
import { type Config, loadConfig, PUBLISH_DEFAULTS } from "../../src/config/mod.ts";
import { assertIssue, issuesOf, load, SEED_CONFIG_ENV, WEBHOOK } from "./_support.ts";

const SEED_MODEL: Config = {
  format: "env",
  services: [{
    name: "datastream-redpanda-api-dev",
    namespace: "datastream",
    ports: [{ name: "", port: 9092, protocol: "TCP" }],
    targets: [{ address: "10.188.2.3" }, { address: "10.188.2.4" }, { address: "10.188.2.5" }],
    probe: { type: "tcp", port: 9092, interval: 10, timeout: 10, rise: 1, fall: 10, jitter: 0.1 },
    publish: PUBLISH_DEFAULTS,
  }],
  alerts: {},
  logLevel: "info",
};

/** The seed values as environment variables, for tests that start from a valid set. */
const SEED_ENV = {
  IPS: '("10.188.2.3" "10.188.2.4" "10.188.2.5")',
  PORT: "9092",
  MAX_RETRY: "10",
  INTERVAL: "0.01",
  LOG_LEVEL: "INFO",
  NAMESPACE: "datastream",
  SERVICE_NAME: "datastream-redpanda-api-dev",
};

Deno.test("the seed's ConfigMap config.env loads into the exact model", async () => {
  const { config, warnings } = await load({ "/config/config.env": SEED_CONFIG_ENV }, {
    path: "/config/config.env",
  });
  assert.deepEqual(config, SEED_MODEL);
  assert.deepEqual(warnings, []);
});

Deno.test("the seed values as environment variables load into the same model", async () => {
  const { config } = await loadConfig({ env: SEED_ENV });
  assert.deepEqual(config, SEED_MODEL);
});

Deno.test("the docker run example only lacks SERVICE_NAME: the namespace defaults", async () => {
  const issues = await issuesOf(
    loadConfig({ env: { IPS: "10.188.2.3 10.188.2.4", PORT: "9092" } }),
  );
  assert.deepEqual(issues, [{
    path: "SERVICE_NAME",
    message: "required: the name of the Service whose endpoints HELASEID keeps",
  }]);
  const { config } = await loadConfig({
    env: { IPS: "10.188.2.3 10.188.2.4", PORT: "9092", SERVICE_NAME: "redpanda" },
    defaultNamespace: "helaseid",
  });
  const [service] = config.services;
  assert.equal(service?.namespace, "helaseid");
  assert.deepEqual(service?.targets, [{ address: "10.188.2.3" }, { address: "10.188.2.4" }]);
  assert.deepEqual(service?.probe, {
    type: "tcp",
    port: 9092,
    interval: 2000,
    timeout: 1000,
    rise: 1,
    fall: 3,
    jitter: 0.1,
  });
});

Deno.test("an empty environment names every required variable", async () => {
  const issues = await issuesOf(loadConfig({ env: { PATH: "/usr/bin", HOME: "/root" } }));
  assert.deepEqual(issues.map((i) => i.path), ["SERVICE_NAME", "PORT", "IPS"]);
  assertIssue(
    issues,
    'IPS: required: the addresses to check, such as IPS=("10.188.2.3" "10.188.2.4")',
  );
  assertIssue(issues, "PORT: required: the port to check and publish, such as PORT=9092");
});

Deno.test("the environment overrides the file, and empty variables do not", async () => {
  const { config } = await load({ "c.env": SEED_CONFIG_ENV }, {
    path: "c.env",
    env: {
      PORT: "9093",
      INTERVAL: "500ms",
      IPS: "10.0.0.1,10.0.0.2",
      NAMESPACE: "",
      LOG_LEVEL: "debug",
    },
  });
  const [service] = config.services;
  assert.equal(service?.ports[0]?.port, 9093);
  assert.equal(service?.probe.port, 9093);
  assert.equal(service?.probe.interval, 500);
  assert.equal(service?.probe.timeout, 500);
  assert.equal(service?.namespace, "datastream");
  assert.equal(config.logLevel, "debug");
  assert.deepEqual(service?.targets, [{ address: "10.0.0.1" }, { address: "10.0.0.2" }]);
});

Deno.test("IPS as a variable: bash array text, spaces, commas, or both", () => {
  const table: [string, string[]][] = [
    ['("10.188.2.3" "10.188.2.4")', ["10.188.2.3", "10.188.2.4"]],
    ["(10.188.2.3 10.188.2.4)", ["10.188.2.3", "10.188.2.4"]],
    ["10.188.2.3 10.188.2.4", ["10.188.2.3", "10.188.2.4"]],
    ["10.188.2.3,10.188.2.4", ["10.188.2.3", "10.188.2.4"]],
    [" 10.188.2.3 , 10.188.2.4,\n10.188.2.5 ", ["10.188.2.3", "10.188.2.4", "10.188.2.5"]],
  ];
  for (const [text, expected] of table) {
    assert.deepEqual(splitList(text), { ok: true, value: expected });
  }
  assert.deepEqual(splitList('("10.188.2.3"'), {
    ok: false,
    message: "unterminated array: missing ')'",
  });
});

Deno.test("parseEnvFile() reads quotes, export, comments and blank lines", () => {
  const file = parseEnvFile(`# HELASEID settings

export SERVICE_NAME=redpanda   # trailing comment
NAMESPACE="data stream" # comment after quotes
PORT='9092'
  INTERVAL = 2s
LOG_LEVEL=info#not-a-comment
URL="a\\"b\\\\c\\$d"
EMPTY=
SINGLE='it''s'
MULTI="line one
line two"
`);
  assert.deepEqual(file.issues, []);
  const values = Object.fromEntries([...file.entries].map(([k, e]) => [k, e.value]));
  assert.deepEqual(values, {
    SERVICE_NAME: "redpanda",
    NAMESPACE: "data stream",
    PORT: "9092",
    INTERVAL: "2s",
    LOG_LEVEL: "info#not-a-comment",
    URL: 'a"b\\c$d',
    EMPTY: "",
    SINGLE: "its",
    MULTI: "line one\nline two",
  });
  assert.equal(file.entries.get("PORT")?.line, 5);
  assert.equal(file.entries.get("MULTI")?.line, 11);
});

Deno.test("parseEnvFile() reads a bash array spanning several lines, with comments", () => {
  const file = parseEnvFile(`IPS=(
  "10.188.2.3"   # broker 1
  '10.188.2.4'
  # broker 3 is being replaced
  10.188.2.5
)  # three brokers
PORT=9092
`);
  assert.deepEqual(file.issues, []);
  assert.deepEqual(file.entries.get("IPS"), {
    value: ["10.188.2.3", "10.188.2.4", "10.188.2.5"],
    line: 1,
  });
  assert.deepEqual(file.entries.get("PORT"), { value: "9092", line: 7 });
});

Deno.test("parseEnvFile() reports syntax errors with file and line, and keeps going", () => {
  const file = parseEnvFile(
    `PORT=9092
this is not an assignment
NAMESPACE="x" trailing
SERVICE_NAME=ok
IPS=("10.0.0.1"
`,
    { source: "/config/config.env" },
  );
  assert.deepEqual(file.issues, [
    { path: "/config/config.env:2", message: "expected KEY=value" },
    { path: "/config/config.env:3", message: "unexpected text after the value of 'NAMESPACE'" },
    {
      path: "/config/config.env:5",
      message: "unterminated array starting on line 5: missing ')'",
    },
  ]);
  assert.equal(file.entries.get("SERVICE_NAME")?.value, "ok");
  const quote = parseEnvFile(`A=1\nB="never closed\nC=3\n`);
  assert.deepEqual(quote.issues, [
    { path: "config.env:2", message: "unterminated double quote starting on line 2" },
  ]);
});

Deno.test("parseEnvFile() warns about a key set twice: the last value wins", () => {
  const file = parseEnvFile("PORT=1\nPORT=2\n");
  assert.equal(file.entries.get("PORT")?.value, "2");
  assert.deepEqual(file.warnings, [
    "config.env:2: 'PORT' is set more than once: the last value wins",
  ]);
});

Deno.test("an unknown key in config.env is a warning naming the closest known key", async () => {
  const { config, warnings } = await load({
    "config.env": `${SEED_CONFIG_ENV}MAX_RETRIES=4\nFOO_BAR=1\n`,
  }, { path: "config.env" });
  assert.equal(config.services[0]?.probe.fall, 10);
  assert.deepEqual(warnings, [
    "unknown variable 'MAX_RETRIES' in config.env: did you mean 'MAX_RETRY'?",
    "unknown variable 'FOO_BAR' in config.env: ignored",
  ]);
});

Deno.test("unknown process environment variables are ignored", async () => {
  const { warnings } = await loadConfig({
    env: { ...SEED_ENV, PATH: "/bin", MAX_RETRIES: "4", HOSTNAME: "pod-1" },
  });
  assert.deepEqual(warnings, []);
});

Deno.test("the new variables map onto probe, port and publish settings", async () => {
  const { config } = await loadConfig({
    env: {
      ...SEED_ENV,
      TIMEOUT: "5ms",
      RISE: "2",
      JITTER: "0.2",
      PORT_NAME: "kafka",
      PROTOCOL: "tcp",
      PUBLISH_ENDPOINTS: "no",
      UNHEALTHY: "remove",
      ALL_DOWN: "empty",
      CREATE_SERVICE: "true",
      LOG_LEVEL: "warning",
    },
  });
  const [service] = config.services;
  assert.deepEqual(service?.ports, [{ name: "kafka", port: 9092, protocol: "TCP" }]);
  assert.deepEqual(service?.probe, {
    type: "tcp",
    port: 9092,
    interval: 10,
    timeout: 5,
    rise: 2,
    fall: 10,
    jitter: 0.2,
  });
  assert.deepEqual(service?.publish, {
    endpointSlices: true,
    endpoints: false,
    unhealthy: "remove",
    allDown: "empty",
    createService: true,
  });
  assert.equal(config.logLevel, "warn");
});

Deno.test("every invalid seed variable is reported at once, with path and value", async () => {
  const issues = await issuesOf(loadConfig({
    env: {
      SERVICE_NAME: "Datastream_API",
      NAMESPACE: "-bad",
      IPS: '("10.188.2.3" "127.0.0.1" "10.188.2.300" "10.188.2.3")',
      PORT: "70000",
      PORT_NAME: "Kafka",
      PROTOCOL: "HTTP",
      INTERVAL: "-1",
      TIMEOUT: "abc",
      RISE: "0",
      MAX_RETRY: "three",
      JITTER: "0.9",
      LOG_LEVEL: "TRACE",
      PUBLISH_ENDPOINTS: "maybe",
      UNHEALTHY: "drop",
      ALL_DOWN: "none",
      CREATE_SERVICE: "2",
    },
  }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    "SERVICE_NAME: 'Datastream_API' is not a valid Service name: use lowercase letters, digits " +
    "and '-', starting with a letter and ending with a letter or digit",
    "NAMESPACE: '-bad' is not a valid namespace: use lowercase letters, digits and '-', " +
    "starting and ending with a letter or digit",
    "PORT: '70000' is out of range: allowed 1-65535",
    "PORT_NAME: 'Kafka' is not a valid port name: use lowercase letters, digits and '-', " +
    "starting and ending with a letter or digit",
    "PROTOCOL: 'HTTP' is not a valid protocol: allowed TCP, UDP, SCTP",
    "IPS[1]: '127.0.0.1' is a loopback address, which the Kubernetes API rejects for endpoints",
    "IPS[2]: '10.188.2.300' is not an IP address",
    "IPS[3]: '10.188.2.3' is listed twice: first at IPS[0]",
    "INTERVAL: '-1' must be a positive duration such as 500ms, 2s or 0.01",
    "TIMEOUT: 'abc' must be a positive duration such as 500ms, 2s or 0.01",
    "RISE: '0' is out of range: allowed 1 or more",
    "MAX_RETRY: 'three' is not an integer: allowed 1 or more",
    "JITTER: '0.9' is out of range: allowed 0 to 0.5 (a fraction of the interval)",
    "PUBLISH_ENDPOINTS: 'maybe' is not a boolean: allowed true, false, yes, no, on, off, 1, 0",
    "UNHEALTHY: 'drop' is not a valid mode: allowed notReady, remove",
    "ALL_DOWN: 'none' is not a valid mode: allowed publishAll, empty",
    "CREATE_SERVICE: '2' is not a boolean: allowed true, false, yes, no, on, off, 1, 0",
    "LOG_LEVEL: 'TRACE' is not a valid log level: allowed DEBUG, INFO, WARN, ERROR",
  ]);
});

Deno.test("TIMEOUT must not exceed INTERVAL", async () => {
  const issues = await issuesOf(loadConfig({ env: { ...SEED_ENV, TIMEOUT: "1s" } }));
  assert.deepEqual(issues, [{
    path: "TIMEOUT",
    message: "'1s' is longer than the interval (10ms): allowed at most the interval",
  }]);
});

Deno.test("IPS must list at least one address; other variables take one value", async () => {
  const issues = await issuesOf(load({ "config.env": "IPS=()\nPORT=(9092)\nSERVICE_NAME=x\n" }, {
    path: "config.env",
  }));
  assert.deepEqual(issues, [
    { path: "PORT", message: "must be a single value, not an array" },
    { path: "IPS", message: "at least one address is required" },
  ]);
});

Deno.test("an empty array counts as unset", async () => {
  const issues = await issuesOf(load({ "config.env": "SERVICE_NAME=()\nPORT=1\nIPS=10.0.0.1\n" }, {
    path: "config.env",
  }));
  assert.deepEqual(issues.map((i) => i.path), ["SERVICE_NAME"]);
});

Deno.test("a multi-line IPS array in config.env loads", async () => {
  const { config } = await load({
    "config.env": `SERVICE_NAME=redpanda
IPS=(
  "10.188.2.3" # rack a
  "10.188.2.4"
)
PORT=9092
`,
  }, { path: "config.env" });
  assert.deepEqual(config.services[0]?.targets, [
    { address: "10.188.2.3" },
    { address: "10.188.2.4" },
  ]);
});

Deno.test("IPv6 targets are normalized and leading-zero IPv4 is refused", async () => {
  const issues = await issuesOf(loadConfig({
    env: { ...SEED_ENV, IPS: "010.1.1.1 fe80::1 ::" },
  }));
  assertIssue(issues, "IPS[0]: '010.1.1.1' is ambiguous");
  assertIssue(issues, "IPS[1]: 'fe80::1' is a link-local address");
  assertIssue(issues, "IPS[2]: '::' is the unspecified address");
  const { config } = await loadConfig({ env: { ...SEED_ENV, IPS: "2001:DB8:0:0::1 10.0.0.1" } });
  assert.deepEqual(config.services[0]?.targets, [{ address: "2001:db8::1" }, {
    address: "10.0.0.1",
  }]);
});

Deno.test("TEAMS_WEBHOOK_URL and TEAMS_WEBHOOK_URL_FILE", async (t) => {
  await t.step("the URL becomes a Secret", async () => {
    const { config } = await loadConfig({ env: { ...SEED_ENV, TEAMS_WEBHOOK_URL: WEBHOOK } });
    assert.equal(config.alerts.teams?.url.reveal(), WEBHOOK);
    assert.equal(JSON.stringify(config.alerts), '{"teams":{"url":"<redacted>"}}');
  });
  await t.step("the URL file is read and trimmed", async () => {
    const { config } = await load({ "/run/secrets/teams": `  ${WEBHOOK}\n` }, {
      env: { ...SEED_ENV, TEAMS_WEBHOOK_URL_FILE: "/run/secrets/teams" },
    });
    assert.equal(config.alerts.teams?.url.reveal(), WEBHOOK);
  });
  await t.step("both set is ambiguous", async () => {
    const issues = await issuesOf(loadConfig({
      env: { ...SEED_ENV, TEAMS_WEBHOOK_URL: WEBHOOK, TEAMS_WEBHOOK_URL_FILE: "/x" },
    }));
    assert.deepEqual(issues, [{
      path: "TEAMS_WEBHOOK_URL_FILE",
      message: "ambiguous: TEAMS_WEBHOOK_URL is set too: set only one of them",
    }]);
  });
  await t.step("the environment's pair replaces the file's", async () => {
    const { config } = await load({
      "config.env": `${SEED_CONFIG_ENV}TEAMS_WEBHOOK_URL_FILE=/missing\n`,
    }, { path: "config.env", env: { TEAMS_WEBHOOK_URL: WEBHOOK } });
    assert.equal(config.alerts.teams?.url.reveal(), WEBHOOK);
  });
  await t.step("a missing or empty URL file is named", async () => {
    const missing = await issuesOf(load({}, {
      env: { ...SEED_ENV, TEAMS_WEBHOOK_URL_FILE: "/run/secrets/teams" },
    }));
    assert.deepEqual(missing, [{
      path: "TEAMS_WEBHOOK_URL_FILE",
      message: "cannot read '/run/secrets/teams': no such file",
    }]);
    const empty = await issuesOf(load({ "/s": " \n" }, {
      env: { ...SEED_ENV, TEAMS_WEBHOOK_URL_FILE: "/s" },
    }));
    assert.deepEqual(empty, [{
      path: "TEAMS_WEBHOOK_URL_FILE",
      message: "the file '/s' is empty",
    }]);
  });
});

Deno.test("the webhook URL never appears in an error message", async () => {
  const http = WEBHOOK.replace("https:", "http:");
  const cases: (() => Promise<unknown>)[] = [
    () => loadConfig({ env: { ...SEED_ENV, TEAMS_WEBHOOK_URL: http } }),
    () => loadConfig({ env: { ...SEED_ENV, TEAMS_WEBHOOK_URL: `${WEBHOOK} trailing words` } }),
    () => load({ "/s": http }, { env: { ...SEED_ENV, TEAMS_WEBHOOK_URL_FILE: "/s" } }),
    () =>
      load({ "config.env": `${SEED_CONFIG_ENV}TEAMS_WEBHOOK_URL="${WEBHOOK}" oops\n` }, {
        path: "config.env",
      }),
    () =>
      load({ "config.env": `${SEED_CONFIG_ENV}TEAMS_WEBHOOK_URL=("${WEBHOOK}")\n` }, {
        path: "config.env",
      }),
    () =>
      load({ "config.env": `${SEED_CONFIG_ENV}TEAMS_WEBHOOK_URL="${WEBHOOK}\n` }, {
        path: "config.env",
      }),
  ];
  const messages: string[] = [];
  for (const run of cases) {
    messages.push(...(await issuesOf(run())).map((i) => `${i.path}: ${i.message}`));
  }
  assert.deepEqual(messages, [
    "TEAMS_WEBHOOK_URL: must be an https URL (http is allowed only for loopback hosts, for tests)",
    "TEAMS_WEBHOOK_URL: must be an https URL",
    "TEAMS_WEBHOOK_URL_FILE: the URL in '/s' must be an https URL " +
    "(http is allowed only for loopback hosts, for tests)",
    "config.env:8: unexpected text after the value of 'TEAMS_WEBHOOK_URL'",
    "TEAMS_WEBHOOK_URL: must be a single value, not an array",
    "config.env:8: unterminated double quote starting on line 8",
  ]);
  for (const message of messages) assert.ok(!message.includes("s3cr3t"), message);
});

Deno.test("parseSeedConfig() reports instead of throwing", () => {
  const parsed = parseSeedConfig({ env: { PORT: "0" }, text: "SERVICE_NAME=x\nIPS=10.0.0.1\n" });
  assert.deepEqual(parsed.services, []);
  assert.deepEqual(parsed.issues, [{
    path: "PORT",
    message: "'0' is out of range: allowed 1-65535",
  }]);
});

Deno.test("the alert variables: webhook, card shape, coalescing, write failures, degraded", async () => {
  const { config, warnings } = await loadConfig({
    env: {
      ...SEED_ENV,
      TEAMS_WEBHOOK_URL: WEBHOOK,
      TEAMS_CARD_SHAPE: "CARD",
      WEBHOOK_URL: "https://hooks.example.com/services/T0/B0/s3cr3t",
      ALERT_COALESCE: "500ms",
      ALERT_WRITE_FAILURE_AFTER: "90",
      ALERT_DEGRADED: "off",
    },
  });
  assert.deepEqual(warnings, []);
  assert.equal(
    config.alerts.webhook?.url.reveal(),
    "https://hooks.example.com/services/T0/B0/s3cr3t",
  );
  assert.equal(
    JSON.stringify(config.alerts),
    '{"teams":{"url":"<redacted>","shape":"card"},"webhook":{"url":"<redacted>"},' +
      '"coalesce":500,"writeFailureThreshold":90000,"degraded":false}',
  );
});

Deno.test("WEBHOOK_URL and WEBHOOK_URL_FILE behave like the Teams pair", async () => {
  const fromFile = await load({ "/run/secrets/hook": `${WEBHOOK}\n` }, {
    env: { ...SEED_ENV, WEBHOOK_URL_FILE: "/run/secrets/hook" },
  });
  assert.equal(fromFile.config.alerts.webhook?.url.reveal(), WEBHOOK);
  assert.equal(fromFile.config.alerts.teams, undefined);
  const both = await issuesOf(loadConfig({
    env: { ...SEED_ENV, WEBHOOK_URL: WEBHOOK, WEBHOOK_URL_FILE: "/x" },
  }));
  assert.deepEqual(both, [{
    path: "WEBHOOK_URL_FILE",
    message: "ambiguous: WEBHOOK_URL is set too: set only one of them",
  }]);
  const insecure = await issuesOf(loadConfig({
    env: { ...SEED_ENV, WEBHOOK_URL: WEBHOOK.replace("https:", "http:") },
  }));
  assert.deepEqual(insecure.map((i) => `${i.path}: ${i.message}`), [
    "WEBHOOK_URL: must be an https URL (http is allowed only for loopback hosts, for tests)",
  ]);
});

Deno.test("each webhook pair of the environment replaces only its own pair of the file", async () => {
  const { config } = await load({
    "config.env": `${SEED_CONFIG_ENV}TEAMS_WEBHOOK_URL=${WEBHOOK}
WEBHOOK_URL_FILE=/missing
ALERT_COALESCE=5s
`,
  }, {
    path: "config.env",
    env: { WEBHOOK_URL: "https://hooks.example.com/x", ALERT_COALESCE: "1s" },
  });
  assert.equal(config.alerts.teams?.url.reveal(), WEBHOOK);
  assert.equal(config.alerts.webhook?.url.reveal(), "https://hooks.example.com/x");
  assert.equal(config.alerts.coalesce, 1000);
});

Deno.test("invalid alert variables are reported with their names", async () => {
  const issues = await issuesOf(loadConfig({
    env: {
      ...SEED_ENV,
      TEAMS_WEBHOOK_URL: WEBHOOK,
      TEAMS_CARD_SHAPE: "connector",
      ALERT_COALESCE: "soon",
      ALERT_WRITE_FAILURE_AFTER: "-5",
      ALERT_DEGRADED: "sometimes",
    },
  }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    "TEAMS_CARD_SHAPE: 'connector' is not a valid shape: allowed workflows, card",
    "ALERT_COALESCE: 'soon' must be a duration such as 0, 500ms, 2s or 0.01",
    "ALERT_WRITE_FAILURE_AFTER: '-5' must be a duration such as 0, 500ms, 2s or 0.01",
    "ALERT_DEGRADED: 'sometimes' is not a boolean: allowed true, false, yes, no, on, off, 1, 0",
  ]);
});

Deno.test("a misspelt alert variable in config.env gets a suggestion", async () => {
  const { warnings } = await load({
    "config.env": `${SEED_CONFIG_ENV}ALERT_COALESE=1s\nWEBHOK_URL=x\n`,
  }, { path: "config.env" });
  assert.deepEqual(warnings, [
    "unknown variable 'ALERT_COALESE' in config.env: did you mean 'ALERT_COALESCE'?",
    "unknown variable 'WEBHOK_URL' in config.env: did you mean 'WEBHOOK_URL'?",
  ]);
});

Deno.test("TEAMS_CARD_SHAPE without a Teams webhook is a warning", async () => {
  const { config, warnings } = await loadConfig({ env: { ...SEED_ENV, TEAMS_CARD_SHAPE: "card" } });
  assert.deepEqual(config.alerts, {});
  assert.deepEqual(warnings, [
    "TEAMS_CARD_SHAPE is set but no Teams webhook is configured: ignored",
  ]);
});
