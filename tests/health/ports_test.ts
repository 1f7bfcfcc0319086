import assert from "node:assert/strict";
import type { ProbeCheck, ServiceConfig, ServicePort } from "../../src/config/schema.ts";
import {
  nextCheckHealths,
  portGuards,
  portStatuses,
  samePortStatuses,
} from "../../src/health/ports.ts";
import { initialHealth, type TargetHealth } from "../../src/health/state.ts";
import { serviceConfig } from "../support/fakes.ts";

const KAFKA: ServicePort = { name: "kafka", port: 9092, protocol: "TCP" };
const HTTP: ServicePort = { name: "http", port: 8080, protocol: "TCP" };

function config(ports: ServicePort[], checks?: ProbeCheck[]): ServiceConfig {
  return serviceConfig(["192.0.2.1"], { ports, ...(checks ? { checks } : {}) });
}

Deno.test("ports: one port, one check, or checks that all guard every port: no per-port health", () => {
  assert.equal(
    portGuards(config([KAFKA], [{ type: "kafka", port: 9092 }, { type: "redpanda", port: 9644 }])),
    undefined,
  );
  assert.equal(portGuards(config([KAFKA, HTTP])), undefined);
  assert.equal(portGuards(config([KAFKA, HTTP], [{ type: "tcp", port: 9092 }])), undefined);
  // Both checks on ports not published: they speak for the target as a whole.
  assert.equal(
    portGuards(
      config([KAFKA, HTTP], [{ type: "redpanda", port: 9644 }, { type: "tcp", port: 22 }]),
    ),
    undefined,
  );
});

Deno.test("ports: a check on a published port guards it; one on another port guards all", () => {
  assert.deepEqual(
    portGuards(
      config([KAFKA, HTTP], [{ type: "kafka", port: 9092 }, { type: "http", port: 8080 }]),
    ),
    new Map([["kafka", [0]], ["http", [1]]]),
  );
  assert.deepEqual(
    portGuards(
      config([KAFKA, HTTP], [
        { type: "http", port: 8080 },
        { type: "redpanda", port: 9644 },
        { type: "kafka", port: 9092 },
      ]),
    ),
    new Map([["kafka", [1, 2]], ["http", [0, 1]]]),
  );
  // A published port without a check of its own is guarded by every check (null).
  const admin: ServicePort = { name: "admin", port: 9644, protocol: "TCP" };
  assert.deepEqual(
    portGuards(
      config([KAFKA, HTTP, admin], [{ type: "kafka", port: 9092 }, {
        type: "redpanda",
        port: 9644,
      }]),
    ),
    new Map([["kafka", [0]], ["http", null], ["admin", [1]]]),
  );
});

Deno.test("ports: each check keeps its own rise/fall from its own result", () => {
  const options = { rise: 2, fall: 2, now: 5, count: 2 };
  const result = (kafka: boolean, http: boolean) => ({
    ok: kafka && http,
    error: "x",
    results: [{ result: { ok: kafka } }, { result: { ok: http, error: "http 503" } }],
  });
  let healths = nextCheckHealths(undefined, result(true, false), options);
  assert.deepEqual(healths.map((h) => [h.status, h.failures]), [["healthy", 0], ["unknown", 1]]);
  healths = nextCheckHealths(healths, result(true, false), options);
  assert.deepEqual(healths.map((h) => h.status), ["healthy", "unhealthy"]);
  assert.equal(healths[1]!.lastError, "http 503");
  // Without per-check results every check takes the combined outcome.
  healths = nextCheckHealths(undefined, { ok: false, error: "refused" }, options);
  assert.deepEqual(healths.map((h) => h.failures), [1, 1]);
});

Deno.test("ports: a port's status combines its guards; a whole-target port takes the target's", () => {
  const guards = new Map([["kafka", [0, 2]], ["http", [1, 2]], ["admin", null]]);
  const health = (status: TargetHealth["status"], failures = 0): TargetHealth => ({
    ...initialHealth(0),
    status,
    failures,
  });
  assert.deepEqual(
    portStatuses(guards, "unhealthy", [
      health("healthy"),
      health("unhealthy", 3),
      health("healthy"),
    ]),
    new Map([["kafka", "healthy"], ["http", "unhealthy"], ["admin", "unhealthy"]]),
  );
  assert.deepEqual(
    portStatuses(guards, "unknown", [health("unknown", 1), health("unknown"), health("healthy")]),
    new Map([["kafka", "failing"], ["http", "unknown"], ["admin", "unknown"]]),
  );
  // A target-wide check that is down takes every port down.
  assert.deepEqual(
    portStatuses(guards, "unhealthy", [health("healthy"), health("healthy"), health("unhealthy")]),
    new Map([["kafka", "unhealthy"], ["http", "unhealthy"], ["admin", "unhealthy"]]),
  );
  assert.deepEqual(portStatuses(guards, "unknown", undefined).get("kafka"), "unknown");
  assert.ok(samePortStatuses(undefined, undefined));
  assert.ok(!samePortStatuses(new Map([["kafka", "healthy"]]), undefined));
  assert.ok(!samePortStatuses(new Map([["kafka", "healthy"]]), new Map([["kafka", "failing"]])));
  assert.ok(samePortStatuses(new Map([["kafka", "healthy"]]), new Map([["kafka", "healthy"]])));
});
