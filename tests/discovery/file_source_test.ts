/**
 * Tests of the `file` target source on real files in a temporary directory (real directory
 * watches, real renames and symlinks), and of its periodic re-read on a fake clock. Waits are
 * bounded polls on what the source emitted; nothing asserts on timing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createFileSource, fileUpdate } from "../../src/discovery/file.ts";
import type { SourceUpdate, TargetSource } from "../../src/discovery/types.ts";
import { systemClock } from "../../src/health/scheduler.ts";
import { FakeClock } from "../support/fakes.ts";
import {
  CountingRead,
  editorSave,
  KubeletVolume,
  memoryFiles,
  silentWatch,
  touch,
} from "../support/files.ts";
import { until } from "../support/wait.ts";

const HOUR = 3_600_000;

/** A started source and everything it emitted. */
interface Running {
  readonly source: TargetSource;
  readonly updates: SourceUpdate[];
  readonly reads: CountingRead;
}

/** Starts a file source on `path` with a real clock, a short debounce and no periodic re-read. */
function startSource(path: string): Running {
  const reads = new CountingRead();
  const source = createFileSource(
    { type: "file", path, interval: HOUR },
    { clock: systemClock, debounce: 10, read: reads.read },
  );
  const updates: SourceUpdate[] = [];
  source.start((update) => updates.push(update));
  return { source, updates, reads };
}

function addresses(update: SourceUpdate | undefined): string[] | string | undefined {
  if (update === undefined) return undefined;
  return update.ok ? update.targets.map((t) => t.address) : `error: ${update.error}`;
}

async function waitForUpdates(running: Running, count: number): Promise<void> {
  await until(`${count} updates from ${running.source.name}`, () => {
    return running.updates.length >= count;
  });
}

async function withTempDir(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-file-source-" });
  try {
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("file update: a missing file, a malformed one and an empty one", () => {
  assert.deepEqual(fileUpdate("/t", { ok: false, error: "'/t' does not exist" }), {
    ok: false,
    error: "'/t' does not exist",
  });
  const bytes = (text: string) => ({ ok: true as const, bytes: new TextEncoder().encode(text) });
  assert.deepEqual(fileUpdate("/t", bytes("192.0.2.1\nkafka-1\n")), {
    ok: false,
    error: "file '/t': line 2: 'kafka-1' is not an IP address",
  });
  assert.deepEqual(fileUpdate("/t", bytes("# no brokers for now\n")), { ok: true, targets: [] });
  assert.deepEqual(fileUpdate("/t", bytes("")), { ok: true, targets: [] });
  assert.deepEqual(fileUpdate("/t", bytes("- {address: 192.0.2.1, zone: a}")), {
    ok: true,
    targets: [{ address: "192.0.2.1", zone: "a" }],
  });
  const many = fileUpdate("/t", bytes("a b c d e f g"));
  assert.equal(many.ok, false);
  assert.match(!many.ok ? many.error : "", /line 1: 'e' is not an IP address; and 2 more$/);
});

Deno.test("file source: named after its path, reads the list, follows an editor's save", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "targets.txt");
    await Deno.writeTextFile(path, "192.0.2.1 192.0.2.2\n");
    const running = startSource(path);
    try {
      assert.equal(running.source.name, `file ${path}`);
      await waitForUpdates(running, 1);
      assert.deepEqual(addresses(running.updates[0]), ["192.0.2.1", "192.0.2.2"]);

      await editorSave(path, "192.0.2.2\n192.0.2.3\n");
      await waitForUpdates(running, 2);
      assert.deepEqual(addresses(running.updates[1]), ["192.0.2.2", "192.0.2.3"]);
    } finally {
      await running.source.stop();
    }
  });
});

Deno.test("file source: a ConfigMap volume's ..data symlink swap is seen", async () => {
  await withTempDir(async (dir) => {
    const volume = await KubeletVolume.create(dir, { targets: "- 192.0.2.1\n" });
    const running = startSource(volume.path("targets"));
    try {
      await waitForUpdates(running, 1);
      assert.deepEqual(addresses(running.updates[0]), ["192.0.2.1"]);

      await volume.update({ targets: "- 192.0.2.1\n- address: 192.0.2.7\n  zone: b\n" });
      await waitForUpdates(running, 2);
      assert.deepEqual(running.updates[1], {
        ok: true,
        targets: [{ address: "192.0.2.1" }, { address: "192.0.2.7", zone: "b" }],
      });

      // And the next update too: the watch is on the volume, not on a directory now deleted.
      await volume.update({ targets: "[]" });
      await waitForUpdates(running, 3);
      assert.deepEqual(running.updates[2], { ok: true, targets: [] });
    } finally {
      await running.source.stop();
    }
  });
});

