import assert from "node:assert/strict";
import type { ServiceStatus } from "../../src/agent.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { observeHandler, statusDocument } from "../../src/observe/server.ts";
import { statusPage } from "../../src/observe/status_page.ts";

const T0 = Date.UTC(2026, 11, 3, 8, 0);

const SERVICE: ServiceStatus = {
  namespace: "shop",
  name: "brokers",
  targets: [
    {
      address: "192.0.2.1",
      port: 9092,
      zone: "eu-west-1a",
      status: "healthy",
      since: T0 - 60_000,
      checks: 12,
      lastResult: { ok: true, latency: 1.24, at: T0 - 1000 },
      schedule: "normal",
      interval: 1000,
    },
    {
      address: "2001:db8::2",
      port: 9092,
      hostname: "<b>broker-2</b>",
      status: "unhealthy",
      since: T0 - 5000,
      checks: 9,
      lastResult: { ok: false, latency: 500, error: "timeout", at: T0 - 500 },
      error: `connect to https://user:hunter2@192.0.2.9/x failed: <script>alert("x")</script>`,
      schedule: "down",
      interval: 5000,
    },
  ],
  publish: {
    service: { namespace: "shop", name: "brokers" },
    writes: new Map(),
    failures: 0,
    view: {
      panic: false,
      endpoints: [
        { address: "192.0.2.1", ready: true },
        { address: "2001:db8::2", ready: false },
      ],
    },
  } as unknown as ServiceStatus["publish"],
};

Deno.test("status page: one row per target with its state, since, latency, error and zone", () => {
  const html = statusPage(statusDocument([SERVICE], { now: T0, version: "0.1.0" }));
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<h2>shop\/brokers<\/h2>/);
  assert.match(html, /1 of 2 targets up/);
  assert.match(html, /published 1 ready, 1 not/);
  const rows = [...html.matchAll(/<tr data-target="([^"]+)" data-state="([^"]+)">(.*?)<\/tr>/g)];
  assert.deepEqual(rows.map((r) => [r[1], r[2]]), [
    ["192.0.2.1:9092", "up"],
    ["[2001:db8::2]:9092", "down"],
  ]);
  const first = rows[0]![3]!;
  assert.match(first, /<td class="up">up<\/td>/);
  assert.match(first, /2026-12-03T07:59:00\.000Z<\/time> <span class="meta">\(1m ago\)<\/span>/);
  assert.match(rows[1]![3]!, /\(5s ago\)/);
  assert.match(first, /1\.2 ms ok/);
  assert.match(first, /<td>eu-west-1a<\/td>/);
  assert.match(rows[1]![3]!, /500 ms failed/);
  assert.match(html, /<meta http-equiv="refresh" content="5">/);
});

