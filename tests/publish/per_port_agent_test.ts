/**
 * Per-port health through the agent on a fake clock: each check's own verdict decides its
 * port, a change on one port alone (no change of the target's verdict) is written, and a
 * steady state writes nothing.
 */

import assert from "node:assert/strict";
import { Agent } from "../../src/agent.ts";
import type { Config, ServiceConfig } from "../../src/config/schema.ts";
import type { MemoryKube } from "../../src/kube/memory.ts";
import type { EndpointSliceObject } from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import type { CheckSetResult } from "../../src/probe/all.ts";
import type { ProbeCheck, ProbeRequest } from "../../src/probe/types.ts";
import { FakeClock, kubeWithService, serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1", B = "192.0.2.2";
const CHECKS: ProbeCheck[] = [{ type: "tcp", port: 9092 }, { type: "http", port: 8080 }];

function twoPorts(): ServiceConfig {
  return serviceConfig([A, B], {
    ports: [{ name: "kafka", port: 9092, protocol: "TCP" }, {
      name: "http",
      port: 8080,
      protocol: "TCP",
    }],
    checks: CHECKS,
  });
}

/** A prober answering each check from `up` (address → [tcp ok, http ok]) after 1 ms. */
function prober(clock: FakeClock, up: Map<string, [boolean, boolean]>) {
  return (request: ProbeRequest): Promise<CheckSetResult> =>
    new Promise((resolve) =>
      clock.setTimeout(() => {
        const oks = up.get(request.address) ?? [true, true];
        const results = CHECKS.map((check, i) => ({
          check,
          result: oks[i] ? { ok: true, latency: 1 } : { ok: false, latency: 1, error: "refused" },
        }));
        const failed = results.find((r) => !r.result.ok);
        resolve({ ok: !failed, latency: 1, ...(failed ? { error: "refused" } : {}), results });
      }, 1)
    );
}

/** Every slice of ours: name → {address: ready}, and its port names. */
function slices(kube: MemoryKube) {
  const names = [
    "brokers-helaseid-ipv4",
    "brokers-helaseid-ipv4.kafka",
    "brokers-helaseid-ipv4.http",
  ];
  return Object.fromEntries(names.flatMap((name) => {
    const slice = kube.get({ resource: "endpointslices", namespace: "datastream", name }) as
      | EndpointSliceObject
      | undefined;
    if (!slice) return [];
    const ready = Object.fromEntries(
      (slice.endpoints ?? []).map((e) => [e.addresses[0], e.conditions?.ready ?? false]),
    );
    return [[name, { ports: (slice.ports ?? []).map((p) => p.name).join(","), ready }]];
  }));
}

Deno.test("per-port agent: each port follows its own check; a change on one port alone is written; steady state writes nothing", async () => {
  const clock = new FakeClock();
  const service = twoPorts();
  const kube = kubeWithService(service);
  const up = new Map<string, [boolean, boolean]>();
  const config: Config = { format: "structured", services: [service], alerts: {} };
  const agent = new Agent({
    config,
    client: kube,
    log: silentLogger(),
    clock,
    prober: prober(clock, up),
    random: () => 0,
  });
  agent.start();
  const { interval, fall } = service.probe;
  await clock.advance(50);
  assert.deepEqual(slices(kube), {
    "brokers-helaseid-ipv4": { ports: "http,kafka", ready: { [A]: true, [B]: true } },
  });

  // B's http check fails: after `fall` checks B is on kafka alone.
  up.set(B, [true, false]);
  await clock.advance(interval * fall + 10);
  assert.deepEqual(slices(kube), {
    "brokers-helaseid-ipv4": { ports: "http,kafka", ready: { [A]: true } },
    "brokers-helaseid-ipv4.kafka": { ports: "kafka", ready: { [B]: true } },
  });
  const status = agent.status()[0]!.targets.find((t) => t.address === B)!;
  assert.equal(status.status, "unhealthy");

  // Steady state: nothing written over many intervals.
  const writes = kube.writes.length;
  await clock.advance(interval * 50);
  assert.equal(kube.writes.length, writes, "steady state: zero writes");

  // Its tcp check fails too: no new verdict of the target, yet its kafka port goes.
  up.set(B, [false, false]);
  await clock.advance(interval * fall + 10);
  assert.deepEqual(slices(kube), {
    "brokers-helaseid-ipv4": { ports: "http,kafka", ready: { [A]: true, [B]: false } },
  });
  assert.deepEqual(
    kube.writes.slice(writes).map((w) => `${w.verb} ${w.resource}/${w.name}`).sort(),
    [
      "apply endpoints/brokers",
      "apply endpointslices/brokers-helaseid-ipv4",
      "delete endpointslices/brokers-helaseid-ipv4.kafka",
    ],
  );

  // Recovered on both: back in the full-port slice (rise 2).
  up.delete(B);
  await clock.advance(interval * service.probe.rise + 10);
  assert.deepEqual(slices(kube), {
    "brokers-helaseid-ipv4": { ports: "http,kafka", ready: { [A]: true, [B]: true } },
  });
  const stopping = agent.stop();
  await clock.advance(1000);
  await stopping;
});
