import assert from "node:assert/strict";
import type { Alert, AlertTarget } from "../../src/notify/alert.ts";
import { formatSpan } from "../../src/notify/alert.ts";
import { MAX_TEAMS_BYTES, teamsPayload } from "../../src/notify/teams.ts";
import { webhookPayload } from "../../src/notify/webhook.ts";
import { cardOf, factsOf, headerOf } from "./_support.ts";

const AT = Date.UTC(2026, 10, 26, 10, 0, 2);

function alert(overrides: Partial<Alert> = {}): Alert {
  return {
    event: "targets-down",
    severity: "warning",
    title: "2 targets of datastream/brokers are down: 1 of 3 healthy",
    cluster: "prod-eu",
    service: { namespace: "datastream", name: "brokers" },
    targets: [
      {
        address: "10.188.2.3",
        port: 9092,
        zone: "zone-a",
        state: "down",
        error: "connection refused",
        since: AT - 2000,
      },
      { address: "2001:db8::4", port: 9092, state: "down", error: "timeout", since: AT - 1500 },
    ],
    healthy: 1,
    unhealthy: 2,
    total: 3,
    panic: false,
    since: AT - 2000,
    at: AT,
    ...overrides,
  };
}

Deno.test("teams: a Workflows message carrying an Adaptive Card with the facts", () => {
  const message = JSON.parse(teamsPayload(alert(), { shape: "workflows" }));
  assert.deepEqual(Object.keys(message), ["type", "attachments"]);
  const card = cardOf(message);
  assert.equal(card.type, "AdaptiveCard");
  assert.equal(card.version, "1.4");
  assert.equal(card.$schema, "http://adaptivecards.io/schemas/adaptive-card.json");
  assert.deepEqual(headerOf(card), {
    title: "2 targets of datastream/brokers are down: 1 of 3 healthy",
    style: "warning",
    color: "Warning",
  });
  assert.deepEqual(factsOf(card), {
    "Cluster": "prod-eu",
    "Service": "datastream/brokers",
    "Targets": "10.188.2.3:9092, [2001:db8::4]:9092",
    "State": "1 of 3 targets healthy",
    "Since": "2026-11-26T10:00:00.000Z (2s ago)",
    "10.188.2.3:9092 (zone-a)": "down: connection refused",
    "[2001:db8::4]:9092": "down: timeout",
  });
});

Deno.test("teams: the colour follows the severity", () => {
  const cases = [
    ["critical", "attention", "Attention"],
    ["warning", "warning", "Warning"],
    ["resolved", "good", "Good"],
  ] as const;
  for (const [severity, style, color] of cases) {
    const card = cardOf(JSON.parse(teamsPayload(alert({ severity }), { shape: "workflows" })));
    assert.deepEqual([headerOf(card).style, headerOf(card).color], [style, color], severity);
  }
});

Deno.test("teams: the 'card' shape posts the bare card", () => {
  const card = JSON.parse(teamsPayload(alert(), { shape: "card" }));
  assert.equal(card.type, "AdaptiveCard");
  assert.equal(factsOf(card).Cluster, "prod-eu");
});

Deno.test("teams: one shared error is a fact, the panic guard is in the state", () => {
  const targets: AlertTarget[] = ["10.0.0.1", "10.0.0.2"].map((address) => ({
    address,
    port: 9092,
    state: "down",
    error: "connection refused",
  }));
  const card = cardOf(JSON.parse(teamsPayload(
    alert({
      event: "all-down",
      severity: "critical",
      targets,
      healthy: 0,
      unhealthy: 2,
      panic: true,
    }),
    { shape: "workflows" },
  )));
  const facts = factsOf(card);
  assert.equal(facts.Error, "connection refused");
  assert.equal(
    facts.State,
    "0 of 3 targets healthy (1 not checked yet): panic guard on, every target is published as ready",
  );
});

Deno.test("teams: a recovery says how long each target was down", () => {
  const card = cardOf(JSON.parse(teamsPayload(
    alert({
      event: "targets-recovered",
      severity: "resolved",
      targets: [{ address: "10.0.0.1", port: 9092, state: "recovered", downFor: 65_000 }],
    }),
    { shape: "workflows" },
  )));
  assert.equal(factsOf(card)["10.0.0.1:9092"], "recovered after 1m 5s down");
  assert.equal(factsOf(card).Since, "2026-11-26T10:00:00.000Z");
});

