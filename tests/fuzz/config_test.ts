/**
 * Property-based tests of the configuration parsers: the seed `config.env` (and environment)
 * format and the structured YAML/JSON file. Garbage never throws anything but a
 * {@linkcode ConfigError} whose every issue names a field or a place; generated valid
 * configurations load, load the same twice, and do not depend on the order of their targets or
 * on the spelling of their addresses. The suite finishing is the "never hangs" check. Each
 * property has a fixed seed: a failure prints the seed and the counterexample.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { type Config, ConfigError, describeConfig, loadConfig } from "../../src/config/mod.ts";
import { SEED_VARIABLES } from "../../src/config/env.ts";
import { STRUCTURED_KEYS } from "../../src/config/file.ts";
import { fakeFiles } from "../config/_support.ts";

const RUNS = { numRuns: 150 } as const;

/** Loads `text` as the file at `path`, with `env`; a ConfigError comes back as its issues. */
async function loadText(
  path: string,
  text: string,
  env: Record<string, string> = {},
): Promise<Config | ConfigError> {
  try {
    return (await loadConfig({ path, env, readTextFile: fakeFiles({ [path]: text }) })).config;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error; // anything else fails the property, with the input
  }
}

function assertIssuesNamed(result: Config | ConfigError): void {
  if (!(result instanceof ConfigError)) return;
  assert.ok(result.issues.length > 0, "a ConfigError without issues");
  for (const issue of result.issues) {
    assert.ok(issue.path.trim() !== "", `an issue without a field path: ${issue.message}`);
    assert.ok(issue.message.trim() !== "", `an issue without a message at ${issue.path}`);
  }
}

/** Text made of the pieces that matter to the seed format's scanner, and random characters. */
const envText = fc.array(
  fc.oneof(
    fc.constantFrom(...SEED_VARIABLES).map((key) => `${key}=`),
    fc.constantFrom(
      "(",
      ")",
      '"',
      "'",
      "\\",
      "#",
      " ",
      "\t",
      "\n",
      "\r\n",
      "export ",
      "=",
      "$",
      "`",
      "10.188.2.3",
      "2001:DB8::1",
      "9092",
      "0.5",
      "true",
      "\uFEFF",
      ",",
    ),
    fc.string({ maxLength: 8 }),
    fc.string({ maxLength: 8, unit: "binary" }),
  ),
  { maxLength: 60 },
).map((parts) => parts.join(""));

Deno.test("fuzz config.env: garbage is a ConfigError naming its fields, never another throw", async () => {
  await fc.assert(
    fc.asyncProperty(envText, async (text) => {
      assertIssuesNamed(await loadText("/config/config.env", text));
    }),
    { ...RUNS, seed: 1621 },
  );
});

Deno.test("fuzz seed environment: garbage values are ConfigErrors naming their variable", async () => {
  const envArb = fc.dictionary(
    fc.constantFrom(...SEED_VARIABLES),
    fc.oneof(envText, fc.string({ maxLength: 30 })),
    { maxKeys: 12 },
  );
  await fc.assert(
    fc.asyncProperty(envArb, fc.option(envText, { nil: undefined }), async (env, text) => {
      const result = text === undefined
        ? await loadConfig({ env, readTextFile: fakeFiles({}) }).then((l) => l.config, (e) => e)
        : await loadText("/config/config.env", text, env);
      if (!(result instanceof ConfigError)) assert.ok("services" in result, String(result));
      assertIssuesNamed(result);
    }),
    { ...RUNS, seed: 1622 },
  );
});

/** YAML-ish text: the structured keys, YAML punctuation and random characters. */
const yamlText = fc.array(
  fc.oneof(
    fc.constantFrom(...Object.values(STRUCTURED_KEYS).flat()).map((key) => `${key}: `),
    fc.constantFrom(
      "\n",
      "  ",
      "- ",
      "[",
      "]",
      "{",
      "}",
      ",",
      ":",
      "&a ",
      "*a",
      "!!str ",
      "'",
      '"',
      "#",
      "---\n",
      "10.188.2.3",
      "9092",
      "500ms",
      "null",
      "~",
      "<<: *a",
    ),
    fc.string({ maxLength: 8 }),
  ),
  { maxLength: 60 },
).map((parts) => parts.join(""));

