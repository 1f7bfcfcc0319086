/**
 * Zone hints end to end (issue 15): the real agent process against the real API server, six
 * brokers in three zones (two each). Every EndpointSlice event a watch client sees is checked
 * for the all-or-none invariant kube-proxy needs (every ready endpoint has `hints.forZones`, or
 * none has; at most 8 zones each; every zone served while anything is ready), while zone a
 * loses both brokers, borrows its preferred zone c, a reload changes its preference to b, and
 * zone a comes back.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { createService, recordSlices } from "../support/service.ts";
import { startTarget } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { MARKER_PREFIX, type SeenEvent } from "../support/watch.ts";

const ZONES = ["a", "b", "c"] as const;
/** Two brokers per zone: a → .161 .162, b → .163 .164, c → .165 .166. */
const BROKERS = ZONES.flatMap((zone, z) =>
  [1, 2].map((i) => ({ address: `192.0.2.${160 + z * 2 + i}`, zone, region: "test" }))
);
const KAFKA = 9092;
const SLICE = "brokers-helaseid-ipv4";

/** `address → sorted forZones` of the ready endpoints of a slice (`[]`: ready, no hints). */
// deno-lint-ignore no-explicit-any
function hintsOf(slice: any): Record<string, string[]> {
  return Object.fromEntries(
    // deno-lint-ignore no-explicit-any
    (slice.endpoints ?? []).filter((e: any) => e.conditions?.ready !== false).map((e: any) => [
      e.addresses[0],
      // deno-lint-ignore no-explicit-any
      (e.hints?.forZones ?? []).map((z: any) => z.name).sort(),
    ]),
  );
}

/** The invariants kube-proxy needs, on one watch event; a message when broken. */
function broken(event: SeenEvent): string | undefined {
  if (event.type === "DELETED") return undefined;
  const hints = Object.values(hintsOf(event.object));
  const hinted = hints.filter((zones) => zones.length > 0);
  if (hinted.length !== 0 && hinted.length !== hints.length) {
    return `${hinted.length} of ${hints.length} ready endpoints have hints`;
  }
  if (hints.some((zones) => zones.length > 8)) return "more than 8 zones on an endpoint";
  if (hinted.length > 0) {
    const served = new Set(hinted.flat());
    const missing = ZONES.filter((zone) => !served.has(zone));
    if (missing.length > 0) return `zones ${missing} are served by no endpoint`;
  }
  return undefined;
}

Deno.test("zone hints: all or none on every watch event while a zone dies, borrows its preferred zone, a reload changes the preference, and the zone comes back", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = [];
  for (const broker of BROKERS) {
    await net.addAddress(broker.address);
    targets.push(await startTarget(net, { address: broker.address, port: KAFKA }));
  }
  const dir = await Deno.makeTempDir({ prefix: "helaseid-zones-" });
  const namespace = await cluster.createNamespace("zones");
  await createService(cluster, namespace);
  await using slices = await recordSlices(cluster, namespace);
  const config = `${dir}/config.json`;
  const write = (preferences: Record<string, string[]>) =>
    Deno.writeTextFile(
      config,
      JSON.stringify({
        services: [{
          name: "brokers",
          namespace,
          ports: [{ name: "kafka", port: KAFKA }],
          targets: BROKERS,
          probe: { interval: "300ms", timeout: "200ms", rise: 1, fall: 2 },
          zones: { preferences },
        }],
      }),
    );
  await write({ a: ["c", "b"] });
  const agent = await startAgent({
    args: runArgs(config, cluster.kubeconfigPath, freePort()),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const [a1, a2, b1, b2, c1, c2] = BROKERS.map((b) => b.address) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  /** Waits until the slice as a watch client sees it carries exactly `expected`. */
  const settle = (label: string, expected: Record<string, string[]>) =>
    untilValue(label, () => {
      const last = slices.events.filter((e) => e.object.metadata.name === SLICE).at(-1);
      const shown = last && last.type !== "DELETED" ? hintsOf(last.object) : undefined;
      return JSON.stringify(shown) === JSON.stringify(expected) ? shown : undefined;
    });
  try {
    await settle("every zone serves itself", {
      [a1]: ["a"],
      [a2]: ["a"],
      [b1]: ["b"],
      [b2]: ["b"],
      [c1]: ["c"],
      [c2]: ["c"],
    });

    // One broker of zone a dies: 1 of 2 ready × 1.4 < 1, so a borrows its first choice, c.
    await targets[0]!.setMode("refuse");
    await settle("a half down borrows c", {
      [a2]: ["a"],
      [b1]: ["b"],
      [b2]: ["b"],
      [c1]: ["a", "c"],
      [c2]: ["a", "c"],
    });
    // The whole zone dies: its clients keep c.
    await targets[1]!.setMode("refuse");
    await settle("a down borrows c", {
      [b1]: ["b"],
      [b2]: ["b"],
      [c1]: ["a", "c"],
      [c2]: ["a", "c"],
    });

    // A reload prefers b for a: the hints move from c to b, no restart.
    await write({ a: ["b", "c"] });
    await settle("a down borrows b after the reload", {
      [b1]: ["a", "b"],
      [b2]: ["a", "b"],
      [c1]: ["c"],
      [c2]: ["c"],
    });

    // Zone a comes back: every zone serves itself again.
    await targets[0]!.setMode("accept");
    await targets[1]!.setMode("accept");
    await settle("a back", {
      [a1]: ["a"],
      [a2]: ["a"],
      [b1]: ["b"],
      [b2]: ["b"],
      [c1]: ["c"],
      [c2]: ["c"],
    });

    const seen = slices.events.filter((e) => !e.object.metadata.name.startsWith(MARKER_PREFIX));
    assert.ok(seen.length >= 5, `saw ${seen.length} events`);
    for (const [i, event] of seen.entries()) {
      assert.equal(broken(event), undefined, `event ${i} (${event.type}) breaks the invariant`);
    }
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
