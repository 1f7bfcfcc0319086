import assert from "node:assert/strict";
import {
  checkAddress,
  checkAppProtocol,
  checkBoolean,
  checkChoice,
  checkCount,
  checkDns1035Label,
  checkDns1123Label,
  checkJitter,
  checkLogLevel,
  checkPort,
  checkWebhookUrl,
  closestName,
  ConfigError,
  editDistance,
  IssueList,
  PROTOCOLS,
  Secret,
} from "../../src/config/schema.ts";
import { WEBHOOK } from "./_support.ts";

function messageOf(checked: { ok: true } | { ok: false; message: string }): string {
  assert.equal(checked.ok, false, "expected the check to fail");
  return checked.ok ? "" : checked.message;
}

Deno.test("checkAddress() accepts IPv4 and IPv6, normalizing IPv6 to compressed lower case", () => {
  const table: [string, string][] = [
    ["10.188.2.3", "10.188.2.3"],
    [" 10.0.0.1 ", "10.0.0.1"],
    ["0.1.2.3", "0.1.2.3"],
    ["255.255.255.255", "255.255.255.255"],
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["fd00::10.0.0.1", "fd00::a00:1"],
    ["2001:db8::", "2001:db8::"],
  ];
  for (const [input, expected] of table) {
    assert.deepEqual(checkAddress(input), { ok: true, value: expected }, input);
  }
});

Deno.test("checkAddress() refuses what is not an IP address", () => {
  for (const input of ["10.188.2.300", "10.188.2", "10.188.2.3.4", "host.example", "", "1::2::3"]) {
    assert.equal(messageOf(checkAddress(input)), `'${input}' is not an IP address`);
  }
  assert.equal(messageOf(checkAddress("fe80::1%eth0")), "'fe80::1%eth0' is not an IP address");
  assert.equal(messageOf(checkAddress(42)), "must be an IP address, not a number");
});

Deno.test("checkAddress() refuses IPv4 with leading zeros as ambiguous", () => {
  assert.equal(
    messageOf(checkAddress("010.1.1.1")),
    "'010.1.1.1' is ambiguous: IPv4 numbers with leading zeros may be read as octal",
  );
});

Deno.test("checkAddress() refuses addresses the API server refuses for endpoints", () => {
  const table: [string, string][] = [
    ["127.0.0.1", "a loopback address"],
    ["127.10.0.1", "a loopback address"],
    ["::1", "a loopback address"],
    ["169.254.169.254", "a link-local address"],
    ["fe80::1", "a link-local address"],
    ["febf::1", "a link-local address"],
    ["0.0.0.0", "the unspecified address"],
    ["::", "the unspecified address"],
    ["224.0.0.1", "a multicast address"],
    ["239.255.255.255", "a multicast address"],
    ["ff02::1", "a multicast address"],
  ];
  for (const [input, what] of table) {
    assert.equal(
      messageOf(checkAddress(input)),
      `'${input}' is ${what}, which the Kubernetes API rejects for endpoints`,
    );
  }
  assert.equal(
    messageOf(checkAddress("::ffff:10.0.0.1")),
    "'::ffff:10.0.0.1' is an IPv4-mapped IPv6 address: write it as '10.0.0.1'",
  );
});

Deno.test("checkPort() allows integers 1-65535", () => {
  assert.deepEqual(checkPort(9092), { ok: true, value: 9092 });
  assert.deepEqual(checkPort("9092"), { ok: true, value: 9092 });
  assert.equal(messageOf(checkPort("70000")), "'70000' is out of range: allowed 1-65535");
  assert.equal(messageOf(checkPort(0)), "'0' is out of range: allowed 1-65535");
  assert.equal(messageOf(checkPort("90.5")), "'90.5' is not an integer: allowed 1-65535");
  assert.equal(messageOf(checkPort(90.5)), "'90.5' is not an integer: allowed 1-65535");
  assert.equal(messageOf(checkPort("kafka")), "'kafka' is not an integer: allowed 1-65535");
  assert.equal(messageOf(checkPort(true)), "must be an integer (allowed 1-65535), not a boolean");
});

Deno.test("checkCount() allows integers of at least 1", () => {
  assert.deepEqual(checkCount("10"), { ok: true, value: 10 });
  assert.equal(messageOf(checkCount("0")), "'0' is out of range: allowed 1 or more");
  assert.equal(messageOf(checkCount(1.5)), "'1.5' is not an integer: allowed 1 or more");
});

Deno.test("checkJitter() allows 0 to 0.5", () => {
  assert.deepEqual(checkJitter("0"), { ok: true, value: 0 });
  assert.deepEqual(checkJitter(0.5), { ok: true, value: 0.5 });
  assert.equal(
    messageOf(checkJitter("0.7")),
    "'0.7' is out of range: allowed 0 to 0.5 (a fraction of the interval)",
  );
  assert.equal(
    messageOf(checkJitter("-0.1")),
    "'-0.1' is out of range: allowed 0 to 0.5 (a fraction of the interval)",
  );
  assert.equal(
    messageOf(checkJitter("10%")),
    "'10%' is not a number: allowed 0 to 0.5 (a fraction of the interval)",
  );
});

