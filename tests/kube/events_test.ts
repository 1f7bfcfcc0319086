/**
 * The EventRecorder (src/kube/events.ts) on a fake clock against the in-memory API. It lives
 * here rather than in tests/kube/, which deno.json excludes (it holds the test bed's Go module).
 * That the real API server accepts these Events and their series updates is proven in
 * tests/integration/observe_test.ts.
 */

import assert from "node:assert/strict";
import type { TargetTransition } from "../../src/agent.ts";
import type { ServiceConfig } from "../../src/config/schema.ts";
import { KubeError } from "../../src/kube/client.ts";
import {
  eventName,
  EventRecorder,
  type EventRecorderOptions,
  MAX_LISTED_TARGETS,
  microTime,
  reportingInstance,
  targetsChangedNote,
  truncateBytes,
} from "../../src/kube/events.ts";
import { MemoryKube, type MemoryWrite } from "../../src/kube/memory.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import type { PublishState } from "../../src/publish/reconciler.ts";
import type { SourceStatus } from "../../src/discovery/mod.ts";
import { FakeClock, serviceConfig } from "../support/fakes.ts";

const SERVICE = serviceConfig(["192.0.2.1", "192.0.2.2", "192.0.2.3"]);

// deno-lint-ignore no-explicit-any
type EventObject = KubeObject & Record<string, any>;

function setup(options: Partial<EventRecorderOptions> = {}) {
  const clock = new FakeClock();
  const kube = new MemoryKube();
  const outcomes: boolean[] = [];
  const recorder = new EventRecorder({
    client: kube,
    log: silentLogger(),
    clock,
    instance: "helaseid-7d9f-abc",
    uid: (namespace, name) => `uid-${namespace}-${name}`,
    onWrite: (outcome) => outcomes.push(outcome.ok),
    ...options,
  });
  const events = () => kube.writes.filter((w) => w.resource === "events");
  const stored = (write: MemoryWrite) =>
    kube.get({ resource: "events", namespace: write.namespace, name: write.name }) as EventObject;
  return { clock, kube, recorder, events, stored, outcomes };
}

function transition(
  clock: FakeClock,
  address: string,
  to: "healthy" | "unhealthy",
  counts: { healthy: number; unhealthy: number } = { healthy: 2, unhealthy: 1 },
  overrides: Partial<TargetTransition> = {},
): TargetTransition {
  return {
    from: to === "healthy" ? "unhealthy" : "healthy",
    to,
    at: clock.now(),
    after: 1500,
    ...(to === "unhealthy" ? { error: "refused" } : {}),
    service: SERVICE,
    target: { address },
    ...counts,
    total: 3,
    ...overrides,
  };
}

function published(failures: number, overrides: Partial<PublishState> = {}): PublishState {
  return {
    service: "datastream/brokers",
    writes: new Map([[
      "EndpointSlice/brokers-helaseid-ipv4",
      {
        service: "datastream/brokers",
        verb: "apply",
        reason: "changed",
        resource: "endpointslices",
        kind: "EndpointSlice",
        name: "brokers-helaseid-ipv4",
        ok: failures === 0,
        ...(failures > 0 ? { error: "Cannot apply: connection refused", status: 0 } : {}),
        at: 0,
        duration: 1,
      },
    ]]),
    failures,
    ...overrides,
  };
}

