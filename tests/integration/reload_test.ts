/**
 * Live reload and the file source end to end (issue 12): the real agent process against the
 * real API server, its configuration in a directory laid out as the kubelet lays out a
 * ConfigMap volume (`config.yaml -> ..data/config.yaml`, `..data -> ..<timestamp>`), updated
 * by the kubelet's atomic symlink swap.
 *
 * - A reload that changes nothing writes nothing (fenced on a watch) and keeps every verdict.
 * - An invalid file keeps the running configuration, with an ERROR line naming the issue.
 * - A valid change is applied as a diff: a target added and one removed, the untouched
 *   target's verdict (its `since`) unchanged; SIGHUP reloads as well.
 * - A `file` source: targets follow the list file, a malformed list keeps the last good set.
 */

import assert from "node:assert/strict";
import { startAgent } from "../support/agent_process.ts";
import { freePort, runArgs } from "../support/agent_http.ts";
import { sharedCluster } from "../support/cluster.ts";
import { createService, recordSlices } from "../support/service.ts";
import { startTargets } from "../support/targets.ts";
import { TestNetwork } from "../support/testnet.ts";
import { until, untilValue } from "../support/wait.ts";
import { fence, MARKER_PREFIX, readiness, shownSlice } from "../support/watch.ts";

const A = "192.0.2.211", B = "192.0.2.212", C = "192.0.2.213", D = "192.0.2.214";
const SLICE = "brokers-helaseid-ipv4";