Deno.test("checkBoolean() reads true/false, yes/no, on/off and 1/0", () => {
  for (const word of [true, "true", "YES", "on", "1"]) {
    assert.deepEqual(checkBoolean(word), { ok: true, value: true });
  }
  for (const word of [false, "False", "no", "OFF", "0"]) {
    assert.deepEqual(checkBoolean(word), { ok: true, value: false });
  }
  assert.equal(
    messageOf(checkBoolean("maybe")),
    "'maybe' is not a boolean: allowed true, false, yes, no, on, off, 1, 0",
  );
});

Deno.test("checkChoice() and checkLogLevel() match case-insensitively", () => {
  assert.deepEqual(checkChoice("tcp", PROTOCOLS, { what: "protocol" }), { ok: true, value: "TCP" });
  assert.equal(
    messageOf(checkChoice("HTTP", PROTOCOLS, { what: "protocol" })),
    "'HTTP' is not a valid protocol: allowed TCP, UDP, SCTP",
  );
  assert.deepEqual(checkLogLevel("WARNING"), { ok: true, value: "warn" });
  assert.deepEqual(checkLogLevel("Info"), { ok: true, value: "info" });
  assert.equal(
    messageOf(checkLogLevel("TRACE", { upperCase: true })),
    "'TRACE' is not a valid log level: allowed DEBUG, INFO, WARN, ERROR",
  );
});

Deno.test("DNS label checks follow the API's DNS-1123 and DNS-1035 rules", () => {
  assert.equal(checkDns1123Label("9-lives", { what: "namespace" }).ok, true);
  assert.equal(
    messageOf(checkDns1035Label("9-lives", { what: "Service name" })),
    "'9-lives' is not a valid Service name: use lowercase letters, digits and '-', " +
      "starting with a letter and ending with a letter or digit",
  );
  assert.equal(
    messageOf(checkDns1123Label("Data_Stream", { what: "namespace" })),
    "'Data_Stream' is not a valid namespace: use lowercase letters, digits and '-', " +
      "starting and ending with a letter or digit",
  );
  assert.equal(messageOf(checkDns1123Label("a-", { what: "hostname" })).includes("hostname"), true);
  const long = "a".repeat(64);
  assert.equal(
    messageOf(checkDns1123Label(long, { what: "port name" })),
    `'${long}' is too long for a port name: allowed at most 63 characters`,
  );
  assert.equal(
    messageOf(checkDns1123Label("b".repeat(100), { what: "hostname" })),
    `'${"b".repeat(77)}...' is too long for a hostname: allowed at most 63 characters`,
  );
  assert.equal(checkDns1035Label("a".repeat(63), { what: "Service name" }).ok, true);
});

Deno.test("checkAppProtocol() accepts qualified names", () => {
  for (const ok of ["http", "kafka", "kubernetes.io/h2c", "example.com/My_proto"]) {
    assert.equal(checkAppProtocol(ok).ok, true, ok);
  }
  for (const bad of ["", "-x", "Bad Domain/x", "a/"]) {
    assert.match(messageOf(checkAppProtocol(bad)), /is not a valid appProtocol/);
  }
});

Deno.test("checkWebhookUrl() wants https, allows http to loopback, never echoes the URL", () => {
  const ok = checkWebhookUrl(WEBHOOK);
  assert.ok(ok.ok && ok.value instanceof Secret && ok.value.reveal() === WEBHOOK);
  for (const local of ["http://localhost:8080/hook", "http://127.0.0.1/x", "http://[::1]:9/x"]) {
    assert.equal(checkWebhookUrl(local).ok, true, local);
  }
  const http = WEBHOOK.replace("https:", "http:");
  for (const bad of [http, "not a url", "ftp://x/y", "https://"]) {
    const message = messageOf(checkWebhookUrl(bad));
    assert.match(message, /^must be an https URL/);
    assert.ok(!message.includes("s3cr3t") && !message.includes(bad));
  }
});

Deno.test("Secret never prints itself", () => {
  const secret = new Secret(WEBHOOK);
  assert.equal(String(secret), "<redacted>");
  assert.equal(JSON.stringify({ secret }), '{"secret":"<redacted>"}');
  assert.equal(Deno.inspect(secret), "<redacted>");
});

Deno.test("closestName() suggests only near misses", () => {
  const known = ["MAX_RETRY", "INTERVAL", "IPS", "PORT", "SERVICE_NAME"];
  assert.equal(closestName("MAX_RETRIES", known), "MAX_RETRY");
  assert.equal(closestName("INTERVALL", known), "INTERVAL");
  assert.equal(closestName("SERVICENAME", known), "SERVICE_NAME");
  assert.equal(closestName("port", known), "PORT");
  assert.equal(closestName("IP", known), "IPS");
  assert.equal(closestName("PATH", known), undefined);
  assert.equal(closestName("COMPLETELY_DIFFERENT", known), undefined);
  assert.equal(editDistance("intervl", "interval"), 1);
  assert.equal(editDistance("ab", "ba"), 1);
});

Deno.test("IssueList collects every issue and throws them together", () => {
  const issues = new IssueList();
  assert.equal(issues.take("PORT", checkPort("0")), undefined);
  assert.equal(issues.take("RISE", checkCount("2")), 2);
  issues.add("IPS[1]", "second problem");
  assert.throws(() => issues.throwIfAny(), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.name, "ConfigError");
    assert.equal(
      error.message,
      "PORT: '0' is out of range: allowed 1-65535\nIPS[1]: second problem",
    );
    return true;
  });
  new IssueList().throwIfAny();
});
