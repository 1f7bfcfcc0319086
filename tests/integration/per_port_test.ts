/**
 * Per-port health end to end (issue 11.2): the real agent process against the real API server,
 * a Service publishing two ports, each guarded by its own check — `tcp` on 9092 (a simulated
 * target) and `http` on 8080 (a Deno.serve stand-in that can answer 503). A broker whose HTTP
 * side fails stays ready on 9092 (in the slice of that port alone) and leaves 8080; mended, it
 * is back in the full-port slice and the one-port slice is gone. With both sides down it is
 * listed not ready in the full-port slice, as with one port.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { createService, recordSlices } from "../support/service.ts";
import { startTarget } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { until, untilValue } from "../support/wait.ts";
import { fence, MARKER_PREFIX, readiness, type SeenEvent } from "../support/watch.ts";

const A = "192.0.2.201", B = "192.0.2.202";
const KAFKA = 9092, HTTP = 8080;
const FULL = "brokers-helaseid-ipv4";

/** An HTTP stand-in on `address:8080` answering `/healthz` with the status set. */
function httpServer(address: string) {
  const state = { status: 200, requests: 0 };
  const server = Deno.serve(
    { hostname: address, port: HTTP, onListen: () => {} },
    () => {
      state.requests++;
      return new Response("ok", { status: state.status });
    },
  );
  return { state, close: () => server.shutdown() };
}

/** The latest event of each slice, by name. */
function latest(events: readonly SeenEvent[]) {
  const state = new Map<string, SeenEvent>();
  for (const event of events) state.set(event.object.metadata.name, event);
  return state;
}

/** A slice's ports and readiness as `name:port` and `{address: ready}`. */
// deno-lint-ignore no-explicit-any
function describe(slice: any) {
  return {
    // deno-lint-ignore no-explicit-any
    ports: (slice.ports ?? []).map((p: any) => `${p.name}:${p.port}`).sort(),
    ready: readiness(slice),
  };
}

