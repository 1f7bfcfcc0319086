import assert from "node:assert/strict";
import { PUBLISH_DEFAULTS } from "../../src/config/schema.ts";
import { initialHealth, nextHealth } from "../../src/health/state.ts";
import {
  compareAddresses,
  serviceView,
  type ViewStatus,
  viewStatus,
} from "../../src/publish/views.ts";
import { serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1", B = "192.0.2.2", C = "192.0.2.10";

function statuses(map: Record<string, ViewStatus>) {
  return (address: string) => map[address] ?? "unknown";
}

Deno.test("views: healthy targets are ready, unhealthy ones listed not ready", () => {
  const view = serviceView(
    serviceConfig([C, A, B]),
    statuses({ [A]: "healthy", [B]: "unhealthy", [C]: "healthy" }),
    new Map(),
  );
  assert.deepEqual(view.endpoints.map((e) => [e.address, e.ready, e.serving]), [
    [A, true, true],
    [B, false, false],
    [C, true, true],
  ]);
  assert.equal(view.panic, false);
  assert.deepEqual([view.healthy, view.unhealthy, view.unknown], [2, 1, 0]);
});

Deno.test("views: unhealthy targets are left out when publish.unhealthy is remove", () => {
  const config = serviceConfig([A, B], {
    publish: { ...PUBLISH_DEFAULTS, unhealthy: "remove" },
  });
  const view = serviceView(config, statuses({ [A]: "healthy", [B]: "unhealthy" }), new Map());
  assert.deepEqual(view.endpoints.map((e) => e.address), [A]);
});

Deno.test("views: without a verdict a target keeps what the API shows (restart)", () => {
  const shown = new Map([[A, true], [B, false]]);
  const view = serviceView(serviceConfig([A, B, C]), statuses({}), shown);
  assert.deepEqual(view.endpoints.map((e) => [e.address, e.ready]), [
    [A, true],
    [B, false],
    [C, false],
  ]);
});

Deno.test("views: panic guard publishes every target ready when none is healthy", () => {
  const all = statuses({ [A]: "unhealthy", [B]: "unhealthy" });
  const view = serviceView(serviceConfig([A, B]), all, new Map());
  assert.equal(view.panic, true);
  assert.ok(view.endpoints.every((e) => e.ready));
  const empty = serviceView(
    serviceConfig([A, B], { publish: { ...PUBLISH_DEFAULTS, allDown: "empty" } }),
    all,
    new Map(),
  );
  assert.equal(empty.panic, false);
  assert.ok(empty.endpoints.every((e) => !e.ready));
});

Deno.test("views: no panic while verdicts are still unknown", () => {
  const view = serviceView(serviceConfig([A, B]), statuses({}), new Map());
  assert.equal(view.panic, false);
});

Deno.test("views: zone and hostname are carried to the endpoint", () => {
  const view = serviceView(
    serviceConfig([{ address: A, zone: "zone-a", hostname: "broker-1" }]),
    statuses({ [A]: "healthy" }),
    new Map(),
  );
  assert.deepEqual(view.endpoints[0], {
    address: A,
    ready: true,
    serving: true,
    zone: "zone-a",
    hostname: "broker-1",
  });
});

Deno.test("views: addresses sort numerically, IPv4 before IPv6", () => {
  const sorted = ["2001:db8::10", "192.0.2.10", "2001:db8::9", "192.0.2.9", "2001:db8:0:1::"]
    .sort(compareAddresses);
  assert.deepEqual(sorted, [
    "192.0.2.9",
    "192.0.2.10",
    "2001:db8::9",
    "2001:db8::10",
    "2001:db8:0:1::",
  ]);
});

Deno.test("views: a target whose checks so far failed is failing, not unknown", () => {
  const thresholds = { rise: 2, fall: 3, now: 1 };
  const fresh = initialHealth(0);
  assert.equal(viewStatus(fresh), "unknown");
  const failed = nextHealth(fresh, { ok: false, error: "timeout" }, thresholds).health;
  assert.equal(viewStatus(failed), "failing");
  assert.equal(viewStatus(nextHealth(failed, { ok: true }, thresholds).health), "healthy");
});

Deno.test("views: failing targets are not ready beside healthy ones, keep what the API shows", () => {
  const view = serviceView(
    serviceConfig([A, B, C]),
    statuses({ [A]: "healthy", [B]: "failing", [C]: "failing" }),
    new Map([[C, true]]),
  );
  assert.deepEqual(view.endpoints.map((e) => [e.address, e.ready]), [[A, true], [B, false], [
    C,
    true,
  ]]);
  assert.equal(view.panic, false);
});

Deno.test("views: the panic guard counts failing targets without a verdict", () => {
  const view = serviceView(
    serviceConfig([A, B]),
    statuses({ [A]: "failing", [B]: "failing" }),
    new Map(),
  );
  assert.equal(view.panic, true);
  assert.ok(view.endpoints.every((e) => e.ready));
  const mixed = serviceView(
    serviceConfig([A, B]),
    statuses({ [A]: "failing", [B]: "unknown" }),
    new Map(),
  );
  assert.equal(mixed.panic, true, "no target is healthy and one is failing");
});

Deno.test("views: after a restart a target kept ready as shown holds the panic guard off", () => {
  // The dead target's first failed check comes before the live ones' first checks.
  const shown = new Map([[A, true], [B, true], [C, false]]);
  const view = serviceView(serviceConfig([A, B, C]), statuses({ [C]: "failing" }), shown);
  assert.equal(view.panic, false);
  assert.deepEqual(view.endpoints.map((e) => [e.address, e.ready]), [[A, true], [B, true], [
    C,
    false,
  ]]);
  const allFailing = serviceView(
    serviceConfig([A, B, C]),
    statuses({ [A]: "failing", [B]: "failing", [C]: "failing" }),
    shown,
  );
  assert.equal(allFailing.panic, false, "kept as shown until the verdicts");
  assert.deepEqual(allFailing.endpoints.map((e) => e.ready), [true, true, false]);
});
