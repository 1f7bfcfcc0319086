/**
 * Alerts of changing targets (issue 12) on a fake clock: target sources failing and held,
 * reloads rejected, and targets that leave without a "down" alert.
 */

import assert from "node:assert/strict";
import type { TargetsChange } from "../../src/agent.ts";
import { type AlertSettings, Secret } from "../../src/config/schema.ts";
import type { SourceStatus } from "../../src/discovery/mod.ts";
import { MAX_ALERT_ISSUES } from "../../src/notify/mod.ts";
import type { ReloadResult } from "../../src/reload.ts";
import { serviceConfig } from "../support/fakes.ts";
import {
  BED_HOOK_URL,
  BED_TEAMS_URL,
  factsOf,
  headerOf,
  HealthSim,
  notifierBed,
} from "./_support.ts";

const A = "192.0.2.1";
const B = "192.0.2.2";
const C = "192.0.2.3";
const TEAMS_URL = BED_TEAMS_URL;
const HOOK_URL = BED_HOOK_URL;
const PATH = "/etc/helaseid/config.yaml";

function setup(
  alerts: Partial<AlertSettings> = {},
  sources?: () => readonly SourceStatus[],
) {
  const service = serviceConfig([A, B, C]);
  const bed = notifierBed(service, {
    webhook: { url: new Secret(HOOK_URL) },
    writeFailureThreshold: 30_000,
    coalesce: 0,
    ...alerts,
  }, { configPath: PATH, ...(sources ? { sources } : {}) });
  const sim = new HealthSim(service, bed.clock);
  const apply = (...events: ReturnType<HealthSim["set"]>[]) => {
    for (const event of events) if (event) bed.notifier.transition(event);
  };
  return { ...bed, service, sim, apply };
}

function dns(overrides: Partial<SourceStatus> = {}): SourceStatus {
  return {
    service: "datastream/brokers",
    source: "dns kafka.test",
    type: "dns",
    answered: true,
    targets: 3,
    skipped: 0,
    ...overrides,
  };
}

Deno.test("alerts: a source failing past the threshold alerts once, and its recovery once", async () => {
  const { clock, notifier, json, close } = setup();
  const start = clock.now();
  notifier.sourceStatus(dns({ error: "SERVFAIL", failingSince: start }));
  await clock.advance(29_000);
  notifier.sourceStatus(dns({ error: "timeout", failingSince: start }));
  await clock.advance(999);
  assert.equal(json().length, 0, "not before the threshold");
  await clock.advance(1);
  assert.equal(json().length, 1);
  const failing = json()[0]!;
  assert.equal(failing.event, "source-failing");
  assert.equal(failing.severity, "warning");
  assert.equal(failing.status, "firing");
  assert.equal(
    failing.title,
    "Target source dns kafka.test of datastream/brokers has failed for 30s: " +
      "its last good set (3 targets) stays in force",
  );
  assert.deepEqual(failing.service, { namespace: "datastream", name: "brokers" });
  assert.equal(failing.error, "timeout", "the latest error");
  assert.deepEqual(failing.source, { name: "dns kafka.test", type: "dns", targets: 3 });
  assert.equal(failing.since, new Date(start).toISOString());

  await clock.advance(60_000);
  notifier.sourceStatus(dns({ error: "timeout", failingSince: start, targets: 3 }));
  await clock.advance(0);
  assert.equal(json().length, 1, "a repeated failure says nothing new");
  notifier.sourceStatus(dns({ targets: 4 }));
  await clock.advance(0);
  const back = json()[1]!;
  assert.equal(back.event, "source-recovered");
  assert.equal(back.status, "resolved");
  assert.equal(back.lastedSeconds, 90);
  assert.equal(
    back.title,
    "Target source dns kafka.test of datastream/brokers answers again after 1m 30s: 4 targets",
  );
  await close();
});

Deno.test("alerts: a source failing shorter than the threshold raises nothing", async () => {
  const { clock, notifier, json, close } = setup();
  notifier.sourceStatus(dns({ error: "SERVFAIL", failingSince: clock.now() }));
  await clock.advance(10_000);
  notifier.sourceStatus(dns());
  await clock.advance(60_000);
  assert.deepEqual(json(), []);
  await close();
});

