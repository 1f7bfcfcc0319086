/**
 * Protocol checks end to end (issue 11): the real agent process against the real API server,
 * checking two brokers in the private network namespace with four checks each, all of which
 * must pass, none of them on the published port alone: `kafka` on 9092 (a kfake broker speaking
 * the real wire protocol), `redpanda` on the admin port 9644 (a stand-in that can say
 * `booting`), `http` on 8080 (a Deno.serve that can answer 503) and `tls` on 9093 (a TLS
 * server whose certificate can be swapped for an expired one, or one expiring within the check's
 * `minDaysToExpiry`). Each break leaves the port accepting connections; the broken broker must
 * still leave the Service's ready endpoints within interval × fall, with the check's reason in
 * `/status` and in the down alert.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { sharedCluster } from "../support/cluster.ts";
import { startKfake } from "../support/kfake.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { createService, recordSlices } from "../support/service.ts";
import { TestNetwork } from "../support/testnet.ts";
import { until, untilValue } from "../support/wait.ts";
import { readiness, type SeenEvent } from "../support/watch.ts";

const A = "192.0.2.71", B = "192.0.2.72";
const PORTS = { kafka: 9092, redpanda: 9644, http: 8080, tls: 9093 } as const;
const INTERVAL_MS = 400;
const TIMEOUT_MS = 300;
const FALL = 3;
/** The tls check's `minDaysToExpiry`: the 30-day certificate passes, the 5-day one fails. */
const MIN_DAYS = 10;
/** Slack for scheduling, the watch and a loaded 2-core machine; never a performance claim. */
const MARGIN_MS = 1500;

async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  if (!out.success) throw new Error(`${command} ${args[0]}: ${text(out.stderr)}`);
  return text(out.stdout);
}

/** A private CA and leaves for `broker.test` from it: valid for 30 days, for 5, and expired. */
async function certificates(dir: string) {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = { cert: `${dir}/ca.crt`, key: `${dir}/ca.key` };
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    ca.key,
    "-out",
    ca.cert,
    "-days",
    "7",
    "-subj",
    "/CN=test-ca",
  ]);
  const ext = `${dir}/leaf.ext`;
  await Deno.writeTextFile(
    ext,
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
      "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:broker.test\n",
  );
  const leaf = async (name: string, days: number) => {
    const files = { cert: `${dir}/${name}.crt`, key: `${dir}/${name}.key` };
    const csr = `${dir}/${name}.csr`;
    await run("openssl", [
      "req",
      "-new",
      ...ec,
      "-keyout",
      files.key,
      "-out",
      csr,
      "-subj",
      "/CN=broker.test",
    ]);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.cert,
      "-CAkey",
      ca.key,
      "-CAcreateserial",
      "-days",
      String(days),
      "-extfile",
      ext,
      "-out",
      files.cert,
    ]);
    return { cert: await Deno.readTextFile(files.cert), key: await Deno.readTextFile(files.key) };
  };
  return {
    caFile: ca.cert,
    valid: await leaf("valid", 30),
    soon: await leaf("soon", 5),
    expired: await leaf("expired", -1),
  };
}

/** A TLS server on `address:port` that completes handshakes; its certificate can be swapped. */
function tlsServer(address: string, port: number, initial: { cert: string; key: string }) {
  let listener: Deno.TlsListener | undefined;
  let loop: Promise<void> = Promise.resolve();
  const handlers = new Set<Promise<void>>();
  const listen = (cert: { cert: string; key: string }) => {
    const current = Deno.listenTls({ hostname: address, port, ...cert });
    listener = current;
    loop = (async () => {
      for await (const conn of current) {
        const handler = conn.handshake().then(() => {}, () => {}).finally(() => conn.close());
        handlers.add(handler);
        handler.finally(() => handlers.delete(handler));
      }
    })().catch(() => {});
  };
  const stop = async () => {
    listener?.close();
    await loop;
    await Promise.all(handlers);
  };
  listen(initial);
  return {
    /** Serves `cert` from now on (a brief refusal while the listener is replaced). */
    async swap(cert: { cert: string; key: string }) {
      await stop();
      listen(cert);
    },
    close: stop,
  };
}

