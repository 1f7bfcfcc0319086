/**
 * `bench/heap_snapshot.ts` against a real process: a Deno child with the inspector open holds a
 * known number of objects of a class of its own; the snapshot's summary counts exactly those,
 * and after the child makes more, `growth` puts that class first.
 */

import assert from "node:assert/strict";
import { growth, summarise, takeSnapshot } from "../../bench/heap_snapshot.ts";
import { freePort } from "../support/agent_http.ts";
import { untilValue } from "../support/wait.ts";

const CHILD = `
class Retained { constructor(i) { this.i = i; this.pad = new Array(8).fill(i); } }
globalThis.kept = Array.from({ length: 3000 }, (_, i) => new Retained(i));
Deno.stdin.readable.pipeTo(new WritableStream({ write() {
  for (let i = 0; i < 2000; i++) globalThis.kept.push(new Retained(i));
  console.log("more");
} }));
console.log("ready");
`;

Deno.test("heap snapshot: counts a live process's objects by constructor and ranks what grew", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", `--inspect=127.0.0.1:${port}`, CHILD],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  try {
    assert.match((await lines.read()).value ?? "", /ready/);
    // The inspector's HTTP side may answer a moment after the script's first line.
    const before = summarise(
      await untilValue("the inspector to answer", () => takeSnapshot(`127.0.0.1:${port}`)),
    );
    assert.equal(before["object:Retained"]?.count, 3000);
    await writer.write(new TextEncoder().encode("\n"));
    assert.match((await lines.read()).value ?? "", /more/);
    const after = summarise(await takeSnapshot(`127.0.0.1:${port}`));
    assert.equal(after["object:Retained"]?.count, 5000);
    const report = growth(before, after, 3);
    assert.match(report[0]!, /^total: [\d.]+ → [\d.]+ MiB$/);
    assert.ok(
      report.slice(1).some((row) => /2000 objects \(now 5000\)\s+object:Retained$/.test(row)),
      report.join("\n"),
    );
  } finally {
    await writer.close().catch(() => {});
    child.kill("SIGKILL");
    await child.status;
    await lines.cancel().catch(() => {});
  }
});
