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
});

Deno.test("check: the table is aligned, with latency and the error of a down target", () => {
  const table = formatCheckTable([
    {
      service: "datastream/brokers",
      address: "192.0.2.1",
      port: 9092,
      result: { ok: true, latency: 1.25 },
    },
    {
      service: "datastream/brokers",
      address: "192.0.2.22",
      port: 9092,
      result: { ok: false, latency: 50, error: "refused" },
    },
  ]);
  assert.equal(
    table,
    [
      "SERVICE             ADDRESS     PORT  RESULT  LATENCY  ERROR",
      "datastream/brokers  192.0.2.1   9092  up      1.3ms",
      "datastream/brokers  192.0.2.22  9092  down    50.0ms   refused",
    ].join("\n"),
  );
});

Deno.test("check: no targets, a header only", async () => {
  const rows = await checkAll({ ...config, services: [] }, {
    prober: () => Promise.reject(new Error("not called")),
  });
  assert.deepEqual(rows, []);
  assert.equal(formatCheckTable(rows), "SERVICE  ADDRESS  PORT  RESULT  LATENCY  ERROR");
});
