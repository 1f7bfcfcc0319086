/**
 * The short soak of CI (issue 16): the agent with 1,000 targets for two minutes, a fault every
 * 20 s (refused, black-holed, flapping targets, the API server stopped, a whole Service down,
 * hanging targets), against its own API server. Asserted: the agent never exits unasked and
 * exits 0 on SIGTERM, its open descriptors do not grow beyond noise (connections in flight), and
 * its RSS stays bounded. The RSS slope of two minutes is noise: printed, not asserted.
 */

import assert from "node:assert/strict";
import { runSoak, soakTable } from "../../bench/soak.ts";

/** Descriptors the end may hold above the start: connections and requests in flight. */
const FD_NOISE = 20;
/** RSS bound with 1,000 targets (the bench measures ~110 MiB; the budget is 150 at 5,000). */
const RSS_BOUND_MIB = 200;

Deno.test("soak: two minutes with 1,000 targets and faults leak no descriptors and stay bounded", async () => {
  const report = await runSoak({ minutes: 2, targets: 1000, faultEverySeconds: 20 });
  console.log(soakTable(report).join("\n"));
  assert.equal(report.crashed, undefined, "the agent exited unasked");
  assert.equal(report.exitCode, 0);
  assert.equal(report.targets, 1000);
  assert.ok([...report.faults.values()].reduce((a, b) => a + b, 0) >= 4, "faults injected");
  const first = report.samples[0]!, last = report.samples.at(-1)!;
  assert.ok(
    last.fds - first.fds <= FD_NOISE,
    `descriptors grew from ${first.fds} to ${last.fds}`,
  );
  const maxRss = Math.max(...report.samples.map((s) => s.rssMiB));
  assert.ok(maxRss <= RSS_BOUND_MIB, `RSS reached ${maxRss.toFixed(1)} MiB`);
  assert.ok(report.writes > 0, "the faults were published");
});
