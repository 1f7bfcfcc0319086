/**
 * The `file` target source (issue 12): a list file (text or YAML/JSON, see `target_list.ts`)
 * followed as it changes. The file's directory is watched, so an editor's save-by-rename and a
 * ConfigMap volume's `..data` symlink swap are both seen (`src/config/watch_file.ts`); the file
 * is also read again every `interval` in case a watch misses something. A ConfigMap mounted
 * with `subPath` never updates: mount the whole volume, or use the `configmap` source.
 *
 * Outcomes, per the sources' failure rule: a missing or unreadable file, or one with any
 * malformed entry, is a failure naming the file and the line (the merge keeps the last good
 * set, as Prometheus' file_sd applies only well-formed files); an empty file (or one holding
 * only comments) is a successful empty set. An update is emitted only when the bytes changed.
 *
 * @module
 */

import type { FileSourceConfig, Millis } from "../config/schema.ts";
import {
  type FileRead,
  type FileWatch,
  type ReadFile,
  type WatchDirectory,
  watchFile,
} from "../config/watch_file.ts";
import { parseTargetList } from "./target_list.ts";
import type { SourceClock, SourceUpdate, TargetSource } from "./types.ts";

/** Options of {@linkcode createFileSource}: the side effects, injected. */
export interface FileSourceOptions {
  /** Timers of the debounce and the periodic re-read. */
  readonly clock: SourceClock;
  /** Opens the directory watch (default `Deno.watchFs`, not recursive). */
  readonly watch?: WatchDirectory;
  /** Reads the file (default `Deno.readFile`). */
  readonly read?: ReadFile;
  /** Wait after a directory event before reading (default 100 ms). */
  readonly debounce?: Millis;
}

/** Errors shown in one update before the rest are counted. */
const MAX_ERRORS_SHOWN = 5;

/** A source reading targets from `config.path`, named `file <path>`. */
export function createFileSource(
  config: FileSourceConfig,
  options: FileSourceOptions,
): TargetSource {
  let watch: FileWatch | undefined;
  return {
    name: `file ${config.path}`,
    start(emit) {
      if (watch !== undefined) return;
      watch = watchFile(config.path, {
        clock: options.clock,
        interval: config.interval,
        ...(options.debounce === undefined ? {} : { debounce: options.debounce }),
        ...(options.watch === undefined ? {} : { watch: options.watch }),
        ...(options.read === undefined ? {} : { read: options.read }),
        onRead: (read) => emit(fileUpdate(config.path, read)),
      });
    },
    async stop() {
      const running = watch;
      watch = undefined;
      await running?.stop();
    },
  };
}

/**
 * The update one read of a target list file gives: its targets, or a failure naming the file
 * and every bad line (at most five shown).
 */
export function fileUpdate(path: string, read: FileRead): SourceUpdate {
  if (!read.ok) return { ok: false, error: read.error };
  const text = new TextDecoder().decode(read.bytes);
  const list = parseTargetList(text);
  if (list.errors.length === 0) return { ok: true, targets: list.targets };
  const shown = list.errors.slice(0, MAX_ERRORS_SHOWN);
  const more = list.errors.length - shown.length;
  const rest = more > 0 ? `; and ${more} more` : "";
  return { ok: false, error: `file '${path}': ${shown.join("; ")}${rest}` };
}
