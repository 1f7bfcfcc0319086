import assert from "node:assert/strict";
import { agree, expectedReady, readyDeadline, serviceView, viewCorrect } from "./invariants.ts";

const slice = (service: string, endpoints: [string, boolean | undefined][]) => ({
  metadata: { name: `${service}-x`, labels: { "kubernetes.io/service-name": service } },
  endpoints: endpoints.map(([ip, ready]) => ({
    addresses: [ip],
    conditions: ready === undefined ? {} : { ready },
  })),
});
const endpoints = (service: string, ready: string[], notReady: string[]) => ({
  metadata: { name: service },
  subsets: [{
    addresses: ready.map((ip) => ({ ip })),
    notReadyAddresses: notReady.map((ip) => ({ ip })),
  }],
});

Deno.test("serviceView: ready addresses of the Service's slices and Endpoints only", () => {
  const view = serviceView(
    "a",
    [
      slice("a", [["192.0.2.1", true], ["192.0.2.2", false], ["192.0.2.3", undefined]]),
      slice("b", [[
        "192.0.2.9",
        true,
      ]]),
    ],
    [endpoints("a", ["192.0.2.1", "192.0.2.3"], ["192.0.2.2"]), endpoints("b", ["192.0.2.9"], [])],
  );
  assert.deepEqual([...view.sliceReady].sort(), ["192.0.2.1", "192.0.2.3"]);
  assert.deepEqual([...view.sliceNotReady], ["192.0.2.2"]);
  assert.ok(agree(view));
  assert.ok(viewCorrect(view, new Set(["192.0.2.3", "192.0.2.1"])));
  assert.ok(!viewCorrect(view, new Set(["192.0.2.1"])));
});

Deno.test("serviceView: slices and Endpoints that disagree, or no Endpoints, are not correct", () => {
  const ready = new Set(["192.0.2.1"]);
  const stale = serviceView("a", [slice("a", [["192.0.2.1", true], ["192.0.2.2", false]])], [
    endpoints("a", ["192.0.2.1", "192.0.2.2"], []),
  ]);
  assert.ok(!agree(stale));
  assert.ok(!viewCorrect(stale, ready));
  const missing = serviceView("a", [slice("a", [["192.0.2.1", true]])], []);
  assert.equal(missing.endpointsReady, undefined);
  assert.ok(!viewCorrect(missing, ready));
});

Deno.test("expectedReady: live targets, or all / none when every one is dead", () => {
  const some = new Map([["a", true], ["b", false]]);
  assert.deepEqual([...expectedReady(some, "publishAll")], ["a"]);
  assert.deepEqual([...expectedReady(some, "empty")], ["a"]);
  const none = new Map([["a", false], ["b", false]]);
  assert.deepEqual([...expectedReady(none, "publishAll")], ["a", "b"]);
  assert.deepEqual([...expectedReady(none, "empty")], []);
});

Deno.test("readyDeadline: detection time, pushed past outages that overlap it", () => {
  assert.equal(readyDeadline(1000, 5000, []), 6000);
  // An outage long before or after the death does not matter.
  assert.equal(readyDeadline(10_000, 5000, [{ start: 0, end: 1000, allowanceMs: 2000 }]), 15_000);
  assert.equal(readyDeadline(1000, 5000, [{ start: 7000, end: 9000, allowanceMs: 2000 }]), 6000);
  // An outage during detection pushes the deadline to its end plus its allowance.
  assert.equal(readyDeadline(1000, 5000, [{ start: 3000, end: 8000, allowanceMs: 4000 }]), 12_000);
  // An outage that ended just before the death, still catching up, too.
  assert.equal(readyDeadline(1000, 5000, [{ start: 0, end: 900, allowanceMs: 9000 }]), 9900);
  // One push can reach into the next outage.
  assert.equal(
    readyDeadline(1000, 5000, [
      { start: 10_000, end: 11_000, allowanceMs: 1000 },
      { start: 2000, end: 8000, allowanceMs: 4000 },
    ]),
    12_000,
  );
  // While an outage that matters lasts, there is no deadline yet.
  assert.equal(readyDeadline(1000, 5000, [{ start: 2000, allowanceMs: 4000 }]), undefined);
  assert.equal(readyDeadline(1000, 5000, [{ start: 6000, allowanceMs: 4000 }]), 6000);
});
