import assert from "node:assert/strict";
import {
  checkDuration,
  checkTimeoutFits,
  formatDuration,
  parseDuration,
} from "../../src/config/duration.ts";
import { ConfigError } from "../../src/config/schema.ts";

Deno.test("parseDuration() reads units, combinations and bare seconds", () => {
  const table: [string | number, number][] = [
    ["500ms", 500],
    ["2s", 2000],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["1m30s", 90_000],
    ["1h2m3s4ms", 3_723_004],
    ["1.5s", 1500],
    [" 2s ", 2000],
    ["0.01", 10],
    ["5", 5000],
    [".5", 500],
    [0.01, 10],
    [2, 2000],
    [0.0015, 2],
  ];
  for (const [input, expected] of table) {
    assert.equal(parseDuration(input, "x"), expected, `parseDuration(${JSON.stringify(input)})`);
  }
});

Deno.test("parseDuration() refuses what is not a positive duration, naming the path", () => {
  for (const input of ["-1", -1, "0", 0, "abc", "2 s", "s", "1d", "", "1e3", NaN, Infinity]) {
    assert.throws(() => parseDuration(input, "INTERVAL"), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.issues.length, 1);
      assert.equal(error.issues[0]!.path, "INTERVAL");
      assert.match(error.message, /^INTERVAL: /);
      return true;
    }, String(input));
  }
  assert.throws(
    () => parseDuration("-1", "INTERVAL"),
    { message: "INTERVAL: '-1' must be a positive duration such as 500ms, 2s or 0.01" },
  );
});

Deno.test("parseDuration() accepts zero only when asked", () => {
  assert.equal(parseDuration("0", "x", { allowZero: true }), 0);
  assert.equal(parseDuration(0, "x", { allowZero: true }), 0);
});

Deno.test("checkDuration() refuses durations under 1ms and over 24h", () => {
  assert.deepEqual(checkDuration("0.0001"), {
    ok: false,
    message: "'0.0001' is too short: allowed 1ms or more",
  });
  assert.deepEqual(checkDuration("25h"), {
    ok: false,
    message: "'25h' is too long: allowed up to 24h",
  });
  assert.deepEqual(checkDuration("24h"), { ok: true, value: 86_400_000 });
  assert.equal(checkDuration(["2s"]).ok, false);
});

Deno.test("formatDuration() writes the shortest text parseDuration reads back", () => {
  const table: [number, string][] = [
    [0, "0s"],
    [10, "10ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [2000, "2s"],
    [60_000, "1m"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [3_630_000, "1h30s"],
    [3_723_004, "1h2m3.004s"],
    [0.5, "0.5ms"],
  ];
  for (const [ms, expected] of table) {
    assert.equal(formatDuration(ms), expected);
    if (ms >= 1) assert.equal(parseDuration(expected, "x"), ms);
  }
});

Deno.test("checkTimeoutFits() allows a timeout up to the interval", () => {
  assert.deepEqual(checkTimeoutFits(1000, 1000), { ok: true, value: 1000 });
  assert.deepEqual(checkTimeoutFits(2000, 1000), {
    ok: false,
    message: "'2s' is longer than the interval (1s): allowed at most the interval",
  });
});
