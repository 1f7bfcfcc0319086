/**
 * Seed compatibility: what an upgraded pod with the original HELASEID's ConfigMap must read
 * exactly as before, and the original's spellings (Python log levels, Windows line ends).
 */

import assert from "node:assert/strict";
import { parseEnvFile } from "../../src/config/env.ts";
import { describeConfig, loadConfig } from "../../src/config/mod.ts";
import { issuesOf, load, SEED_CONFIG_ENV } from "./_support.ts";

/** `helaseid validate`'s output for the seed's config.env, captured before the option table. */
const SEED_VALIDATE_OUTPUT = `{
  "format": "env",
  "logLevel": "info",
  "alerts": {
    "coalesce": "2s",
    "writeFailureThreshold": "1m",
    "degraded": true
  },
  "services": [
    {
      "name": "datastream-redpanda-api-dev",
      "namespace": "datastream",
      "ports": [
        {
          "name": "",
          "port": 9092,
          "protocol": "TCP"
        }
      ],
      "targets": [
        {
          "address": "10.188.2.3"
        },
        {
          "address": "10.188.2.4"
        },
        {
          "address": "10.188.2.5"
        }
      ],
      "probe": {
        "type": "tcp",
        "port": 9092,
        "interval": "10ms",
        "timeout": "10ms",
        "rise": 1,
        "fall": 10,
        "jitter": 0.1
      },
      "publish": {
        "endpointSlices": true,
        "endpoints": true,
        "unhealthy": "notReady",
        "allDown": "publishAll",
        "createService": false
      }
    }
  ]
}
`;

Deno.test("the seed's config.env gives validate's normalized output byte for byte", async () => {
  const { config, warnings, notes } = await load({ "/config/config.env": SEED_CONFIG_ENV }, {
    path: "/config/config.env",
  });
  assert.equal(`${JSON.stringify(describeConfig(config), null, 2)}\n`, SEED_VALIDATE_OUTPUT);
  assert.deepEqual(warnings, []);
  assert.deepEqual(notes, []);
});

Deno.test("the original's log levels are read and noted, not rejected", async () => {
  const table: [string, string, string | undefined][] = [
    [
      "CRITICAL",
      "error",
      "LOG_LEVEL: 'CRITICAL' is read as 'ERROR' (a level of the original HELASEID)",
    ],
    ["FATAL", "error", "LOG_LEVEL: 'FATAL' is read as 'ERROR' (a level of the original HELASEID)"],
    [
      "WARNING",
      "warn",
      "LOG_LEVEL: 'WARNING' is read as 'WARN' (a level of the original HELASEID)",
    ],
    [
      "critical",
      "error",
      "LOG_LEVEL: 'critical' is read as 'ERROR' (a level of the original HELASEID)",
    ],
    ["WARN", "warn", undefined],
    ["INFO", "info", undefined],
    ["Debug", "debug", undefined],
  ];
  for (const [level, expected, note] of table) {
    const text = SEED_CONFIG_ENV.replace("LOG_LEVEL=INFO", `LOG_LEVEL=${level}`);
    const fromFile = await load({ "config.env": text }, { path: "config.env" });
    const fromEnv = await load({ "config.env": SEED_CONFIG_ENV }, {
      path: "config.env",
      env: { LOG_LEVEL: level },
    });
    for (const { config, notes, warnings } of [fromFile, fromEnv]) {
      assert.equal(config.logLevel, expected, level);
      assert.deepEqual(notes, note === undefined ? [] : [note], level);
      assert.deepEqual(warnings, [], level);
    }
  }
});

Deno.test("LOG_LEVEL overriding a structured file, and the file's logLevel, are noted too", async () => {
  const yaml = "logLevel: fatal\nservices: [{ name: a, ports: [80], targets: [10.0.0.1] }]\n";
  const own = await load({ "c.yaml": yaml }, { path: "c.yaml" });
  assert.equal(own.config.logLevel, "error");
  assert.deepEqual(own.notes, [
    "logLevel: 'fatal' is read as 'error' (a level of the original HELASEID)",
  ]);
  const overridden = await load({ "c.yaml": yaml }, {
    path: "c.yaml",
    env: { LOG_LEVEL: "WARNING" },
  });
  assert.equal(overridden.config.logLevel, "warn");
  assert.deepEqual(overridden.notes, [
    "logLevel: 'fatal' is read as 'error' (a level of the original HELASEID)",
    "LOG_LEVEL: 'WARNING' is read as 'WARN' (a level of the original HELASEID)",
  ]);
});