Deno.test("events: a target going down writes one Warning Event on the Service", async () => {
  const { clock, recorder, events, stored } = setup();
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  await clock.advance(0);
  const [write] = events();
  assert.equal(events().length, 1);
  assert.ok(write);
  const event = stored(write);
  assert.equal(event.apiVersion, "events.k8s.io/v1");
  assert.equal(event.metadata.namespace, "datastream");
  assert.equal(event.reason, "TargetUnhealthy");
  assert.equal(event.type, "Warning");
  assert.equal(event.action, "HealthCheck");
  assert.equal(event.reportingController, "helaseid");
  assert.equal(event.reportingInstance, "helaseid-7d9f-abc");
  assert.deepEqual(event.regarding, {
    apiVersion: "v1",
    kind: "Service",
    namespace: "datastream",
    name: "brokers",
    uid: "uid-datastream-brokers",
  });
  assert.equal(event.note, "Target 192.0.2.1:9092 failed 3 consecutive checks: refused");
  assert.equal(event.eventTime, "2026-11-26T00:00:00.000000Z");
  assert.equal(event.series, undefined, "a first occurrence has no series");
  assert.match(event.metadata.name, /^brokers\.[0-9a-f]{8}\.[0-9a-f]+$/);
  await recorder.stop();
});

Deno.test("events: a flapping target updates one Event's series instead of creating Events", async () => {
  const { clock, recorder, events, stored } = setup();
  for (let flap = 0; flap < 20; flap++) {
    recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
    await clock.advance(250);
    recorder.transition(transition(clock, "192.0.2.1", "healthy"));
    await clock.advance(250);
  }
  await clock.advance(10_000); // Let the last rate-limited updates out.
  const names = new Set(events().map((write) => write.name));
  assert.equal(names.size, 2, "one TargetUnhealthy and one TargetHealthy Event");
  const byReason = Object.fromEntries(
    [...names].map((name) => {
      const event = stored(events().find((w) => w.name === name)!);
      return [event.reason, event];
    }),
  );
  assert.equal(byReason.TargetUnhealthy.series.count, 20);
  assert.equal(byReason.TargetHealthy.series.count, 20);
  assert.equal(byReason.TargetUnhealthy.eventTime, "2026-11-26T00:00:00.000000Z");
  assert.equal(
    byReason.TargetUnhealthy.series.lastObservedTime,
    microTime(Date.UTC(2026, 10, 26) + 19 * 500),
  );
  // 10 s of flapping, one write per Event per 2 s at most (plus the first).
  assert.ok(events().length <= 2 * (10 / 2 + 2), `${events().length} writes`);
  await recorder.stop();
});

Deno.test("events: names are deterministic per Service, target, reason and window", async () => {
  const first = setup();
  const second = setup();
  for (const { clock, recorder } of [first, second]) {
    recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
    recorder.transition(transition(clock, "192.0.2.2", "unhealthy"));
    await clock.advance(0);
  }
  const names = (bed: typeof first) => bed.events().map((w) => w.name);
  assert.deepEqual(names(first), names(second));
  assert.notEqual(names(first)[0], names(first)[1], "another target, another Event");
  const identity = {
    namespace: "datastream",
    service: "brokers",
    target: "192.0.2.1:9092",
    reason: "TargetUnhealthy",
  } as const;
  assert.equal(eventName(identity, 1000), eventName({ ...identity }, 1000));
  assert.notEqual(eventName(identity, 1000), eventName({ ...identity, target: undefined }, 1000));
  assert.notEqual(eventName(identity, 1000), eventName(identity, 2000), "a later window");
  assert.match(eventName(identity, 1000), /^brokers\.[0-9a-f]{8}\.3e8$/);
  await first.recorder.stop();
  await second.recorder.stop();
});

Deno.test("events: after the window a repeat starts a new Event", async () => {
  const { clock, recorder, events } = setup({ window: 60_000 });
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  await clock.advance(30_000);
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  await clock.advance(31_000);
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  await clock.advance(5_000);
  const names = [...new Set(events().map((write) => write.name))];
  assert.equal(names.length, 2);
  await recorder.stop();
});

