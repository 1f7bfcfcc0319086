/**
 * Alerts end to end: the real agent (main.ts, `--dry-run`, so no cluster is needed) probing
 * simulated brokers on 192.0.2.x in the private network namespace, alerting a real webhook on
 * 127.0.0.1 through both channels (Teams and the JSON webhook). Run with
 * `deno task test tests/integration/notify_dry_run_test.ts`.
 *
 * Waits are bounded only so that a broken test fails instead of hanging; nothing asserts that
 * something happens within a time.
 */

import assert from "node:assert/strict";
import { type LogLine, startAgent } from "../support/agent_process.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import {
  cardOf,
  factsOf,
  headerOf,
  type Received,
  SIG,
  startReceiver,
} from "../notify/_support.ts";

const A = "192.0.2.61", B = "192.0.2.62", C = "192.0.2.63";
const HOOK_PATH = "/hooks/helaseid?token=j50n-h00k-t0k3n";

Deno.test("dry-run agent: two brokers dying together make one card, their return one more", async () => {
  await using receiver = startReceiver();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [A, B, C].map((address) => ({ address, port: 9092 })));
  try {
    const teamsUrl = receiver.url();
    const hookUrl = receiver.url(HOOK_PATH);
    await using agent = await startAgent({
      args: ["run", "--dry-run", "--listen", "off", "--log-format", "json"],
      echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
      env: {
        IPS: [A, B, C].join(" "),
        PORT: "9092",
        MAX_RETRY: "2",
        INTERVAL: "0.1",
        TIMEOUT: "0.05",
        NAMESPACE: "datastream",
        SERVICE_NAME: "brokers",
        LOG_LEVEL: "debug",
        TEAMS_WEBHOOK_URL: teamsUrl,
        WEBHOOK_URL: hookUrl,
        ALERT_COALESCE: "1s",
      },
    });
    for (const address of [A, B, C]) {
      await agent.waitForLog((line) =>
        line.msg === "target healthy" && line.target === `${address}:9092`
      );
    }
    assert.equal(receiver.requests.length, 0, "healthy at startup: no alert");

    await Promise.all([targets[0]!.setMode("refuse"), targets[1]!.setMode("refuse")]);
    await receiver.waitFor(2, 20_000);
    // Both verdicts came before the one alert: no later transition can make a second one (the
    // final count, after the agent has exited and flushed its queues, is checked below).
    const outage = await agent.waitForLog((line) => line.msg === "alert");
    assert.equal(outage.event, "targets-down");
    assert.equal(outage.targets, 2);
    assertBefore(agent.lines, outage, [A, B].map((address) => unhealthy(address)));
    const before = receiver.requests.length;
    const teams = (from: number, to?: number) =>
      receiver.requests.slice(from, to).filter((r) => r.path.startsWith("/workflows"));
    const json = (from: number, to?: number) =>
      receiver.requests.slice(from, to).filter((r) => r.path.startsWith("/hooks"));
    assert.equal(before, 2, "one request per channel for the outage");
    assert.equal(teams(0).length, 1, "one Teams card for the outage");
    assert.equal(json(0).length, 1, "one JSON alert for the outage");
    const down = cardOf(teams(0)[0]!.json);
    assert.equal(headerOf(down).title, "2 targets of datastream/brokers are down: 1 of 3 healthy");
    assert.equal(headerOf(down).style, "warning");
    assert.equal(factsOf(down).Targets, `${A}:9092, ${B}:9092`);
    assert.equal(factsOf(down).Service, "datastream/brokers");
    const downJson = json(0)[0]!.json as { event: string; targets: { address: string }[] };
    assert.equal(downJson.event, "targets-down");
    assert.deepEqual(downJson.targets.map((t) => t.address), [A, B]);

    await Promise.all([targets[0]!.setMode("accept"), targets[1]!.setMode("accept")]);
    await receiver.waitFor(before + 2, 20_000);
    const recovery = await agent.waitForLog((line) => line.msg === "alert" && line !== outage);
    assertBefore(agent.lines, recovery, [A, B].map((address) => healthyAgain(address, outage)));
    assert.equal(teams(before).length, 1, "one Teams card for the recovery");
    assert.equal(json(before).length, 1, "one JSON alert for the recovery");
    const up = cardOf(teams(before)[0]!.json);
    assert.equal(headerOf(up).style, "good");
    assert.match(factsOf(up)[`${A}:9092`]!, /^recovered after .+ down$/);
    const upJson = json(before)[0]!.json as {
      status: string;
      targets: { address: string; downSeconds: number }[];
    };
    assert.equal(upJson.status, "resolved");
    assert.ok(upJson.targets.every((t) => t.downSeconds > 0));

    assert.equal(await agent.stop("SIGTERM"), 0);
    // The agent delivered what it had queued before exiting: these are all the requests.
    assert.equal(receiver.requests.length, 4, "two cards and two JSON alerts, no more");
    assert.equal(teams(0, before).length, 1, "one Teams card for the outage, no second");
    assert.equal(teams(before).length, 1, "one Teams card for the recovery, no second");
    assert.deepEqual(
      agent.lines.filter((line) => line.msg === "alert").map((line) => line.event),
      [outage.event, recovery.event],
      "two alerts in all",
    );
    assertNothingLeaks(agent.lines.map((line) => JSON.stringify(line)).concat(agent.stderr()), [
      teamsUrl,
      hookUrl,
    ]);
    assertFromAgent(receiver.requests);
  } finally {
    for (const target of targets) await target.close();
  }
});

function unhealthy(address: string) {
  return (line: LogLine) => line.msg === "target unhealthy" && line.target === `${address}:9092`;
}

function healthyAgain(address: string, after: LogLine) {
  return (line: LogLine, index: number, lines: readonly LogLine[]) =>
    line.msg === "target healthy" && line.target === `${address}:9092` &&
    index > lines.indexOf(after);
}

/** Each of `matches` matches a line logged before `line`. */
function assertBefore(
  lines: readonly LogLine[],
  line: LogLine,
  matches: ((line: LogLine, index: number, lines: readonly LogLine[]) => boolean)[],
): void {
  const at = lines.indexOf(line);
  for (const [i, match] of matches.entries()) {
    const found = lines.findIndex(match);
    assert.ok(found >= 0 && found < at, `transition ${i} logged before the alert '${line.title}'`);
  }
}

/** No agent output holds a webhook URL, its path or its credential. */
function assertNothingLeaks(output: readonly string[], urls: readonly string[]): void {
  const secrets = [SIG, "j50n-h00k-t0k3n"];
  for (const url of urls) {
    const parsed = new URL(url);
    secrets.push(url, parsed.pathname + parsed.search, parsed.search);
  }
  for (const line of output) {
    for (const secret of secrets) {
      assert.ok(!line.includes(secret), `agent output holds ${JSON.stringify(secret)}: ${line}`);
    }
  }
}

/** Every request was a JSON POST the agent made to one of the two paths. */
function assertFromAgent(requests: readonly Received[]): void {
  for (const request of requests) {
    assert.ok(
      request.path.startsWith("/workflows/") || request.path === HOOK_PATH,
      `unexpected path ${request.path}`,
    );
  }
}
