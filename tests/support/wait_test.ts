import assert from "node:assert/strict";
import { until, untilValue, WaitTimeoutError, within } from "./wait.ts";

Deno.test("wait: until returns once the condition holds", async () => {
  let calls = 0;
  await until("the third call", () => ++calls >= 3, { intervalMs: 1 });
  assert.equal(calls, 3);
});

Deno.test("wait: until fails naming what it waited for, with the last error", async () => {
  const error = await until("the moon", () => {
    throw new Error("no moon tonight");
  }, { timeoutMs: 20, intervalMs: 1 }).then(() => undefined, (e) => e);
  assert.ok(error instanceof WaitTimeoutError);
  assert.match(
    error.message,
    /^Timed out after 20 ms waiting for the moon: last error was no moon/,
  );
});

Deno.test("wait: untilValue returns the first defined value", async () => {
  const values = [undefined, undefined, 0, 1];
  assert.equal(await untilValue("a number", () => values.shift(), { intervalMs: 1 }), 0);
});

Deno.test("wait: within rejects a promise that never settles, and clears its timer", async () => {
  await assert.rejects(
    within("forever", new Promise(() => {}), 10),
    /Timed out after 10 ms waiting for forever$/,
  );
  assert.equal(await within("a value", Promise.resolve(7), 10), 7);
});