Deno.test("events: the last healthy target going down also raises AllTargetsDown", async () => {
  const { clock, recorder, events, stored } = setup();
  recorder.transition(
    transition(clock, "192.0.2.1", "unhealthy", { healthy: 1, unhealthy: 2 }),
  );
  recorder.transition(
    transition(clock, "192.0.2.2", "unhealthy", { healthy: 0, unhealthy: 3 }),
  );
  await clock.advance(0);
  const reasons = events().map((write) => stored(write).reason);
  assert.deepEqual(reasons, ["TargetUnhealthy", "TargetUnhealthy", "AllTargetsDown"]);
  const down = stored(events()[2]!);
  assert.equal(down.type, "Warning");
  assert.match(down.note, /panic guard/);
  await recorder.stop();
});

Deno.test("events: a first healthy verdict at startup is not an Event, a recovery is", async () => {
  const { clock, recorder, events, stored } = setup();
  recorder.transition(transition(clock, "192.0.2.1", "healthy", undefined, { from: "unknown" }));
  await clock.advance(0);
  assert.equal(events().length, 0);
  recorder.transition(transition(clock, "192.0.2.1", "healthy", undefined, { after: 90_000 }));
  await clock.advance(0);
  const event = stored(events()[0]!);
  assert.equal(event.reason, "TargetHealthy");
  assert.equal(event.type, "Normal");
  assert.equal(event.note, "Target 192.0.2.1:9092 is healthy again after 90s down");
  await recorder.stop();
});

Deno.test("events: publishing failures raise PublishFailed once per failing streak", async () => {
  const { clock, recorder, events, stored } = setup();
  recorder.publishState(published(1));
  recorder.publishState(published(2));
  recorder.publishState(published(3));
  await clock.advance(0);
  assert.equal(events().length, 1);
  const event = stored(events()[0]!);
  assert.equal(event.reason, "PublishFailed");
  assert.equal(event.action, "Publish");
  assert.match(event.note, /EndpointSlice\/brokers-helaseid-ipv4: Cannot apply/);
  recorder.publishState(published(0));
  await clock.advance(5000);
  recorder.publishState(published(1));
  await clock.advance(5000);
  assert.equal(stored(events().at(-1)!).series.count, 2, "a second streak, same Event");
  recorder.publishState(published(0, { blocked: "service-has-selector" }));
  await clock.advance(0);
  assert.equal(stored(events().at(-1)!).reason, "PublishBlocked");
  await recorder.stop();
});

Deno.test("events: failed writes never throw, are retried, and recover", async () => {
  const { clock, kube, recorder, events, outcomes } = setup();
  kube.failure = new KubeError("Cannot apply: connection refused", { status: 0 });
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  await clock.advance(0);
  assert.deepEqual(outcomes, [false]);
  await clock.advance(60_000);
  assert.deepEqual(outcomes, [false, false, false, false], "four attempts, then given up");
  kube.failure = undefined;
  recorder.transition(transition(clock, "192.0.2.2", "unhealthy"));
  await clock.advance(0);
  assert.equal(outcomes.at(-1), true);
  assert.equal(events().length, 1);
  await recorder.stop();
});

Deno.test("events: a refused write is not retried", async () => {
  const { clock, kube, recorder, outcomes } = setup();
  kube.failure = new KubeError("forbidden", { status: 403, reason: "Forbidden" });
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  await clock.advance(60_000);
  assert.deepEqual(outcomes, [false]);
  await recorder.stop();
});

Deno.test("events: the caller never waits for a write", async () => {
  const clock = new FakeClock();
  const pending: (() => void)[] = [];
  let applied = 0;
  const client = new MemoryKube();
  const slow = Object.assign(Object.create(client), {
    apply: (object: KubeObject) =>
      new Promise<KubeObject>((resolve) => {
        applied++;
        pending.push(() => resolve(object));
      }),
  });
  const recorder = new EventRecorder({
    client: slow,
    log: silentLogger(),
    clock,
    instance: "x",
    uid: () => "u",
  });
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  recorder.transition(transition(clock, "192.0.2.2", "unhealthy"));
  await clock.advance(0);
  assert.equal(applied, 2, "both writes started while none finished");
  const stopped = recorder.stop();
  for (const resolve of pending) resolve();
  await stopped;
});

