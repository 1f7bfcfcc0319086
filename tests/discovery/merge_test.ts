import assert from "node:assert/strict";
import { mergeTargets, sameTargets } from "../../src/discovery/merge.ts";
import { guardDecision, isDrasticShrink } from "../../src/discovery/guard.ts";

const service = { targets: [{ address: "192.0.2.1", zone: "a" }], probe: { port: 9092 } } as never;

Deno.test("configured targets come first and win; each source's set is ordered by address", () => {
  const merged = mergeTargets(
    service,
    new Map([
      ["dns x", [{ address: "192.0.2.9" }, { address: "192.0.2.1", zone: "b" }, {
        address: "2001:DB8::5",
      }, { address: "192.0.2.3", hostname: "Broker-3" }]],
      ["nodes", [{ address: "192.0.2.3", zone: "z" }, { address: "192.0.2.2", region: "r" }]],
    ]),
  );
  assert.deepEqual(merged.targets, [
    { address: "192.0.2.1", zone: "a" },
    { address: "192.0.2.3", hostname: "broker-3", source: "dns x" },
    { address: "192.0.2.9", source: "dns x" },
    { address: "2001:db8::5", source: "dns x" },
    { address: "192.0.2.2", region: "r", source: "nodes" },
  ]);
  assert.deepEqual(merged.skipped, []);
});

Deno.test("addresses the API rejects and targets on another port are skipped with a reason", () => {
  const merged = mergeTargets(
    service,
    new Map([["dns x", [
      { address: "127.0.0.1" },
      { address: "169.254.1.1" },
      { address: "0.0.0.0" },
      { address: "fe80::1" },
      { address: "not-an-ip" },
      { address: "192.0.2.4", port: 9093 },
      { address: "192.0.2.5", port: 9092, hostname: "not a label" },
    ]]]),
  );
  assert.deepEqual(merged.targets.map((t) => [t.address, t.hostname]), [
    ["192.0.2.1", undefined],
    ["192.0.2.5", undefined],
  ]);
  assert.deepEqual(merged.skipped.map((s) => `${s.address}: ${s.reason}`), [
    "127.0.0.1: '127.0.0.1' is a loopback address, which the Kubernetes API rejects for endpoints",
    "169.254.1.1: '169.254.1.1' is a link-local address, which the Kubernetes API rejects for endpoints",
    "0.0.0.0: '0.0.0.0' is the unspecified address, which the Kubernetes API rejects for endpoints",
    "fe80::1: 'fe80::1' is a link-local address, which the Kubernetes API rejects for endpoints",
    "not-an-ip: 'not-an-ip' is not an IP address",
    "192.0.2.4: port 9093 is not the probe's port 9092",
  ]);
});

Deno.test("the same sets in another order merge to the same list", () => {
  const a = mergeTargets(
    service,
    new Map([["s", [{ address: "192.0.2.8" }, { address: "192.0.2.7" }]]]),
  );
  const b = mergeTargets(
    service,
    new Map([["s", [{ address: "192.0.2.7" }, { address: "192.0.2.8" }]]]),
  );
  assert.ok(sameTargets(a.targets, b.targets));
  const c = mergeTargets(service, new Map([["s", [{ address: "192.0.2.7", zone: "q" }]]]));
  assert.ok(!sameTargets(a.targets, c.targets));
});

const settings = { maxDrop: 0.5, hold: 60_000 };
const set = (n: number) => Array.from({ length: n }, (_, i) => ({ address: `192.0.2.${i + 1}` }));

Deno.test("a drastic shrink is empty, or losing more than maxDrop of the set", () => {
  assert.equal(isDrasticShrink(10, 0, 0.5), true);
  assert.equal(isDrasticShrink(10, 4, 0.5), true);
  assert.equal(isDrasticShrink(10, 5, 0.5), false);
  assert.equal(isDrasticShrink(10, 12, 0.5), false);
  assert.equal(isDrasticShrink(0, 0, 0.5), false);
  assert.equal(isDrasticShrink(1, 0, 1), true);
  assert.equal(isDrasticShrink(4, 1, 1), false);
});

Deno.test("the guard holds a shrink, follows the latest candidate, and applies it when the hold ends", () => {
  assert.deepEqual(guardDecision(undefined, [], { settings, now: 0 }), { action: "apply" });
  assert.deepEqual(guardDecision(set(4), set(3), { settings, now: 0 }), { action: "apply" });
  const first = guardDecision(set(4), [], { settings, now: 1000 });
  assert.equal(first.action, "hold");
  if (first.action !== "hold") return;
  assert.deepEqual(first.held, { since: 1000, until: 61_000, from: 4, candidate: [] });
  const later = guardDecision(set(4), set(1), { settings, now: 30_000, held: first.held });
  assert.equal(later.action, "hold");
  if (later.action !== "hold") return;
  assert.equal(later.held.until, 61_000, "a new candidate does not extend the hold");
  assert.deepEqual(later.held.candidate, set(1));
  assert.deepEqual(guardDecision(set(4), set(1), { settings, now: 61_000, held: later.held }), {
    action: "apply",
  });
  // The source came back within the hold: its set is applied and the shrink never happened.
  assert.deepEqual(guardDecision(set(4), set(4), { settings, now: 40_000, held: later.held }), {
    action: "apply",
  });
  assert.deepEqual(guardDecision(set(4), [], { settings: { ...settings, hold: 0 }, now: 0 }), {
    action: "apply",
  });
});
