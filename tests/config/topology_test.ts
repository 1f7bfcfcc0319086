import assert from "node:assert/strict";
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
