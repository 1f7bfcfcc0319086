/** `/status` and `/readyz` with target sources and configuration reloads (issue 12). */

import assert from "node:assert/strict";
import type { ServiceStatus } from "../../src/agent.ts";
import type { SourceStatus } from "../../src/discovery/mod.ts";
import { silentLogger } from "../../src/observe/log.ts";
import {
  agentReadiness,
  observeHandler,
  SOURCE_FIRST_ANSWER_GRACE,
  statusDocument,
} from "../../src/observe/server.ts";
import type { ConfigStatus } from "../../src/reload.ts";

const T0 = Date.UTC(2026, 11, 3, 10, 0, 0);

const SERVICE: ServiceStatus = {
  namespace: "datastream",
  name: "brokers",
  targets: [
    {
      address: "192.0.2.4",
      port: 9092,
      status: "healthy",
      since: T0,
      checks: 4,
      schedule: "normal",
      interval: 2000,
    },
    {
      address: "192.0.2.5",
      port: 9092,
      zone: "zone-a",
      region: "eu-west",
      source: "dns kafka.test",
      status: "unknown",
      since: T0,
      checks: 0,
      schedule: "normal",
      interval: 2000,
    },
  ],
  publish: undefined,
};

const DNS: SourceStatus = {
  service: "datastream/brokers",
  source: "dns kafka.test",
  type: "dns",
  answered: true,
  targets: 1,
  skipped: 0,
  updatedAt: T0 + 1000,
};

const CONFIG: ConfigStatus = { path: "/etc/helaseid/config.yaml", hash: "9f2c", loadedAt: T0 };

Deno.test("status: each Service lists its sources, each target its source and region", () => {
  const other: SourceStatus = { ...DNS, service: "shop/cache", source: "file /t.txt" };
  const held: SourceStatus = {
    ...DNS,
    source: "nodes role=kafka",
    type: "nodes",
    targets: 3,
    skipped: 1,
    error: "watch nodes: 403 Forbidden",
    failingSince: T0 + 2000,
    held: { since: T0 + 2000, until: T0 + 62_000, from: 3, to: 0 },
  };
  const document = statusDocument([SERVICE], { now: T0 + 5000, sources: [DNS, held, other] });
  const service = document.services[0]!;
  assert.deepEqual(service.sources, [
    {
      name: "dns kafka.test",
      type: "dns",
      answered: true,
      targets: 1,
      skipped: 0,
      updatedAt: "2026-12-03T10:00:01.000Z",
    },
    {
      name: "nodes role=kafka",
      type: "nodes",
      answered: true,
      targets: 3,
      skipped: 1,
      error: "watch nodes: 403 Forbidden",
      failingSince: "2026-12-03T10:00:02.000Z",
      held: {
        from: 3,
        to: 0,
        since: "2026-12-03T10:00:02.000Z",
        until: "2026-12-03T10:01:02.000Z",
      },
      updatedAt: "2026-12-03T10:00:01.000Z",
    },
  ]);
  assert.equal(service.targets[0]!.source, undefined);
  assert.equal(service.targets[1]!.source, "dns kafka.test");
  assert.equal(service.targets[1]!.region, "eu-west");
  // A Service without sources has no `sources` key at all.
  const plain = statusDocument([SERVICE], { sources: [other] });
  assert.equal("sources" in plain.services[0]!, false);
});

Deno.test("status: the configuration's hash, load time and last reload", () => {
  const failed: ConfigStatus = {
    ...CONFIG,
    lastReload: {
      ok: false,
      at: T0 + 60_000,
      trigger: "file",
      hash: "9f2c",
      issues: ["services[0].probe.port: 70000 is not a port", "see https://user:pw@x.test/a"],
    },
  };
  const document = statusDocument([], { now: T0, config: failed });
  assert.deepEqual(document.config, {
    path: "/etc/helaseid/config.yaml",
    hash: "9f2c",
    loadedAt: "2026-12-03T10:00:00.000Z",
    lastReload: {
      ok: false,
      at: "2026-12-03T10:01:00.000Z",
      trigger: "file",
      issues: ["services[0].probe.port: 70000 is not a port", "see https://<redacted>@x.test/a"],
    },
  });
  const good = statusDocument([], {
    config: {
      ...CONFIG,
      lastReload: {
        ok: true,
        at: T0 + 1,
        trigger: "signal",
        hash: "9f2c",
        changes: ["changed datastream/brokers"],
      },
    },
  });
  assert.deepEqual(good.config?.lastReload, {
    ok: true,
    at: "2026-12-03T10:00:00.001Z",
    trigger: "signal",
    changes: ["changed datastream/brokers"],
  });
});