/** A directory laid out like a ConfigMap volume, updated by the kubelet's atomic swap. */
class ConfigMapVolume {
  #version = 0;
  constructor(readonly dir: string) {}
  /** The path the agent is given (a symlink through `..data`). */
  path(name: string): string {
    return `${this.dir}/${name}`;
  }
  /** Writes every file into a new timestamped directory and swaps `..data` to it. */
  async write(files: Record<string, string>): Promise<void> {
    const version = `..2026_12_03_${String(++this.#version).padStart(4, "0")}`;
    await Deno.mkdir(`${this.dir}/${version}`);
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${this.dir}/${version}/${name}`, text);
    }
    await Deno.symlink(version, `${this.dir}/..data_tmp`);
    await Deno.rename(`${this.dir}/..data_tmp`, `${this.dir}/..data`);
    for (const name of Object.keys(files)) {
      try {
        await Deno.lstat(`${this.dir}/${name}`);
      } catch {
        await Deno.symlink(`..data/${name}`, `${this.dir}/${name}`);
      }
    }
  }
}

function yaml(namespace: string, targets: string[], extra = ""): string {
  return `services:
  - name: brokers
    namespace: ${namespace}
    ports: [9092]
    targets: [${targets.join(", ")}]
    probe: { interval: 200ms, timeout: 150ms, rise: 1, fall: 2 }
${extra}`;
}

Deno.test("reload: unchanged writes nothing, invalid keeps running, a change is a diff, SIGHUP reloads", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [A, B, C].map((address) => ({ address, port: 9092 })));
  const dir = await Deno.makeTempDir({ prefix: "helaseid-reload-" });
  const volume = new ConfigMapVolume(dir);
  const namespace = await cluster.createNamespace("reload");
  await createService(cluster, namespace);
  await using slices = await recordSlices(cluster, namespace);
  await volume.write({ "config.yaml": yaml(namespace, [A, B]) });
  const port = freePort();
  const agent = await startAgent({
    args: runArgs(volume.path("config.yaml"), cluster.kubeconfigPath, port),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const status = async () => await (await fetch(`http://127.0.0.1:${port}/status`)).json();
  const settle = (label: string, expected: Record<string, boolean>) =>
    untilValue(label, () => {
      const now = shownSlice(slices.events, SLICE);
      return JSON.stringify(now) === JSON.stringify(expected) ? now : undefined;
    });
  const reloads = () => agent.lines.filter((l) => String(l.msg).startsWith("configuration reload"));
  try {
    await settle("A and B ready", { [A]: true, [B]: true });
    const sinceB = (await status()).services[0].targets.find(
      (t: { address: string }) => t.address === B,
    ).since;

    // Same content, other formatting, through the kubelet's swap: a reload that writes nothing.
    const before = (await fence(slices, cluster, { namespace, kind: "EndpointSlice" })).length;
    await volume.write({ "config.yaml": `# reformatted\n${yaml(namespace, [A, B])}\n\n` });
    const unchanged = await agent.waitForLog((l) =>
      l.msg === "configuration reloaded: nothing changed"
    );
    assert.equal(unchanged.trigger, "file");
    await until(
      "a few more checks",
      async () => (await status()).services[0].targets[0].checks > 20,
    );
    const after = await fence(slices, cluster, { namespace, kind: "EndpointSlice" });
    assert.equal(after.length, before, "no write on the watch for an unchanged reload");

    // Invalid: the running configuration goes on, the issue is logged at ERROR.
    await volume.write({ "config.yaml": yaml(namespace, [A, "10.0.0.300"]) });
    const failed = await agent.waitForLog((l) => l.msg.startsWith("configuration reload failed"));
    assert.equal(failed.level, "error");
    assert.match(
      JSON.stringify(failed.issues),
      /services\[0\]\.targets\[1\]: '10\.0\.0\.300' is not an IP address/,
    );
    await targets[1]!.setMode("refuse");
    await settle("the old configuration still runs: B goes unready", { [A]: true, [B]: false });
    await targets[1]!.setMode("accept");
    await settle("B back", { [A]: true, [B]: true });

    // A valid change: C added, A removed; B keeps its verdict. Applied on the file change.
    const mark = slices.events.length;
    const sinceB2 = (await status()).services[0].targets.find(
      (t: { address: string }) => t.address === B,
    ).since;
    await volume.write({ "config.yaml": yaml(namespace, [B, C]) });
    await settle("B and C", { [B]: true, [C]: true });
    const states = slices.events.slice(mark).filter((e) => e.object.metadata.name === SLICE).map((
      e,
    ) => readiness(e.object));
    assert.ok(
      states.every((s) => !(A in s) || s[A] === true),
      `A leaves the slice without being shown unready: ${JSON.stringify(states)}`,
    );
    const b = (await status()).services[0].targets.find((t: { address: string }) =>
      t.address === B
    );
    assert.equal(b.since, sinceB2, "B's verdict is untouched by the reload");
    assert.ok(sinceB2 >= sinceB);

    // SIGHUP reloads the file as it is (nothing changed): logged as a signal reload.
    const count = reloads().length;
    Deno.kill(agent.pid, "SIGHUP");
    await until("SIGHUP reload", () => reloads().length > count);
    assert.equal(reloads().at(-1)!.trigger, "signal");
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file source: targets follow the list file; a malformed list keeps the last good set", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [A, B, C, D].map((address) => ({ address, port: 9092 })));
  const dir = await Deno.makeTempDir({ prefix: "helaseid-file-source-" });
  const namespace = await cluster.createNamespace("file-source");
  await createService(cluster, namespace);
  await using slices = await recordSlices(cluster, namespace);
  const list = `${dir}/targets.txt`;
  await Deno.writeTextFile(list, `# brokers\n${A}\n${B}, ${C}\n`);
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    `services:
  - name: brokers
    namespace: ${namespace}
    ports: [9092]
    sources: [{ type: file, path: targets.txt }]
    probe: { interval: 200ms, timeout: 150ms, rise: 1, fall: 2 }
`,
  );
  const port = freePort();
  const agent = await startAgent({
    args: runArgs(`${dir}/config.yaml`, cluster.kubeconfigPath, port),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  const settle = (label: string, expected: Record<string, boolean>) =>
    untilValue(label, () => {
      const now = shownSlice(slices.events, SLICE);
      return JSON.stringify(now) === JSON.stringify(expected) ? now : undefined;
    });
  try {
    await settle("the file's three targets", { [A]: true, [B]: true, [C]: true });
    // An editor's save: write a temporary file and rename it over the list.
    await Deno.writeTextFile(`${list}.tmp`, `${A}\n${C}\n${D}\n`);
    await Deno.rename(`${list}.tmp`, list);
    await settle("B out, D in", { [A]: true, [C]: true, [D]: true });
    assert.ok(
      slices.events.filter((e) => e.object.metadata.name === SLICE).every((e) =>
        readiness(e.object)[B] !== false
      ),
      "a removed target is never shown unready",
    );
    await agent.waitForLog((l) => l.msg === "targets changed");

    // Malformed: the last good set stays; the failure is logged.
    const seen = (await fence(slices, cluster, { namespace, kind: "EndpointSlice" })).length;
    await Deno.writeTextFile(list, `${A}\nnot-an-address\n`);
    const failing = await agent.waitForLog((l) => l.msg.startsWith("source failing"));
    assert.match(String(failing.error), /not-an-address/);
    const after = await fence(slices, cluster, { namespace, kind: "EndpointSlice" });
    assert.equal(
      after.filter((e) => !e.object.metadata.name.startsWith(MARKER_PREFIX)).length,
      seen,
      "nothing written for a malformed list",
    );
    await Deno.writeTextFile(list, `${A}\n`);
    await agent.waitForLog((l) => l.msg === "source recovered");
    // Three of four gone at once is a drastic shrink: held (default 5 minutes), not applied.
    await agent.waitForLog((l) => l.msg === "source shrank suddenly: holding its new set");
    assert.deepEqual(shownSlice(slices.events, SLICE), { [A]: true, [C]: true, [D]: true });
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check and --once: sources are asked once, their targets probed and published", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [A, B].map((address) => ({ address, port: 9092 })));
  const dir = await Deno.makeTempDir({ prefix: "helaseid-once-sources-" });
  const namespace = await cluster.createNamespace("once-sources");
  await createService(cluster, namespace);
  try {
    // C is a test address with nothing listening on it.
    await net.addAddress(C);
    await Deno.writeTextFile(`${dir}/targets.txt`, `${A} ${C}\n`);
    await Deno.writeTextFile(
      `${dir}/config.env`,
      `SERVICE_NAME=brokers\nNAMESPACE=${namespace}\nPORT=9092\nINTERVAL=0.1\nMAX_RETRY=2\n` +
        `TARGETS_FILE=targets.txt\n`,
    );
    const check = await startAgent({ args: ["check", "--config", `${dir}/config.env`] });
    // Exit 1 proves the file's targets were probed: without them there is nothing down.
    assert.equal(await check.exited, 1, "C, listed only in the file, is down: check exits 1");
    const once = await startAgent({
      args: [
        "run",
        "--once",
        "--config",
        `${dir}/config.env`,
        "--kubeconfig",
        cluster.kubeconfigPath,
        "--listen",
        "off",
      ],
    });
    assert.equal(await once.exited, 0, once.stderr());
    const slice = JSON.parse(
      await cluster.kubectlOk(["get", "endpointslice", SLICE, "-n", namespace, "-o", "json"]),
    );
    assert.deepEqual(readiness(slice), { [A]: true, [C]: false });
  } finally {
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reload: a Service added in a namespace not watched before is published, never reported missing", async () => {
  const cluster = await sharedCluster();
  await using net = await TestNetwork.open();
  const targets = await startTargets(net, [A, B].map((address) => ({ address, port: 9092 })));
  const dir = await Deno.makeTempDir({ prefix: "helaseid-reload-add-" });
  const first = await cluster.createNamespace("reload-add");
  const second = await cluster.createNamespace("reload-add");
  for (const namespace of [first, second]) await createService(cluster, namespace);
  await using later = await recordSlices(cluster, second);
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(config, yaml(first, [A, B]));
  const port = freePort();
  const agent = await startAgent({
    args: runArgs(config, cluster.kubeconfigPath, port),
    echo: Deno.env.get("HELASEID_TEST_ECHO") === "1",
  });
  try {
    await agent.waitForLog((l) => l.msg === "published");
    await Deno.writeTextFile(
      config,
      yaml(first, [A, B]) + yaml(second, [A]).replace("services:\n", ""),
    );
    await untilValue("the added Service published", () => {
      const now = shownSlice(later.events, SLICE);
      return now?.[A] === true ? now : undefined;
    });
    assert.ok(
      !agent.lines.some((l) => l.reason === "service-missing"),
      "never reported missing while its namespace was first listed",
    );
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.stop("SIGKILL");
    for (const target of targets) await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