Deno.test("events: an outage of many targets is written at a bounded rate", async () => {
  const { clock, recorder, events } = setup({ rate: { perSecond: 5, burst: 10 } });
  for (let i = 1; i <= 100; i++) {
    recorder.transition(transition(clock, `192.0.2.${i}`, "unhealthy"));
  }
  await clock.advance(0);
  assert.ok(events().length <= 10, `${events().length} writes at once`);
  await clock.advance(2000);
  assert.ok(events().length <= 10 + 2 * 5 + 1, `${events().length} writes after 2 s`);
  await clock.advance(30_000);
  assert.equal(events().length, 100, "all written eventually");
  await recorder.stop();
});

Deno.test("events: stop leaves no timer and records nothing more", async () => {
  const { clock, recorder, events } = setup();
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  await clock.advance(100);
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  assert.ok(clock.pending > 0, "a rate-limited update is waiting");
  await recorder.stop();
  assert.equal(clock.pending, 0);
  recorder.transition(transition(clock, "192.0.2.2", "unhealthy"));
  await clock.advance(10_000);
  assert.equal(events().length, 1);
});

Deno.test("events: MicroTime has six fractional digits in UTC", () => {
  assert.equal(microTime(Date.UTC(2026, 10, 26, 4, 30) + 123.456), "2026-11-26T04:30:00.123456Z");
  assert.equal(microTime(Date.UTC(2026, 10, 26, 4, 30)), "2026-11-26T04:30:00.000000Z");
  assert.equal(microTime(Date.UTC(2026, 10, 26, 4, 30) + 999.999), "2026-11-26T04:30:00.999999Z");
  assert.equal(microTime(Date.UTC(2026, 10, 26, 4, 30) - 0.5), "2026-11-26T04:29:59.999500Z");
});

Deno.test("events: notes are cut to 1 KB on a character boundary", async () => {
  assert.equal(truncateBytes("short", 1024), "short");
  const cut = truncateBytes("é".repeat(1000), 1024);
  assert.ok(new TextEncoder().encode(cut).length <= 1024);
  assert.ok(cut.endsWith("...") && !cut.includes("\uFFFD"));
  const { clock, recorder, events, stored } = setup();
  recorder.transition(
    transition(clock, "192.0.2.1", "unhealthy", undefined, { error: "x".repeat(5000) }),
  );
  await clock.advance(0);
  assert.ok(new TextEncoder().encode(stored(events()[0]!).note).length <= 1024);
  await recorder.stop();
});

Deno.test("events: reportingInstance prefers the pod name", () => {
  assert.equal(
    reportingInstance({ POD_NAME: "helaseid-abc", HOSTNAME: "h" }, () => "x"),
    "helaseid-abc",
  );
  assert.equal(reportingInstance({ HOSTNAME: "helaseid-def" }, () => "x"), "helaseid-def");
  assert.equal(reportingInstance({}, () => "vm1"), "vm1");
  assert.equal(reportingInstance({}, () => undefined), "helaseid");
  assert.equal(reportingInstance({ POD_NAME: "p".repeat(300) }).length, 128);
});

Deno.test("events: Events of a Service with another target configuration stay apart", async () => {
  const other: ServiceConfig = serviceConfig(["192.0.2.1"], { name: "cache", namespace: "data" });
  const { clock, recorder, events } = setup();
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  recorder.transition({ ...transition(clock, "192.0.2.1", "unhealthy"), service: other });
  await clock.advance(0);
  assert.deepEqual(events().map((w) => w.namespace), ["datastream", "data"]);
  assert.ok(events()[1]!.name.startsWith("cache."));
  await recorder.stop();
});

