/**
 * Primary pinning in `observe` mode end to end (issue 15): the real agent process against the
 * real API server, three database stand-ins (TCP on 5432) each with a Patroni-like HTTP role
 * endpoint on 8008 (`GET /primary` → 200 on the primary, 503 elsewhere). The primary Service
 * follows the claimant; a switchover moves it; two claimants keep the current one (and say so);
 * no claimant empties it (`noPrimary: empty`). On every watch event of its slice and its
 * Endpoints, at most one endpoint is ready.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { createService, type Json, recordSlices } from "../support/service.ts";
import { startTarget } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { record } from "../support/watch.ts";

const A = "192.0.2.191", B = "192.0.2.192", C = "192.0.2.193";
const PG = 5432, PATRONI = 8008;
const PRIMARY = "db-primary";

/** A Patroni stand-in on `address:8008`: `/primary` answers 200 while `primary` is set. */
function patroni(address: string) {
  const state = { primary: false, requests: 0 };
  const server = Deno.serve({ hostname: address, port: PATRONI, onListen: () => {} }, (req) => {
    state.requests++;
    const primary = new URL(req.url).pathname === "/primary" && state.primary;
    return new Response(primary ? "primary" : "replica", { status: primary ? 200 : 503 });
  });
  return { state, close: () => server.shutdown() };
}

function readySlice(slice: Json): string[] {
  return (slice.endpoints ?? []).filter((e: Json) => e.conditions?.ready !== false)
    .map((e: Json) => e.addresses[0]);
}

function readyEndpoints(endpoints: Json): string[] {
  return (endpoints.subsets ?? []).flatMap((s: Json) => (s.addresses ?? []).map((a: Json) => a.ip));
}

Deno.test("primary observe: the claimant is primary, a switchover moves it, two claimants keep it, none empties it; never two ready", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = [];
  for (const address of [A, B, C]) {
    await net.addAddress(address);
    targets.push(await startTarget(net, { address, port: PG }));
  }
  const roles = [patroni(A), patroni(B), patroni(C)];
  const [roleA, roleB] = roles as [ReturnType<typeof patroni>, ReturnType<typeof patroni>];
  roleA.state.primary = true;
  const dir = await Deno.makeTempDir({ prefix: "helaseid-observe-" });
  const namespace = await cluster.createNamespace("observe");
  await createService(cluster, namespace, {
    name: "db",
    ports: [{ name: "pg", port: PG, targetPort: PG, protocol: "TCP" }],
  });
  await createService(cluster, namespace, {
    name: PRIMARY,
    ports: [{ name: "pg", port: PG, targetPort: PG, protocol: "TCP" }],
  });
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
        name: "db",
        namespace,
        ports: [{ name: "pg", port: PG }],
        targets: [A, B, C],
        probe: { interval: "300ms", timeout: "200ms", rise: 1, fall: 2 },
        primary: {
          mode: "observe",
          check: { type: "http", port: PATRONI, path: "/primary", status: "200" },
        },
      }],
    }),
  );
  const agent = await startAgent({
    args: runArgs(config, cluster.kubeconfigPath, freePort()),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const lastSlice = () =>
    slices.events.filter((e) => e.object.metadata.name === `${PRIMARY}-helaseid-ipv4`).at(-1);
  const lastEndpoints = () =>
    endpoints.events.filter((e) => e.object.metadata.name === PRIMARY).at(-1);
  const primaryIs = (label: string, expected: string[]) =>
    untilValue(label, () => {
      const slice = lastSlice();
      const legacy = lastEndpoints();
      const shown = [
        slice ? readySlice(slice.object) : null,
        legacy ? readyEndpoints(legacy.object) : null,
      ];
      return JSON.stringify(shown) === JSON.stringify([expected, expected]) ? shown : undefined;
    });
  try {
    await primaryIs("A is primary", [A]);

    // Switchover: B is promoted, A demoted; the primary Service follows.
    roleA.state.primary = false;
    roleB.state.primary = true;
    await primaryIs("B is primary after the switchover", [B]);

    // Split brain: A claims too. B stays, and the agent says so.
    roleA.state.primary = true;
    // (A switchover is contested for a moment too, while the old primary's claim lasts.)
    const contested = await agent.waitForLog((l) =>
      l.msg === "more than one target claims to be primary: keeping the current one" &&
      l.from === B
    );
    assert.equal(contested.to, B);
    const seen = roles[0]!.state.requests;
    await untilValue(
      "more role checks of A",
      () => roles[0]!.state.requests >= seen + 3 || undefined,
    );
    assert.deepEqual(readySlice(lastSlice()!.object), [B]);

    // Nobody claims: the primary Service empties (noPrimary: empty).
    roleA.state.primary = false;
    roleB.state.primary = false;
    await primaryIs("no primary", []);

    for (const event of slices.events) {
      if (event.object.metadata.name !== `${PRIMARY}-helaseid-ipv4`) continue;
      assert.ok(readySlice(event.object).length <= 1, JSON.stringify(readySlice(event.object)));
    }
    for (const event of endpoints.events) {
      if (event.object.metadata.name !== PRIMARY) continue;
      assert.ok(readyEndpoints(event.object).length <= 1);
    }
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const role of roles) await role.close();
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