/** JSON values in the shape of a structured file, with any value anywhere. */
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.jsonValue({ maxDepth: 2 }),
    fc.dictionary(
      fc.oneof(fc.constantFrom(...Object.values(STRUCTURED_KEYS).flat()), fc.string()),
      tie("value"),
      { maxKeys: 5 },
    ),
    fc.array(tie("value"), { maxLength: 4 }),
  ),
})).value;

Deno.test("fuzz structured file: garbage YAML is a ConfigError naming places, never a throw", async () => {
  await fc.assert(
    fc.asyncProperty(yamlText, async (text) => {
      assertIssuesNamed(await loadText("/config/helaseid.yaml", text));
    }),
    { ...RUNS, seed: 1623 },
  );
});

Deno.test("fuzz structured file: any JSON-shaped document is a config or a ConfigError", async () => {
  await fc.assert(
    fc.asyncProperty(jsonish, async (value) => {
      const text = JSON.stringify(value) ?? "null";
      assertIssuesNamed(await loadText("/config/helaseid.json", text));
      assertIssuesNamed(await loadText("/config/helaseid.yaml", stringify(value)));
    }),
    { ...RUNS, seed: 1624 },
  );
});

const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,14}[a-z0-9])?$/);
/** Distinct addresses, each as normalized and as a user may spell it. */
const addressesArb = fc.uniqueArray(
  fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 1, max: 254 }))
      .map(([a, b]) => ({ normal: `10.188.${a}.${b}`, spelled: `10.188.${a}.${b}` })),
    fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.boolean()).map(([n, upper]) => {
      const normal = `2001:db8::${n.toString(16)}`;
      return { normal, spelled: upper ? normal.toUpperCase() : normal };
    }),
  ),
  { minLength: 1, maxLength: 8, selector: (a) => a.normal },
);

const seedArb = fc.record({
  name: dnsLabel,
  namespace: dnsLabel,
  port: fc.integer({ min: 1, max: 65535 }),
  addresses: addressesArb,
  style: fc.constantFrom("double", "single", "bare", "lines"),
  interval: fc.option(fc.constantFrom("0.01", "0.5", "2", "10"), { nil: undefined }),
  retry: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
});

type Seed = typeof seedArb extends fc.Arbitrary<infer T> ? T : never;

function seedText(seed: Seed, addresses: readonly string[]): string {
  const quoted = addresses.map((a) =>
    seed.style === "double" ? `"${a}"` : seed.style === "single" ? `'${a}'` : a
  );
  const ips = seed.style === "lines" ? `(\n  ${quoted.join("\n  ")}\n)` : `(${quoted.join(" ")})`;
  return [
    `IPS=${ips}`,
    `PORT=${seed.port}`,
    `SERVICE_NAME=${seed.name}`,
    `NAMESPACE=${seed.namespace}`,
    ...(seed.interval === undefined ? [] : [`INTERVAL=${seed.interval}`]),
    ...(seed.retry === undefined ? [] : [`MAX_RETRY=${seed.retry}`]),
  ].join("\n") + "\n";
}

function targetSet(config: Config): string[] {
  return config.services.flatMap((s) => s.targets.map((t) => `${s.name}/${JSON.stringify(t)}`))
    .sort();
}

Deno.test("fuzz config.env: valid files load, load the same twice, whatever the IPS order", async () => {
  await fc.assert(
    fc.asyncProperty(seedArb, fc.integer({ min: 0, max: 1000 }), async (seed, rotate) => {
      const spelled = seed.addresses.map((a) => a.spelled);
      const normal = seed.addresses.map((a) => a.normal);
      const text = seedText(seed, spelled);
      const first = await loadText("/config/config.env", text);
      assert.ok(!(first instanceof ConfigError), `${first}\n${text}`);
      assert.deepEqual(await loadText("/config/config.env", text), first);
      const [service] = first.services;
      assert.equal(service?.name, seed.name);
      assert.equal(service?.namespace, seed.namespace);
      assert.deepEqual(service?.ports, [{ name: "", port: seed.port, protocol: "TCP" }]);
      assert.deepEqual(service?.targets, normal.map((address) => ({ address })));
      // Reordered, and spelled normalized: the same set of targets, the same everything else.
      const k = rotate % normal.length;
      const other = await loadText(
        "/config/config.env",
        seedText(seed, [...normal.slice(k), ...normal.slice(0, k)].reverse()),
      );
      assert.ok(!(other instanceof ConfigError), String(other));
      assert.deepEqual(targetSet(other), targetSet(first));
      assert.deepEqual({ ...other.services[0], targets: [] }, { ...service, targets: [] });
      // The same values as environment variables give the same configuration.
      const env = Object.fromEntries(
        text.split("\n").filter((line) => line !== "" && !line.startsWith("IPS="))
          .map((line) => line.split("=") as [string, string]),
      );
      const fromEnv = await loadConfig({ env: { ...env, IPS: spelled.join(" ") } });
      assert.deepEqual(fromEnv.config, first);
    }),
    { ...RUNS, seed: 1625 },
  );
});