Deno.test("alerts: a held shrink alerts at once; its end says applied or dropped", async () => {
  const { clock, notifier, json, close } = setup();
  const t0 = clock.now();
  const until = t0 + 60_000;
  notifier.sourceStatus(dns({ held: { since: t0, until, from: 3, to: 0 } }));
  await clock.advance(0);
  const held = json()[0]!;
  assert.equal(held.event, "source-held");
  assert.equal(held.severity, "warning");
  assert.equal(
    held.title,
    "Target source dns kafka.test of datastream/brokers shrank from 3 to 0 targets: " +
      `the change is held until ${new Date(until).toISOString()}`,
  );
  assert.deepEqual(held.source, {
    name: "dns kafka.test",
    type: "dns",
    targets: 3,
    held: { from: 3, to: 0, until: new Date(until).toISOString() },
  });
  // The source comes back within the hold: the shrink is dropped.
  await clock.advance(5000);
  notifier.sourceStatus(dns());
  await clock.advance(0);
  const dropped = json()[1]!;
  assert.equal(dropped.event, "source-hold-ended");
  assert.equal(dropped.status, "resolved");
  assert.equal(dropped.source?.holdEnded, "dropped");
  assert.equal(
    dropped.title,
    "Target source dns kafka.test of datastream/brokers recovered within its hold: " +
      "the shrink from 3 to 0 targets is dropped (3 targets)",
  );

  // A second shrink that lasts: applied when the hold ends.
  const t1 = clock.now();
  notifier.sourceStatus(dns({ held: { since: t1, until: t1 + 60_000, from: 3, to: 1 } }));
  await clock.advance(60_000);
  notifier.sourceStatus(dns({ targets: 1 }));
  await clock.advance(0);
  const applied = json().at(-1)!;
  assert.equal(json().length, 4);
  assert.equal(applied.source?.holdEnded, "applied");
  assert.equal(
    applied.title,
    "The held shrink of target source dns kafka.test of datastream/brokers is applied " +
      "after 1m: 1 target",
  );
  await close();
});

function reload(overrides: Partial<ReloadResult>): ReloadResult {
  return { ok: false, at: 0, trigger: "file", hash: "9f2c41d07a3b5e88", ...overrides };
}

Deno.test("alerts: a rejected reload alerts at once with its issues, cut; the next good one recovers", async () => {
  const { clock, notifier, json, close } = setup();
  notifier.reload(reload({ ok: true, at: clock.now(), changes: [] }));
  await clock.advance(0);
  assert.equal(json().length, 0, "a good reload after good ones is no news");

  const issues = Array.from({ length: 15 }, (_, i) => `services[${i}].probe.port: 0 is not a port`);
  issues[0] = `services[0].name: '${"x".repeat(500)}' is not a DNS label`;
  notifier.reload(reload({ at: clock.now(), issues }));
  await clock.advance(0);
  const failed = json()[0]!;
  assert.equal(failed.event, "config-reload-failed");
  assert.equal(failed.severity, "warning");
  assert.equal(
    failed.title,
    `Reloading the configuration ${PATH} (file change) failed with 15 issues: ` +
      "the previous configuration keeps running",
  );
  assert.deepEqual(failed.service, { namespace: "", name: PATH });
  assert.equal(failed.total, 0);
  assert.equal(failed.config?.path, PATH);
  assert.equal(failed.config?.trigger, "file");
  assert.equal(failed.config?.issues?.length, MAX_ALERT_ISSUES);
  assert.equal(failed.config?.issuesOmitted, 5);
  assert.equal(failed.config?.issues?.[0]?.length, 300);
  assert.equal(failed.config?.issues?.[1], "services[1].probe.port: 0 is not a port");
  assert.match(failed.text, /• and 5 more$/);

  await clock.advance(120_000);
  notifier.reload(reload({ ok: true, at: clock.now(), trigger: "signal", hash: "aa11" }));
  await clock.advance(0);
  const back = json()[1]!;
  assert.equal(back.event, "config-reload-recovered");
  assert.equal(back.status, "resolved");
  assert.equal(back.lastedSeconds, 120);
  assert.deepEqual(back.config, { path: PATH, hash: "aa11", trigger: "signal" });
  assert.equal(
    back.title,
    `The configuration ${PATH} reloads again (SIGHUP) after 2m of rejected reloads`,
  );
  await close();
});

Deno.test("alerts: the Teams card of a rejected reload names the file and lists the issues", async () => {
  const { clock, notifier, cards, close } = setup({
    teams: { url: new Secret(TEAMS_URL) },
    webhook: undefined,
  });
  notifier.reload(reload({ at: clock.now(), issues: ["a: bad", "b: worse"] }));
  await clock.advance(0);
  const card = cards()[0]!;
  assert.equal(headerOf(card).style, "warning");
  const facts = factsOf(card);
  assert.equal(facts["Configuration"], PATH);
  assert.equal(facts["Trigger"], "file change");
  assert.equal(facts["Hash in force"], "9f2c41d07a3b5e88");
  assert.equal(facts["Service"], undefined);
  const text = JSON.stringify(card);
  assert.ok(text.includes(JSON.stringify("- a: bad\r- b: worse")), text);
  await close();
});

