/**
 * A webhook answering 5xx, then recovering (issue 10, item 8), end to end: the real agent
 * process (main.ts, or the bundle) writing to the real API server, probing simulated brokers on
 * 192.0.2.x in the private network namespace, alerting a real JSON webhook on 127.0.0.1.
 *
 * Alert URLs are global, so the "webhook of Service A" is the receiver's answer to A's alerts:
 * 503 while A's webhook is down, 200 otherwise; B's alerts are always accepted. Before the fix,
 * one failing card held the whole queue for about two minutes, then every card it held arrived
 * at once, up to 40 s old. What is asserted is what an operator sees:
 * - B's card arrives while A's card is still being retried (no head-of-line blocking);
 * - the EndpointSlices follow the targets while A's alerts fail (alerts never block publishing);
 * - when A's webhook recovers, A gets one card of its current state: a target that went down and
 *   came back during the failure is one "down, then recovered" card, never a stale "down" one;
 *   two targets that went down one after the other are one card naming both;
 * - drops are counted by reason, the series existing at zero from the start;
 * - no log line holds the webhook URL.
 *
 * Waits are bounded only so that a broken test fails instead of hanging; nothing asserts that
 * something happens within a time.
 */

import assert from "node:assert/strict";
import { type AgentProcess, startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { createService, recordSlices } from "../support/service.ts";
import { type SimulatedTarget, startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { untilValue } from "../support/wait.ts";
import { readiness, type Recorder } from "../support/watch.ts";
import { assertNoSecretLogged, startReceiver } from "../notify/_support.ts";
import { parsePrometheus, valueOf } from "../observe/_prometheus.ts";
import type { WebhookPayload } from "../../src/notify/mod.ts";

const ECHO = Deno.env.get("HELASEID_TEST_ECHO") === "1";
const A1 = "192.0.2.191", A2 = "192.0.2.192", A3 = "192.0.2.193";
const B1 = "192.0.2.194", B2 = "192.0.2.195";
const TOKEN = "0utage-h00k-t0k3n";
const HOOK_PATH = `/hooks/helaseid?token=${TOKEN}`;
const DROPPED = "helaseid_notifications_dropped_total";

/** One request of the agent to the webhook and what the receiver answered. */
interface Delivery {
  readonly payload: WebhookPayload;
  readonly status: number;
}

/** The first watch event at or after `since` where `name`'s IPv4 slice shows `expected`. */
function sliceShows(
  slices: Recorder,
  name: string,
  expected: Record<string, boolean>,
  since = 0,
) {
  return slices.waitFor(
    (event) =>
      event.type !== "DELETED" && event.object.metadata.name === `${name}-helaseid-ipv4` &&
      JSON.stringify(readiness(event.object)) === JSON.stringify(expected),
    {
      since,
      timeoutMs: 30_000,
    },
  );
}

async function metrics(base: string) {
  const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
  return parsePrometheus(await response.text());
}

/** `address=state` of a payload's targets, sorted. */
function targetStates(payload: WebhookPayload): string[] {
  return payload.targets.map((t) => `${t.address}=${t.state}`).sort();
}

Deno.test("webhook outage: a failing Service's alerts neither block others nor arrive stale", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("outage");
  await createService(cluster, namespace, { name: "brokers-a" });
  await createService(cluster, namespace, { name: "brokers-b" });
  await using receiver = startReceiver();
  const deliveries: Delivery[] = [];
  let aWebhookDown = true;
  receiver.route = (json) => {
    const payload = json as WebhookPayload;
    const status = payload.service?.name === "brokers-a" && aWebhookDown ? 503 : 200;
    deliveries.push({ payload, status });
    return { status };
  };
  const of = (name: string, status?: number) =>
    deliveries.filter((d) =>
      d.payload.service.name === name && (status === undefined || d.status === status)
    );
  /** Waits for a delivery of `name` answered `status`, after the first `from` deliveries. */
  const delivered = (
    what: string,
    name: string,
    status: number,
    match: (p: WebhookPayload) => boolean,
    from = 0,
  ) =>
    untilValue(
      what,
      () =>
        deliveries.slice(from).find((d) =>
          d.payload.service.name === name && d.status === status && match(d.payload)
        ),
    );

  await using net = await TestNetwork.open();
  const targets: SimulatedTarget[] = [];
  let agent: AgentProcess | undefined;
  await using slices = await recordSlices(cluster, namespace);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-outage-" });
  try {
    targets.push(
      ...await startTargets(net, [A1, A2, A3, B1, B2].map((address) => ({ address, port: 9092 }))),
    );
    const target = (address: string) => targets.find((t) => t.address === address)!;
    const hookUrl = receiver.url(HOOK_PATH);
    const config = `${dir}/helaseid.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        logLevel: "debug",
        alerts: { webhook: { url: hookUrl }, coalesce: "300ms" },
        // Generous timeouts: a loaded machine must not make a live broker look dead.
        defaults: { probe: { interval: "300ms", timeout: "250ms", rise: 1, fall: 3 } },
        services: [
          {
            name: "brokers-a",
            namespace,
            ports: [{ name: "kafka", port: 9092 }],
            targets: [A1, A2, A3],
          },
          {
            name: "brokers-b",
            namespace,
            ports: [{ name: "kafka", port: 9092 }],
            targets: [B1, B2],
          },
        ],
      }),
    );
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    agent = await startAgent({
      args: runArgs(config, cluster.kubeconfigPath, port, "--log-format", "json"),
      echo: ECHO,
    });
    await sliceShows(slices, "brokers-a", { [A1]: true, [A2]: true, [A3]: true });
    await sliceShows(slices, "brokers-b", { [B1]: true, [B2]: true });
    assert.equal(deliveries.length, 0, "healthy at startup: no alert");

    // Every drop series exists at zero before the first drop, for the one configured channel.
    const start = await untilValue("/metrics to answer", () => metrics(base));
    for (const reason of ["superseded", "expired", "queue-full", "shutdown"]) {
      assert.equal(valueOf(start, DROPPED, { channel: "webhook", reason }), 0, reason);
    }
    assert.equal(valueOf(start, DROPPED, { channel: "teams" }), undefined, "teams unconfigured");

    // --- A's webhook fails; A1 dies. The slice follows although A's card cannot be delivered.
    await target(A1).setMode("refuse");
    const aDown = await sliceShows(slices, "brokers-a", { [A1]: false, [A2]: true, [A3]: true });
    const firstFailure = await delivered(
      "A's down card to be tried",
      "brokers-a",
      503,
      (p) => p.event === "targets-down" && targetStates(p).join() === `${A1}=down`,
    );
    assert.equal(of("brokers-a", 200).length, 0);

    // --- B1 dies: B's card is delivered while A's card is still being retried.
    await target(B1).setMode("refuse");
    await sliceShows(slices, "brokers-b", { [B1]: false, [B2]: true });
    const bCard = await delivered("B's down card to be accepted", "brokers-b", 200, () => true);
    assert.equal(bCard.payload.event, "targets-down");
    assert.deepEqual(targetStates(bCard.payload), [`${B1}=down`]);
    assert.ok(
      deliveries.indexOf(firstFailure) < deliveries.indexOf(bCard),
      "A's card failed before B's card was sent",
    );
    // A's lane is still retrying after B's card went out: B did not wait for A to give up.
    await delivered(
      "A's down card to be retried after B's card",
      "brokers-a",
      503,
      (p) => p.event === "targets-down",
      deliveries.indexOf(bCard) + 1,
    );
    assert.equal(of("brokers-a", 200).length, 0, "A's webhook still down");

    // --- A1 comes back while A's webhook still fails: the waiting "down" card is superseded by
    // one card of the current state, tried while the webhook still fails.
    await target(A1).setMode("accept");
    await sliceShows(
      slices,
      "brokers-a",
      { [A1]: true, [A2]: true, [A3]: true },
      slices.events.indexOf(aDown) + 1,
    );
    await delivered(
      "A's combined card to be tried",
      "brokers-a",
      503,
      (p) => targetStates(p).join() === `${A1}=flapped`,
    );
    assert.equal(of("brokers-a", 200).length, 0, "A's webhook still down");

    // --- A's webhook recovers: A gets the one card of its current state, not the stale "down".
    const beforeRecovery = deliveries.length;
    aWebhookDown = false;
    const aCard = await delivered(
      "A's card to be accepted",
      "brokers-a",
      200,
      () => true,
      beforeRecovery,
    );
    assert.equal(aCard.payload.event, "targets-changed");
    assert.deepEqual(targetStates(aCard.payload), [`${A1}=flapped`]);
    assert.equal(aCard.payload.healthy, 3);
    assert.equal(aCard.payload.unhealthy, 0);
    assert.ok((aCard.payload.targets[0]!.downSeconds ?? 0) > 0, "says how long A1 was down");
    assert.match(aCard.payload.text, /then recovered/);

    // --- Second outage of A's webhook: A1, then A2 die, each tried alone and failing. On
    // recovery A gets one card naming both (the current state), not two cards in sequence.
    const secondStart = deliveries.length;
    aWebhookDown = true;
    await target(A1).setMode("refuse");
    await delivered(
      "A1's second down card to be tried",
      "brokers-a",
      503,
      (p) => p.event === "targets-down" && targetStates(p).join() === `${A1}=down`,
      secondStart,
    );
    await target(A2).setMode("refuse");
    await sliceShows(slices, "brokers-a", { [A1]: false, [A2]: false, [A3]: true });
    await delivered(
      "A's card naming A1 and A2 to be tried",
      "brokers-a",
      503,
      (p) =>
        p.event === "targets-down" && p.healthy === 1 &&
        targetStates(p).join() === `${A1}=down,${A2}=down`,
      secondStart,
    );
    const beforeSecondRecovery = deliveries.length;
    aWebhookDown = false;
    const aCard2 = await delivered(
      "A's second card to be accepted",
      "brokers-a",
      200,
      () => true,
      beforeSecondRecovery,
    );
    assert.equal(aCard2.payload.event, "targets-down");
    assert.deepEqual(targetStates(aCard2.payload), [`${A1}=down`, `${A2}=down`]);
    assert.equal(aCard2.payload.healthy, 1);
    assert.equal(aCard2.payload.total, 3);

    // Counted: the two cards whose news went out in a newer one, and nothing lost.
    const counted = await metrics(base);
    const dropped = (reason: string) => valueOf(counted, DROPPED, { channel: "webhook", reason });
    assert.equal(dropped("superseded"), 2, "A1's first down card and A1's second down card");
    assert.equal(dropped("expired"), 0);
    assert.equal(dropped("queue-full"), 0);
    assert.equal(dropped("shutdown"), 0);
    assert.equal(
      valueOf(counted, "helaseid_notifications_total", { channel: "webhook", result: "sent" }),
      3,
    );

    assert.equal(await agent.stop("SIGTERM"), 0, "SIGTERM: clean exit 0");
    // The agent has exited, so these are all the requests it made.
    const accepted = deliveries.filter((d) => d.status === 200);
    assert.deepEqual(
      accepted.map((d) =>
        `${d.payload.service.name} ${d.payload.event} ${targetStates(d.payload)}`
      ),
      [
        `brokers-b targets-down ${B1}=down`,
        `brokers-a targets-changed ${A1}=flapped`,
        `brokers-a targets-down ${A1}=down,${A2}=down`,
      ],
      "three cards in all: B's, and one per outage of A's webhook",
    );
    assert.ok(
      deliveries.every((d) => d.status === 200 || d.payload.service.name === "brokers-a"),
      "only A's cards failed",
    );
    const output = agent.lines.map((line) => JSON.stringify(line)).concat(agent.stderr());
    assertNoSecretLogged(output, hookUrl);
    for (const line of output) assert.ok(!line.includes(TOKEN), `token logged: ${line}`);
    assert.ok(
      agent.lines.some((line) =>
        line.msg === "alert delivery failed: retrying" && line.status === 503
      ),
      "the failed deliveries are logged",
    );
  } finally {
    await agent?.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
