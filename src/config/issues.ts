/**
 * Field-path issues: the outcome of one check ({@linkcode Checked}), the list that collects every
 * problem of one load ({@linkcode IssueList}) and the error that reports them all
 * ({@linkcode ConfigError}).
 *
 * @module
 */

/** One problem in a configuration: the field at fault and what is wrong with it. */
export interface ConfigIssue {
  /** Field path such as `services[0].targets[2]` or `PORT`; a file location for file problems. */
  readonly path: string;
  /** What is wrong: the bad value quoted and what is allowed, never a secret. */
  readonly message: string;
}

/** An invalid or unreadable configuration; `issues` lists every problem found, not just the first. */
export class ConfigError extends Error {
  /** Every problem found, in input order. */
  readonly issues: readonly ConfigIssue[];
  /** An error listing `issues`, one `path: message` line each. */
  constructor(issues: readonly ConfigIssue[], options?: ErrorOptions) {
    super(issues.map(formatIssue).join("\n"), options);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** `path: message`, the line a {@linkcode ConfigError} shows for one issue. */
export function formatIssue(issue: ConfigIssue): string {
  return issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`;
}

/** The outcome of one check: the normalized value, or what is wrong with the input. */
export type Checked<T> = { readonly ok: true; readonly value: T } | {
  readonly ok: false;
  readonly message: string;
};

/** A passed check. */
export function passed<T>(value: T): Checked<T> {
  return { ok: true, value };
}

/** A failed check. */
export function failed<T = never>(message: string): Checked<T> {
  return { ok: false, message };
}

/** A value with the field path it came from. */
export interface Located<T> {
  /** The checked value. */
  readonly value: T;
  /** Where it was given: `services[0].probe.interval`, `INTERVAL`. */
  readonly path: string;
}

/** Collects the issues of one load so that all of them are reported at once. */
export class IssueList {
  readonly #issues: ConfigIssue[] = [];

  /** Records a problem; returns `undefined` so a failed field reads as "no value". */
  add(path: string, message: string): undefined {
    this.#issues.push({ path, message });
    return undefined;
  }

  /** The value of a passed check, or `undefined` after recording the failure under `path`. */
  take<T>(path: string, checked: Checked<T>): T | undefined {
    return checked.ok ? checked.value : this.add(path, checked.message);
  }

  /** Records issues found elsewhere. */
  addAll(issues: readonly ConfigIssue[]): void {
    this.#issues.push(...issues);
  }

  /** The issues so far. */
  get issues(): readonly ConfigIssue[] {
    return this.#issues;
  }

  /** Throws a {@linkcode ConfigError} carrying every issue, if there is any. */
  throwIfAny(): void {
    if (this.#issues.length > 0) throw new ConfigError([...this.#issues]);
  }
}
