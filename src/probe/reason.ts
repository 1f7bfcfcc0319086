/**
 * Short, stable reasons for network errors: they become alert text, `/status` fields and
 * (bounded) metric labels, so they never carry an address or an OS error number.
 *
 * @module
 */

/** Maps a connect, read or write error to a short reason; `signal` tells a timeout apart. */
export function networkReason(error: unknown, signal?: AbortSignal): string {
  if (signal?.aborted) return "timeout";
  if (error instanceof ProbeFailure) return error.reason;
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  if (error instanceof Deno.errors.TimedOut) return "timeout";
  if (error instanceof Deno.errors.ConnectionReset) return "reset";
  if (error instanceof Deno.errors.BrokenPipe) return "reset";
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ECONNREFUSED") return "refused";
  if (code === "ECONNRESET" || code === "EPIPE") return "reset";
  if (code === "ETIMEDOUT") return "timeout";
  const message = error instanceof Error ? error.message : String(error);
  if (/unreachable|no route/i.test(message)) return "unreachable";
  return message.replace(/\s*\(os error \d+\)$/, "");
}

/** A check that failed for a known reason (thrown inside a prober, caught at its edge). */
export class ProbeFailure extends Error {
  /** The short reason, such as `http 503`. */
  readonly reason: string;
  /** What the failed result still reports, such as the certificate of an expiring one. */
  readonly certificate?: { readonly notAfter: number; readonly daysLeft: number };
  /** Creates the failure; `reason` is also the message. */
  constructor(
    reason: string,
    options?: { readonly certificate?: { readonly notAfter: number; readonly daysLeft: number } },
  ) {
    super(reason);
    this.name = "ProbeFailure";
    this.reason = reason;
    if (options?.certificate !== undefined) this.certificate = options.certificate;
  }
}
