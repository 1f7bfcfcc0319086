/**
 * {@linkcode Secret}: a configuration value (a webhook URL, a token) that never prints itself.
 *
 * @module
 */

/**
 * A secret string (a webhook URL, a token). It never prints itself: `String()`, template
 * literals, `JSON.stringify` and `Deno.inspect` all show `<redacted>`. Call {@linkcode reveal}
 * only where the value is used.
 */
export class Secret {
  readonly #value: string;
  /** Wraps `value`; from here on it prints as `<redacted>`. */
  constructor(value: string) {
    this.#value = value;
  }
  /** The secret itself; use it only at the point of use, never in a log line. */
  reveal(): string {
    return this.#value;
  }
  /** Always `<redacted>`. */
  toString(): string {
    return "<redacted>";
  }
  /** Always `"<redacted>"`. */
  toJSON(): string {
    return "<redacted>";
  }
  /** Always `<redacted>` (`Deno.inspect`, `console.log`). */
  [Symbol.for("Deno.customInspect")](): string {
    return "<redacted>";
  }
}
