/**
 * Tests of the target list reader shared by the `file` and `configmap` sources: both formats,
 * the sniffing between them, and errors that name the line or item and the bad value.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseTargetList, sniffTargetListFormat } from "../../src/discovery/target_list.ts";

Deno.test("text list: spaces, commas, newlines and comments separate addresses", () => {
  const text = [
    "# brokers of the dev cluster",
    "192.0.2.1 192.0.2.2,192.0.2.3",
    "",
    "  2001:db8::1 , 192.0.2.4  # the new one",
    "192.0.2.5#no space before the comment",
  ].join("\n");
  assert.deepEqual(parseTargetList(text), {
    targets: ["192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "192.0.2.4", "192.0.2.5"]
      .map((address) => ({ address })),
    errors: [],
  });
});

Deno.test("text list: Windows line ends and a byte order mark read like plain text", () => {
  assert.deepEqual(parseTargetList("\uFEFF192.0.2.1\r\n192.0.2.2\r\n"), {
    targets: [{ address: "192.0.2.1" }, { address: "192.0.2.2" }],
    errors: [],
  });
});

Deno.test("text list: the seed's bash array form is read as IPS is", () => {
  const text = "(\n  \"192.0.2.1\" # first\n  '192.0.2.2'\n  192.0.2.3\n)\n";
  assert.deepEqual(parseTargetList(text), {
    targets: [{ address: "192.0.2.1" }, { address: "192.0.2.2" }, { address: "192.0.2.3" }],
    errors: [],
  });
  assert.deepEqual(parseTargetList('("192.0.2.1" "kafka-1")').errors, [
    "item 2: 'kafka-1' is not an IP address",
  ]);
  assert.deepEqual(parseTargetList('("192.0.2.1"').errors, [
    "bash array: unterminated array: missing ')'",
  ]);
});

Deno.test("text list: a value that is not an IP address is an error naming its line", () => {
  const result = parseTargetList("192.0.2.1\n\n192.0.2.2 kafka-1.test\n010.1.1.1\n");
  assert.deepEqual(result.targets, [{ address: "192.0.2.1" }, { address: "192.0.2.2" }]);
  assert.deepEqual(result.errors, [
    "line 3: 'kafka-1.test' is not an IP address",
    "line 4: '010.1.1.1' is ambiguous: IPv4 numbers with leading zeros may be read as octal",
  ]);
});

Deno.test("addresses the API rejects are left to the merge, not refused here", () => {
  const text = "127.0.0.1 ::1 169.254.1.1 fe80::1 0.0.0.0 224.0.0.1 ::ffff:192.0.2.1";
  const result = parseTargetList(text);
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.targets.map((t) => t.address), text.split(" "));
});

Deno.test("an empty list is no targets and no errors, in either format", () => {
  for (const text of ["", "\n\n", "# nothing yet\n", "[]", "---\n", "# c\n---\n[]\n"]) {
    assert.deepEqual(parseTargetList(text), { targets: [], errors: [] }, JSON.stringify(text));
  }
  assert.deepEqual(parseTargetList("", { format: "yaml" }), { targets: [], errors: [] });
});

Deno.test("yaml list: addresses and mappings with zone, region and hostname", () => {
  const text = [
    "# brokers",
    "- 192.0.2.1",
    "- address: 192.0.2.2",
    "  zone: eu-west-1a",
    "  region: eu-west-1",
    "  hostname: kafka-2",
    "- { address: '2001:db8::2', zone: eu-west-1b }",
  ].join("\n");
  assert.deepEqual(parseTargetList(text), {
    targets: [
      { address: "192.0.2.1" },
      { address: "192.0.2.2", zone: "eu-west-1a", region: "eu-west-1", hostname: "kafka-2" },
      { address: "2001:db8::2", zone: "eu-west-1b" },
    ],
    errors: [],
  });
});

Deno.test("json list: the same items as YAML", () => {
  const text = JSON.stringify(["192.0.2.1", { address: "192.0.2.2", zone: "a" }]);
  assert.deepEqual(parseTargetList(text), {
    targets: [{ address: "192.0.2.1" }, { address: "192.0.2.2", zone: "a" }],
    errors: [],
  });
});

Deno.test("yaml list: every bad item is reported with its number, line and value", () => {
  const text = [
    "- 192.0.2.1",
    "- kafka-1",
    "- adress: 192.0.2.3",
    "- 5",
    "- address: 192.0.2.5",
    "  zone: ''",
    "- address: 192.0.2.6",
  ].join("\n");
  const result = parseTargetList(text);
  assert.deepEqual(result.targets, [{ address: "192.0.2.1" }, { address: "192.0.2.6" }]);
  assert.deepEqual(result.errors, [
    "item 2 (line 2): 'kafka-1' is not an IP address",
    "item 3 (line 3): unknown key 'adress': use address, zone, region, hostname; 'address' is required",
    "item 4 (line 4): must be an IP address or a mapping with 'address', not a number",
    "item 5 (line 5): zone: must be non-empty text, not ''",
  ]);
});

Deno.test("yaml: syntax errors and a top level that is not a list name their line", () => {
  assert.deepEqual(parseTargetList("- 192.0.2.1\n- [192.0.2.2\n").errors.length > 0, true);
  assert.match(
    parseTargetList("- 192.0.2.1\n- [192.0.2.2\n").errors[0]!,
    /^line \d+: syntax error: /,
  );
  assert.deepEqual(parseTargetList("# c\n{targets: [192.0.2.1]}").errors, [
    "line 2: expected a list of targets, not a mapping",
  ]);
  assert.deepEqual(parseTargetList("192.0.2.1", { format: "yaml" }).errors, [
    "line 1: expected a list of targets, not a string",
  ]);
  assert.deepEqual(parseTargetList("- *missing").errors.length, 1);
});

Deno.test("the format is sniffed from the first line that is not blank or a comment", () => {
  assert.equal(sniffTargetListFormat("# list\n\n- 192.0.2.1"), "yaml");
  assert.equal(sniffTargetListFormat('["192.0.2.1"]'), "yaml");
  assert.equal(sniffTargetListFormat("{}"), "yaml");
  assert.equal(sniffTargetListFormat("# - not this\n192.0.2.1"), "text");
  assert.equal(sniffTargetListFormat('("192.0.2.1")'), "text");
  assert.equal(sniffTargetListFormat(""), "text");
  // An explicit format wins over the sniffing.
  assert.deepEqual(parseTargetList("- 192.0.2.1", { format: "text" }).errors, [
    "line 1: '-' is not an IP address",
  ]);
});
