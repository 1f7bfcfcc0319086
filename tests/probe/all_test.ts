import assert from "node:assert/strict";
import { proberForChecks } from "../../src/probe/all.ts";
import type { ProbeCheck, Prober, ProbeResult } from "../../src/probe/types.ts";

/** Probers that answer from a table by check type, recording each request. */
function scripted(answers: Record<string, ProbeResult>) {
  const made: ProbeCheck[] = [];
  const asked: string[] = [];
  const make = (check: ProbeCheck): Prober => {
    made.push(check);
    return (request) => {
      asked.push(`${check.type}@${check.port ?? request.port}`);
      return Promise.resolve(answers[check.type]!);
    };
  };
  return { make, made, asked };
}

const request = { address: "192.0.2.10", port: 9092, timeout: 1000 };

Deno.test("checks: every check runs; ok only when all pass; latency is the slowest", async () => {
  const { make, made, asked } = scripted({
    kafka: { ok: true, latency: 3, note: "kafka error 35" },
    redpanda: { ok: true, latency: 7 },
  });
  const checks: ProbeCheck[] = [{ type: "kafka", port: 9092 }, { type: "redpanda", port: 9644 }];
  const probe = proberForChecks(checks, {}, make);
  const result = await probe(request);
  assert.deepEqual(result, {
    ok: true,
    latency: 7,
    note: "kafka error 35",
    results: [
      { check: checks[0], result: { ok: true, latency: 3, note: "kafka error 35" } },
      { check: checks[1], result: { ok: true, latency: 7 } },
    ],
  });
  await probe(request);
  // One prober per check, made once and reused.
  assert.deepEqual(made, checks);
  assert.deepEqual(asked, ["kafka@9092", "redpanda@9644", "kafka@9092", "redpanda@9644"]);
});

Deno.test("checks: the first failed check in configuration order gives the reason", async () => {
  const { make } = scripted({
    kafka: { ok: false, latency: 1000, error: "timeout" },
    redpanda: { ok: false, latency: 2, error: "redpanda booting" },
    tls: { ok: true, latency: 4 },
  });
  const result = await proberForChecks(
    [{ type: "tls" }, { type: "redpanda" }, { type: "kafka" }],
    {},
    make,
  )(request);
  assert.deepEqual([result.ok, result.error, result.latency], [false, "redpanda booting", 1000]);
  assert.deepEqual(result.results.map((r) => r.result.ok), [true, false, false]);
});

Deno.test("checks: among several checks a network reason names its check; a protocol reason is kept", async () => {
  const { make } = scripted({
    kafka: { ok: false, latency: 1000, error: "timeout" },
    redpanda: { ok: false, latency: 2, error: "redpanda booting" },
    http: { ok: false, latency: 2, error: "http 503" },
  });
  const first = (checks: ProbeCheck[]) =>
    proberForChecks(checks, {}, make)(request).then((r) => r.error);
  assert.equal(await first([{ type: "kafka" }, { type: "redpanda" }]), "kafka: timeout");
  assert.equal(await first([{ type: "redpanda" }, { type: "kafka" }]), "redpanda booting");
  assert.equal(await first([{ type: "http" }, { type: "kafka" }]), "http 503");
  // One check: its reason as it is (the configuration names the type).
  assert.equal(await first([{ type: "kafka" }]), "timeout");
});

Deno.test("checks: none configured is a bare TCP connect on the request's port", async () => {
  const { make, made } = scripted({ tcp: { ok: true, latency: 1 } });
  const result = await proberForChecks(undefined, {}, make)(request);
  assert.deepEqual(made, [{ type: "tcp" }]);
  assert.equal(result.ok, true);
});
