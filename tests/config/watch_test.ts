/**
 * Tests of the configuration reload trigger: real files in a temporary directory (an editor's
 * save, a ConfigMap volume's `..data` swap, a touch), SIGHUP through the injected signal
 * source, and the periodic check on a fake clock. Waits are bounded polls; nothing asserts on
 * timing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type ReloadReason, watchConfig } from "../../src/config/watch.ts";
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

/** A signal source the test raises by hand. */
class ManualSignal {
  readonly #listeners = new Set<() => void>();
  readonly subscribe = (listener: () => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };
  get listeners(): number {
    return this.#listeners.size;
  }
  raise(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** A watch on a real file with a real clock, a short debounce and no periodic check. */
function startWatch(path: string, loaded?: string) {
  const reasons: ReloadReason[] = [];
  const errors: string[] = [];
  const reads = new CountingRead();
  const signal = new ManualSignal();
  const watch = watchConfig(path, {
    onChange: (reason) => reasons.push(reason),
    onError: (error) => errors.push(error),
    clock: systemClock,
    signals: signal.subscribe,
    read: reads.read,
    interval: HOUR,
    debounce: 10,
    ...(loaded === undefined ? {} : { loaded }),
  });
  return { watch, reasons, errors, reads, signal };
}

async function withTempDir(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-config-watch-" });
  try {
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("config watch: an editor's save asks for a reload, once", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "helaseid.yaml");
    await Deno.writeTextFile(path, "services: []\n");
    const w = startWatch(path, "services: []\n");
    try {
      await until("the first read", () => w.reads.count >= 1);
      await editorSave(path, "services: [] # edited\n");
      await until("a reload", () => w.reasons.length >= 1);
      // A later real change is the positive signal that no second reload came for the first.
      await editorSave(path, "services: [] # edited again\n");
      await until("a second reload", () => w.reasons.length >= 2);
      assert.deepEqual(w.reasons, ["file", "file"]);
    } finally {
      await w.watch.stop();
    }
  });
});

Deno.test("config watch: a ConfigMap volume's ..data symlink swap asks for a reload", async () => {
  await withTempDir(async (dir) => {
    const volume = await KubeletVolume.create(dir, { "config.env": "IPS=(192.0.2.1)\n" });
    const w = startWatch(volume.path("config.env"));
    try {
      await until("the first read", () => w.reads.count >= 1);
      await volume.update({ "config.env": "IPS=(192.0.2.1 192.0.2.2)\n" });
      await until("a reload", () => w.reasons.length >= 1);
      await volume.update({ "config.env": "IPS=(192.0.2.2)\n" });
      await until("a second reload", () => w.reasons.length >= 2);
      assert.deepEqual(w.reasons, ["file", "file"]);
    } finally {
      await w.watch.stop();
    }
  });
});

Deno.test("config watch: a touch or a save of the same bytes reloads nothing", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "helaseid.yaml");
    await Deno.writeTextFile(path, "services: []\n");
    const w = startWatch(path, "services: []\n");
    try {
      await until("the first read", () => w.reads.count >= 1);
      let reads = w.reads.count;
      await touch(path);
      await until("a read after the touch", () => w.reads.count > reads);
      reads = w.reads.count;
      await editorSave(path, "services: []\n");
      await until("a read after the save", () => w.reads.count > reads);
      assert.deepEqual(w.reasons, []);
      // The watch is alive: a real change is still seen.
      await editorSave(path, "services: [] # changed\n");
      await until("a reload", () => w.reasons.length >= 1);
      assert.deepEqual(w.reasons, ["file"]);
    } finally {
      await w.watch.stop();
    }
  });
});

Deno.test("config watch: a kubelet resync swap with the same bytes reloads nothing", async () => {
  await withTempDir(async (dir) => {
    const volume = await KubeletVolume.create(dir, { "config.env": "PORT=9092\n" });
    const w = startWatch(volume.path("config.env"));
    try {
      await until("the first read", () => w.reads.count >= 1);
      const reads = w.reads.count;
      await volume.update({ "config.env": "PORT=9092\n" });
      await until("a read after the resync", () => w.reads.count > reads);
      assert.deepEqual(w.reasons, []);
      await volume.update({ "config.env": "PORT=9093\n" });
      await until("a reload", () => w.reasons.length >= 1);
      assert.deepEqual(w.reasons, ["file"]);
    } finally {
      await w.watch.stop();
    }
  });
});

