import assert from "node:assert/strict";
import { SOAK_FAULTS, soakFault } from "../../bench/soak_faults.ts";

Deno.test("soak faults: a fixed rotation over every kind, on targets that exist", () => {
  const rounds = Array.from({ length: 24 }, (_, round) => soakFault(round, 10));
  assert.deepEqual(rounds.slice(0, SOAK_FAULTS.length).map((f) => f.kind), [...SOAK_FAULTS]);
  assert.deepEqual(rounds, Array.from({ length: 24 }, (_, round) => soakFault(round, 10)));
  for (const fault of rounds) {
    for (const [service, index] of fault.targets) {
      assert.ok(service >= 0 && service < 10 && index >= 0 && index < 100, `${service}/${index}`);
    }
    assert.ok(fault.durationMs > 0 && fault.durationMs <= 10_000);
  }
  assert.equal(soakFault(4, 10).targets.length, 100, "all-down takes the whole Service");
  assert.equal(soakFault(3, 10).targets.length, 0, "api-stop touches no target");
  // The faults move: two refusals of the rotation hit different targets.
  assert.notDeepEqual(soakFault(0, 10).targets, soakFault(6, 10).targets);
});
