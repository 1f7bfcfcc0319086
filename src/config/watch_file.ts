/**
 * Follows the bytes of one file as they change: the shared machinery of the `file` target
 * source and of configuration reload (issue 12).
 *
 * The file's PARENT DIRECTORY is watched, not the file: editors save by writing a temporary
 * file and renaming it over the old one, and a Kubernetes ConfigMap or Secret volume updates
 * by swapping a symlink (kubelet's AtomicWriter: `name -> ..data/name`, `..data ->
 * ..2026_12_03_10_00_00.123`; an update writes a new timestamped directory, points a
 * `..data_tmp` symlink at it and renames that over `..data`). A watch on the file itself sees
 * neither: it stays on the old inode. Any event in the directory schedules one debounced
 * re-read; the read follows symlinks, and the bytes are compared, so events that change
 * nothing (a touch, a resync, another file in the directory) report nothing.
 *
 * The file is also re-read every `interval` whatever the watch says: a watch can be lost (the
 * directory was missing at start or replaced) or never fire (some network and overlay file
 * systems), and a poll is cheap. A lost watch is opened again on the next poll.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import type { Millis } from "./schema.ts";

/** A directory watch: what `Deno.watchFs` returns, reduced to what is used. */
export interface DirectoryWatcher extends AsyncIterable<Deno.FsEvent> {
  /** Ends the watch; the iteration then finishes. */
  close(): void;
}

/** Opens a watch on a directory; throws when it cannot (default: `Deno.watchFs`, not recursive). */
export type WatchDirectory = (directory: string) => DirectoryWatcher;

/** Reads a file's bytes, following symlinks (default: `Deno.readFile`). */
export type ReadFile = (path: string) => Promise<Uint8Array>;

/** One read of the watched file: its bytes, or why it could not be read. */
export type FileRead =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly error: string };

/** Time and timers (the scheduler's `Clock` shape). */
export interface WatchClock {
  now(): number;
  setTimeout(callback: () => void, delay: Millis): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@linkcode watchFile}. */
export interface WatchFileOptions {
  /** Timers for the debounce and the periodic re-read. */
  readonly clock: WatchClock;
  /** How often the file is read again without any event. */
  readonly interval: Millis;
  /** How long after a directory event the file is read, so a burst of events is one read (default 100 ms). */
  readonly debounce?: Millis;
  /** Opens the directory watch (default `Deno.watchFs(directory, { recursive: false })`). */
  readonly watch?: WatchDirectory;
  /** Reads the file (default `Deno.readFile`). */
  readonly read?: ReadFile;
  /**
   * Called with the first read, then with every read whose outcome differs from the previous
   * one (other bytes, a new error, or the file readable again). Never called after `stop()`.
   */
  readonly onRead: (read: FileRead) => void;
}

/** A running {@linkcode watchFile}. */
export interface FileWatch {
  /** Closes the watch and cancels the timers; resolves when no read is in flight any more. */
  stop(): Promise<void>;
}

/** The debounce of {@linkcode WatchFileOptions.debounce}. */
export const DEFAULT_DEBOUNCE_MS = 100;

/** Starts following `path` (see the module documentation); the first read starts at once. */
export function watchFile(path: string, options: WatchFileOptions): FileWatch {
  const watch = new _FileWatch(path, options);
  watch.start();
  return watch;
}

/** The default {@linkcode WatchDirectory}. */
export function watchDirectory(directory: string): DirectoryWatcher {
  return Deno.watchFs(directory, { recursive: false });
}

/** A read error as one line naming the file: `'/etc/helaseid/targets' does not exist`. */
export function readErrorText(path: string, error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return `'${path}' does not exist`;
  if (error instanceof Deno.errors.PermissionDenied) return `permission denied reading '${path}'`;
  if (error instanceof Deno.errors.IsADirectory) return `'${path}' is a directory`;
  const message = error instanceof Error ? error.message : String(error);
  return `cannot read '${path}': ${message}`;
}

