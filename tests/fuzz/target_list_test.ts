/**
 * Property-based tests of the target list reader (`file` and `configmap` sources): whatever text
 * a file or ConfigMap key holds, it never throws, every error names a line or an item, and a
 * generated list of addresses in any of its spellings reads back as those addresses. Each
 * property has a fixed seed: a failure prints the seed and the shrunk counterexample.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { parseTargetList } from "../../src/discovery/target_list.ts";

const RUNS = { numRuns: 300 } as const;

/** Text made of the pieces that matter to both formats, and random characters. */
const pieceArb = fc.oneof(
  fc.constantFrom(
    "192.0.2.1",
    "2001:db8::1",
    " ",
    ",",
    "\n",
    "\r\n",
    "#",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ":",
    "(",
    ")",
    '"',
    "'",
    "\\",
    "&a ",
    "*a",
    "address: ",
    "zone: ",
    "---",
    "\uFEFF",
  ),
  fc.string({ maxLength: 8 }),
);
const textArb = fc.array(pieceArb, { maxLength: 40 }).map((pieces) => pieces.join(""));
const formatArb = fc.constantFrom(undefined, "text" as const, "yaml" as const);

Deno.test("fuzz target list: any text never throws and every error names its place", () => {
  fc.assert(
    fc.property(fc.oneof(textArb, fc.string({ maxLength: 200 })), formatArb, (text, format) => {
      const result = parseTargetList(text, format === undefined ? {} : { format });
      for (const target of result.targets) {
        assert.equal(typeof target.address, "string");
        assert.notEqual(target.address, "");
      }
      for (const error of result.errors) {
        assert.match(error, /^(line \d+|item \d+|bash array|syntax error)/);
      }
    }),
    { ...RUNS, seed: 1641 },
  );
});

const ipv4Arb = fc.ipV4().filter((ip) => !ip.split(".").some((o) => o.length > 1 && o[0] === "0"));
const addressArb = fc.oneof(ipv4Arb, fc.ipV6());

Deno.test("fuzz target list: a list of addresses reads back in every spelling", () => {
  fc.assert(
    fc.property(
      fc.array(addressArb, { maxLength: 20 }),
      fc.constantFrom(" ", ",", "\n", ", ", " # c\n"),
      (addresses, separator) => {
        const expected = { targets: addresses.map((address) => ({ address })), errors: [] };
        assert.deepEqual(parseTargetList(addresses.join(separator)), expected);
        assert.deepEqual(parseTargetList(stringify(addresses)), expected);
        assert.deepEqual(parseTargetList(JSON.stringify(addresses)), expected);
        const bash = `(${addresses.map((a) => `"${a}"`).join(" ")})`;
        assert.deepEqual(parseTargetList(bash), expected);
      },
    ),
    { ...RUNS, seed: 1642 },
  );
});
