/** Several clusters in both formats (issue 14): names, defaults and the errors an operator gets. */

import assert from "node:assert/strict";
import { assertIssue, issuesOf, load } from "./_support.ts";

Deno.test("clusters: named clusters, relative kubeconfigs, services and sources naming them", async () => {
  const { config } = await load({
    "/etc/h/c.yaml": `clusters:
  - name: local
  - { name: east, kubeconfig: east.kubeconfig, context: east-admin }
  - { name: "arn:aws:eks:eu-west-1:1:cluster/west", kubeconfig: /k/west }
services:
  - name: kafka
    ports: [9092]
    clusters: [local, east]
    sources: [{ type: nodes, labelSelector: role=kafka, cluster: east }]
  - name: db
    ports: [5432]
    targets: [192.0.2.1]
`,
  }, { path: "/etc/h/c.yaml" });
  assert.deepEqual(config.clusters, [
    { name: "local" },
    { name: "east", kubeconfig: "/etc/h/east.kubeconfig", context: "east-admin" },
    { name: "arn:aws:eks:eu-west-1:1:cluster/west", kubeconfig: "/k/west" },
  ]);
  assert.deepEqual(config.services[0]?.clusters, ["local", "east"]);
  assert.deepEqual(config.services[0]?.sources?.[0], {
    type: "nodes",
    labelSelector: "role=kafka",
    addressType: "InternalIP",
    skipUnschedulable: true,
    cluster: "east",
  });
  assert.equal(config.services[1]?.clusters, undefined, "absent: the first cluster");
});

Deno.test("clusters: unknown, duplicate and misplaced cluster names are errors with their paths", async () => {
  const issues = await issuesOf(load({
    "c.yaml": `clusters:
  - name: local
  - name: local
  - { context: x }
services:
  - name: kafka
    ports: [9092]
    clusters: [local, east, local]
    sources:
      - { type: nodes, cluster: west }
      - { type: dns, names: [a.test], cluster: local }
`,
  }, { path: "c.yaml" }));
  assertIssue(issues, "clusters[1].name: 'local' is also the name of clusters[0]");
  assertIssue(issues, "clusters[2].name: required: the cluster's name");
  assertIssue(issues, "services[0].clusters[1]: unknown cluster 'east': allowed: local");
  assertIssue(issues, "services[0].clusters[2]: 'local' is listed twice");
  assertIssue(issues, "services[0].sources[1].cluster: does not apply to a 'dns' source");
});

Deno.test("clusters: a service naming a cluster without a clusters list is told to add one", async () => {
  const issues = await issuesOf(load({
    "c.yaml":
      "services:\n  - name: a\n    ports: [80]\n    targets: [192.0.2.1]\n    clusters: [east]\n",
  }, { path: "c.yaml" }));
  assertIssue(
    issues,
    "services[0].clusters[0]: unknown cluster 'east': no clusters are configured: add a `clusters` list",
  );
});

Deno.test("EXTRA_CONTEXTS: the seed's Service is published into the default cluster and each context", async () => {
  const { config } = await load({
    "config.env":
      `IPS=("192.0.2.1")\nPORT=9092\nSERVICE_NAME=kafka\nEXTRA_CONTEXTS="kind-east gke_p_z_west"\n`,
  }, { path: "config.env" });
  assert.deepEqual(config.clusters, [
    { name: "default" },
    { name: "kind-east", context: "kind-east" },
    { name: "gke_p_z_west", context: "gke_p_z_west" },
  ]);
  assert.deepEqual(config.services[0]?.clusters, ["default", "kind-east", "gke_p_z_west"]);
  const issues = await issuesOf(load({
    "config.env": `IPS=("192.0.2.1")\nPORT=9092\nSERVICE_NAME=kafka\nEXTRA_CONTEXTS="a a, b c"\n`,
  }, { path: "config.env" }));
  assertIssue(issues, "EXTRA_CONTEXTS[1]: 'a' is listed twice");
});
