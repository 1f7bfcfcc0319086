/**
 * One delivery attempt: POST a JSON body to a webhook and classify the answer as sent, worth
 * retrying (429, 408, 5xx, network errors, timeouts; with the server's `Retry-After`), or
 * refused. The webhook URL is a credential: it never appears in what this returns (Deno's fetch
 * errors quote the URL, so their messages are scrubbed).
 *
 * @module
 */

import type { Millis, Secret } from "../config/schema.ts";

/** The outcome of one attempt. */
export type PostOutcome =
  | { readonly ok: true; readonly status: number }
  | {
    readonly ok: false;
    /** True when trying again later may succeed. */
    readonly retry: boolean;
    /** HTTP status, when the server answered. */
    readonly status?: number;
    /** How long the server asked us to wait (`Retry-After`). */
    readonly retryAfter?: Millis;
    /** What went wrong, free of the URL. */
    readonly error: string;
  };

/** Options of {@linkcode postJson}. */
export interface PostOptions {
  /** The fetch to use (default the global one). */
  readonly fetch?: typeof fetch;
  /** Aborts the request (timeouts, shutdown); its reason's message is the error. */
  readonly signal?: AbortSignal;
  /** The current time (epoch ms), to read a `Retry-After` date. */
  readonly now: number;
}

const MAX_DETAIL = 200;

/** POSTs `body` (JSON) to `url` once. Never throws. */
export async function postJson(
  url: Secret,
  body: string,
  options: PostOptions,
): Promise<PostOutcome> {
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url.reveal(), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: options.signal,
    });
  } catch (error) {
    return { ok: false, retry: true, error: _reason(error, url, options.signal) };
  }
  // Read the body always: an unread body holds the connection (and leaks in tests).
  let detail = "";
  try {
    detail = (await response.text()).trim();
  } catch (error) {
    if (response.ok) return { ok: true, status: response.status };
    detail = _reason(error, url, options.signal);
  }
  const { status } = response;
  if (response.ok) return { ok: true, status };
  const retry = status === 429 || status === 408 || status >= 500;
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"), options.now);
  const text = scrubUrls(detail, url).replace(/\s+/g, " ").slice(0, MAX_DETAIL);
  return {
    ok: false,
    retry,
    status,
    ...(retryAfter === undefined ? {} : { retryAfter }),
    error: `HTTP ${status}${text === "" ? "" : `: ${text}`}`,
  };
}

/**
 * The wait a `Retry-After` header asks for: delay-seconds (`120`) or an HTTP date, relative to
 * `now`; a date in the past is 0. `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number): Millis | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * `text` with the webhook URL, and anything else that looks like a URL, replaced by
 * `<redacted>`: scheme, host, path and query of a webhook are all part of its credential.
 */
export function scrubUrls(text: string, url: Secret): string {
  const secret = url.reveal();
  let out = secret === "" ? text : text.split(secret).join("<redacted>");
  try {
    const parsed = new URL(secret);
    // Longest first, so that a part never leaves pieces of a longer form behind.
    const forms = [
      parsed.href,
      parsed.pathname + parsed.search,
      parsed.pathname,
      parsed.search,
      ...[...parsed.searchParams.values()].filter((value) => value.length >= 8),
      ...parsed.pathname.split("/").filter((segment) => segment.length >= 16),
    ];
    for (const form of forms) {
      if (form.length >= 8) out = out.split(form).join("<redacted>");
    }
  } catch {
    // Not a URL: the literal replacement above is all there is to do.
  }
  return out.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>)]*/gi, "<redacted>");
}

/** The message of a failed fetch (and its causes), scrubbed. */
function _reason(error: unknown, url: Secret, signal: AbortSignal | undefined): string {
  if (signal?.aborted) {
    const reason = signal.reason;
    return scrubUrls(reason instanceof Error ? reason.message : String(reason), url);
  }
  const messages: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 4; depth++) {
    const message = current instanceof Error ? current.message : String(current);
    if (message !== "" && !messages.some((m) => m.includes(message))) messages.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  const name = error instanceof Error ? error.name : "Error";
  return scrubUrls(`${name}: ${messages.join(": ")}`, url);
}
