import assert from "node:assert/strict";
import { resolveAlertSettings } from "../../src/config/schema.ts";
import { load, SEED_CONFIG_ENV } from "./_support.ts";

Deno.test("resolveAlertSettings() fills in the table's defaults and keeps what was given, 0 included", () => {
  assert.deepEqual(resolveAlertSettings({}), {
    coalesce: 2000,
    writeFailureThreshold: 60_000,
    degraded: true,
  });
  assert.deepEqual(resolveAlertSettings({ coalesce: 0, degraded: false }), {
    coalesce: 0,
    writeFailureThreshold: 60_000,
    degraded: false,
  });
});

Deno.test("a seed variable and its structured key give the same Service", async () => {
  // Each row sets one table option both ways; the two loads must agree on the whole Service.
  const rows: [string, "probe" | "publish", Record<string, unknown>][] = [
    ["TIMEOUT=5ms", "probe", { timeout: "5ms" }],
    ["RISE=4", "probe", { rise: 4 }],
    ["MAX_RETRY=7", "probe", { fall: 7 }],
    ["JITTER=0.3", "probe", { jitter: 0.3 }],
    ["PUBLISH_ENDPOINTS=false", "publish", { endpoints: false }],
    ["UNHEALTHY=remove", "publish", { unhealthy: "remove" }],
    ["ALL_DOWN=empty", "publish", { allDown: "empty" }],
    ["CREATE_SERVICE=true", "publish", { createService: true }],
  ];
  for (const [variable, block, setting] of rows) {
    const seed = await load({ "c.env": `${SEED_CONFIG_ENV}${variable}\n` }, { path: "c.env" });
    // The seed's own numbers (INTERVAL=0.01, MAX_RETRY=10, RISE 1) said in the structured file.
    const service = {
      name: "datastream-redpanda-api-dev",
      namespace: "datastream",
      ports: [9092],
      targets: ["10.188.2.3", "10.188.2.4", "10.188.2.5"],
      probe: { interval: "10ms", fall: 10, rise: 1, ...(block === "probe" ? setting : {}) },
      publish: block === "publish" ? setting : {},
    };
    const structured = await load({ "c.json": JSON.stringify({ services: [service] }) }, {
      path: "c.json",
    });
    assert.deepEqual(seed.config.services, structured.config.services, variable);
  }
});