Deno.test("per-port health: a target whose HTTP check fails stays ready on the Kafka port only, in a slice of that port; mended it is back on both", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  await net.addAddress(A);
  await net.addAddress(B);
  await using kafkaA = await startTarget(net, { address: A, port: KAFKA });
  await using kafkaB = await startTarget(net, { address: B, port: KAFKA });
  const https = [httpServer(A), httpServer(B)];
  const httpB = https[1]!;
  const dir = await Deno.makeTempDir({ prefix: "helaseid-per-port-" });
  const namespace = await cluster.createNamespace("per-port");
  await createService(cluster, namespace, {
    ports: [
      { name: "kafka", port: KAFKA, targetPort: KAFKA, protocol: "TCP" },
      { name: "http", port: HTTP, targetPort: HTTP, protocol: "TCP" },
    ],
  });
  await using slices = await recordSlices(cluster, namespace);
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      services: [{
        name: "brokers",
        namespace,
        ports: [{ name: "kafka", port: KAFKA }, { name: "http", port: HTTP }],
        targets: [A, B],
        probe: { interval: "300ms", timeout: "200ms", rise: 1, fall: 2 },
        probes: [{ type: "tcp", port: KAFKA }, { type: "http", port: HTTP, path: "/healthz" }],
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
  /** Waits until the slices, as a watch client sees them, are exactly `expected`. */
  const settle = (label: string, expected: Record<string, ReturnType<typeof describe>>) =>
    untilValue(label, () => {
      const now = latest(slices.events);
      const shown = Object.fromEntries(
        [...now].filter(([name, e]) => e.type !== "DELETED" && !name.startsWith(MARKER_PREFIX)).map(
          ([name, e]) => [
            name,
            describe(e.object),
          ],
        ),
      );
      return JSON.stringify(shown) === JSON.stringify(expected) ? shown : undefined;
    });
  const endpoints = async (): Promise<string[]> => {
    const object = JSON.parse(
      await cluster.kubectlOk(["get", "endpoints", "brokers", "-n", namespace, "-o", "json"]),
    );
    // deno-lint-ignore no-explicit-any
    return (object.subsets ?? []).flatMap((subset: any) => {
      // deno-lint-ignore no-explicit-any
      const ports = (subset.ports ?? []).map((p: any) => `${p.name}:${p.port}`).sort();
      return [
        // deno-lint-ignore no-explicit-any
        ...(subset.addresses ?? []).map((a: any) => `${a.ip} ready ${ports}`),
        // deno-lint-ignore no-explicit-any
        ...(subset.notReadyAddresses ?? []).map((a: any) => `${a.ip} not ${ports}`),
      ];
    }).sort();
  };
  const both = ["http:8080", "kafka:9092"];
  try {
    await settle("both targets on both ports", {
      [FULL]: { ports: both, ready: { [A]: true, [B]: true } },
    });

    // B's HTTP side answers 503: B stays on 9092 alone, in a slice of that port.
    httpB.state.status = 503;
    await settle("B ready on kafka only", {
      [FULL]: { ports: both, ready: { [A]: true } },
      [`${FULL}.kafka`]: { ports: ["kafka:9092"], ready: { [B]: true } },
    });
    // The legacy Endpoints: a subset per port set (`address ready|not [ports]`).
    assert.deepEqual(await endpoints(), [`${A} ready ${both}`, `${B} ready kafka:9092`]);
    const status = await untilValue("B unhealthy in /status", async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
      // deno-lint-ignore no-explicit-any
      const target = body.services[0].targets.find((t: any) => t.address === B);
      return target?.status === "unhealthy" ? target : undefined;
    });
    assert.equal(status.error, "http 503");

    // Steady state, and a restart, write nothing: ten more checks of B's HTTP side each.
    const fenced = () => fence(slices, cluster, { namespace, kind: "EndpointSlice" });
    const seen = (await fenced()).length;
    const published = agent.lines.filter((l) => l.msg === "published").length;
    const checked = (count: number) => {
      const from = httpB.state.requests;
      return until(`${count} more checks of B`, () => httpB.state.requests >= from + count);
    };
    await checked(10);
    assert.equal(agent.lines.filter((l) => l.msg === "published").length, published, "no write");
    assert.equal(await agent.stop(), 0);
    agent = await start();
    await agent.waitForLog((l) => l.msg === "target unhealthy" && l.target === `${B}:${KAFKA}`);
    await checked(10);
    assert.equal((await fenced()).length, seen, "no change on the watch after a restart");
    assert.equal(agent.lines.filter((l) => l.msg === "published").length, 0, "no write");

    // Mended: back in the full-port slice; the one-port slice is deleted.
    const mark = slices.events.length;
    httpB.state.status = 200;
    await settle("B back on both ports", {
      [FULL]: { ports: both, ready: { [A]: true, [B]: true } },
    });
    assert.ok(
      slices.events.slice(mark).some((e) =>
        e.type === "DELETED" && e.object.metadata.name === `${FULL}.kafka`
      ),
    );

    // The other way round: the Kafka port refuses, HTTP answers.
    await kafkaB.setMode("refuse");
    await settle("B ready on http only", {
      [FULL]: { ports: both, ready: { [A]: true } },
      [`${FULL}.http`]: { ports: ["http:8080"], ready: { [B]: true } },
    });

    // Both down: listed not ready in the full-port slice, as with one port.
    httpB.state.status = 503;
    await settle("B not ready anywhere", {
      [FULL]: { ports: both, ready: { [A]: true, [B]: false } },
    });

    await kafkaB.setMode("accept");
    httpB.state.status = 200;
    await settle("B back on both ports again", {
      [FULL]: { ports: both, ready: { [A]: true, [B]: true } },
    });
    assert.equal(kafkaA.mode, "accept");
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const server of https) await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
