/**
 * Helpers shared by the configuration tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  type ConfigIssue,
  loadConfig,
  type LoadedConfig,
  type LoadOptions,
} from "../../src/config/mod.ts";

/** The seed's ConfigMap `config.env`, verbatim. */
export const SEED_CONFIG_ENV = `IPS=("10.188.2.3" "10.188.2.4" "10.188.2.5")
PORT=9092
MAX_RETRY=10
INTERVAL=0.01
LOG_LEVEL=INFO
NAMESPACE=datastream
SERVICE_NAME=datastream-redpanda-api-dev
`;

/** A webhook URL that must never show up in an error message. */
export const WEBHOOK = "https://example.webhook.office.com/workflows/s3cr3t-token?sig=abc";

/** An in-memory file system for `readTextFile`. */
export function fakeFiles(
  files: Readonly<Record<string, string>>,
): (path: string) => Promise<string> {
  return (path) => {
    const text = files[path];
    return text === undefined
      ? Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`))
      : Promise.resolve(text);
  };
}

/** Loads a configuration from in-memory files. */
export function load(
  files: Readonly<Record<string, string>>,
  options: Omit<LoadOptions, "readTextFile" | "env"> & { env?: LoadOptions["env"] } = {},
): Promise<LoadedConfig> {
  return loadConfig({ env: {}, ...options, readTextFile: fakeFiles(files) });
}

/** The issues of a load that must fail with a {@linkcode ConfigError}. */
export async function issuesOf(promise: Promise<unknown>): Promise<readonly ConfigIssue[]> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    assert.equal(error.message, error.issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
    return error.issues;
  }
  assert.fail("expected a ConfigError");
}

/** Asserts that some issue, written `path: message`, starts with `expected`. */
export function assertIssue(issues: readonly ConfigIssue[], expected: string): void {
  const lines = issues.map((issue) => `${issue.path}: ${issue.message}`);
  assert.ok(
    lines.some((line) => line.startsWith(expected)),
    `no issue starts with ${JSON.stringify(expected)}; got:\n${lines.join("\n")}`,
  );
}