class _FileWatch implements FileWatch {
  readonly #path: string;
  readonly #directory: string;
  readonly #options: WatchFileOptions;
  readonly #read: ReadFile;
  readonly #watch: WatchDirectory;
  #stopped = false;
  #watcher: DirectoryWatcher | undefined;
  #watchLoop: Promise<void> = Promise.resolve();
  #debounceTimer: unknown;
  #pollTimer: unknown;
  #reading: Promise<void> | undefined;
  #again = false;
  #last: FileRead | undefined;

  constructor(path: string, options: WatchFileOptions) {
    this.#path = path;
    this.#directory = dirname(path);
    this.#options = options;
    this.#read = options.read ?? Deno.readFile;
    this.#watch = options.watch ?? watchDirectory;
  }

  start(): void {
    this.#openWatch();
    this.#readNow();
    this.#schedulePoll();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const { clock } = this.#options;
    if (this.#debounceTimer !== undefined) clock.clearTimeout(this.#debounceTimer);
    if (this.#pollTimer !== undefined) clock.clearTimeout(this.#pollTimer);
    this.#debounceTimer = this.#pollTimer = undefined;
    this.#closeWatch();
    await this.#watchLoop;
    await this.#reading;
  }

  /** Opens the directory watch; on failure the poll keeps working and retries the watch. */
  #openWatch(): void {
    const directory = resolve(this.#directory);
    let watcher: DirectoryWatcher;
    try {
      watcher = this.#watch(this.#directory);
    } catch {
      return;
    }
    this.#watcher = watcher;
    this.#watchLoop = (async () => {
      try {
        for await (const event of watcher) {
          if (this.#stopped) break;
          this.#onEvent();
          // The directory itself went away: this watch will never report again (inotify
          // watches the inode), so drop it and let the poll open one on the new directory.
          if (event.kind === "remove" && event.paths.some((p) => resolve(p) === directory)) break;
        }
      } catch {
        // The watch failed (its directory went away): the next poll opens a new one.
      } finally {
        if (this.#watcher === watcher) this.#closeWatch();
      }
    })();
  }

  #closeWatch(): void {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    try {
      watcher?.close();
    } catch {
      // Already closed.
    }
  }

  /** A directory event: read once the burst it belongs to is over. */
  #onEvent(): void {
    if (this.#debounceTimer !== undefined) return;
    this.#debounceTimer = this.#options.clock.setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#readNow();
    }, this.#options.debounce ?? DEFAULT_DEBOUNCE_MS);
  }

  #schedulePoll(): void {
    if (this.#stopped) return;
    this.#pollTimer = this.#options.clock.setTimeout(() => {
      this.#pollTimer = undefined;
      if (this.#stopped) return;
      if (this.#watcher === undefined) this.#openWatch();
      this.#readNow();
      this.#schedulePoll();
    }, this.#options.interval);
  }

  /** Reads the file; a read asked for while one runs makes one more read after it. */
  #readNow(): void {
    if (this.#stopped) return;
    if (this.#reading !== undefined) {
      this.#again = true;
      return;
    }
    this.#reading = (async () => {
      do {
        this.#again = false;
        const read = await this.#readOnce();
        if (this.#stopped) break;
        if (_sameRead(read, this.#last)) continue;
        this.#last = read;
        try {
          this.#options.onRead(read);
        } catch {
          // The callback's own failure must not end the watch (its contract is not to throw).
        }
      } while (this.#again && !this.#stopped);
      this.#reading = undefined;
    })();
  }

  async #readOnce(): Promise<FileRead> {
    try {
      return { ok: true, bytes: await this.#read(this.#path) };
    } catch (error) {
      return { ok: false, error: readErrorText(this.#path, error) };
    }
  }
}

function _sameRead(a: FileRead, b: FileRead | undefined): boolean {
  if (b === undefined || a.ok !== b.ok) return false;
  if (!a.ok || !b.ok) return !a.ok && !b.ok && a.error === b.error;
  return sameBytes(a.bytes, b.bytes);
}

/** Whether two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