Deno.test("a log level nobody ever had is still an error", async () => {
  const issues = await issuesOf(loadConfig({
    env: { IPS: "10.188.2.3", PORT: "9092", SERVICE_NAME: "a", LOG_LEVEL: "TRACE" },
  }));
  assert.deepEqual(issues, [{
    path: "LOG_LEVEL",
    message: "'TRACE' is not a valid log level: allowed DEBUG, INFO, WARN, ERROR",
  }]);
});

Deno.test("a config.env saved with a byte order mark and CRLF line ends reads as the plain one", async () => {
  const plain = await load({ "config.env": SEED_CONFIG_ENV }, { path: "config.env" });
  const windows = `\uFEFF${SEED_CONFIG_ENV.replaceAll("\n", "\r\n")}`;
  for (const path of ["config.env", "/config/settings"]) {
    const loaded = await load({ [path]: windows }, { path });
    assert.deepEqual(loaded.config, plain.config, path);
    assert.deepEqual(loaded.warnings, [], path);
  }
});

Deno.test("CRLF inside arrays, quotes, comments and line continuations", () => {
  const text = [
    "\uFEFF# comment",
    "IPS=(",
    '  "10.188.2.3"  # first',
    "  '10.188.2.4'",
    ")",
    'SERVICE_NAME="data\\',
    'stream"',
    "NAMESPACE=ops # trailing",
    "",
  ].join("\r\n");
  const file = parseEnvFile(text);
  assert.deepEqual(file.issues, []);
  assert.deepEqual(Object.fromEntries([...file.entries].map(([k, e]) => [k, [e.value, e.line]])), {
    IPS: [["10.188.2.3", "10.188.2.4"], 2],
    SERVICE_NAME: ["datastream", 6],
    NAMESPACE: ["ops", 8],
  });
  const broken = parseEnvFile("PORT=9092\r\nthis is not an assignment\r\nRISE=2\r\n");
  assert.deepEqual(broken.issues, [{ path: "config.env:2", message: "expected KEY=value" }]);
  assert.deepEqual([...broken.entries.keys()], ["PORT", "RISE"]);
});

Deno.test("a structured file with a byte order mark is read", async () => {
  const { config } = await load({
    "c.yaml": "\uFEFFservices: [{ name: a, ports: [80], targets: [10.0.0.1] }]\r\n",
  }, { path: "c.yaml" });
  assert.deepEqual(config.services.map((s) => s.name), ["a"]);
});

Deno.test({
  name: "helaseid validate prints the note on stderr, exits 0, and keeps stdout the JSON",
  async fn() {
    const main = new URL("../../main.ts", import.meta.url).pathname;
    const seed = new URL("../../examples/seed-config.env", import.meta.url).pathname;
    const env: Record<string, string> = { LOG_LEVEL: "CRITICAL", NO_COLOR: "1" };
    for (const key of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
      const value = Deno.env.get(key);
      if (value !== undefined) env[key] = value;
    }
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "validate", "--config", seed],
      clearEnv: true,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(
      stderr,
      "note: LOG_LEVEL: 'CRITICAL' is read as 'ERROR' (a level of the original HELASEID)\n",
    );
    assert.equal(stdout, SEED_VALIDATE_OUTPUT.replace('"logLevel": "info"', '"logLevel": "error"'));
  },
});

Deno.test("a config.env written on Windows is read from disk like the plain one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-bom-" });
  try {
    const bytes = new TextEncoder().encode(SEED_CONFIG_ENV.replaceAll("\n", "\r\n"));
    await Deno.writeFile(`${dir}/config.env`, new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]));
    await Deno.writeTextFile(`${dir}/plain.env`, SEED_CONFIG_ENV);
    const windows = await loadConfig({ path: `${dir}/config.env`, env: {} });
    const plain = await loadConfig({ path: `${dir}/plain.env`, env: {} });
    assert.deepEqual(windows, plain);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
