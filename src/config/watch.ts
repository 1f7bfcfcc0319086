/**
 * When to reload the configuration file (issue 12): when its bytes change, and on SIGHUP. This
 * module only says "now"; loading, validating and applying the new configuration (or keeping
 * the running one when it is invalid) is the caller's job.
 *
 * Changes are found by watching the file's directory (an editor's save-by-rename, and the
 * atomic `..data` symlink swap of a ConfigMap volume: see `watch_file.ts`), debounced, plus a
 * re-read every `interval` (default 10 s) in case the watch misses one. The bytes are compared
 * with the last ones seen, so a touch, a kubelet resync or a rewrite with the same content
 * reloads nothing. SIGHUP always asks for a reload, changed or not (`kill -HUP`, Prometheus'
 * convention).
 *
 * A ConfigMap mounted with `subPath` never receives updates (kubernetes/kubernetes #50345): the
 * kubelet copies the file once. Mount the ConfigMap as a directory and point `--config` at the
 * file inside it, or send SIGHUP after replacing the file some other way. A mounted ConfigMap
 * also changes only after the kubelet's sync period and cache TTL (about a minute by default),
 * not when the object is edited.
 *
 * @module
 */

import {
  type FileWatch,
  type ReadFile,
  sameBytes,
  type WatchClock,
  type WatchDirectory,
  watchFile,
} from "./watch_file.ts";
import type { Millis } from "./schema.ts";

/** Why a reload was asked for: the file's bytes changed, or the process got SIGHUP. */
export type ReloadReason = "file" | "signal";

/** Subscribes `listener` to the reload signal; returns the unsubscribe function. */
export type SubscribeSignal = (listener: () => void) => () => void;

/** Options of {@linkcode watchConfig}. */
export interface WatchConfigOptions {
  /** Asked to reload; called once per change or signal. Never called after `stop()`. */
  readonly onChange: (reason: ReloadReason) => void;
  /** Timers of the debounce and the periodic check. */
  readonly clock: WatchClock;
  /** The reload signal (default SIGHUP through `Deno.addSignalListener`; none where unsupported). */
  readonly signals?: SubscribeSignal;
  /** Opens the directory watch (default `Deno.watchFs`, not recursive). */
  readonly watch?: WatchDirectory;
  /** Reads the file (default `Deno.readFile`). */
  readonly read?: ReadFile;
  /** How often the file is read again without any event (default 10 s). */
  readonly interval?: Millis;
  /** Wait after a directory event before reading (default 100 ms). */
  readonly debounce?: Millis;
  /**
   * The text the running configuration was loaded from. A first read that differs from it is a
   * change (the file changed between load and watch); without it the first read is the baseline.
   */
  readonly loaded?: string | Uint8Array;
  /** Told when the file cannot be read (once per distinct error); no reload is asked for. */
  readonly onError?: (error: string) => void;
}

/** A running {@linkcode watchConfig}. */
export interface ConfigWatch {
  /** Stops the watch, the timers and the signal listener. */
  stop(): Promise<void>;
}

/** The default of {@linkcode WatchConfigOptions.interval}. */
export const DEFAULT_CONFIG_CHECK_MS = 10_000;

/** Calls `onChange` when the file at `path` changes ("file") and on SIGHUP ("signal"). */
export function watchConfig(path: string, options: WatchConfigOptions): ConfigWatch {
  let stopped = false;
  // The bytes last read; before the first read, what the running configuration was loaded
  // from (as text it is compared as text: a decoder may have dropped a byte order mark).
  let baseline: Uint8Array | string | undefined = options.loaded;
  const unsubscribe = (options.signals ?? subscribeSighup)(() => {
    if (!stopped) options.onChange("signal");
  });
  const watch: FileWatch = watchFile(path, {
    clock: options.clock,
    interval: options.interval ?? DEFAULT_CONFIG_CHECK_MS,
    ...(options.debounce === undefined ? {} : { debounce: options.debounce }),
    ...(options.watch === undefined ? {} : { watch: options.watch }),
    ...(options.read === undefined ? {} : { read: options.read }),
    onRead: (read) => {
      if (!read.ok) {
        options.onError?.(read.error);
        return;
      }
      // Compared with the last bytes read, not the last reload: a file that was unreadable
      // for a while and comes back unchanged asks for nothing.
      const changed = typeof baseline === "string"
        ? new TextDecoder().decode(read.bytes) !== baseline
        : baseline !== undefined && !sameBytes(read.bytes, baseline);
      baseline = read.bytes;
      if (changed) options.onChange("file");
    },
  });
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      await watch.stop();
    },
  };
}

/** The default {@linkcode SubscribeSignal}: SIGHUP, or nothing where the platform has none. */
export function subscribeSighup(listener: () => void): () => void {
  try {
    Deno.addSignalListener("SIGHUP", listener);
  } catch {
    return () => {}; // Windows has no SIGHUP: the file watch still works
  }
  return () => Deno.removeSignalListener("SIGHUP", listener);
}