Deno.test("file source: a touch or a rewrite with the same bytes emits nothing", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "targets");
    await Deno.writeTextFile(path, "192.0.2.1\n");
    const running = startSource(path);
    try {
      await waitForUpdates(running, 1);
      const before = running.reads.count;
      await touch(path);
      await editorSave(path, "192.0.2.1\n");
      // The file was read again (the events were handled)...
      await until("a read after the touch", () => running.reads.count > before);
      // ...and only a real change makes the next update.
      await editorSave(path, "192.0.2.9\n");
      await waitForUpdates(running, 2);
      assert.deepEqual(running.updates.map(addresses), [["192.0.2.1"], ["192.0.2.9"]]);
    } finally {
      await running.source.stop();
    }
  });
});

Deno.test("file source: a malformed or missing file fails, then recovers", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "targets.yaml");
    const running = startSource(path);
    try {
      await waitForUpdates(running, 1);
      assert.deepEqual(running.updates[0], { ok: false, error: `'${path}' does not exist` });

      await editorSave(path, "- 192.0.2.1\n- kafka-2.test\n");
      await waitForUpdates(running, 2);
      assert.deepEqual(running.updates[1], {
        ok: false,
        error: `file '${path}': item 2 (line 2): 'kafka-2.test' is not an IP address`,
      });

      await editorSave(path, "- 192.0.2.1\n- 192.0.2.2\n");
      await waitForUpdates(running, 3);
      assert.deepEqual(addresses(running.updates[2]), ["192.0.2.1", "192.0.2.2"]);

      await Deno.remove(path);
      await waitForUpdates(running, 4);
      assert.deepEqual(running.updates[3], { ok: false, error: `'${path}' does not exist` });

      await editorSave(path, "");
      await waitForUpdates(running, 5);
      assert.deepEqual(running.updates[4], { ok: true, targets: [] });
    } finally {
      await running.source.stop();
    }
  });
});

Deno.test("file source: re-read every interval when no watch event comes", async () => {
  const clock = new FakeClock();
  const files = new Map([["/etc/helaseid/targets", "192.0.2.1"]]);
  const watch = silentWatch();
  const directories: string[] = [];
  const source = createFileSource(
    { type: "file", path: "/etc/helaseid/targets", interval: 30_000 },
    {
      clock,
      read: memoryFiles(files),
      watch: (directory) => {
        directories.push(directory);
        return watch;
      },
    },
  );
  const updates: SourceUpdate[] = [];
  source.start((update) => updates.push(update));
  await clock.advance(0);
  assert.deepEqual(directories, ["/etc/helaseid"]);
  assert.deepEqual(updates.map(addresses), [["192.0.2.1"]]);

  files.set("/etc/helaseid/targets", "192.0.2.2");
  await clock.advance(29_999);
  assert.equal(updates.length, 1);
  await clock.advance(1);
  assert.deepEqual(updates.map(addresses), [["192.0.2.1"], ["192.0.2.2"]]);

  // Unchanged bytes on the next re-reads: nothing more.
  await clock.advance(60_000);
  assert.equal(updates.length, 2);

  await source.stop();
  assert.equal(watch.closed, true);
  assert.equal(clock.pending, 0);
  files.set("/etc/helaseid/targets", "192.0.2.3");
  await clock.advance(60_000);
  assert.equal(updates.length, 2, "no update after stop");
});

Deno.test("file source: a directory that cannot be watched is polled, and watched once it can be", async () => {
  const clock = new FakeClock();
  const files = new Map<string, string>();
  let watchable = false;
  const watch = silentWatch();
  let opened = 0;
  const source = createFileSource(
    { type: "file", path: "/mnt/targets", interval: 1_000 },
    {
      clock,
      read: memoryFiles(files),
      watch: () => {
        if (!watchable) throw new Deno.errors.NotFound("no such directory");
        opened++;
        return watch;
      },
    },
  );
  const updates: SourceUpdate[] = [];
  source.start((update) => updates.push(update));
  await clock.advance(0);
  assert.deepEqual(updates, [{ ok: false, error: "'/mnt/targets' does not exist" }]);

  watchable = true;
  files.set("/mnt/targets", "192.0.2.1");
  await clock.advance(1_000);
  assert.equal(opened, 1);
  assert.deepEqual(addresses(updates[1]), ["192.0.2.1"]);
  await clock.advance(5_000);
  assert.equal(opened, 1, "the watch is opened once, not on every poll");
  await source.stop();
  assert.equal(watch.closed, true);
});
