/**
 * The body of a Kubernetes watch: one JSON event per line (`{"type":..., "object":...}`),
 * arriving in chunks that split lines anywhere. {@linkcode WatchStreamDecoder} turns chunks
 * into events; it is pure, so it is tested on captured bytes.
 *
 * @module
 */

import type { KubeObject } from "./types.ts";

/** The Status object of an ERROR event (410 Expired when the version is too old). */
export interface WatchStatus {
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** One event of a watch stream. */
export type WatchStreamEvent =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: KubeObject }
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string }
  | { readonly type: "ERROR"; readonly status: WatchStatus };

/** A line of a watch stream that is not JSON, or not an event. */
export class WatchStreamError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WatchStreamError";
  }
}

/** Splits a watch body into events, keeping a partial line until its end arrives. */
export class WatchStreamDecoder {
  readonly #decoder = new TextDecoder();
  #pending = "";

  /** Events completed by this chunk of the body. */
  push(chunk: Uint8Array | string): WatchStreamEvent[] {
    this.#pending += typeof chunk === "string"
      ? chunk
      : this.#decoder.decode(chunk, { stream: true });
    const events: WatchStreamEvent[] = [];
    let newline;
    while ((newline = this.#pending.indexOf("\n")) >= 0) {
      const line = this.#pending.slice(0, newline).trim();
      this.#pending = this.#pending.slice(newline + 1);
      if (line) events.push(parseEvent(line));
    }
    return events;
  }

  /** True when a partial line is still waiting for its end (the stream was cut). */
  get partial(): boolean {
    return this.#pending.trim().length > 0;
  }
}

function parseEvent(line: string): WatchStreamEvent {
  let event: { type?: unknown; object?: unknown };
  try {
    event = JSON.parse(line);
  } catch (error) {
    throw new WatchStreamError(`Cannot parse watch event '${line.slice(0, 80)}'`, {
      cause: error,
    });
  }
  const object = event.object as KubeObject | undefined;
  switch (event.type) {
    case "ADDED":
    case "MODIFIED":
    case "DELETED":
      if (object?.metadata) return { type: event.type, object };
      break;
    case "BOOKMARK":
      return { type: "BOOKMARK", resourceVersion: object?.metadata?.resourceVersion ?? "" };
    case "ERROR":
      return { type: "ERROR", status: (event.object ?? {}) as WatchStatus };
  }
  throw new WatchStreamError(`Cannot use watch event of type '${String(event.type)}'`);
}
