/**
 * Real files changed the ways the world changes them, for the tests of file watching (the
 * `file` target source and configuration reload): an editor's save-by-rename, a touch, and a
 * Kubernetes ConfigMap volume built and updated exactly as kubelet's AtomicWriter does. Also a
 * read that counts its calls (the positive signal that an event was handled) and a directory
 * watch that never fires (to test the periodic re-read on a fake clock).
 *
 * @module
 */

import { join } from "node:path";
import type { DirectoryWatcher, ReadFile } from "../../src/config/watch_file.ts";

/** Saves like vim and most editors: write a temporary file beside it, then rename it over. */
export async function editorSave(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(temporary, text);
  await Deno.rename(temporary, path);
}

/** Sets the file's times to now without changing its bytes (`touch`). */
export async function touch(path: string): Promise<void> {
  const now = new Date();
  await Deno.utime(path, now, now);
}

/**
 * A directory laid out like a ConfigMap volume (kubelet's AtomicWriter): each file is a
 * symlink `name -> ..data/name`, `..data` is a symlink to a timestamped directory holding the
 * real files.
 */
export class KubeletVolume {
  /** The mount point, such as `/etc/helaseid`. */
  readonly directory: string;
  #generation = 0;
  #current: string | undefined;

  private constructor(directory: string) {
    this.directory = directory;
  }

  /** Creates the volume in `directory` (which must exist) holding `files`. */
  static async create(
    directory: string,
    files: Readonly<Record<string, string>>,
  ): Promise<KubeletVolume> {
    const volume = new KubeletVolume(directory);
    await volume.update(files);
    for (const name of Object.keys(files)) {
      await Deno.symlink(join("..data", name), join(directory, name));
    }
    return volume;
  }

  /** The path of one file as a container sees it (`<mount>/<name>`). */
  path(name: string): string {
    return join(this.directory, name);
  }

  /**
   * Publishes new contents the way the kubelet does: a new timestamped directory, a
   * `..data_tmp` symlink to it, renamed over `..data` (one atomic step), then the old
   * directory is removed.
   */
  async update(files: Readonly<Record<string, string>>): Promise<void> {
    this.#generation++;
    const stamp = `..2026_12_03_10_00_00.${String(this.#generation).padStart(9, "0")}`;
    const next = join(this.directory, stamp);
    await Deno.mkdir(next);
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(next, name), text);
    }
    const temporary = join(this.directory, "..data_tmp");
    await Deno.symlink(stamp, temporary);
    await Deno.rename(temporary, join(this.directory, "..data"));
    if (this.#current !== undefined) await Deno.remove(this.#current, { recursive: true });
    this.#current = next;
  }
}

/** `Deno.readFile` that counts its calls. */
export class CountingRead {
  /**
   * Reads finished so far (failed ones too). A bounded poll that sees it grow also sees what
   * the watch did with that read: it runs in the same chain of promise callbacks.
   */
  count = 0;
  /** The read function to inject. */
  readonly read: ReadFile = async (path) => {
    try {
      return await Deno.readFile(path);
    } finally {
      this.count++;
    }
  };
}

/** A directory watch that never reports anything and ends when closed. */
export function silentWatch(): DirectoryWatcher & { readonly closed: boolean } {
  const closed = Promise.withResolvers<IteratorResult<Deno.FsEvent>>();
  let isClosed = false;
  return {
    get closed() {
      return isClosed;
    },
    close() {
      isClosed = true;
      closed.resolve({ done: true, value: undefined });
    },
    [Symbol.asyncIterator]() {
      return { next: () => closed.promise };
    },
  };
}

/** A map of paths to texts, read like files; a missing path is `Deno.errors.NotFound`. */
export function memoryFiles(files: Map<string, string>): ReadFile {
  return (path) => {
    const text = files.get(path);
    if (text === undefined) {
      return Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`));
    }
    return Promise.resolve(new TextEncoder().encode(text));
  };
}

/** A directory watch whose events the test sends; it ends when closed. */
export class ScriptedWatch implements DirectoryWatcher {
  #waiting: ((result: IteratorResult<Deno.FsEvent>) => void) | undefined;
  #queue: Deno.FsEvent[] = [];
  #closed = false;

  /** Whether the watch was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Reports one event on `paths`. */
  send(kind: Deno.FsEvent["kind"], ...paths: string[]): void {
    const event: Deno.FsEvent = { kind, paths, flag: undefined };
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting({ done: false, value: event });
    else this.#queue.push(event);
  }

  close(): void {
    this.#closed = true;
    this.#waiting?.({ done: true, value: undefined });
    this.#waiting = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<Deno.FsEvent> {
    return {
      next: () => {
        const event = this.#queue.shift();
        if (event !== undefined) return Promise.resolve({ done: false, value: event });
        if (this.#closed) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => this.#waiting = resolve);
      },
    };
  }
}