Deno.test("events: without a uid source the Service's uid comes from the API, listed once", async () => {
  const { clock, kube, recorder, events, stored } = setup({ uid: undefined });
  kube.seed({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "brokers", namespace: "datastream", uid: "real-uid" },
  });
  let lists = 0;
  const list = kube.list.bind(kube);
  kube.list = (...args) => {
    lists++;
    return list(...args);
  };
  recorder.transition(transition(clock, "192.0.2.1", "unhealthy"));
  recorder.transition(transition(clock, "192.0.2.2", "unhealthy"));
  await clock.advance(0);
  assert.deepEqual(events().map((write) => stored(write).regarding.uid), ["real-uid", "real-uid"]);
  assert.equal(lists, 1);
  await recorder.stop();
});

Deno.test("events: each block raises one Event naming it; a conflict names the other writer", async () => {
  const { clock, recorder, events, stored } = setup();
  const state = (publish: Partial<PublishState>): PublishState => ({
    service: "datastream/brokers",
    writes: new Map(),
    failures: 0,
    ...publish,
  });
  recorder.publishState(state({ blocked: "waiting-first-checks" }));
  const forbidden = state({
    blocked: "access-denied",
    blockedSince: clock.now(),
    detail: "watch endpointslices in namespace 'datastream': 403 Forbidden",
  });
  recorder.publishState(forbidden);
  recorder.publishState(forbidden);
  await clock.advance(0);
  assert.equal(events().length, 1, "waiting is not news; a repeated state is not a new block");
  const denied = stored(events()[0]!);
  assert.equal(denied.reason, "PublishForbidden");
  assert.equal(denied.type, "Warning");
  assert.equal(
    denied.note,
    "The API refuses access: watch endpointslices in namespace 'datastream': 403 Forbidden: " +
      "check the Role and the credentials",
  );
  recorder.publishState(state({
    blocked: "conflict",
    blockedSince: clock.now(),
    detail: "another HELASEID writer 'laptop/4242' with another configuration rewrote x",
    conflict: { writer: "laptop/4242", retryAt: clock.now() + 10_000 },
  }));
  await clock.advance(0);
  const conflict = stored(events().at(-1)!);
  assert.equal(conflict.reason, "PublishConflict");
  assert.match(conflict.note, /^Not writing while another HELASEID writer 'laptop\/4242'/);
  recorder.publishState(state({
    blocked: "namespace-missing",
    blockedSince: clock.now(),
    detail: "create services in namespace 'datastream': 404 Not Found: namespace 'datastream' " +
      "does not exist",
  }));
  await clock.advance(0);
  const missing = stored(events().at(-1)!);
  assert.equal(missing.reason, "PublishBlocked");
  assert.match(missing.note, /namespace 'datastream' does not exist$/);
  assert.equal(events().length, 3);
  // A refused write fails and blocks: one Event, the one that says what to fix.
  recorder.publishState(state({
    service: "datastream/cache",
    blocked: "access-denied",
    blockedSince: clock.now(),
    detail: "apply endpointslices in namespace 'datastream': 403 Forbidden",
    failures: 1,
    failingSince: clock.now(),
  }));
  await clock.advance(0);
  assert.deepEqual(events().slice(3).map((write) => stored(write).reason), ["PublishForbidden"]);
  await recorder.stop();
});

Deno.test("events: a targets change is one Normal TargetsChanged naming what came and went", async () => {
  const { clock, recorder, events, stored } = setup();
  recorder.targetsChanged({
    service: SERVICE,
    added: [{ address: "192.0.2.5", source: "dns kafka.test" }, { address: "192.0.2.6" }],
    removed: [{ address: "192.0.2.4", source: "dns kafka.test" }],
  });
  await clock.advance(0);
  assert.equal(events().length, 1);
  const event = stored(events()[0]!);
  assert.equal(event.reason, "TargetsChanged");
  assert.equal(event.type, "Normal");
  assert.equal(event.action, "Discover");
  assert.equal(
    event.note,
    "added 192.0.2.5 (dns kafka.test), 192.0.2.6; removed 192.0.2.4 (dns kafka.test)",
  );
  // Another change is another Event (its own note), nothing at all is no Event.
  await clock.advance(3000);
  recorder.targetsChanged({ service: SERVICE, added: [], removed: [{ address: "192.0.2.6" }] });
  recorder.targetsChanged({ service: SERVICE, added: [], removed: [] });
  await clock.advance(3000);
  assert.equal(new Set(events().map((w) => w.name)).size, 2);
  assert.equal(stored(events()[1]!).note, "removed 192.0.2.6");
  // A gone Service gets no Event.
  recorder.targetsChanged({ service: SERVICE, added: [], removed: SERVICE.targets, gone: true });
  await clock.advance(3000);
  assert.equal(events().length, 2);
  await recorder.stop();
});