Deno.test("alerts: the Teams card of a source names the source and the held shrink", async () => {
  const { clock, notifier, cards, close } = setup({
    teams: { url: new Secret(TEAMS_URL) },
    webhook: undefined,
  });
  const until = clock.now() + 60_000;
  notifier.sourceStatus(dns({ held: { since: clock.now(), until, from: 3, to: 0 } }));
  await clock.advance(0);
  const facts = factsOf(cards()[0]!);
  assert.equal(facts["Service"], "datastream/brokers");
  assert.equal(facts["Source"], "dns kafka.test (dns)");
  assert.equal(facts["Held shrink"], `3 → 0 targets, held until ${new Date(until).toISOString()}`);
  await close();
});

function change(
  service: ReturnType<typeof serviceConfig>,
  added: string[],
  removed: string[],
  gone = false,
): TargetsChange {
  return {
    service,
    added: added.map((address) => ({ address })),
    removed: removed.map((address) => ({ address })),
    ...(gone ? { gone } : {}),
  };
}

Deno.test("alerts: a removed target never alerts down, and the counts follow the new set", async () => {
  const { clock, notifier, sim, apply, json, close } = setup({ coalesce: 1000 });
  apply(...sim.allHealthy());
  await clock.advance(1000);
  assert.equal(json().length, 0);
  // A goes down, and a source removes it within the window: no alert about A at all.
  apply(sim.set(A, "unhealthy"));
  const D = "192.0.2.4";
  notifier.targetsChanged(change(serviceConfig([B, C, D]), [D], [A]));
  await clock.advance(1000);
  assert.deepEqual(json(), []);
  // B goes down: the alert counts B, C and the new (unknown) D; A is not there.
  apply(sim.set(B, "unhealthy"));
  await clock.advance(1000);
  const down = json()[0]!;
  assert.equal(down.event, "targets-down");
  assert.deepEqual(down.targets.map((t) => t.address), [B]);
  assert.deepEqual([down.healthy, down.unhealthy, down.total], [1, 1, 3]);
  assert.equal(down.title, "1 target of datastream/brokers is down: 1 of 3 healthy");
  // B, reported down, is removed: no recovery alert for it either.
  notifier.targetsChanged(change(serviceConfig([C, D]), [], [B]));
  apply(sim.set(C, "unhealthy"), sim.set(C, "healthy"));
  await clock.advance(1000);
  assert.deepEqual(json().slice(1).map((p) => p.targets.map((t) => t.address)), [[C]]);
  assert.equal(json()[1]!.targets[0]!.state, "flapped");
  await close();
});

Deno.test("alerts: a Service gone from the configuration is forgotten with its pending alerts", async () => {
  const { clock, notifier, service, sim, apply, json, close } = setup({ coalesce: 1000 });
  apply(...sim.allHealthy());
  await clock.advance(1000);
  apply(sim.set(A, "unhealthy"));
  notifier.sourceStatus(dns({ error: "SERVFAIL", failingSince: clock.now() }));
  notifier.targetsChanged(change(service, [], [A, B, C], true));
  await clock.advance(120_000);
  assert.deepEqual(json(), []);
  assert.equal(clock.pending, 0, "no window or source timer left");
  // Configured again later: a fresh tracker from its new targets.
  const again = serviceConfig([C]);
  notifier.targetsChanged(change(again, [C], []));
  notifier.transition({
    from: "unknown",
    to: "unhealthy",
    at: clock.now(),
    after: 0,
    error: "refused",
    service: again,
    target: { address: C },
    healthy: 0,
    unhealthy: 1,
    total: 1,
  });
  await clock.advance(1000);
  assert.equal(json()[0]!.event, "all-down");
  assert.equal(json()[0]!.total, 1);
  await close();
});

Deno.test("alerts: a failing source a reload removed before the threshold raises nothing", async () => {
  let running: SourceStatus[] = [];
  const { clock, notifier, json, close } = setup({}, () => running);
  const failing = dns({ error: "SERVFAIL", failingSince: clock.now() });
  running = [failing, dns({ source: "file /t.txt", type: "file" })];
  notifier.sourceStatus(failing);
  await clock.advance(10_000);
  running = running.slice(1); // The reload replaced the DNS source: it stopped, failing.
  await clock.advance(60_000);
  assert.deepEqual(json(), []);

  // A source still running and failing is alerted as before.
  const other = dns({ source: "file /t.txt", type: "file", error: "unreadable" });
  running = [{ ...other, failingSince: clock.now() }];
  notifier.sourceStatus(running[0]!);
  await clock.advance(30_000);
  assert.deepEqual(json().map((p) => [p.event, p.source?.name]), [[
    "source-failing",
    "file /t.txt",
  ]]);
  await close();
});
