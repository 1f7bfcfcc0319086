/**
 * Primary pinning end to end (issue 15, designate mode): the real agent process against the
 * real API server. Three targets, a (IPv4, zone a, preferred), b (IPv6, zone b), c (IPv4,
 * zone c). The agent creates `brokers-primary` and shows a there; a falls → b (another
 * address family, so another slice); a comes back and is not taken back before
 * `failbackAfter`, then is; a restart keeps the primary the API shows. On every watch event of the primary Service's EndpointSlices
 * (summed over both families' slices) and of its Endpoints, at most one endpoint is ready.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { createService, type Json, recordSlices } from "../support/service.ts";
import { startTarget } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { record, type SeenEvent } from "../support/watch.ts";

const A = "192.0.2.171", B = "2001:db8::172", C = "192.0.2.173";
const KAFKA = 9092;
const PRIMARY = "brokers-primary";

/** Ready addresses of a slice. */
function readySlice(slice: Json): string[] {
  return (slice.endpoints ?? []).filter((e: Json) => e.conditions?.ready !== false)
    .map((e: Json) => e.addresses[0]);
}

/** Ready addresses of an Endpoints object. */
function readyEndpoints(endpoints: Json): string[] {
  return (endpoints.subsets ?? []).flatMap((s: Json) => (s.addresses ?? []).map((a: Json) => a.ip));
}

/** The ready addresses of the primary Service's slices after each event, in order. */
function sliceHistory(events: readonly SeenEvent[]): string[][] {
  const state = new Map<string, string[]>();
  const history: string[][] = [];
  for (const event of events) {
    const object = event.object;
    if (object.metadata?.labels?.["kubernetes.io/service-name"] !== PRIMARY) continue;
    state.set(object.metadata.name, event.type === "DELETED" ? [] : readySlice(object));
    history.push([...state.values()].flat().sort());
  }
  return history;
}

Deno.test("primary: at most one ready endpoint on every watch event through failover to another family, no failback before failbackAfter, then failback", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = [];
  for (const address of [A, B, C]) {
    await net.addAddress(address);
    targets.push(await startTarget(net, { address, port: KAFKA }));
  }
  const dir = await Deno.makeTempDir({ prefix: "helaseid-primary-" });
  const namespace = await cluster.createNamespace("primary");
  await createService(cluster, namespace);
  await using slices = await recordSlices(cluster, namespace);
  await using endpoints = await record(
    cluster.kubeconfigPath,
    `/api/v1/namespaces/${namespace}/endpoints`,
  );
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      services: [{
        name: "brokers",
        namespace,
        ports: [{ name: "kafka", port: KAFKA }],
        targets: [
          { address: A, zone: "a", region: "test" },
          { address: B, zone: "b", region: "test" },
          { address: C, zone: "c", region: "test" },
        ],
        probe: { interval: "300ms", timeout: "200ms", rise: 1, fall: 2 },
        publish: { createService: true },
        primary: { prefer: ["a", "b"], failbackAfter: "3s" },
      }],
    }),
  );
  const port = freePort();
  const start = () =>
    startAgent({
      args: runArgs(config, cluster.kubeconfigPath, port),
      echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
    });
  let agent = await start();
  const primaryIs = (label: string, address: string) =>
    untilValue(label, () => {
      const last = sliceHistory(slices.events).at(-1);
      const legacy = endpoints.events.filter((e) => e.object.metadata.name === PRIMARY).at(-1);
      const shown = legacy ? readyEndpoints(legacy.object) : [];
      return JSON.stringify(last) === JSON.stringify([address]) &&
          JSON.stringify(shown) === JSON.stringify([address])
        ? address
        : undefined;
    });
  try {
    await primaryIs("a is primary", A);
    const service = JSON.parse(
      await cluster.kubectlOk(["get", "service", PRIMARY, "-n", namespace, "-o", "json"]),
    );
    assert.equal(service.spec.selector, undefined, "the created primary Service has no selector");

    // a falls: the primary moves to b, the next preferred (an IPv6 address: another slice).
    await targets[0]!.setMode("refuse");
    await primaryIs("b is primary after a fell", B);
    const failover = await agent.waitForLog((l) => l.msg === "primary changed" && l.to === B);
    assert.equal(failover.reason, "failover");
    assert.equal(failover.from, A);

    // a comes back: its recovery is seen, and b stays primary until a has been healthy 3s.
    await targets[0]!.setMode("accept");
    await agent.waitForLog((l) => l.msg === "target healthy" && l.target === `${A}:${KAFKA}`);
    const recovered = slices.events.length;
    assert.deepEqual(sliceHistory(slices.events).at(-1), [B], "no failback at a's recovery");
    await primaryIs("a is primary again after failbackAfter", A);
    const failback = await agent.waitForLog((l) =>
      l.msg === "primary changed" && l.to === A && l.reason !== "initial"
    );
    assert.equal(failback.reason, "failback");
    assert.equal(failback.from, B);
    assert.ok(slices.events.length > recovered);

    // A restart keeps the primary the API shows: a falls again (b is primary), the agent is
    // restarted while a comes back; the new agent adopts b and fails back only on time.
    await targets[0]!.setMode("refuse");
    await primaryIs("b is primary again", B);
    assert.equal(await agent.stop(), 0);
    await targets[0]!.setMode("accept");
    agent = await start();
    const first = await agent.waitForLog((l) => l.msg === "primary changed");
    assert.deepEqual([first.from, first.to, first.reason], [B, A, "failback"]);
    await primaryIs("a is primary after the restart's failback", A);

    // Never two ready endpoints, on any event of either collection.
    const history = sliceHistory(slices.events);
    assert.ok(history.length >= 4, `saw ${history.length} primary slice events`);
    for (const [i, ready] of history.entries()) {
      assert.ok(ready.length <= 1, `slice event ${i}: ready ${ready}`);
    }
    const legacy = endpoints.events.filter((e) => e.object.metadata.name === PRIMARY);
    assert.ok(legacy.length >= 3);
    for (const [i, event] of legacy.entries()) {
      const ready = event.type === "DELETED" ? [] : readyEndpoints(event.object);
      assert.ok(ready.length <= 1, `Endpoints event ${i}: ready ${ready}`);
    }
    // The metric names the primary; the Service has Events with the reasons.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, new RegExp(`helaseid_primary\\{[^}]*target="${A}"[^}]*\\} 1`));
    const notes = await untilValue("PrimaryChanged Events", async () => {
      const list = JSON.parse(
        await cluster.kubectlOk(["get", "events.events.k8s.io", "-n", namespace, "-o", "json"]),
      );
      const found = list.items.filter((e: Json) => e.reason === "PrimaryChanged")
        .map((e: Json) => e.note as string);
      return found.some((n: string) => n.endsWith("failover")) &&
          found.some((n: string) => n.endsWith("failback"))
        ? found
        : undefined;
    });
    assert.ok(notes.some((n: string) => n === `Primary ${A} → ${B}: failover`), String(notes));
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
