/**
 * The option table (`src/config/options.ts`) is the one declaration of every option: these tests
 * hold the README's configuration reference and the table's JSDoc `@default` tags to it.
 */

import assert from "node:assert/strict";
import * as table from "../../src/config/options.ts";
import { describeDefault, referenceRows, renderReference } from "../../src/config/reference.ts";

const README = new URL("../../README.md", import.meta.url);
const OPTIONS_FILE = new URL("../../src/config/options.ts", import.meta.url);

/** The cells of the rows of the first Markdown table after `heading`. */
async function tableAfter(heading: string): Promise<string[][]> {
  const lines = (await Deno.readTextFile(README)).split("\n");
  const start = lines.findIndex((line) => line.trim() === heading);
  assert.ok(start >= 0, `README has no heading ${JSON.stringify(heading)}`);
  const first = lines.findIndex((line, i) => i > start && line.startsWith("|"));
  const rows: string[][] = [];
  for (let i = first + 2; i < lines.length && lines[i]!.startsWith("|"); i++) {
    rows.push(lines[i]!.slice(1, -1).split("|").map((cell) => cell.trim()));
  }
  return rows;
}

/** README rows as `{ name, default, doc }`, the name without its backticks. */
function asReference(rows: string[][]) {
  return rows.map(([name = "", def = "", doc = ""]) => ({
    name: name.replace(/^`|`$/g, ""),
    default: def,
    doc,
  }));
}

for (
  const [format, heading] of [
    ["env", "### `config.env` and environment variables"],
    ["structured", "### Structured file (YAML or JSON)"],
  ] as const
) {
  Deno.test(`the README's ${format} reference lists exactly the table's options`, async () => {
    const readme = asReference(await tableAfter(heading));
    assert.deepEqual(
      readme,
      referenceRows(format),
      `README section ${heading} disagrees with src/config/options.ts; the table should read ` +
        `(run deno fmt README.md after pasting):\n${renderReference(format)}`,
    );
  });
}

Deno.test("the README's alert table names known variables and keys with the table's defaults", async () => {
  const rows = await tableAfterHeader("| variable ", "## Alerts");
  const variables = new Map<string, { option: table.Option<unknown>; key: string }>();
  for (const block of table.OPTION_BLOCKS) {
    for (const [name, option] of Object.entries(block.options)) {
      if (option.env !== undefined) {
        variables.set(option.env, { option, key: `${block.path}.${name}` });
      }
    }
  }
  const listed = new Set<string>();
  for (const [vars = "", keys = "", def = ""] of rows) {
    const names = [...vars.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!);
    // `alerts.webhook.url` / `urlFile`: later keys are relative to the first one's block.
    const [first = "", ...rest] = [...keys.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const parent = first.slice(0, first.lastIndexOf("."));
    const paths = [first, ...rest.map((key) => `${parent}.${key}`)];
    assert.equal(names.length, paths.length, `row ${vars} | ${keys}`);
    for (const [i, name] of names.entries()) {
      const known = variables.get(name);
      assert.ok(known !== undefined, `unknown variable ${name}`);
      assert.equal(paths[i], known.key, `${name} is ${known.key} in the table`);
      listed.add(name);
    }
    if (names.length === 1) {
      const expected = describeDefault(variables.get(names[0]!)!.option, "env");
      assert.ok(def.startsWith(expected), `${names[0]}: default ${def} is not ${expected}`);
    }
  }
  const alertVariables = [...variables].filter(([, v]) => v.key.startsWith("alerts."));
  assert.deepEqual(alertVariables.map(([name]) => name).filter((n) => !listed.has(n)), []);
});

/** The rows of the table whose header starts with `header`, after the heading `after`. */
async function tableAfterHeader(header: string, after: string): Promise<string[][]> {
  const lines = (await Deno.readTextFile(README)).split("\n");
  const from = lines.findIndex((line) => line.trim() === after);
  const start = lines.findIndex((line, i) => i > from && line.startsWith(header));
  assert.ok(from >= 0 && start >= 0, `no table ${header} after ${after}`);
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith("|"); i++) {
    rows.push(lines[i]!.slice(1, -1).split("|").map((cell) => cell.trim()));
  }
  return rows;
}

