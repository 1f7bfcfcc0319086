import assert from "node:assert/strict";
import { checkAll, formatCheckTable } from "../src/check_command.ts";
import type { Config } from "../src/config/schema.ts";
import type { ProbeRequest, ProbeResult } from "../src/probe/mod.ts";
import { serviceConfig } from "./support/fakes.ts";

const config: Config = {
  format: "structured",
  services: [
    serviceConfig(["192.0.2.1", "192.0.2.2"]),
    serviceConfig(["192.0.2.3"], {
      name: "admin",
      probe: { ...serviceConfig([]).probe, port: 9644, timeout: 75 },
    }),
  ],
  alerts: {},
};

Deno.test("check: every target once, with its Service's port and timeout, rows in config order", async () => {
  const requests: ProbeRequest[] = [];
  const pending: (() => void)[] = [];
  let inFlight = 0, most = 0;
  const rows = await checkAll(config, {
    maxInFlight: 2,
    prober: (request) => {
      requests.push(request);
      most = Math.max(most, ++inFlight);
      // Answer in reverse order of asking: rows must still follow the configuration.
      return new Promise<ProbeResult>((resolve) => {
        pending.push(() => {
          inFlight--;
          resolve(
            request.address === "192.0.2.2"
              ? { ok: false, latency: 50, error: "refused" }
              : { ok: true, latency: 1.25 },
          );
        });
        if (pending.length === 2 || requests.length === 3) {
          pending.splice(0).reverse().forEach((f) => f());
        }
      });
    },
  });
  assert.deepEqual(requests, [
    { address: "192.0.2.1", port: 9092, timeout: 50 },
    { address: "192.0.2.2", port: 9092, timeout: 50 },
    { address: "192.0.2.3", port: 9644, timeout: 75 },
  ]);
  assert.equal(most, 2, "at most maxInFlight checks at a time");
  assert.deepEqual(rows.map((r) => [r.service, r.address, r.port, r.result.ok]), [
    ["datastream/brokers", "192.0.2.1", 9092, true],
    ["datastream/brokers", "192.0.2.2", 9092, false],
    ["datastream/admin", "192.0.2.3", 9644, true],
  ]);
  // An injected prober's result is one check of the Service's probe type.
  assert.deepEqual(rows[1]!.checks, [
    { type: "tcp", port: 9092, ok: false, latency: 50, error: "refused" },
  ]);
});

Deno.test("check: the table is aligned, one line per check with its type, port, latency and reason", () => {
  const table = formatCheckTable([
    {
      service: "datastream/brokers",
      address: "192.0.2.1",
      port: 9092,
      result: { ok: true, latency: 1.25 },
      checks: [
        { type: "kafka", port: 9092, ok: true, latency: 1.25, note: "kafka error 35" },
        { type: "redpanda", port: 9644, ok: true, latency: 0.5 },
      ],
    },
    {
      service: "datastream/brokers",
      address: "192.0.2.22",
      port: 9092,
      result: { ok: false, latency: 50, error: "refused" },
      checks: [
        { type: "kafka", port: 9092, ok: false, latency: 50, error: "refused" },
        { type: "redpanda", port: 9644, ok: false, latency: 2, error: "redpanda booting" },
      ],
    },
  ]);
  assert.equal(
    table,
    [
      "SERVICE             ADDRESS     CHECK     PORT  RESULT  LATENCY  REASON",
      "datastream/brokers  192.0.2.1   kafka     9092  up      1.3ms    kafka error 35",
      "datastream/brokers  192.0.2.1   redpanda  9644  up      0.5ms",
      "datastream/brokers  192.0.2.22  kafka     9092  down    50.0ms   refused",
      "datastream/brokers  192.0.2.22  redpanda  9644  down    2.0ms    redpanda booting",
    ].join("\n"),
  );
});

Deno.test("check: without an injected prober each Service's configured checks run, all on their own ports", async () => {
  // An HTTP server answering 503 and a plain listener: the tcp check passes, the http one fails.
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("down for maintenance", { status: 503 }),
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  try {
    const service = serviceConfig(["127.0.0.1"], {
      probe: { ...serviceConfig([]).probe, port: listener.addr.port, timeout: 2000 },
      checks: [
        { type: "tcp", port: listener.addr.port },
        { type: "http", port: http.addr.port, path: "/ready" },
      ],
    });
    const rows = await checkAll({ ...config, services: [service] });
    assert.equal(rows.length, 1);
    const [row] = rows;
    assert.equal(row!.result.ok, false, "one failed check fails the target");
    assert.equal(row!.result.error, "http 503");
    assert.deepEqual(
      row!.checks.map((c) => [c.type, c.port, c.ok, c.error]),
      [["tcp", listener.addr.port, true, undefined], ["http", http.addr.port, false, "http 503"]],
    );
    const lines = formatCheckTable(rows).split("\n");
    assert.match(
      lines[2]!,
      new RegExp(
        `^datastream/brokers  127\\.0\\.0\\.1  http   ${http.addr.port}  down .* http 503$`,
      ),
    );
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await http.shutdown();
  }
});

Deno.test("check: no targets, a header only", async () => {
  const rows = await checkAll({ ...config, services: [] }, {
    prober: () => Promise.reject(new Error("not called")),
  });
  assert.deepEqual(rows, []);
  assert.equal(formatCheckTable(rows), "SERVICE  ADDRESS  CHECK  PORT  RESULT  LATENCY  REASON");
});
