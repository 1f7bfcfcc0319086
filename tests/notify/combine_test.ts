import assert from "node:assert/strict";
import type { Alert } from "../../src/notify/alert.ts";
import { combineAlerts } from "../../src/notify/combine.ts";
import { ServiceTracker } from "../../src/notify/tracker.ts";
import { FakeClock, serviceConfig } from "../support/fakes.ts";
import { HealthSim } from "./_support.ts";

const A = "192.0.2.1";
const B = "192.0.2.2";
const C = "192.0.2.3";

/** Alerts as the tracker raises them, one per step, after every target started healthy. */
async function alerts(
  ...steps: ((sim: HealthSim) => ReturnType<HealthSim["set"]>[])[]
): Promise<Alert[]> {
  const clock = new FakeClock();
  const service = serviceConfig([A, B, C]);
  const sim = new HealthSim(service, clock);
  const tracker = new ServiceTracker(service, { cluster: "prod-eu" });
  for (const event of sim.allHealthy()) tracker.observe(event);
  tracker.flush(clock.now());
  const raised: Alert[] = [];
  for (const step of steps) {
    await clock.advance(1000);
    for (const event of step(sim)) if (event) tracker.observe(event);
    const alert = tracker.flush(clock.now());
    assert.ok(alert, "each step raises an alert");
    raised.push(alert);
  }
  return raised;
}

function summary(alert: Alert) {
  return {
    event: alert.event,
    severity: alert.severity,
    title: alert.title,
    targets: alert.targets.map((t) => `${t.address} ${t.state}`),
  };
}

Deno.test("combine: down then recovered is one card of a brief outage, in the current state", async () => {
  const [down, up] = await alerts(
    (sim) => [sim.set(A, "unhealthy", "refused")],
    (sim) => [sim.set(A, "healthy")],
  );
  const combined = combineAlerts(down!, up!);
  assert.deepEqual(summary(combined), {
    event: "targets-changed",
    severity: "warning",
    title: "datastream/brokers: 1 briefly down: 3 of 3 healthy",
    targets: [`${A} flapped`],
  });
  assert.equal(combined.targets[0]!.error, "refused");
  assert.equal(combined.targets[0]!.downFor, 1000);
  assert.equal(combined.since, down!.since);
  assert.equal(combined.at, up!.at);
  assert.deepEqual([combined.healthy, combined.unhealthy], [3, 0]);
});

Deno.test("combine: two down cards become one naming both targets", async () => {
  const [first, second] = await alerts(
    (sim) => [sim.set(A, "unhealthy")],
    (sim) => [sim.set(B, "unhealthy")],
  );
  assert.deepEqual(summary(combineAlerts(first!, second!)), {
    event: "targets-down",
    severity: "warning",
    title: "2 targets of datastream/brokers are down: 1 of 3 healthy",
    targets: [`${A} down`, `${B} down`],
  });
});

Deno.test("combine: all down, then back, is a warning that every target was briefly down", async () => {
  const [allDown, back] = await alerts(
    (sim) => [sim.set(A, "unhealthy"), sim.set(B, "unhealthy"), sim.set(C, "unhealthy")],
    (sim) => [sim.set(A, "healthy"), sim.set(B, "healthy"), sim.set(C, "healthy")],
  );
  assert.equal(allDown!.event, "all-down");
  assert.deepEqual(summary(combineAlerts(allDown!, back!)), {
    event: "targets-changed",
    severity: "warning",
    title: "datastream/brokers: 3 briefly down: 3 of 3 healthy",
    targets: [`${A} flapped`, `${B} flapped`, `${C} flapped`],
  });
});

Deno.test("combine: the last healthy target lost is all down, critical", async () => {
  const [some, rest] = await alerts(
    (sim) => [sim.set(A, "unhealthy"), sim.set(B, "unhealthy")],
    (sim) => [sim.set(C, "unhealthy")],
  );
  const combined = combineAlerts(some!, rest!);
  assert.deepEqual(summary(combined), {
    event: "all-down",
    severity: "critical",
    title: "All 3 targets of datastream/brokers are down",
    targets: [`${A} down`, `${B} down`, `${C} down`],
  });
  assert.equal(combined.panic, true);
});

Deno.test("combine: a newer write or blocked alert replaces the older one", async () => {
  const [base] = await alerts((sim) => [sim.set(A, "unhealthy")]);
  const writes = (event: "writes-failing" | "writes-recovered"): Alert => ({
    ...base!,
    event,
    targets: [],
  });
  const failing = writes("writes-failing");
  const recovered = writes("writes-recovered");
  assert.equal(combineAlerts(failing, recovered), recovered);
  const blocked: Alert = { ...base!, event: "blocked", targets: [], reason: "access-denied" };
  const unblocked: Alert = { ...blocked, event: "blocked-recovered" };
  assert.equal(combineAlerts(blocked, unblocked), unblocked);
});
