import assert from "node:assert/strict";
import { describeConfig } from "../../src/config/mod.ts";
import { assertIssue, issuesOf, load } from "./_support.ts";

const TARGETS = `    targets:
      - { address: 192.0.2.1, zone: eu-1a, region: eu }
      - { address: 192.0.2.2, zone: eu-1b, region: eu }
      - { address: 192.0.2.3, zone: eu-1c, region: eu }
`;

Deno.test("zones: the block is read with its defaults", async () => {
  const { config } = await load({
    "c.yaml": `services:
  - name: kafka
    ports: [9092]
${TARGETS}    zones:
      preferences: { eu-1a: [eu-1b, eu-1c], eu-1b: eu-1a }
`,
  }, { path: "c.yaml" });
  assert.deepEqual(config.services[0]?.zones, {
    preferences: { "eu-1a": ["eu-1b", "eu-1c"], "eu-1b": ["eu-1a"] },
    hints: true,
    overprovisioning: 1.4,
    services: false,
  });
});

Deno.test("zones: a Service without the block has no zone settings", async () => {
  const { config } = await load({
    "c.yaml": `services:\n  - name: kafka\n    ports: [9092]\n${TARGETS}`,
  }, { path: "c.yaml" });
  assert.equal(config.services[0]?.zones, undefined);
});

Deno.test("zones: unknown zones, bad lists and values are errors with their field paths", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `services:
  - name: kafka
    ports: [9092]
${TARGETS}    zones:
      preferences: { eu-1a: [eu-1b, eu-1x], eu-2a: [eu-1a] }
      overprovisioning: 0.5
      hint: true
  - name: other
    ports: [9092]
${TARGETS}    zones:
      preferences: { eu-1a: [eu-1a] }
`,
  }, { path: "c.yaml" }));
  assertIssue(
    issues,
    "services[0].zones.overprovisioning: '0.5' is out of range: allowed 1 to 10 (1.4 is Envoy's default)",
  );
  assertIssue(issues, "services[0].zones.hint: unknown key: did you mean 'hints'?");
  assertIssue(
    issues,
    "services[1].zones.preferences: 'eu-1a': lists its own zone: a zone always serves itself first",
  );
  const known = await issuesOf(load({
    "c.yaml": `services:
  - name: kafka
    ports: [9092]
${TARGETS}    zones:
      preferences: { eu-1a: [eu-1b, eu-1x], eu-2a: [eu-1a] }
`,
  }, { path: "c.yaml" }));
  assertIssue(
    known,
    "services[0].zones.preferences.eu-1a[1]: 'eu-1x' is not the zone of any target: did you mean 'eu-1a'?",
  );
  assertIssue(
    known,
    "services[0].zones.preferences.eu-2a: 'eu-2a' is not the zone of any target: did you mean 'eu-1a'?",
  );
});

Deno.test("zones: with sources, zones are known only at run time: not checked", async () => {
  const { config } = await load({
    "c.yaml": `services:
  - name: kafka
    ports: [9092]
    sources: [{ type: nodes, labelSelector: role=kafka }]
    zones:
      preferences: { eu-1a: [eu-1b] }
`,
  }, { path: "c.yaml" });
  assert.deepEqual(config.services[0]?.zones?.preferences, { "eu-1a": ["eu-1b"] });
});

Deno.test("primary: the block is read with its defaults", async () => {
  const { config } = await load({
    "c.yaml": `services:
  - name: kafka
    ports: [9092]
${TARGETS}    primary: { prefer: [eu-1b, eu] }
`,
  }, { path: "c.yaml" });
  assert.deepEqual(config.services[0]?.primary, {
    mode: "designate",
    service: "kafka-primary",
    prefer: ["eu-1b", "eu"],
    failbackAfter: 300_000,
    noPrimary: "empty",
  });
});

