/**
 * Fast and down intervals (issue 17) on the fake clock, through the agent: every transition
 * path, the schedule `/status` shows, the hold of a correlated outage, and the bounds that keep
 * a flapping or black-holed target from turning fast checks into a storm.
 */

import assert from "node:assert/strict";
import { Agent, type TargetCheck } from "../../src/agent.ts";
import type { Config, ServiceConfig } from "../../src/config/schema.ts";
import type { MemoryKube } from "../../src/kube/memory.ts";
import type { EndpointSliceObject } from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import type { ProbeResult } from "../../src/probe/mod.ts";
import { FakeClock, kubeWithService, ScriptedProber, serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1";
const B = "192.0.2.2";
const REFUSED = { ok: false, error: "refused" } as const;

/** interval 1 s, fall 3, rise 2, timeout 50 ms, no jitter, fastInterval 100 ms. */
function fastService(
  addresses: readonly string[],
  probe: Partial<ServiceConfig["probe"]> = {},
): ServiceConfig {
  const base = serviceConfig(addresses);
  return serviceConfig(addresses, {
    probe: { ...base.probe, interval: 1000, timeout: 50, fastInterval: 100, ...probe },
  });
}

/** An agent on the fake clock whose checks are recorded with their start times. */
function run(
  service: ServiceConfig,
  options: { format?: Config["format"]; random?: () => number; maxInFlight?: number } = {},
) {
  const clock = new FakeClock(0);
  const kube = kubeWithService(service);
  const prober = new ScriptedProber(clock);
  const starts = new Map<string, number[]>();
  const checks: TargetCheck[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const agent = new Agent({
    config: { format: options.format ?? "structured", services: [service], alerts: {} },
    client: kube,
    log: silentLogger(),
    clock,
    random: options.random ?? (() => 0),
    maxInFlight: options.maxInFlight,
    prober: async (request) => {
      const list = starts.get(request.address) ?? [];
      list.push(clock.now());
      starts.set(request.address, list);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        return await prober.probe(request) as ProbeResult;
      } finally {
        inFlight--;
      }
    },
    listeners: [{ check: (event) => checks.push(event) }],
  });
  agent.start();
  const target = (address: string) =>
    agent.status()[0]!.targets.find((t) => t.address === address)!;
  const startsOf = (address: string, from = 0) =>
    (starts.get(address) ?? []).filter((t) => t >= from);
  return {
    clock,
    kube,
    prober,
    agent,
    checks,
    target,
    startsOf,
    maxInFlight: () => maxInFlight,
    async stop() {
      const stopping = agent.stop();
      await clock.advance(2000);
      await stopping;
    },
  };
}

function readyOf(kube: MemoryKube): Record<string, boolean> {
  const slice = kube.get({
    resource: "endpointslices",
    namespace: "datastream",
    name: "brokers-helaseid-ipv4",
  }) as EndpointSliceObject | undefined;
  return Object.fromEntries(
    (slice?.endpoints ?? []).map((e) => [e.addresses[0], e.conditions?.ready ?? false]),
  );
}

Deno.test("fast: healthy → failing → fallen takes one check on the grid and fall - 1 fast ones", async () => {
  const t = run(fastService([A, B]));
  await t.clock.advance(10);
  assert.deepEqual(readyOf(t.kube), { [A]: true, [B]: true });
  assert.equal(t.target(A).schedule, "normal");
  assert.equal(t.target(A).interval, 1000);
  t.prober.set(A, REFUSED);
  await t.clock.advance(1000); // the check at t = 1000 fails
  assert.equal(t.target(A).status, "healthy");
  assert.equal(t.target(A).schedule, "fast");
  assert.equal(t.target(A).interval, 100);
  await t.clock.advance(200); // t = 1100 and 1200: the verdict
  assert.deepEqual(t.startsOf(A, 1000), [1000, 1100, 1200]);
  assert.equal(t.target(A).status, "unhealthy");
  assert.equal(t.target(A).schedule, "down");
  assert.equal(t.target(A).interval, 1000);
  await t.clock.advance(10);
  assert.deepEqual(readyOf(t.kube), { [A]: false, [B]: true });
  // Back on its own grid: the next check is at t = 2000, and B was never checked fast.
  await t.clock.advance(1000);
  assert.deepEqual(t.startsOf(A, 1000), [1000, 1100, 1200, 2000]);
  assert.deepEqual(t.startsOf(B), [0, 1000, 2000]);
  const fast = t.checks.filter((c) => c.cadence === "fast").map((c) => c.started);
  assert.deepEqual(fast, [1100, 1200]);
  await t.stop();
});

Deno.test("fast: a failing target that passes mid-confirmation stays healthy and rejoins its grid", async () => {
  const t = run(fastService([A, B]));
  await t.clock.advance(10);
  t.prober.set(A, REFUSED);
  await t.clock.advance(1000); // t = 1000 fails
  t.prober.set(A, { ok: true });
  await t.clock.advance(100); // t = 1100 passes
  assert.equal(t.target(A).status, "healthy");
  assert.equal(t.target(A).schedule, "normal");
  await t.clock.advance(1000);
  assert.deepEqual(t.startsOf(A, 1000), [1000, 1100, 2000]);
  assert.deepEqual(readyOf(t.kube), { [A]: true, [B]: true });
  await t.stop();
});

Deno.test("fast: unhealthy → passing → risen confirms the recovery at the fast interval", async () => {
  const t = run(fastService([A, B]));
  await t.clock.advance(10);
  t.prober.set(A, REFUSED);
  await t.clock.advance(1300);
  assert.equal(t.target(A).status, "unhealthy");
  t.prober.set(A, { ok: true });
  await t.clock.advance(700); // t = 2000 passes (rise 2): fast
  assert.equal(t.target(A).status, "unhealthy");
  assert.equal(t.target(A).schedule, "fast");
  await t.clock.advance(100); // t = 2100: risen
  assert.equal(t.target(A).status, "healthy");
  assert.equal(t.target(A).schedule, "normal");
  await t.clock.advance(10);
  assert.deepEqual(readyOf(t.kube), { [A]: true, [B]: true });
  await t.clock.advance(1000);
  assert.deepEqual(t.startsOf(A, 2000), [2000, 2100, 3000]);
  await t.stop();
});

Deno.test("fast: an unhealthy target stays on the down interval, on its own grid", async () => {
  const t = run(fastService([A], { downInterval: 3000 }));
  await t.clock.advance(10);
  t.prober.set(A, REFUSED);
  await t.clock.advance(1300);
  assert.equal(t.target(A).status, "unhealthy");
  assert.equal(t.target(A).schedule, "down");
  assert.equal(t.target(A).interval, 3000);
  await t.clock.advance(10_000);
  // The verdict came at t = 1200; the down grid is t = 0, 3000, 6000, ...
  assert.deepEqual(t.startsOf(A, 1000), [1000, 1100, 1200, 3000, 6000, 9000]);
  assert.ok(t.checks.filter((c) => c.started >= 3000).every((c) => c.cadence === "down"));
  // A return is noticed at the next down check, confirmed fast, then back on the interval.
  t.prober.set(A, { ok: true });
  await t.clock.advance(1700); // t = 12000 passes, 12100 confirms
  assert.equal(t.target(A).status, "healthy");
  await t.clock.advance(1900);
  assert.deepEqual(t.startsOf(A, 11_000), [12_000, 12_100, 13_000, 14_000]);
  await t.stop();
});

Deno.test("fast: a flapping target gets at most fall checks per interval, never a storm", async () => {
  for (const pattern of [[false, true], [false, false, true], [false, false, false, true, true]]) {
    const t = run(fastService([A, B]));
    await t.clock.advance(10);
    let n = 0;
    // Each check answers the next result of the pattern, whatever its cadence.
    const flip = () => t.prober.set(A, pattern[n++ % pattern.length] ? { ok: true } : REFUSED);
    flip();
    let seen = t.startsOf(A).length;
    for (let i = 0; i < 20_000; i += 10) {
      await t.clock.advance(10);
      const count = t.startsOf(A).length;
      for (; seen < count; seen++) flip();
    }
    const starts = t.startsOf(A, 1000);
    // Per interval: one check on the grid and its confirmation (fall - 1 = 2 fast checks).
    for (let from = 1000; from < 20_000; from += 1000) {
      const inWindow = starts.filter((s) => s >= from && s < from + 1000).length;
      assert.ok(inWindow <= 3, `${inWindow} checks in [${from}, ${from + 1000}) for ${pattern}`);
    }
    assert.ok(starts.length <= 19 * 3 + 3, `${starts.length} checks in 19 s`);
    await t.stop();
  }
});

Deno.test("fast: a black hole is confirmed back to back, one check in flight, never beside itself", async () => {
  // Timeout 300 ms > fastInterval 100 ms: each confirming check starts when the last ended.
  const t = run(fastService([A, B], { timeout: 300 }));
  await t.clock.advance(10);
  t.prober.set(A, "hang");
  await t.clock.advance(990 + 3 * 300 + 5);
  assert.deepEqual(t.startsOf(A, 1000), [1000, 1300, 1600]);
  assert.equal(t.target(A).status, "unhealthy");
  assert.equal(t.maxInFlight(), 2); // A and B at t = 1000; never two checks of A
  await t.clock.advance(10);
  assert.deepEqual(readyOf(t.kube), { [A]: false, [B]: true });
  await t.stop();
});

Deno.test("fast: the in-flight cap holds while many targets confirm at once", async () => {
  const addresses = Array.from({ length: 12 }, (_, i) => `192.0.2.${i + 1}`);
  const t = run(fastService(addresses, { timeout: 200 }), { maxInFlight: 4 });
  await t.clock.advance(10);
  for (const address of addresses) t.prober.set(address, "hang");
  await t.clock.advance(5000);
  assert.equal(t.maxInFlight(), 4);
  assert.ok(addresses.every((address) => t.target(address).status === "unhealthy"));
  await t.stop();
});

Deno.test("fast: a Service dying together is written once, though siblings are due later", async () => {
  // Five targets phased apart by jitter: the first verdict (2 × 10 ms after its first failure)
  // comes before some targets' next checks are due; the hold checks them at once and waits.
  const addresses = [A, B, "192.0.2.3", "192.0.2.4", "192.0.2.5"];
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const service = serviceConfig(addresses, {
    probe: { ...serviceConfig([]).probe, jitter: 0.2, fastInterval: 10 },
    publish: { ...serviceConfig([]).publish, allDown: "empty" },
  });
  const t = run(service, { random });
  await t.clock.advance(500);
  assert.ok(Object.values(readyOf(t.kube)).every(Boolean));
  const before = t.kube.writes.length;
  const died = t.clock.now();
  for (const address of addresses) t.prober.set(address, REFUSED);
  const verdicts: number[] = [];
  const firstFailures: number[] = [];
  while (t.clock.now() - died < 600) {
    await t.clock.advance(1);
    const targets = t.agent.status()[0]!.targets;
    while (verdicts.length < targets.filter((x) => x.status === "unhealthy").length) {
      verdicts.push(t.clock.now() - died);
    }
    while (firstFailures.length < targets.filter((x) => x.schedule !== "normal").length) {
      firstFailures.push(t.clock.now() - died);
    }
  }
  assert.equal(verdicts.length, 5);
  assert.ok(
    verdicts[0]! >= firstFailures.at(-1)!,
    `the last first failure (${firstFailures}) came by the first verdict (${verdicts[0]})`,
  );
  assert.ok(t.checks.some((c) => c.cadence === "fast" && c.health.failures === 1));
  const writes = t.kube.writes.slice(before).map((w) => `${w.verb} ${w.resource}/${w.name}`);
  assert.deepEqual(writes, [
    "apply endpointslices/brokers-helaseid-ipv4",
    "apply endpoints/brokers",
  ]);
  assert.ok(Object.values(readyOf(t.kube)).every((ready) => !ready));
  await t.stop();
});

Deno.test("fast: the seed format without FAST_INTERVAL checks on the interval exactly as before", async () => {
  const base = serviceConfig([A]);
  const t = run(serviceConfig([A], { probe: { ...base.probe, interval: 1000 } }), {
    format: "env",
  });
  await t.clock.advance(10);
  t.prober.set(A, REFUSED);
  await t.clock.advance(4000);
  assert.deepEqual(t.startsOf(A), [0, 1000, 2000, 3000, 4000]);
  assert.equal(t.target(A).status, "unhealthy"); // at t = 3000: three failures on the grid
  assert.ok(t.checks.every((c) => c.cadence !== "fast"));
  await t.stop();
});

Deno.test("fast: a target dying last in its Service's round is published at its verdict", async () => {
  // A and B are checked at t = 0 of each second, C 90 ms later. C dies: its verdict comes at
  // 90 + 2 × 100 ms into the second, before A and B are due again. They are checked at once
  // (they might have died too), pass, and C's verdict is written then, not a second later.
  const C = "192.0.2.3";
  const sequence = [0, 0, 0, 0.9]; // the Service's phase, then each target's place in its window
  const random = () => sequence.shift() ?? 0.5; // then no jitter
  const t = run(fastService([A, B, C], { jitter: 0.1 }), { random });
  const at = (times: number[]) => times.map(Math.round);
  await t.clock.advance(1050);
  assert.deepEqual(at(t.startsOf(C)), [90]);
  t.prober.set(C, REFUSED);
  await t.clock.advance(250); // t = 1300: C failed at 1090, 1190, 1290
  assert.equal(t.target(C).status, "unhealthy");
  await t.clock.advance(10);
  assert.deepEqual(readyOf(t.kube), { [A]: true, [B]: true, [C]: false });
  assert.deepEqual(at(t.startsOf(A, 1001)), [1290]);
  assert.deepEqual(at(t.startsOf(B, 1001)), [1290]);
  // A and B keep their slots: the extra check did not use up the next one.
  await t.clock.advance(700);
  assert.deepEqual(at(t.startsOf(A, 1001)), [1290, 2000]);
  await t.stop();
});
