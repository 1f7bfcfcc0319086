/**
 * `fastInterval` and `downInterval` (issue 17): absent unless given in both formats, so the
 * seed's `validate` output is unchanged; checked against the interval and timeout they end up
 * with, with the field path of the value at fault.
 */

import assert from "node:assert/strict";
import { describeConfig } from "../../src/config/mod.ts";
import { defaultFastInterval } from "../../src/config/options.ts";
import { assertIssue, issuesOf, load, SEED_CONFIG_ENV } from "./_support.ts";

const SEED_ENV = {
  IPS: "192.0.2.1 192.0.2.2",
  PORT: "9092",
  INTERVAL: "1",
  NAMESPACE: "datastream",
  SERVICE_NAME: "brokers",
};

Deno.test("intervals: the seed format reads FAST_INTERVAL and DOWN_INTERVAL", async () => {
  const { config } = await load({}, {
    env: { ...SEED_ENV, FAST_INTERVAL: "0.1", DOWN_INTERVAL: "5s" },
  });
  const probe = config.services[0]!.probe;
  assert.equal(probe.fastInterval, 100);
  assert.equal(probe.downInterval, 5000);
  const shown = describeConfig(config) as { services: { probe: Record<string, unknown> }[] };
  assert.equal(shown.services[0]!.probe.fastInterval, "100ms");
  assert.equal(shown.services[0]!.probe.downInterval, "5s");
});

Deno.test("intervals: absent in the seed format unless set, and then the interval applies", async () => {
  const { config } = await load({ "/c.env": SEED_CONFIG_ENV }, { path: "/c.env" });
  const probe = config.services[0]!.probe;
  assert.equal("fastInterval" in probe, false);
  assert.equal("downInterval" in probe, false);
  assert.equal(defaultFastInterval(probe.interval, "env"), probe.interval);
  assert.equal(defaultFastInterval(2000, "structured"), 200);
  assert.equal(defaultFastInterval(100, "structured"), 100);
});

Deno.test("intervals: a fast interval longer than the interval is rejected with its path", async () => {
  assertIssue(
    await issuesOf(load({}, { env: { ...SEED_ENV, FAST_INTERVAL: "2" } })),
    "FAST_INTERVAL: '2s' is longer than the interval (1s): allowed at most the interval",
  );
  assertIssue(
    await issuesOf(load({}, { env: { ...SEED_ENV, FAST_INTERVAL: "0" } })),
    "FAST_INTERVAL: '0' must be a positive duration",
  );
  // The interval comes from defaults.probe, the fast interval from the service.
  const yaml = `defaults:
  probe: { interval: 500ms }
services:
  - name: a
    ports: [80]
    targets: [192.0.2.1]
    probe: { fastInterval: 1s }
`;
  assertIssue(
    await issuesOf(load({ "c.yaml": yaml }, { path: "c.yaml" })),
    "services[0].probe.fastInterval: '1s' is longer than the interval (500ms)",
  );
});

Deno.test("intervals: a down interval shorter than the timeout is rejected with its path", async () => {
  assertIssue(
    await issuesOf(load({}, { env: { ...SEED_ENV, TIMEOUT: "0.5", DOWN_INTERVAL: "200ms" } })),
    "DOWN_INTERVAL: '200ms' is shorter than the timeout (500ms): allowed at least the timeout",
  );
  const yaml = `services:
  - name: a
    ports: [80]
    targets: [192.0.2.1]
    probe: { interval: 1s, downInterval: 100ms }
`;
  assertIssue(
    await issuesOf(load({ "c.yaml": yaml }, { path: "c.yaml" })),
    "services[0].probe.downInterval: '100ms' is shorter than the timeout (1s)",
  );
  const ok = `services:
  - name: a
    ports: [80]
    targets: [192.0.2.1]
    probe: { interval: 1s, fastInterval: 100ms, downInterval: 10s }
`;
  const { config } = await load({ "c.yaml": ok }, { path: "c.yaml" });
  assert.equal(config.services[0]!.probe.fastInterval, 100);
  assert.equal(config.services[0]!.probe.downInterval, 10_000);
});
