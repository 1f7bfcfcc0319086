/**
 * Per-zone companion Services end to end (issue 15, `zones.services`): the real agent process
 * against the real API server, four brokers in two zones, a (.181, .182) and b (.183, .184),
 * plus zone c (.185). The agent creates the headless Services `brokers-a`, `brokers-b`,
 * `brokers-c`; each shows its zone's brokers. Zone a dies: `brokers-a` fails over to its
 * preferred zone c (and, c being too small alone, b), keeping a's brokers listed not ready;
 * zone a comes back: `brokers-a` shows a alone again.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { createService, type Json, recordSlices } from "../support/service.ts";
import { startTarget } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";

const A1 = "192.0.2.181", A2 = "192.0.2.182", B1 = "192.0.2.183", B2 = "192.0.2.184";
const C1 = "192.0.2.185";
const BROKERS = [
  { address: A1, zone: "a" },
  { address: A2, zone: "a" },
  { address: B1, zone: "b" },
  { address: B2, zone: "b" },
  { address: C1, zone: "c" },
];
const KAFKA = 9092;

/** `address: ready` of a slice. */
function readiness(slice: Json): Record<string, boolean> {
  return Object.fromEntries(
    (slice.endpoints ?? []).map((e: Json) => [e.addresses[0], e.conditions?.ready !== false]),
  );
}

Deno.test("per-zone Services: each shows its zone; a dead zone's Service fails over to its preferred zones and back", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = [];
  for (const { address } of BROKERS) {
    await net.addAddress(address);
    targets.push(await startTarget(net, { address, port: KAFKA }));
  }
  const dir = await Deno.makeTempDir({ prefix: "helaseid-zone-services-" });
  const namespace = await cluster.createNamespace("zone-services");
  await createService(cluster, namespace);
  await using slices = await recordSlices(cluster, namespace);
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      services: [{
        name: "brokers",
        namespace,
        ports: [{ name: "kafka", port: KAFKA }],
        targets: BROKERS,
        probe: { interval: "300ms", timeout: "200ms", rise: 1, fall: 2 },
        publish: { createService: true },
        zones: { preferences: { a: ["c", "b"] }, services: true, hints: false },
      }],
    }),
  );
  const agent = await startAgent({
    args: runArgs(config, cluster.kubeconfigPath, freePort()),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  /** Waits until the slice of Service `service` as a watch client sees it is `expected`. */
  const shows = (service: string, expected: Record<string, boolean>) =>
    untilValue(`${service} shows ${JSON.stringify(expected)}`, () => {
      const last = slices.events.filter((e) =>
        e.object.metadata.name === `${service}-helaseid-ipv4`
      ).at(-1);
      const shown = last && last.type !== "DELETED" ? readiness(last.object) : undefined;
      return JSON.stringify(shown) === JSON.stringify(expected) ? shown : undefined;
    });
  try {
    await shows("brokers-a", { [A1]: true, [A2]: true });
    await shows("brokers-b", { [B1]: true, [B2]: true });
    await shows("brokers-c", { [C1]: true });
    for (const zone of ["a", "b", "c"]) {
      const service = JSON.parse(
        await cluster.kubectlOk([
          "get",
          "service",
          `brokers-${zone}`,
          "-n",
          namespace,
          "-o",
          "json",
        ]),
      );
      assert.equal(service.spec.clusterIP, "None", `brokers-${zone} is headless`);
      assert.equal(service.spec.selector, undefined);
    }

    // Zone a dies: brokers-a lists a's brokers not ready and borrows c, then b (c alone, one
    // broker, × 1.4 is short of a's two).
    await targets[0]!.setMode("refuse");
    await targets[1]!.setMode("refuse");
    await shows("brokers-a", { [A1]: false, [A2]: false, [B1]: true, [B2]: true, [C1]: true });
    // The other zones' Services are unchanged.
    await shows("brokers-b", { [B1]: true, [B2]: true });
    await shows("brokers-c", { [C1]: true });

    // Zone a is back: its Service shows it alone again.
    await targets[0]!.setMode("accept");
    await targets[1]!.setMode("accept");
    await shows("brokers-a", { [A1]: true, [A2]: true });
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