/** An HTTP server answering `/healthz` with the status set, and a Redpanda admin stand-in. */
function httpServers(address: string) {
  const state = { status: 200, redpanda: "ready" };
  const http = Deno.serve(
    { hostname: address, port: PORTS.http, onListen: () => {} },
    () => new Response("ok", { status: state.status }),
  );
  // Redpanda answers 200 while it boots too: only the body says whether it is ready.
  const admin = Deno.serve(
    { hostname: address, port: PORTS.redpanda, onListen: () => {} },
    (request) =>
      new URL(request.url).pathname === "/v1/status/ready"
        ? Response.json({ status: state.redpanda })
        : new Response("not found", { status: 404 }),
  );
  return { state, close: () => Promise.all([http.shutdown(), admin.shutdown()]) };
}

/** A kfake broker on `address:9092`, switched between answering and muted through stdin. */
async function kfake(address: string) {
  const broker = await startKfake(address, PORTS.kafka);
  assert.equal(broker.listening, `listening ${address}:${PORTS.kafka}`);
  return broker;
}

/** A broker: every server a check of it talks to. */
async function broker(address: string, certs: Awaited<ReturnType<typeof certificates>>) {
  const kafka = await kfake(address);
  const http = httpServers(address);
  const tls = tlsServer(address, PORTS.tls, certs.valid);
  return {
    kafka,
    http,
    tls,
    async close() {
      await kafka.stop();
      await http.close();
      await tls.close();
    },
  };
}