Deno.test("config watch: SIGHUP asks for a reload even when nothing changed", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "helaseid.yaml");
    await Deno.writeTextFile(path, "services: []\n");
    const w = startWatch(path, "services: []\n");
    try {
      assert.equal(w.signal.listeners, 1);
      w.signal.raise();
      w.signal.raise();
      assert.deepEqual(w.reasons, ["signal", "signal"]);
    } finally {
      await w.watch.stop();
    }
    assert.equal(w.signal.listeners, 0, "the signal listener is removed on stop");
    w.signal.raise();
    assert.deepEqual(w.reasons, ["signal", "signal"]);
  });
});

Deno.test("config watch: a file changed between load and watch is a change", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "helaseid.yaml");
    await Deno.writeTextFile(path, "services: [] # newer\n");
    const w = startWatch(path, "services: []\n");
    try {
      await until("a reload", () => w.reasons.length >= 1);
      assert.deepEqual(w.reasons, ["file"]);
    } finally {
      await w.watch.stop();
    }
  });
});

Deno.test("config watch: a missing file is reported, not reloaded; its return with new bytes is", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "helaseid.yaml");
    await Deno.writeTextFile(path, "services: []\n");
    const w = startWatch(path, "services: []\n");
    try {
      await until("the first read", () => w.reads.count >= 1);
      await Deno.remove(path);
      await until("the error", () => w.errors.length >= 1);
      assert.deepEqual(w.errors, [`'${path}' does not exist`]);
      // Back with the bytes the running configuration has: nothing to reload.
      let reads = w.reads.count;
      await editorSave(path, "services: []\n");
      await until("a read after the file came back", () => w.reads.count > reads);
      assert.deepEqual(w.reasons, []);
      reads = w.reads.count;
      await editorSave(path, "services: [] # changed\n");
      await until("a reload", () => w.reasons.length >= 1);
      assert.deepEqual(w.reasons, ["file"]);
    } finally {
      await w.watch.stop();
    }
  });
});

Deno.test("config watch: the periodic check finds a change no event reported", async () => {
  const clock = new FakeClock();
  const files = new Map([["/etc/helaseid/config.env", "PORT=9092\n"]]);
  const watch = silentWatch();
  const reasons: ReloadReason[] = [];
  const config = watchConfig("/etc/helaseid/config.env", {
    onChange: (reason) => reasons.push(reason),
    clock,
    signals: new ManualSignal().subscribe,
    read: memoryFiles(files),
    watch: () => watch,
  });
  await clock.advance(0);
  files.set("/etc/helaseid/config.env", "PORT=9093\n");
  await clock.advance(9_999);
  assert.deepEqual(reasons, []);
  await clock.advance(1);
  assert.deepEqual(reasons, ["file"], "checked every 10 s by default");
  await clock.advance(30_000);
  assert.deepEqual(reasons, ["file"]);
  await config.stop();
  assert.equal(watch.closed, true);
  assert.equal(clock.pending, 0);
});

Deno.test("config watch: the loaded text is compared as text (a byte order mark is no change)", async () => {
  const clock = new FakeClock();
  const path = "/etc/helaseid/helaseid.yaml";
  const files = new Map([[path, "\uFEFFservices: []\n"]]);
  const reasons: ReloadReason[] = [];
  const config = watchConfig(path, {
    onChange: (reason) => reasons.push(reason),
    clock,
    signals: new ManualSignal().subscribe,
    read: memoryFiles(files),
    watch: silentWatch,
    loaded: "services: []\n", // as the loader decoded it
  });
  await clock.advance(0);
  assert.deepEqual(reasons, []);
  files.set(path, "\uFEFFservices: [] # edited\n");
  await clock.advance(10_000);
  assert.deepEqual(reasons, ["file"]);
  await config.stop();
});