Deno.test("primary: failbackAfter takes a duration, 0 or never", async () => {
  for (const [given, value] of [["never", "never"], ["0", 0], ["90s", 90_000]] as const) {
    const { config } = await load({
      "c.yaml": `services:
  - name: kafka
    ports: [9092]
${TARGETS}    primary: { failbackAfter: "${given}" }
`,
    }, { path: "c.yaml" });
    assert.equal(config.services[0]?.primary?.failbackAfter, value);
  }
});

Deno.test("primary: colliding Service names, unknown zones and modes without their check are errors", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `services:
  - name: kafka
    ports: [9092]
${TARGETS}    primary: { service: kafka }
  - name: kafka-primary
    ports: [9092]
${TARGETS}  - name: other
    ports: [9092]
${TARGETS}    primary: { service: kafka-primary, prefer: [eu-1x] }
  - name: redis
    ports: [6379]
${TARGETS}    primary: { mode: observe, failbackAfter: 1m }
  - name: db
    ports: [5432]
${TARGETS}    primary: { mode: observe, check: { type: http, port: 8008, path: /primary, send: x } }
`,
  }, { path: "c.yaml" }));
  assertIssue(
    issues,
    "services[0].primary.service: 'kafka' is the Service itself: name another one",
  );
  assertIssue(
    issues,
    "services[2].primary.prefer[0]: 'eu-1x' is not the zone or region of any target: did you mean 'eu-1a'?",
  );
  assertIssue(
    issues,
    "services[3].primary.check: required in mode 'observe': the check that passes on the primary only, such as {type: http, port: 8008, path: /primary}",
  );
  assertIssue(
    issues,
    "services[3].primary.failbackAfter: applies only to mode 'designate', not 'observe'",
  );
  assertIssue(issues, "services[4].primary.check.send: does not apply to a 'http' check");
  const collide = await issuesOf(load({
    "c.yaml": `services:
  - name: kafka
    ports: [9092]
${TARGETS}    primary: {}
  - name: kafka-primary
    ports: [9092]
${TARGETS}  - name: other
    ports: [9092]
${TARGETS}    primary: { service: other-p }
    zones: { services: true }
  - name: other-eu-1a
    ports: [9092]
${TARGETS}`,
  }, { path: "c.yaml" }));
  assertIssue(
    collide,
    "services[0].primary.service: 'kafka-primary' is already the Service of services[1]: name another one",
  );
  assertIssue(
    collide,
    "services[2].zones.services: 'other-eu-1a' is already the Service of services[3]: name another one",
  );
});

Deno.test("primary: observe mode reads its role check with the probe port as default", async () => {
  const { config } = await load({
    "c.yaml": `services:
  - name: redis
    ports: [6379]
${TARGETS}    primary:
      mode: observe
      noPrimary: keep
      check: { type: tcp, send: "ROLE\\\\r\\\\n", expect: master }
`,
  }, { path: "c.yaml" });
  const primary = config.services[0]?.primary;
  assert.equal(primary?.mode, "observe");
  assert.equal(primary?.noPrimary, "keep");
  assert.deepEqual(
    { type: primary?.check?.type, port: primary?.check?.port, send: primary?.check?.send },
    { type: "tcp", port: 6379, send: "ROLE\r\n" },
  );
});

Deno.test("validate shows the zones and primary settings the way their options say", async () => {
  const { config } = await load({
    "c.yaml": `services:
  - name: kafka
    ports: [9092]
${TARGETS}    zones: { preferences: { eu-1a: [eu-1b] } }
    primary: { failbackAfter: 90s }
`,
  }, { path: "c.yaml" });
  // deno-lint-ignore no-explicit-any
  const [service] = (describeConfig(config) as any).services;
  assert.deepEqual(service.zones, {
    preferences: "eu-1a: eu-1b",
    hints: true,
    overprovisioning: 1.4,
    services: false,
  });
  assert.equal(service.primary.failbackAfter, "1m30s");
});