const READY_AGENT = { checked: true, connected: true };

Deno.test("readyz: a failing source fails readiness, naming the Service, the source and its error", () => {
  const failing = { ...DNS, error: "SERVFAIL from 192.0.2.53", failingSince: T0 + 3000 };
  const readiness = agentReadiness(READY_AGENT, {
    dryRun: false,
    sources: () => [failing],
    config: () => CONFIG,
    now: T0 + 4000,
  });
  assert.deepEqual(readiness, {
    ready: false,
    reasons: [
      "datastream/brokers: source dns kafka.test failing since 2026-12-03T10:00:03.000Z: " +
      "SERVFAIL from 192.0.2.53 (its last good set stays in force)",
    ],
  });
  // And it recovers with the source.
  assert.deepEqual(
    agentReadiness(READY_AGENT, { dryRun: false, sources: () => [DNS], config: () => CONFIG }),
    { ready: true, reasons: [] },
  );
});

Deno.test("readyz: a silent source is given its grace after the configuration loaded, then fails", () => {
  const silent = { ...DNS, answered: false, targets: 0 };
  delete (silent as { updatedAt?: number }).updatedAt;
  const at = (now: number) =>
    agentReadiness(READY_AGENT, {
      dryRun: true,
      sources: () => [silent],
      config: () => CONFIG,
      now,
    });
  assert.equal(at(T0 + SOURCE_FIRST_ANSWER_GRACE - 1).ready, true);
  assert.deepEqual(at(T0 + SOURCE_FIRST_ANSWER_GRACE).reasons, [
    "datastream/brokers: waiting for the first answer of source dns kafka.test since " +
    "2026-12-03T10:00:00.000Z: nothing is published for the Service until it answers",
  ]);
  // The grace counts from the source's start when it is known: a reload that changed something
  // else (a later loadedAt) gives a source silent since before it no new grace...
  const since = (startedAt: number, loadedAt: number, now: number) =>
    agentReadiness(READY_AGENT, {
      dryRun: true,
      sources: () => [{ ...silent, startedAt }],
      config: () => ({ ...CONFIG, loadedAt }),
      now,
    });
  const reloaded = since(T0, T0 + SOURCE_FIRST_ANSWER_GRACE, T0 + SOURCE_FIRST_ANSWER_GRACE + 1);
  assert.match(reloaded.reasons[0] ?? "", /since 2026-12-03T10:00:00\.000Z/);
  // ...and a source a reload added gets its whole grace from when it started.
  assert.equal(since(T0 + 60_000, T0, T0 + 60_000 + SOURCE_FIRST_ANSWER_GRACE - 1).ready, true);
  assert.equal(since(T0 + 60_000, T0, T0 + 60_000 + SOURCE_FIRST_ANSWER_GRACE).ready, false);
  // The grace is configurable.
  assert.equal(
    agentReadiness(READY_AGENT, {
      dryRun: true,
      sources: () => [silent],
      config: () => CONFIG,
      now: T0 + 10,
      sourceGrace: 5,
    }).ready,
    false,
  );
});

Deno.test("readyz: a failed reload does not fail readiness (the running configuration stays)", () => {
  const failed: ConfigStatus = {
    ...CONFIG,
    lastReload: { ok: false, at: T0 + 1, trigger: "signal", hash: "9f2c", issues: ["x: bad"] },
  };
  const readiness = agentReadiness(READY_AGENT, {
    dryRun: false,
    sources: () => [DNS],
    config: () => failed,
    now: T0 + 100_000,
  });
  assert.deepEqual(readiness, { ready: true, reasons: [] });
});

Deno.test("readyz: the handler answers 503 with the source's reason", async () => {
  const handler = observeHandler({
    metrics: { render: () => "" },
    status: () => ({}),
    ready: () =>
      agentReadiness(READY_AGENT, {
        dryRun: true,
        sources: () => [{ ...DNS, error: "NXDOMAIN? no: timeout" }],
      }),
    log: silentLogger(),
  });
  const response = handler(new Request("http://x/readyz"));
  assert.equal(response.status, 503);
  assert.match(await response.text(), /- datastream\/brokers: source dns kafka.test failing: /);
});
