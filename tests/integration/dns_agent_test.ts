/**
 * The `dns` source end to end (issue 12): the real agent process against the real API server,
 * its targets from a real DNS server (dnsmasq) in the test network.
 *
 * - Records changed: the slice follows on the next resolution; a target that stays keeps its
 *   verdict; a removed one leaves without being shown unready.
 * - SERVFAIL: the last good set stays published, nothing is written, `/readyz` names the
 *   source; the answer back recovers it.
 * - NXDOMAIN (a reload points the source at a name that does not exist): an empty answer,
 *   held by the shrink guard (1 s here) against the set of the source it replaced, then
 *   applied: the slice is deleted.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { freePort, get, runArgs } from "../support/agent_http.ts";
import { sharedCluster } from "../support/cluster.ts";
import { DnsServer, SERVFAIL_DOMAIN } from "../support/dns_server.ts";
import { createService, recordSlices } from "../support/service.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { fence, readiness, shownSlice } from "../support/watch.ts";

const X = "192.0.2.231", Y = "192.0.2.232", Z = "192.0.2.233";
const SLICE = "brokers-helaseid-ipv4";
const NAME = `kafka.${SERVFAIL_DOMAIN}`;

Deno.test("dns source: the slice follows the records, keeps its set on SERVFAIL, holds then applies NXDOMAIN", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [X, Y, Z].map((address) => ({ address, port: 9092 })));
  await using dns = await DnsServer.start(net, { hosts: { [NAME]: [X, Y] }, ttl: 1 });
  const namespace = await cluster.createNamespace("dns-agent");
  await createService(cluster, namespace);
  await using slices = await recordSlices(cluster, namespace);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-dns-agent-" });
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    config,
    `services:
  - name: brokers
    namespace: ${namespace}
    ports: [9092]
    sources:
      - { type: dns, names: [${NAME}], nameserver: "${dns.nameserver}", interval: 300ms, timeout: 200ms }
    sourceGuard: { hold: 1s }
    probe: { interval: 200ms, timeout: 150ms, rise: 1, fall: 2 }
`,
  );
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const agent = await startAgent({
    args: runArgs(config, cluster.kubeconfigPath, port),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const settle = (label: string, expected: Record<string, boolean>) =>
    untilValue(label, () => {
      const now = shownSlice(slices.events, SLICE);
      return JSON.stringify(now) === JSON.stringify(expected) ? now : undefined;
    });
  try {
    await settle("the name's two addresses", { [X]: true, [Y]: true });

    // Records changed: Y out, Z in; X keeps its verdict (no write of X alone, never unready).
    const since = (await (await fetch(`${base}/status`)).json()).services[0].targets[0].since;
    await dns.setHosts({ [NAME]: [X, Z] });
    await settle("X and Z", { [X]: true, [Z]: true });
    const x = (await (await fetch(`${base}/status`)).json()).services[0].targets.find((
      t: { address: string },
    ) => t.address === X);
    assert.equal(x.since, since, "X kept its verdict");
    assert.equal(x.source, `dns ${NAME}`);
    assert.ok(
      slices.events.every((e) => readiness(e.object)[Y] !== false),
      "Y left without being shown unready",
    );

    // SERVFAIL (the name leaves dnsmasq's hosts, so it is forwarded to a failing upstream).
    const seen = (await fence(slices, cluster, { namespace, kind: "EndpointSlice" })).length;
    await dns.setHosts({});
    const failing = await agent.waitForLog((l) => l.msg.startsWith("source failing"));
    assert.match(String(failing.error), /SERVFAIL/);
    const ready = await untilValue("/readyz names the failing source", async () => {
      const answer = await get(base, "/readyz");
      return answer.status === 503 && answer.body.includes(`dns ${NAME}`) ? answer : undefined;
    });
    assert.match(ready.body, /SERVFAIL/);
    assert.equal(
      (await fence(slices, cluster, { namespace, kind: "EndpointSlice" })).length,
      seen,
      "nothing written while the source fails",
    );
    assert.deepEqual(shownSlice(slices.events, SLICE), { [X]: true, [Z]: true });
    await dns.setHosts({ [NAME]: [X, Z] });
    await agent.waitForLog((l) => l.msg === "source recovered");
    await untilValue(
      "/readyz 200 again",
      async () => (await get(base, "/readyz")).status === 200 || undefined,
    );

    // NXDOMAIN: a successful "nothing", held for the guard's hold, then applied.
    const config2 = (await Deno.readTextFile(config)).replace(NAME, "gone.nx.test");
    await Deno.writeTextFile(config, config2);
    await agent.waitForLog((l) => l.msg === "source shrank suddenly: holding its new set");
    assert.deepEqual(
      shownSlice(slices.events, SLICE),
      { [X]: true, [Z]: true },
      "held, not applied",
    );
    // Applied after the hold: no target left, so the slice is deleted (and Endpoints emptied).
    await untilValue(
      "the empty set applied after the hold",
      () =>
        slices.events.at(-1)?.type === "DELETED" &&
          slices.events.at(-1)?.object.metadata.name === SLICE || undefined,
    );
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