Deno.test("teams: thousands of targets and long errors stay under 28 KB, ending 'and N more'", () => {
  const targets: AlertTarget[] = Array.from({ length: 3000 }, (_, i) => ({
    address: `10.${i >> 8}.${i & 255}.1`,
    port: 9092,
    zone: `zone-${i % 3}`,
    hostname: `broker-${i}`,
    state: "down",
    error: `connect failed: ${"é".repeat(2000)} ${i}`,
  }));
  for (const shape of ["workflows", "card"] as const) {
    const text = teamsPayload(alert({ targets, unhealthy: 3000, total: 3001 }), { shape });
    assert.ok(new TextEncoder().encode(text).length <= MAX_TEAMS_BYTES, `${shape} too large`);
    const card = shape === "card" ? JSON.parse(text) : cardOf(JSON.parse(text));
    const facts = factsOf(card);
    assert.match(facts["…"] ?? "", /^and \d+ more$/);
    const listed = Object.keys(facts).filter((title) => title.startsWith("10.")).length;
    assert.equal(Number(facts["…"]!.match(/\d+/)![0]) + listed, 3000);
    assert.match(facts.Targets!, /and 2995 more$/);
  }
});

Deno.test("webhook: the documented JSON document, version 1", () => {
  const payload = webhookPayload(alert({
    targets: [
      ...alert().targets,
      {
        address: "10.188.2.5",
        port: 9092,
        hostname: "broker-5",
        state: "flapped",
        error: "reset",
        since: AT - 1800,
        downFor: 1234,
      },
    ],
  }));
  assert.deepEqual(JSON.parse(JSON.stringify(payload)), {
    version: 1,
    kind: "helaseid.alert",
    event: "targets-down",
    severity: "warning",
    status: "firing",
    title: "2 targets of datastream/brokers are down: 1 of 3 healthy",
    text: "2 targets of datastream/brokers are down: 1 of 3 healthy\n" +
      "• 10.188.2.3:9092 down: connection refused\n" +
      "• [2001:db8::4]:9092 down: timeout\n" +
      "• 10.188.2.5:9092 down for 1.2s, then recovered (reset)",
    cluster: "prod-eu",
    service: { namespace: "datastream", name: "brokers" },
    targets: [
      {
        address: "10.188.2.3",
        port: 9092,
        zone: "zone-a",
        state: "down",
        error: "connection refused",
        since: "2026-11-26T10:00:00.000Z",
      },
      {
        address: "2001:db8::4",
        port: 9092,
        state: "down",
        error: "timeout",
        since: "2026-11-26T10:00:00.500Z",
      },
      {
        address: "10.188.2.5",
        port: 9092,
        hostname: "broker-5",
        state: "flapped",
        error: "reset",
        since: "2026-11-26T10:00:00.200Z",
        downSeconds: 1.234,
      },
    ],
    targetsOmitted: 0,
    healthy: 1,
    unhealthy: 2,
    total: 3,
    panic: false,
    since: "2026-11-26T10:00:00.000Z",
    at: "2026-11-26T10:00:02.000Z",
  });
});

Deno.test("webhook: write alerts carry the error and how long writes failed", () => {
  const failing = webhookPayload(alert({
    event: "writes-failing",
    severity: "critical",
    targets: [],
    error: "apply EndpointSlice/brokers-helaseid-ipv4 (HTTP 403): forbidden",
  }));
  assert.equal(failing.status, "firing");
  assert.equal(failing.error, "apply EndpointSlice/brokers-helaseid-ipv4 (HTTP 403): forbidden");
  const recovered = webhookPayload(
    alert({ event: "writes-recovered", severity: "resolved", targets: [], lasted: 90_500 }),
  );
  assert.equal(recovered.status, "resolved");
  assert.equal(recovered.lastedSeconds, 90.5);
});

Deno.test("formatSpan() writes spans for people", () => {
  assert.deepEqual(
    [850, 4230, 10_000, 65_000, 3_600_000, 3_780_000, 90_061_000].map(formatSpan),
    ["850ms", "4.2s", "10s", "1m 5s", "1h", "1h 3m", "1d 1h"],
  );
});