/** A webhook receiver on 127.0.0.1 keeping the JSON alerts it got. */
function webhook() {
  const alerts: { event: string; targets: { address: string; error?: string }[] }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
    alerts.push(await r.json());
    return new Response(null, { status: 204 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    alerts,
    close: () => server.shutdown(),
  };
}

function shows(expected: Record<string, boolean>) {
  return (event: SeenEvent) =>
    event.type !== "DELETED" && event.object.metadata.name === "brokers-helaseid-ipv4" &&
    JSON.stringify(readiness(event.object)) === JSON.stringify(expected);
}

Deno.test("protocol checks: a broker whose port accepts but whose protocol is broken (or certificate expires within minDaysToExpiry) leaves the ready endpoints within interval × fall, with the reason in /status and the alert", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  await net.addAddress(A);
  await net.addAddress(B);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-protocol-" });
  const certs = await certificates(dir);
  const brokers = [await broker(A, certs), await broker(B, certs)];
  const hook = webhook();
  const namespace = await cluster.createNamespace("protocol");
  await createService(cluster, namespace);
  await using slices = await recordSlices(cluster, namespace);
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      logLevel: "debug",
      alerts: { webhook: { url: hook.url }, coalesce: 0 },
      services: [{
        name: "brokers",
        namespace,
        ports: [{ name: "kafka", port: 9092 }],
        targets: [A, B],
        probe: { interval: `${INTERVAL_MS}ms`, timeout: `${TIMEOUT_MS}ms`, rise: 1, fall: FALL },
        probes: [
          { type: "kafka" },
          { type: "redpanda" },
          { type: "http", port: PORTS.http, path: "/healthz" },
          {
            type: "tls",
            port: PORTS.tls,
            serverName: "broker.test",
            caFile: certs.caFile,
            minDaysToExpiry: MIN_DAYS,
          },
        ],
      }],
    }),
  );
  const port = freePort();
  await using agent = await startAgent({
    args: runArgs(config, cluster.kubeconfigPath, port),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const targetB = async () => {
    const response = await fetch(`http://127.0.0.1:${port}/status`);
    const body = await response.json();
    // deno-lint-ignore no-explicit-any
    return body.services[0].targets.find((t: any) => t.address === B);
  };
  try {
    await slices.waitFor(shows({ [A]: true, [B]: true }));
    // Every check ran on its own port and passed; the certificate's expiry is reported.
    const healthy = await untilValue("B's four checks in /status", async () => {
      const target = await targetB();
      return target?.results?.length === 4 ? target : undefined;
    });
    assert.deepEqual(
      // deno-lint-ignore no-explicit-any
      healthy.results.map((r: any) => [r.type, r.port, r.ok]),
      [
        ["kafka", PORTS.kafka, true],
        ["redpanda", PORTS.redpanda, true],
        ["http", PORTS.http, true],
        ["tls", PORTS.tls, true],
      ],
    );
    assert.equal(healthy.results[3].certificate.daysLeft, 29);

    // `reason`: the check's own; the target's (status, alert) names the check when it is a bare
    // network reason, as `kafka: timeout`.
    const breaks: {
      reason: string;
      type: string;
      fail(): void | Promise<void>;
      mend(): void | Promise<void>;
    }[] = [
      {
        type: "kafka",
        reason: "timeout",
        fail: () => brokers[1]!.kafka.mode("mute"),
        mend: () => brokers[1]!.kafka.mode("serve"),
      },
      {
        type: "http",
        reason: "http 503",
        fail: () => {
          brokers[1]!.http.state.status = 503;
        },
        mend: () => {
          brokers[1]!.http.state.status = 200;
        },
      },
      {
        type: "redpanda",
        reason: "redpanda booting",
        fail: () => {
          brokers[1]!.http.state.redpanda = "booting";
        },
        mend: () => {
          brokers[1]!.http.state.redpanda = "ready";
        },
      },
      {
        type: "tls",
        reason: "tls: certificate expired",
        fail: () => brokers[1]!.tls.swap(certs.expired),
        mend: () => brokers[1]!.tls.swap(certs.valid),
      },
      {
        // Under minDaysToExpiry: the check fails, so the broker leaves and the alert says why.
        type: "tls",
        reason: "tls: certificate expires soon",
        fail: () => brokers[1]!.tls.swap(certs.soon),
        mend: () => brokers[1]!.tls.swap(certs.valid),
      },
    ];
    const budget = INTERVAL_MS * FALL + TIMEOUT_MS + MARGIN_MS;
    for (const step of breaks) {
      const mark = slices.events.length;
      const alerts = hook.alerts.length;
      const broken = performance.timeOrigin + performance.now();
      await step.fail();
      const down = await slices.waitFor(shows({ [A]: true, [B]: false }), { since: mark });
      assert.ok(
        down.at - broken <= budget,
        `${step.type}: B left the ready endpoints after ${Math.round(down.at - broken)} ms`,
      );
      // The reason is the broken check's, in /status (per check) and in the down alert.
      const status = await targetB();
      assert.equal(status.status, "unhealthy", step.type);
      const targetReason = step.reason === "timeout" ? `${step.type}: timeout` : step.reason;
      assert.equal(status.error, targetReason, step.type);
      // deno-lint-ignore no-explicit-any
      const failed = status.results.filter((r: any) => !r.ok).map((r: any) => [r.type, r.error]);
      assert.deepEqual(failed, [[step.type, step.reason]]);
      const alert = await untilValue(
        `the down alert of the ${step.type} break`,
        () =>
          hook.alerts.slice(alerts).find((a) =>
            a.targets.some((t) => t.address === B && t.error !== undefined)
          ),
      );
      assert.equal(alert.targets.find((t) => t.address === B)!.error, targetReason);
      await step.mend();
      await slices.waitFor(shows({ [A]: true, [B]: true }), { since: mark });
    }
    await until("every alert delivered", () => hook.alerts.length >= 2 * breaks.length);
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    await hook.close();
    for (const b of brokers) await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("protocol checks: the seed format's PROBE=kafka is what run and check do (it was accepted and ignored)", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  await net.addAddress(A);
  await net.addAddress(B);
  const kafkas = [await kfake(A), await kfake(B)];
  const namespace = await cluster.createNamespace("protocol-seed");
  await createService(cluster, namespace);
  await using slices = await recordSlices(cluster, namespace);
  const env = {
    IPS: `("${A}" "${B}")`,
    PORT: "9092",
    PROBE: "kafka",
    MAX_RETRY: String(FALL),
    INTERVAL: String(INTERVAL_MS / 1000),
    TIMEOUT: String(TIMEOUT_MS / 1000),
    NAMESPACE: namespace,
    SERVICE_NAME: "brokers",
  };
  try {
    // B's port accepts connections but its broker does not answer: a TCP connect would pass.
    await kafkas[1]!.mode("mute");
    await using check = await startAgent({ args: ["check"], env });
    const code = await check.exited;
    const table = check.lines.map((l) => l.msg).join("\n");
    assert.equal(code, 1, table);
    assert.match(table, new RegExp(`^${namespace}/brokers\\s+${A}\\s+kafka\\s+9092\\s+up\\s`, "m"));
    assert.match(table, new RegExp(`${B}\\s+kafka\\s+9092\\s+down\\s+\\S+ms\\s+timeout$`, "m"));

    await using agent = await startAgent({
      args: ["run", "--kubeconfig", cluster.kubeconfigPath, "--listen", "off"],
      env,
    });
    await slices.waitFor(shows({ [A]: true, [B]: false }));
    await kafkas[1]!.mode("serve");
    await slices.waitFor(shows({ [A]: true, [B]: true }));
    assert.equal(await agent.stop(), 0);
  } finally {
    for (const kafka of kafkas) await kafka.stop();
  }
});