Deno.test("status page: every value is escaped and URL credentials never shown", () => {
  const html = statusPage(statusDocument([SERVICE], { now: T0 }));
  assert.doesNotMatch(html, /<script|<b>broker/);
  assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.match(html, /&lt;b&gt;broker-2&lt;\/b&gt;/);
  assert.doesNotMatch(html, /hunter2/);
  // No asset from anywhere: no script, stylesheet link, image or URL in the style.
  assert.doesNotMatch(html, /<script|<link|<img|src=|url\(/i);
});

Deno.test("status page: a blocked Service and the publisher are named", () => {
  const blocked: ServiceStatus = {
    ...SERVICE,
    publish: {
      ...SERVICE.publish!,
      blocked: "access-denied",
      detail: "watch endpointslices in namespace 'shop': 403 Forbidden",
      blockedSince: T0 - 1000,
    },
  };
  const html = statusPage(statusDocument([blocked], { now: T0 }));
  assert.match(
    html,
    /blocked: access-denied \(watch endpointslices in namespace &#39;shop&#39;: 403 Forbidden\)/,
  );
  assert.match(html, /publisher: this agent/);
});

Deno.test("status page: with Leases, the replica that publishes each Service", () => {
  const page = (lease: ServiceStatus["lease"]) =>
    statusPage(statusDocument([{ ...SERVICE, lease }], { now: T0 }));
  assert.match(
    page({ held: true, holder: "pod-a" }),
    /publisher: this replica \(holds the Lease\)/,
  );
  assert.match(page({ held: false, holder: "pod-<b>" }), /publisher: replica pod-&lt;b&gt;/);
  assert.match(page({ held: false }), /publisher: <span class="down">none: no replica holds/);
});

Deno.test("status page: served at / as HTML, /status stays JSON", async () => {
  const handler = observeHandler({
    metrics: { render: () => "" },
    status: () => statusDocument([SERVICE], { now: T0 }),
    ready: () => ({ ready: true, reasons: [] }),
    log: silentLogger(),
  });
  const page = handler(new Request("http://localhost/"));
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(await page.text(), /<tr data-target="192\.0\.2\.1:9092" data-state="up">/);
  const json = handler(new Request("http://localhost/status"));
  assert.match(json.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal((await json.json()).services[0].name, "brokers");
});

Deno.test("status page: each Service's sources with their state, and each target's source", () => {
  const sourced: ServiceStatus = {
    ...SERVICE,
    targets: [{ ...SERVICE.targets[0]!, source: "dns kafka.test", region: "eu-west-1" }],
  };
  const html = statusPage(statusDocument([sourced], {
    now: T0,
    sources: [
      {
        service: "shop/brokers",
        source: "dns kafka.test",
        type: "dns",
        answered: true,
        targets: 1,
        skipped: 2,
      },
      {
        service: "shop/brokers",
        source: "nodes role=<kafka>",
        type: "nodes",
        answered: true,
        targets: 3,
        skipped: 0,
        error: "watch nodes: 403 Forbidden",
        failingSince: T0 - 1000,
        held: { since: T0 - 1000, until: T0 + 59_000, from: 3, to: 0 },
      },
      {
        service: "shop/brokers",
        source: "file /etc/t.txt",
        type: "file",
        answered: false,
        targets: 0,
        skipped: 0,
      },
    ],
  }));
  const rows = [...html.matchAll(/<tr data-source="([^"]+)" data-state="([^"]+)">(.*?)<\/tr>/g)];
  assert.deepEqual(rows.map((r) => [r[1], r[2]]), [
    ["dns kafka.test", "ok"],
    ["nodes role=&lt;kafka&gt;", "failing"],
    ["file /etc/t.txt", "waiting"],
  ]);
  const cells = (row: RegExpMatchArray) =>
    [...row[3]!.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1]);
  assert.deepEqual(cells(rows[0]!), ["dns kafka.test", "ok", "1", "2", ""]);
  assert.deepEqual(cells(rows[1]!).slice(2), [
    "3",
    "0",
    "watch nodes: 403 Forbidden (since 2026-12-03T07:59:59.000Z): last good set kept; " +
    "shrink from 3 to 0 targets held until 2026-12-03T08:00:59.000Z",
  ]);
  const target = html.match(/<tr data-target="192.0.2.1:9092"[^>]*>(.*?)<\/tr>/)!;
  assert.match(target[1]!, /<td>eu-west-1a, eu-west-1<\/td><td>dns kafka.test<\/td>/);
});

Deno.test("status page: the configuration's hash and load time, and a rejected reload", () => {
  const html = statusPage(statusDocument([SERVICE], {
    now: T0,
    config: {
      path: "/etc/helaseid/config.yaml",
      hash: "9f2c41d07a3b5e88",
      loadedAt: T0 - 65_000,
      lastReload: {
        ok: false,
        at: T0 - 5000,
        trigger: "file",
        hash: "9f2c41d07a3b5e88",
        issues: ["services[0].probe.port: '<0>' is not a port"],
      },
    },
  }));
  assert.match(html, /<code id="config-hash">9f2c41d07a3b5e88<\/code>/);
  assert.match(html, /from \/etc\/helaseid\/config.yaml/);
  assert.match(
    html,
    /datetime="2026-12-03T07:58:55.000Z">2026-12-03T07:58:55.000Z<\/time> <span class="meta">\(1m 5s ago\)/,
  );
  assert.match(
    html,
    /id="config-reload-failed">last reload at 2026-12-03T07:59:55.000Z rejected \(the configuration above still runs\): services\[0\].probe.port: &#39;&lt;0&gt;&#39; is not a port</,
  );
  // Without a configuration status (tests, old callers) the line is simply absent.
  assert.doesNotMatch(statusPage(statusDocument([SERVICE], { now: T0 })), /id="config"/);
});