const structuredArb = fc.record({
  services: fc.uniqueArray(
    fc.record({
      name: dnsLabel,
      namespace: fc.option(dnsLabel, { nil: undefined }),
      port: fc.integer({ min: 1, max: 65535 }),
      addresses: addressesArb,
      zone: fc.option(fc.constantFrom("zone-a", "zone-b"), { nil: undefined }),
      interval: fc.option(fc.constantFrom("300ms", "1s", "2", 5), { nil: undefined }),
      endpoints: fc.option(fc.boolean(), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 4, selector: (s) => `${s.namespace ?? "default"}/${s.name}` },
  ),
  logLevel: fc.option(fc.constantFrom("debug", "info", "warn", "error"), { nil: undefined }),
});

type Structured = typeof structuredArb extends fc.Arbitrary<infer T> ? T : never;

function structuredDoc(doc: Structured, order: (n: number) => number[], spell: boolean): unknown {
  return {
    ...(doc.logLevel === undefined ? {} : { logLevel: doc.logLevel }),
    services: doc.services.map((s) => ({
      name: s.name,
      ...(s.namespace === undefined ? {} : { namespace: s.namespace }),
      ports: [s.port],
      targets: order(s.addresses.length).map((i) => {
        const a = s.addresses[i]!;
        const address = spell ? a.spelled : a.normal;
        return s.zone === undefined ? address : { address, zone: s.zone };
      }),
      ...(s.interval === undefined ? {} : { probe: { interval: s.interval } }),
      ...(s.endpoints === undefined ? {} : { publish: { endpoints: s.endpoints } }),
    })),
  };
}

Deno.test("fuzz structured file: valid documents load the same from YAML and JSON, in any target order", async () => {
  await fc.assert(
    fc.asyncProperty(structuredArb, fc.integer({ min: 0, max: 1000 }), async (doc, salt) => {
      const inOrder = (n: number) => Array.from({ length: n }, (_, i) => i);
      const shuffled = (n: number) =>
        inOrder(n).map((i) => [i, (i * 7919 + salt) % 104729]).sort((a, b) => a[1]! - b[1]!)
          .map(([i]) => i!);
      const yaml = stringify(structuredDoc(doc, inOrder, true));
      const first = await loadText("/config/helaseid.yaml", yaml);
      assert.ok(!(first instanceof ConfigError), `${first}\n${yaml}`);
      assert.deepEqual(await loadText("/config/helaseid.yaml", yaml), first);
      assert.deepEqual(
        await loadText("/config/helaseid.json", JSON.stringify(structuredDoc(doc, inOrder, true))),
        first,
      );
      assert.deepEqual(
        first.services.map((s) => s.targets.map((t) => t.address)),
        doc.services.map((s) => s.addresses.map((a) => a.normal)),
      );
      const other = await loadText(
        "/config/helaseid.yaml",
        stringify(structuredDoc(doc, shuffled, false)),
      );
      assert.ok(!(other instanceof ConfigError), String(other));
      assert.deepEqual(targetSet(other), targetSet(first));
      const withoutTargets = (config: Config) =>
        describeConfig({
          ...config,
          services: config.services.map((s) => ({ ...s, targets: [] })),
        });
      assert.deepEqual(withoutTargets(other), withoutTargets(first));
    }),
    { ...RUNS, seed: 1626 },
  );
});