Deno.test("events: a TargetsChanged note stays bounded with a churning source", () => {
  const many = Array.from({ length: 500 }, (_, i) => ({
    address: `2001:db8::${i.toString(16)}`,
    source: "pods app=kafka",
  }));
  const note = targetsChangedNote({ added: many, removed: many.slice(0, 3) });
  assert.ok(note.startsWith("added 2001:db8::0 (pods app=kafka), 2001:db8::1 (pods app=kafka)"));
  assert.ok(note.includes(` and ${500 - MAX_LISTED_TARGETS} more; removed 2001:db8::0`), note);
  assert.ok(new TextEncoder().encode(note).length < 1024, `${note.length} characters`);
});

function source(overrides: Partial<SourceStatus> = {}): SourceStatus {
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

Deno.test("events: a source failing is a Warning once, its recovery a Normal, a held shrink a Warning", async () => {
  const { clock, recorder, events, stored } = setup();
  recorder.sourceStatus(source({ error: "SERVFAIL", failingSince: clock.now() }));
  recorder.sourceStatus(source({ error: "timeout", failingSince: clock.now() }));
  await clock.advance(3000);
  recorder.sourceStatus(source({ targets: 4 }));
  await clock.advance(3000);
  const until = clock.now() + 60_000;
  recorder.sourceStatus(source({ held: { since: clock.now(), until, from: 4, to: 0 } }));
  recorder.sourceStatus(
    source({ held: { since: clock.now(), until, from: 4, to: 0 }, skipped: 1 }),
  );
  await clock.advance(3000);
  const written = events().map((write) => stored(write));
  assert.deepEqual(written.map((e) => [e.reason, e.type]), [
    ["SourceFailing", "Warning"],
    ["SourceRecovered", "Normal"],
    ["SourceShrinkHeld", "Warning"],
  ]);
  assert.equal(
    written[0]!.note,
    "Target source dns kafka.test fails: SERVFAIL; its last good set (3 targets) stays in force",
  );
  assert.equal(written[1]!.note, "Target source dns kafka.test answers again: 4 targets");
  assert.equal(
    written[2]!.note,
    "Target source dns kafka.test shrank from 4 to 0 targets: the change is held until " +
      new Date(until).toISOString(),
  );
  assert.equal(written[0]!.regarding.name, "brokers");
  await recorder.stop();
});

Deno.test("events: series of a churning source do not pile up in memory past their window", async () => {
  const { clock, recorder } = setup({ rate: { perSecond: 1000, burst: 1000 }, maxInFlight: 64 });
  // A Pod source replacing one address a second, for two hours: 7200 distinct changes.
  for (let i = 0; i < 7200; i++) {
    recorder.targetsChanged({
      service: SERVICE,
      added: [{ address: `2001:db8::${(i + 1).toString(16)}`, source: "pods app=kafka" }],
      removed: [{ address: `2001:db8::${i.toString(16)}`, source: "pods app=kafka" }],
    });
    await clock.advance(1000);
  }
  // A 30-minute window holds 1800 changes; the sweep keeps at most about twice that.
  assert.ok(recorder.seriesCount <= 2 * 1800 + 256, `${recorder.seriesCount} series kept`);
  assert.ok(recorder.seriesCount >= 200, "recent series are kept");
  await recorder.stop();
});
