/**
 * Tests of the file-following machinery shared by the `file` target source and configuration
 * reload, for what those two tests do not show: a directory that disappears and comes back,
 * and a read in flight when the watch stops.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type FileRead, watchDirectory, watchFile } from "../../src/config/watch_file.ts";
import { systemClock } from "../../src/health/scheduler.ts";
import { FakeClock } from "../support/fakes.ts";
import { CountingRead, memoryFiles, ScriptedWatch, silentWatch } from "../support/files.ts";
import { until } from "../support/wait.ts";

function text(read: FileRead | undefined): string | undefined {
  if (read === undefined) return undefined;
  return read.ok ? new TextDecoder().decode(read.bytes) : `error: ${read.error}`;
}

Deno.test("watch file: a removed and recreated directory is watched again", async () => {
  const parent = await Deno.makeTempDir({ prefix: "helaseid-watch-file-" });
  const dir = join(parent, "mount");
  const path = join(dir, "targets");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(path, "one");
  const reads = new CountingRead();
  const seen: FileRead[] = [];
  let opened = 0;
  const watch = watchFile(path, {
    clock: systemClock,
    interval: 50,
    debounce: 10,
    read: reads.read,
    watch: (directory) => {
      const watcher = watchDirectory(directory);
      opened++;
      return watcher;
    },
    onRead: (read) => seen.push(read),
  });
  try {
    await until("the first read", () => seen.length >= 1);
    assert.equal(opened, 1);
    await Deno.remove(dir, { recursive: true });
    await until("the missing file", () => seen.length >= 2);
    assert.equal(text(seen[1]), `error: '${path}' does not exist`);

    await Deno.mkdir(dir);
    await Deno.writeTextFile(path, "two");
    await until("the file back", () => seen.length >= 3);
    assert.equal(text(seen[2]), "two");
    await until("a second watch", () => opened >= 2);
    // Later polls do not open more watches while this one lives.
    const count = reads.count;
    await until("three more reads", () => reads.count >= count + 3);
    assert.equal(opened, 2);
  } finally {
    await watch.stop();
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("watch file: nothing is reported after stop, even for a read in flight", async () => {
  const clock = new FakeClock();
  const pending = Promise.withResolvers<Uint8Array>();
  const seen: FileRead[] = [];
  const watcher = silentWatch();
  const watch = watchFile("/etc/helaseid/targets", {
    clock,
    interval: 1_000,
    watch: () => watcher,
    read: () => pending.promise,
    onRead: (read) => seen.push(read),
  });
  await clock.advance(0);
  const stopped = watch.stop();
  pending.resolve(new TextEncoder().encode("192.0.2.1"));
  await stopped;
  await clock.advance(5_000);
  assert.deepEqual(seen, []);
  assert.equal(watcher.closed, true);
  assert.equal(clock.pending, 0);
});

Deno.test("watch file: a callback that throws does not end the watch", async () => {
  const clock = new FakeClock();
  let content = "a";
  const seen: string[] = [];
  const watch = watchFile("/t", {
    clock,
    interval: 1_000,
    watch: silentWatch,
    read: () => Promise.resolve(new TextEncoder().encode(content)),
    onRead: (read) => {
      seen.push(text(read)!);
      throw new Error("callback bug");
    },
  });
  await clock.advance(0);
  content = "b";
  await clock.advance(1_000);
  assert.deepEqual(seen, ["a", "b"]);
  await watch.stop();
});

Deno.test("watch file: a burst of directory events is one read, after the debounce", async () => {
  const clock = new FakeClock();
  const files = new Map([["/etc/helaseid/targets", "192.0.2.1"]]);
  const watcher = new ScriptedWatch();
  let reads = 0;
  const read = memoryFiles(files);
  const seen: string[] = [];
  const watch = watchFile("/etc/helaseid/targets", {
    clock,
    interval: 60_000,
    debounce: 100,
    watch: () => watcher,
    read: (path) => {
      reads++;
      return read(path);
    },
    onRead: (result) => seen.push(text(result)!),
  });
  await clock.advance(0);
  assert.equal(reads, 1);

  // kubelet's swap: a new timestamped directory, ..data_tmp, the rename, the old one removed.
  files.set("/etc/helaseid/targets", "192.0.2.2");
  watcher.send("create", "/etc/helaseid/..2026_12_03_10_01_00.2");
  watcher.send("create", "/etc/helaseid/..data_tmp");
  watcher.send("rename", "/etc/helaseid/..data_tmp", "/etc/helaseid/..data");
  watcher.send("remove", "/etc/helaseid/..2026_12_03_10_00_00.1");
  await clock.advance(99);
  assert.equal(reads, 1, "nothing read before the debounce ends");
  await clock.advance(1);
  assert.equal(reads, 2);
  assert.deepEqual(seen, ["192.0.2.1", "192.0.2.2"]);

  await watch.stop();
  assert.equal(watcher.closed, true);
});
