import assert from "node:assert/strict";
import { PUBLISH_DEFAULTS } from "../../src/config/schema.ts";
import { ServiceTracker } from "../../src/notify/tracker.ts";
import { FakeClock, serviceConfig } from "../support/fakes.ts";
import { HealthSim } from "./_support.ts";

const A = "192.0.2.1";
const B = "192.0.2.2";
const C = "192.0.2.3";

function setup(options: { degraded?: boolean; allDown?: "publishAll" | "empty" } = {}) {
  const clock = new FakeClock();
  const service = serviceConfig([{ address: A, zone: "zone-a" }, B, C], {
    publish: { ...PUBLISH_DEFAULTS, allDown: options.allDown ?? "publishAll" },
  });
  const sim = new HealthSim(service, clock);
  const tracker = new ServiceTracker(service, {
    cluster: "prod-eu",
    ...(options.degraded === undefined ? {} : { degraded: options.degraded }),
  });
  const apply = (...events: ReturnType<HealthSim["set"]>[]) => {
    for (const event of events) if (event) tracker.observe(event);
  };
  return { clock, sim, tracker, apply };
}

Deno.test("tracker: targets found healthy at startup raise nothing", () => {
  const { clock, sim, tracker, apply } = setup();
  apply(...sim.allHealthy());
  assert.equal(tracker.dirty, true);
  assert.equal(tracker.flush(clock.now()), undefined);
  assert.equal(tracker.dirty, false);
});

Deno.test("tracker: two targets lost in one window make one alert naming both", async () => {
  const { clock, sim, tracker, apply } = setup();
  apply(...sim.allHealthy());
  tracker.flush(clock.now());
  await clock.advance(10_000);
  apply(sim.set(A, "unhealthy", "connection refused"));
  await clock.advance(300);
  apply(sim.set(B, "unhealthy", "timeout"));
  const alert = tracker.flush(clock.now());
  assert.ok(alert);
  assert.equal(alert.event, "targets-down");
  assert.equal(alert.severity, "warning");
  assert.equal(alert.title, "2 targets of datastream/brokers are down: 1 of 3 healthy");
  assert.equal(alert.cluster, "prod-eu");
  assert.deepEqual(alert.service, { namespace: "datastream", name: "brokers" });
  assert.deepEqual(alert.targets.map((t) => [t.address, t.port, t.state, t.error]), [
    [A, 9092, "down", "connection refused"],
    [B, 9092, "down", "timeout"],
  ]);
  assert.equal(alert.targets[0]?.zone, "zone-a");
  assert.equal(alert.since, alert.at - 300, "since the first target went down");
  assert.deepEqual([alert.healthy, alert.unhealthy, alert.total, alert.panic], [1, 2, 3, false]);
  assert.equal(tracker.flush(clock.now()), undefined, "nothing new: nothing to say");
});

Deno.test("tracker: their return is one alert with each downtime", async () => {
  const { clock, sim, tracker, apply } = setup();
  apply(...sim.allHealthy());
  tracker.flush(clock.now());
  apply(sim.set(A, "unhealthy"), sim.set(B, "unhealthy"));
  tracker.flush(clock.now());
  await clock.advance(65_000);
  apply(sim.set(A, "healthy"));
  await clock.advance(1000);
  apply(sim.set(B, "healthy"));
  const alert = tracker.flush(clock.now());
  assert.ok(alert);
  assert.equal(alert.event, "targets-recovered");
  assert.equal(alert.severity, "resolved");
  assert.equal(alert.title, "2 targets of datastream/brokers recovered: 3 of 3 healthy");
  assert.deepEqual(alert.targets.map((t) => [t.address, t.state, t.downFor]), [
    [A, "recovered", 65_000],
    [B, "recovered", 66_000],
  ]);
});

Deno.test("tracker: targets found down at startup count as down", () => {
  const { clock, sim, tracker, apply } = setup();
  apply(sim.set(A, "healthy"), sim.set(B, "healthy"), sim.set(C, "unhealthy", "no route to host"));
  const alert = tracker.flush(clock.now());
  assert.equal(alert?.event, "targets-down");
  assert.deepEqual(alert?.targets.map((t) => [t.address, t.state]), [[C, "down"]]);
  assert.equal(alert?.title, "1 target of datastream/brokers is down: 2 of 3 healthy");
});