Deno.test("every @default tag in the option table states the option's default", async () => {
  const source = await Deno.readTextFile(OPTIONS_FILE);
  const blocks = table as unknown as Record<string, Record<string, table.Option<unknown>>>;
  let checked = 0;
  // Each block is `export const X_OPTIONS = { ... } as const;`, each entry `/** ... */ name: option(`.
  for (const block of source.matchAll(/export const (\w+_OPTIONS) = \{([\s\S]*?)\n\} as const;/g)) {
    const [, blockName, body] = block as unknown as [string, string, string];
    const options = blocks[blockName]!;
    const documented = new Set<string>();
    for (const entry of body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*(\w+): option/g)) {
      const [, doc, name] = entry as unknown as [string, string, string];
      documented.add(name);
      const option = options[name];
      assert.ok(option !== undefined, `${blockName}.${name} is not exported`);
      const tag = doc.match(/@default \{(.*?)\}/)?.[1];
      if (option.default === undefined) {
        assert.equal(tag, undefined, `${blockName}.${name} has @default but no default`);
        continue;
      }
      assert.ok(tag !== undefined, `${blockName}.${name} has a default but no @default tag`);
      assert.deepEqual(JSON.parse(tag), option.default, `${blockName}.${name}: @default {${tag}}`);
      checked++;
    }
    assert.deepEqual([...documented], Object.keys(options), `${blockName}: undocumented entry`);
  }
  const withDefault = table.OPTION_BLOCKS.flatMap((b) => Object.values(b.options)).filter((o) =>
    o.default !== undefined
  );
  assert.equal(checked, withDefault.length, "an option's @default was not found");
});

Deno.test("every variable and key is declared once, with a one-line doc", () => {
  const variables = [...table.SEED_VARIABLES];
  assert.equal(new Set(variables).size, variables.length, "a variable is declared twice");
  // The seed format's variables before the table existed: none may disappear.
  for (
    const name of [
      "SERVICE_NAME",
      "NAMESPACE",
      "IPS",
      "PORT",
      "PORT_NAME",
      "PROTOCOL",
      "INTERVAL",
      "TIMEOUT",
      "RISE",
      "MAX_RETRY",
      "JITTER",
      "PUBLISH_ENDPOINTS",
      "UNHEALTHY",
      "ALL_DOWN",
      "CREATE_SERVICE",
      "LOG_LEVEL",
      "TEAMS_WEBHOOK_URL",
      "TEAMS_WEBHOOK_URL_FILE",
      "TEAMS_CARD_SHAPE",
      "WEBHOOK_URL",
      "WEBHOOK_URL_FILE",
      "ALERT_COALESCE",
      "ALERT_WRITE_FAILURE_AFTER",
      "ALERT_DEGRADED",
    ]
  ) assert.ok(variables.includes(name), `${name} is gone`);
  assert.deepEqual(table.GLOBAL_VARIABLES, variables.slice(table.SEED_SERVICE_VARIABLES.length));
  const rows = referenceRows("structured");
  assert.equal(new Set(rows.map((r) => r.name)).size, rows.length, "a key is declared twice");
  for (const row of [...rows, ...referenceRows("env")]) {
    assert.ok(row.doc !== "" && !row.doc.includes("\n"), `${row.name}: doc must be one line`);
  }
});

Deno.test("the defaults other code imports come from the table", () => {
  assert.deepEqual(table.PROBE_DEFAULTS, {
    interval: 2000,
    timeout: 1000,
    rise: 2,
    fall: 3,
    jitter: 0.1,
  });
  assert.deepEqual(table.SEED_DEFAULTS, { interval: 2000, fall: 3, rise: 1, jitter: 0.1 });
  assert.deepEqual(table.PUBLISH_DEFAULTS, {
    endpointSlices: true,
    endpoints: true,
    unhealthy: "notReady",
    allDown: "publishAll",
    createService: false,
  });
  assert.deepEqual(table.ALERT_DEFAULTS, {
    coalesce: 2000,
    writeFailureThreshold: 60_000,
    degraded: true,
    shape: "workflows",
  });
  assert.deepEqual(table.STRUCTURED_KEYS.probe, [
    "type",
    "port",
    "interval",
    "timeout",
    "rise",
    "fall",
    "jitter",
    "fastInterval",
    "downInterval",
  ]);
});
