import assert from "node:assert/strict";
import type { ServiceConfig } from "../../src/config/schema.ts";
import type { ProbeRequest, ProbeResult } from "../../src/probe/types.ts";
import type { PrimaryChange } from "../../src/publish/primary_tracker.ts";
import { PrimaryTracker } from "../../src/publish/primary_tracker.ts";
import { RoleChecker } from "../../src/publish/role_checks.ts";
import type { ViewStatus } from "../../src/publish/views.ts";
import { FakeClock, serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1", B = "192.0.2.2", C = "192.0.2.3";

function observed(noPrimary: "empty" | "keep" = "empty"): ServiceConfig {
  return serviceConfig([A, B, C], {
    primary: {
      mode: "observe",
      service: "brokers-primary",
      prefer: [],
      failbackAfter: 300_000,
      noPrimary,
      check: { type: "http", port: 8008, path: "/primary" },
    },
  });
}

/** A role checker and tracker on a fake clock; `roles` says who answers primary. */
function bed(config: ServiceConfig) {
  const clock = new FakeClock();
  const roles: Record<string, boolean> = {};
  const health: Record<string, ViewStatus> = { [A]: "healthy", [B]: "healthy", [C]: "healthy" };
  const requests: ProbeRequest[] = [];
  const changes: PrimaryChange[] = [];
  const tracker = new PrimaryTracker({
    clock,
    candidates: () => config.targets.map((t) => ({ ...t, status: health[t.address]!, since: 0 })),
    onChange: (change) => changes.push(change),
  });
  const checker = new RoleChecker({
    clock,
    prober: () => (request) => {
      requests.push(request);
      return Promise.resolve<ProbeResult>({ ok: roles[request.address] === true, latency: 1 });
    },
    healthy: () => Object.entries(health).filter(([, s]) => s === "healthy").map(([a]) => a),
    onClaims: (service, claimants) => tracker.claims(service, claimants),
  });
  checker.set([config]);
  return { clock, roles, health, requests, changes, tracker, checker };
}

Deno.test("role checks: the one claimant is primary; checks run on the interval for healthy targets only", async () => {
  const config = observed();
  const { clock, roles, health, requests, changes, tracker, checker } = bed(config);
  roles[B] = true;
  health[C] = "unhealthy";
  await clock.advance(0);
  assert.equal(tracker.current(config), B);
  assert.deepEqual(changes.map((c) => [c.from, c.to, c.reason]), [[undefined, B, "claimed"]]);
  assert.deepEqual(requests.map((r) => r.address).sort(), [A, B]);
  await clock.advance(config.probe.interval);
  assert.equal(requests.length, 4, "one round per interval");
  await checker.stop();
  assert.equal(clock.pending, 0);
});

Deno.test("role checks: two claimants keep the current primary and alert once; never two", async () => {
  const config = observed();
  const { clock, roles, changes, tracker, checker } = bed(config);
  roles[A] = true;
  await clock.advance(0);
  assert.equal(tracker.current(config), A);
  roles[B] = true;
  await clock.advance(config.probe.interval);
  await clock.advance(config.probe.interval);
  assert.equal(tracker.current(config), A);
  assert.deepEqual(changes.map((c) => [c.to, c.reason]), [[A, "claimed"], [A, "contested"]]);
  // B stops claiming: A alone again, still primary, nothing new.
  roles[B] = false;
  for (let i = 0; i < config.probe.fall; i++) await clock.advance(config.probe.interval);
  assert.equal(tracker.current(config), A);
  assert.equal(changes.length, 2);
  await checker.stop();
});

Deno.test("role checks: a claim survives fewer than fall failed rounds; then none (empty) or kept (keep)", async () => {
  for (const mode of ["empty", "keep"] as const) {
    const config = observed(mode);
    const { clock, roles, tracker, checker } = bed(config);
    roles[A] = true;
    await clock.advance(0);
    roles[A] = false;
    for (let i = 1; i < config.probe.fall; i++) {
      await clock.advance(config.probe.interval);
      assert.equal(tracker.current(config), A, `${mode}: after ${i} failed rounds`);
    }
    await clock.advance(config.probe.interval);
    assert.equal(tracker.current(config), mode === "keep" ? A : undefined, mode);
    await checker.stop();
  }
});

Deno.test("role checks: a claimant that falls unhealthy loses its claim at once", async () => {
  const config = observed();
  const { clock, roles, health, tracker, checker } = bed(config);
  roles[A] = true;
  await clock.advance(0);
  health[A] = "unhealthy";
  tracker.update(config);
  assert.equal(tracker.current(config), undefined);
  await checker.stop();
});

Deno.test("designate tracker: no choice before the API was read; a restart adopts the primary it shows, then fails back on time", async () => {
  const config = serviceConfig([
    { address: A, zone: "a" },
    { address: B, zone: "b" },
  ], {
    primary: {
      mode: "designate",
      service: "brokers-primary",
      prefer: ["a"],
      failbackAfter: 60_000,
      noPrimary: "empty",
    },
  });
  const clock = new FakeClock();
  const since = clock.now();
  const changes: PrimaryChange[] = [];
  const tracker = new PrimaryTracker({
    clock,
    candidates: () => config.targets.map((t) => ({ ...t, status: "healthy", since })),
    onChange: (change) => changes.push(change),
  });
  tracker.update(config);
  assert.equal(tracker.current(config), undefined, "waits for what the API shows");
  // The API shows B (a failover before the restart): kept, not news.
  assert.equal(tracker.adopt(config, B), B);
  assert.equal(changes.length, 0);
  assert.equal(tracker.adopt(config, A), B, "offered once");
  await clock.advance(59_999);
  assert.equal(tracker.current(config), B);
  await clock.advance(1);
  assert.equal(tracker.current(config), A);
  assert.deepEqual(changes.map((c) => [c.from, c.to, c.reason]), [[B, A, "failback"]]);
  tracker.stop();
  // Nothing shown: the first choice is made at once.
  const fresh = new PrimaryTracker({
    clock,
    candidates: () => config.targets.map((t) => ({ ...t, status: "healthy", since })),
    onChange: () => {},
  });
  assert.equal(fresh.adopt(config, undefined), A);
  fresh.stop();
});