Deno.test("tracker: no healthy target left is critical, names every down target, and ends", async () => {
  const { clock, sim, tracker, apply } = setup();
  apply(...sim.allHealthy());
  apply(sim.set(C, "unhealthy"));
  tracker.flush(clock.now());
  await clock.advance(5000);
  apply(sim.set(A, "unhealthy"), sim.set(B, "unhealthy"));
  const allDown = tracker.flush(clock.now());
  assert.ok(allDown);
  assert.equal(allDown.event, "all-down");
  assert.equal(allDown.severity, "critical");
  assert.equal(allDown.panic, true, "the panic guard publishes them all");
  assert.equal(allDown.title, "All 3 targets of datastream/brokers are down");
  assert.deepEqual(allDown.targets.map((t) => t.address), [A, B, C], "C was reported before");
  assert.equal(allDown.since, allDown.at - 5000, "since the first of them went down");

  await clock.advance(30_000);
  apply(sim.set(B, "healthy"));
  const back = tracker.flush(clock.now());
  assert.ok(back);
  assert.equal(back.event, "all-down-recovered");
  assert.equal(back.severity, "resolved");
  assert.equal(back.title, "datastream/brokers is serving again: 1 of 3 healthy");
  assert.deepEqual(back.targets.map((t) => [t.address, t.state, t.downFor]), [
    [B, "recovered", 30_000],
  ]);
});

Deno.test("tracker: with allDown 'empty' the alert says nothing is published", () => {
  const { clock, sim, tracker, apply } = setup({ allDown: "empty" });
  apply(sim.set(A, "unhealthy"), sim.set(B, "unhealthy"), sim.set(C, "unhealthy"));
  const alert = tracker.flush(clock.now());
  assert.equal(alert?.event, "all-down");
  assert.equal(alert?.panic, false);
});

Deno.test("tracker: a target down and back within the window is reported as flapped", async () => {
  const { clock, sim, tracker, apply } = setup();
  apply(...sim.allHealthy());
  tracker.flush(clock.now());
  apply(sim.set(A, "unhealthy", "connection reset"));
  await clock.advance(1200);
  apply(sim.set(A, "healthy"));
  const alert = tracker.flush(clock.now());
  assert.ok(alert);
  assert.equal(alert.event, "targets-changed");
  assert.equal(alert.severity, "warning");
  assert.equal(alert.title, "datastream/brokers: 1 briefly down: 3 of 3 healthy");
  assert.deepEqual(alert.targets, [{
    address: A,
    port: 9092,
    zone: "zone-a",
    state: "flapped",
    error: "connection reset",
    since: alert.at - 1200,
    downFor: 1200,
  }]);
});

Deno.test("tracker: one down and another back in one window is one mixed alert", () => {
  const { clock, sim, tracker, apply } = setup();
  apply(...sim.allHealthy(), sim.set(A, "unhealthy"));
  tracker.flush(clock.now());
  apply(sim.set(A, "healthy"), sim.set(B, "unhealthy"));
  const alert = tracker.flush(clock.now());
  assert.equal(alert?.event, "targets-changed");
  assert.equal(alert?.title, "datastream/brokers: 1 down, 1 recovered: 2 of 3 healthy");
  assert.deepEqual(alert?.targets.map((t) => [t.address, t.state]), [
    [B, "down"],
    [A, "recovered"],
  ]);
});

Deno.test("tracker: degraded false reports only no-healthy-target and its end", () => {
  const { clock, sim, tracker, apply } = setup({ degraded: false });
  apply(...sim.allHealthy(), sim.set(A, "unhealthy"));
  assert.equal(tracker.flush(clock.now()), undefined, "degraded only");
  apply(sim.set(B, "unhealthy"), sim.set(C, "unhealthy"));
  const allDown = tracker.flush(clock.now());
  assert.equal(allDown?.event, "all-down");
  assert.deepEqual(allDown?.targets.map((t) => t.address), [A, B, C]);
  apply(sim.set(C, "healthy"));
  assert.equal(tracker.flush(clock.now())?.event, "all-down-recovered");
  apply(sim.set(A, "healthy"), sim.set(B, "healthy"));
  assert.equal(tracker.flush(clock.now()), undefined, "degraded → healthy is not reported");
});

Deno.test("tracker: no healthy target while others are unchecked is all-down too", () => {
  const { clock, sim, tracker, apply } = setup();
  apply(sim.set(A, "unhealthy"));
  const alert = tracker.flush(clock.now());
  assert.equal(alert?.event, "all-down");
  assert.equal(
    alert?.title,
    "No healthy target left in datastream/brokers: 1 down, 2 not checked yet",
  );
  apply(sim.set(B, "healthy"));
  assert.equal(tracker.flush(clock.now())?.event, "all-down-recovered");
});
