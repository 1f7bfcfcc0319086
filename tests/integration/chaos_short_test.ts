/**
 * The short chaos run of CI (issue 16): two minutes of seed 533 (`deno task chaos --seed 533
 * --minutes 2` plays the same), whose first episodes include an API server stop and hang, agent
 * SIGKILL and SIGTERM with two replicas sharing the Services by Lease, webhook 429 and 5xx, a
 * whole Service down under each panic-guard setting, and target kills, restarts, hangs and
 * flaps. It runs its own API server (it stops it). What is asserted is what the run checks from
 * outside: no invariant broken, and the faults really were injected and recovered from.
 */

import assert from "node:assert/strict";
import { agentReloads, chaosTable, runChaos } from "../chaos/chaos.ts";

const SEED = 533;

Deno.test("chaos: two minutes of seeded faults break no invariant", async () => {
  const report = await runChaos({
    seed: SEED,
    minutes: 2,
    reload: await agentReloads(),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  console.log(chaosTable(report).join("\n"));
  assert.deepEqual(report.violations, []);
  // The run did what it claims: several kinds of fault, each followed by a recovery.
  assert.ok(report.episodesRun >= 5, `${report.episodesRun} episodes`);
  assert.ok(report.faults.size >= 5, `kinds: ${[...report.faults.keys()]}`);
  assert.ok(report.recoveries.length >= report.episodesRun);
  assert.ok(report.detections.length > 0, "some target was seen going down");
  assert.ok(report.agentStarts > 2 || !report.faults.has("agent-kill"), "a replica restarted");
});
