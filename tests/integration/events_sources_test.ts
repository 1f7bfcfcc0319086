/**
 * The Events of changing targets (issue 12) on the real API server: `TargetsChanged`,
 * `SourceFailing`, `SourceRecovered` and `SourceShrinkHeld` are accepted as the recorder
 * writes them, and `kubectl` shows them on the Service.
 */

import assert from "node:assert/strict";
import { createKubeClient } from "../../src/kube/client.ts";
import { EventRecorder } from "../../src/kube/events.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { sharedCluster } from "../support/cluster.ts";
import { serviceConfig } from "../support/fakes.ts";
import { createService } from "../support/service.ts";
import { untilValue as until } from "../support/wait.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("events: source and target-set Events are accepted by the API server and shown on the Service", async () => {
  const cluster = await sharedCluster();
  const namespace = await cluster.createNamespace("events-sources");
  await createService(cluster, namespace);
  const controller = new AbortController();
  const client = createKubeClient({
    kubeconfig: cluster.kubeconfigPath,
    signal: controller.signal,
  });
  const writes: boolean[] = [];
  const recorder = new EventRecorder({
    client,
    log: silentLogger(),
    instance: "helaseid-events-test",
    onWrite: (outcome) => writes.push(outcome.ok),
  });
  try {
    const service = serviceConfig(["192.0.2.4"], { namespace });
    recorder.targetsChanged({
      service,
      added: [{ address: "192.0.2.5", source: "dns kafka.test" }],
      removed: [{ address: "192.0.2.4", source: "dns kafka.test" }],
    });
    const status = {
      service: `${namespace}/brokers`,
      source: "dns kafka.test",
      type: "dns" as const,
      answered: true,
      targets: 1,
      skipped: 0,
    };
    recorder.sourceStatus({ ...status, error: "SERVFAIL", failingSince: Date.now() });
    recorder.sourceStatus(status);
    const now = Date.now();
    recorder.sourceStatus({
      ...status,
      held: { since: now, until: now + 300_000, from: 1, to: 0 },
    });
    const events: Json[] = await until("four Events", async () => {
      const list = JSON.parse(
        await cluster.kubectlOk(["get", "events.events.k8s.io", "-n", namespace, "-o", "json"]),
      );
      const ours = list.items.filter((e: Json) => e.reportingController === "helaseid");
      return ours.length >= 4 ? ours : undefined;
    });
    const byReason = Object.fromEntries(events.map((e) => [e.reason, e]));
    assert.deepEqual(Object.keys(byReason).sort(), [
      "SourceFailing",
      "SourceRecovered",
      "SourceShrinkHeld",
      "TargetsChanged",
    ]);
    assert.equal(byReason.TargetsChanged.type, "Normal");
    assert.equal(
      byReason.TargetsChanged.note,
      "added 192.0.2.5 (dns kafka.test); removed 192.0.2.4 (dns kafka.test)",
    );
    assert.equal(byReason.SourceFailing.type, "Warning");
    assert.equal(byReason.SourceRecovered.type, "Normal");
    assert.equal(byReason.SourceShrinkHeld.type, "Warning");
    for (const event of events) {
      assert.equal(event.regarding.kind, "Service");
      assert.equal(event.regarding.name, "brokers");
      assert.ok(event.regarding.uid, "the Service's uid, so kubectl describe shows it");
    }
    assert.ok(writes.every(Boolean), "every write accepted");
    const described = await cluster.kubectlOk(["describe", "service", "brokers", "-n", namespace]);
    assert.match(described, /TargetsChanged/);
    assert.match(described, /SourceShrinkHeld/);
  } finally {
    await recorder.stop();
    controller.abort();
  }
});
