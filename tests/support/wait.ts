/**
 * The one set of real-time wait helpers for tests: a delay, and bounded polls that fail with a
 * message naming what they waited for instead of hanging. Unit tests use FakeClock
 * (tests/support/fakes.ts) instead; these are for tests that drive real processes, sockets and
 * the API server.
 *
 * Timeouts here only end a broken test; they are never a measurement, so they are generous.
 *
 * @module
 */

/** Default bound of a poll: long enough for a loaded 2-core machine, short enough to end a hang. */
export const GENEROUS_MS = 30_000;

/** Default pause between two evaluations of a polled condition. */
export const POLL_INTERVAL_MS = 25;

/** Error thrown when a bounded wait runs out of time. */
export class WaitTimeoutError extends Error {
  /** Creates the error; `what` names the awaited condition. */
  constructor(what: string, timeoutMs: number, options?: ErrorOptions) {
    const cause = options?.cause === undefined
      ? ""
      : `: last error was ${errorText(options.cause)}`;
    super(`Timed out after ${timeoutMs} ms waiting for ${what}${cause}`, options);
    this.name = "WaitTimeoutError";
  }
}

/** Options of a bounded poll. */
export interface WaitOptions {
  /** Fail after this many milliseconds (default GENEROUS_MS). */
  timeoutMs?: number;
  /** Pause between two evaluations (default POLL_INTERVAL_MS). */
  intervalMs?: number;
}

/** Resolves after `ms` milliseconds of real time. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `condition` until it returns true; throws WaitTimeoutError naming `what` when it does
 * not within the timeout. An exception from `condition` counts as "not yet" and is reported
 * as the cause on timeout.
 */
export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  options: WaitOptions = {},
): Promise<void> {
  await untilValue(what, async () => (await condition()) ? true : undefined, options);
}

/**
 * Polls `probe` until it returns something other than undefined and returns that value;
 * throws WaitTimeoutError naming `what` when it does not within the timeout. An exception from
 * `probe` counts as "not yet" and is reported as the cause on timeout.
 */
export async function untilValue<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? GENEROUS_MS;
  const intervalMs = options.intervalMs ?? POLL_INTERVAL_MS;
  const deadline = performance.now() + timeoutMs;
  let failure: { error: unknown } | undefined;
  while (true) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      failure = undefined;
    } catch (error) {
      failure = { error };
    }
    if (performance.now() >= deadline) {
      throw new WaitTimeoutError(what, timeoutMs, failure ? { cause: failure.error } : undefined);
    }
    await delay(intervalMs);
  }
}

/**
 * Resolves with the promise's value, or throws WaitTimeoutError naming `what` when it does not
 * settle within the timeout. The timer is always cleared, so the op sanitizer stays quiet.
 */
export async function within<T>(
  what: string,
  promise: Promise<T>,
  timeoutMs: number = GENEROUS_MS,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(what, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
