/**
 * The dropped-alert series exist at zero from the start, for every configured channel and drop
 * reason: Prometheus' increase() only sees a counter's first increment when the series was
 * scraped before it, so a first drop from a series that appears at 1 would go unnoticed.
 */

import assert from "node:assert/strict";
import { Secret } from "../../src/config/schema.ts";
import { configuredChannels, DROP_REASONS } from "../../src/notify/mod.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { findAll, parsePrometheus, valueOf } from "../observe/_prometheus.ts";

const PROCESS = {
  rss: () => 42_000_000,
  heap: () => ({ used: 20_000_000, total: 30_000_000, external: 1_000_000 }),
  cpuSeconds: () => 1.5,
  startTime: 1_795_000_000.25,
};
const HOOK = new Secret("https://example.invalid/hook");
const DROPPED = "helaseid_notifications_dropped_total";

Deno.test("configuredChannels: the channels with a URL, in a fixed order", () => {
  assert.deepEqual(configuredChannels({ alerts: {} }), []);
  assert.deepEqual(configuredChannels({ alerts: { coalesce: 0 } }), []);
  assert.deepEqual(configuredChannels({ alerts: { teams: { url: HOOK } } }), ["teams"]);
  assert.deepEqual(configuredChannels({ alerts: { webhook: { url: HOOK } } }), ["webhook"]);
  assert.deepEqual(
    configuredChannels({ alerts: { webhook: { url: HOOK }, teams: { url: HOOK } } }),
    ["teams", "webhook"],
  );
});

Deno.test("metrics: every channel × drop reason is exposed at 0 before any drop", () => {
  const metrics = new Metrics({ version: "x", services: [], process: PROCESS });
  metrics.notificationChannels(["teams", "webhook"], DROP_REASONS);
  const exposition = parsePrometheus(metrics.render());
  const samples = findAll(exposition, DROPPED);
  assert.equal(samples.length, 2 * DROP_REASONS.length);
  assert.equal(DROP_REASONS.length, 4);
  for (const channel of ["teams", "webhook"]) {
    for (const reason of ["superseded", "expired", "queue-full", "shutdown"]) {
      assert.equal(valueOf(exposition, DROPPED, { channel, reason }), 0, `${channel} ${reason}`);
    }
  }
  assert.equal(exposition.types.get(DROPPED), "counter");
});

Deno.test("metrics: a drop counts on its zero series; declaring again resets nothing", () => {
  const metrics = new Metrics({ version: "x", services: [], process: PROCESS });
  metrics.notificationChannels(["webhook"], DROP_REASONS);
  metrics.notification("webhook", "dropped", "expired");
  metrics.notification("webhook", "dropped", "expired");
  metrics.notificationChannels(["webhook"], DROP_REASONS);
  const exposition = parsePrometheus(metrics.render());
  assert.equal(valueOf(exposition, DROPPED, { channel: "webhook", reason: "expired" }), 2);
  assert.equal(valueOf(exposition, DROPPED, { channel: "webhook", reason: "superseded" }), 0);
  assert.equal(findAll(exposition, DROPPED).length, DROP_REASONS.length, "no duplicate series");
  assert.equal(findAll(exposition, DROPPED, { channel: "teams" }).length, 0, "teams unconfigured");
});

Deno.test("metrics: without alert channels there is no dropped series", () => {
  const metrics = new Metrics({ version: "x", services: [], process: PROCESS });
  metrics.notificationChannels([], DROP_REASONS);
  assert.equal(findAll(parsePrometheus(metrics.render()), DROPPED).length, 0);
});
