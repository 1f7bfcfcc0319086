/**
 * Target sources in both formats (issue 12): what each kind reads, its defaults, and the errors
 * an operator gets for an option that does not apply, a missing one, or a typo.
 */

import assert from "node:assert/strict";
import { assertIssue, issuesOf, load } from "./_support.ts";

const SOURCES_YAML = `services:
  - name: kafka
    namespace: shop
    ports: [9092]
    sources:
      - type: dns
        names: [Kafka.Example.Test, _kafka._tcp.example.test.]
        record: SRV
        nameserver: "192.0.2.53:5353"
        honorTtl: true
      - type: nodes
        labelSelector: "role=kafka,topology.kubernetes.io/zone in (a, b)"
      - type: pods
        labelSelector: app=broker
        readyOnly: false
      - type: endpointslices
        namespace: other
        service: brokers
      - type: configmap
        name: kafka.targets
        key: list.txt
      - type: file
        path: targets.txt
    sourceGuard: { maxDrop: 30, hold: 2m }
`;

Deno.test("every kind of source is read with its defaults; targets may be left out", async () => {
  const { config } = await load({ "/etc/h/c.yaml": SOURCES_YAML }, { path: "/etc/h/c.yaml" });
  const [service] = config.services;
  assert.deepEqual(service?.targets, []);
  assert.deepEqual(service?.sourceGuard, { maxDrop: 0.3, hold: 120_000 });
  assert.deepEqual(service?.sources, [
    {
      type: "dns",
      names: ["kafka.example.test", "_kafka._tcp.example.test."],
      record: "SRV",
      interval: 30_000,
      honorTtl: true,
      nameserver: "192.0.2.53:5353",
      timeout: 2000,
    },
    {
      type: "nodes",
      labelSelector: "role=kafka,topology.kubernetes.io/zone in (a, b)",
      addressType: "InternalIP",
      skipUnschedulable: true,
    },
    { type: "pods", namespace: "shop", labelSelector: "app=broker", readyOnly: false },
    { type: "endpointslices", namespace: "other", service: "brokers", readyOnly: true },
    { type: "configmap", namespace: "shop", name: "kafka.targets", key: "list.txt" },
    { type: "file", path: "/etc/h/targets.txt", interval: 300_000 },
  ]);
});

Deno.test("a service without sources reads exactly as before (no sources, no guard)", async () => {
  const { config } = await load({
    "c.yaml": "services:\n  - name: a\n    ports: [80]\n    targets: [192.0.2.1]\n",
  }, { path: "c.yaml" });
  const [service] = config.services;
  assert.equal(service?.sources, undefined);
  assert.equal(service?.sourceGuard, undefined);
});

Deno.test("source options are checked against the source's type, with the path", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `services:
  - name: a
    ports: [80]
    sources:
      - type: dns
        labelSelector: app=x
      - type: nodes
        labelSelector: "app in (x"
      - type: endpointslice
      - type: configmap
        name: cm
      - { type: file, path: t.txt, nmes: [x] }
      - type: dns
        names: ["-bad-.test"]
        nameserver: 300.1.1.1
    sourceGuard: { maxDrop: 150 }
`,
  }, { path: "c.yaml" }));
  assertIssue(
    issues,
    "services[0].sources[0].labelSelector: does not apply to a 'dns' source: it is an option of nodes, pods sources",
  );
  assertIssue(issues, "services[0].sources[0].names: required for a 'dns' source");
  assertIssue(issues, "services[0].sources[1].labelSelector: 'app in (x' is not a label selector");
  assertIssue(issues, "services[0].sources[2].type: 'endpointslice' is not a valid source type");
  assertIssue(issues, "services[0].sources[3].key: required for a 'configmap' source");
  assertIssue(issues, "services[0].sources[4].nmes: unknown key: did you mean 'names'?");
  assertIssue(issues, "services[0].sources[5].names[0]: '-bad-.test' is not a DNS name");
  assertIssue(issues, "services[0].sources[5].nameserver: '300.1.1.1' is not a nameserver");
  assertIssue(issues, "services[0].sourceGuard.maxDrop: '150' is out of range: allowed 0-100");
});

Deno.test("a service needs targets or sources, and sourceGuard only goes with sources", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `services:
  - name: a
    ports: [80]
  - name: b
    ports: [80]
    targets: [192.0.2.1]
    sourceGuard: { hold: 1m }
  - name: c
    ports: [80]
    sources: []
`,
  }, { path: "c.yaml" }));
  assertIssue(
    issues,
    "services[0].targets: required: the addresses to check and publish (or sources)",
  );
  assertIssue(issues, "services[1].sourceGuard: applies only to a service with sources");
  assertIssue(issues, "services[2].sources: at least one source is required");
});

const SEED = `PORT=9092
SERVICE_NAME=kafka
NAMESPACE=shop
`;

Deno.test("the seed format turns sources on with DNS_NAMES, NODE_SELECTOR and TARGETS_FILE", async () => {
  const { config } = await load({
    "/etc/h/config.env": SEED +
      `DNS_NAMES=("kafka.test" "kafka2.test")\nDNS_RECORD=aaaa\nDNS_INTERVAL=10s\n` +
      `NODE_SELECTOR=role=kafka\nNODE_ADDRESS_TYPE=ExternalIP\nTARGETS_FILE=targets.txt\n` +
      `SOURCE_HOLD=1m\nSOURCE_MAX_DROP=20\n`,
  }, { path: "/etc/h/config.env" });
  const [service] = config.services;
  assert.deepEqual(service?.targets, []);
  assert.deepEqual(service?.sources, [
    {
      type: "dns",
      names: ["kafka.test", "kafka2.test"],
      record: "AAAA",
      interval: 10_000,
      honorTtl: false,
      timeout: 2000,
    },
    {
      type: "nodes",
      labelSelector: "role=kafka",
      addressType: "ExternalIP",
      skipUnschedulable: true,
    },
    { type: "file", path: "/etc/h/targets.txt", interval: 300_000 },
  ]);
  assert.deepEqual(service?.sourceGuard, { maxDrop: 0.2, hold: 60_000 });
});

Deno.test("NODE_SELECTOR=* is every Node; IPS still adds static targets", async () => {
  const { config } = await load({
    "config.env": SEED + `NODE_SELECTOR=*\nIPS=("192.0.2.7")\n`,
  }, { path: "config.env" });
  const [service] = config.services;
  assert.deepEqual(service?.targets, [{ address: "192.0.2.7" }]);
  assert.deepEqual(service?.sources, [
    { type: "nodes", addressType: "InternalIP", skipUnschedulable: true },
  ]);
});

Deno.test("seed source options without their switch are errors, and IPS is still required alone", async () => {
  const issues = await issuesOf(load({
    "config.env": SEED + `DNS_RECORD=A\nNODE_ADDRESS_TYPE=InternalIP\n`,
  }, { path: "config.env" }));
  assertIssue(issues, "DNS_RECORD: has no effect without DNS_NAMES");
  assertIssue(issues, "NODE_ADDRESS_TYPE: has no effect without NODE_SELECTOR");
  assertIssue(issues, "IPS: required: the addresses to check");
});
