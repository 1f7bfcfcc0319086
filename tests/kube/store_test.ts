import assert from "node:assert/strict";
import type { KubeClient, WatchOptions } from "../../src/kube/client.ts";
import { KubeError } from "../../src/kube/client.ts";
import { ObjectStore, type StoreChange, type StoreFailure } from "../../src/kube/store.ts";
import type { KubeObject, Resource } from "../../src/kube/types.ts";
import { MemoryKube } from "../../src/kube/memory.ts";
import { Logger } from "../../src/observe/log.ts";
import { FakeClock, settle } from "../support/fakes.ts";

type ListAnswer = KubeObject[] | KubeError;

/**
 * A scripted list/watch API: each list takes the next answer (the last one repeats), each
 * watch either fails with `watchError` or stays open until the test ends it.
 */
class ScriptedApi implements KubeClient {
  readonly name = "scripted";
  readonly lists: number[] = [];
  readonly watches: { options: WatchOptions; stopped: boolean }[] = [];
  answers: ListAnswer[] = [[]];
  watchError?: KubeError;
  #version = 1;
  readonly #clock: FakeClock;

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  list(_resource: Resource, _namespace: string) {
    this.lists.push(this.#clock.now());
    const answer = this.answers.length > 1 ? this.answers.shift()! : this.answers[0]!;
    if (answer instanceof KubeError) return Promise.reject(answer);
    return Promise.resolve({ items: answer, resourceVersion: String(this.#version++) });
  }

  watch(_resource: Resource, _namespace: string, options: WatchOptions) {
    if (this.watchError) return Promise.reject(this.watchError);
    const watch = { options, stopped: false };
    this.watches.push(watch);
    return Promise.resolve({ stop: () => void (watch.stopped = true) });
  }

  /** The watch open now. */
  get open() {
    const watch = this.watches.at(-1);
    assert.ok(watch && !watch.stopped, "a watch is open");
    return watch.options;
  }

  apply(): Promise<KubeObject> {
    throw new Error("not used");
  }
  create(): Promise<KubeObject> {
    throw new Error("not used");
  }
  delete(): Promise<void> {
    throw new Error("not used");
  }
  read(): Promise<KubeObject | undefined> {
    throw new Error("not used");
  }
  replace(): Promise<KubeObject> {
    throw new Error("not used");
  }
}

function service(name: string, version = "1"): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "datastream", resourceVersion: version },
  };
}

const FORBIDDEN = new KubeError(
  'Cannot list Service in datastream: services is forbidden: User "helaseid" cannot list',
  { status: 403, reason: "Forbidden" },
);
const REFUSED = new KubeError("Cannot list Service in datastream: Connection refused", {
  status: 0,
});

function setup() {
  const clock = new FakeClock();
  const api = new ScriptedApi(clock);
  const changes: StoreChange[] = [];
  const reported: (StoreFailure | undefined)[] = [];
  const lines: { level: string; msg: string }[] = [];
  const store = new ObjectStore({
    client: api,
    clock,
    log: new Logger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) }),
    onChange: (change) => changes.push(change),
    onFailure: (_resource, _namespace, failure) => reported.push(failure),
    backoff: { initial: 200, max: 1000 },
  });
  return { clock, api, store, changes, reported, lines };
}

Deno.test("store: synced() waits for the first list of every collection, then holds its objects", async () => {
  const { api, store, clock } = setup();
  api.answers = [[service("brokers")]];
  let synced = false;
  store.track("services", "datastream");
  store.synced().then(() => synced = true);
  await clock.advance(0);
  assert.equal(synced, true);
  assert.equal(store.connected, true);
  assert.deepEqual(store.list("services", "datastream").map((o) => o.metadata.name), ["brokers"]);
  assert.deepEqual(store.failures(), []);
  await store.stop();
});

Deno.test("store: synced() stays pending while a collection cannot be listed", async () => {
  const { api, store, clock } = setup();
  api.answers = [REFUSED, REFUSED, [service("brokers")]];
  let synced = false;
  store.track("services", "datastream");
  store.synced().then(() => synced = true);
  await clock.advance(0);
  assert.equal(synced, false);
  assert.equal(store.connected, false);
  await clock.advance(200);
  assert.equal(synced, false);
  await clock.advance(400);
  assert.equal(synced, true);
  await store.stop();
});

Deno.test("store: a watch that ends is followed by a new list, whose contents replace the old", async () => {
  const { api, store, clock, changes } = setup();
  api.answers = [[service("brokers"), service("old")]];
  store.track("services", "datastream");
  await clock.advance(0);
  api.open.onEvent("MODIFIED", service("brokers", "7"));
  assert.equal(store.get("services", "datastream", "brokers")?.metadata.resourceVersion, "7");
  api.answers = [[service("brokers", "9")]];
  const before = changes.length;
  // The server closes the watch (its timeout, or a 410 Expired): list again at once.
  api.open.onDone(new KubeError("Watch ended: too old resource version", { status: 410 }));
  await settle();
  assert.equal(api.lists.length, 2);
  assert.equal(api.lists[1], api.lists[0], "listed again without waiting");
  assert.deepEqual(changes.slice(before), [{ resource: "services", namespace: "datastream" }]);
  assert.deepEqual(store.list("services", "datastream").map((o) => o.metadata.name), ["brokers"]);
  assert.equal(store.get("services", "datastream", "brokers")?.metadata.resourceVersion, "9");
  assert.equal(api.open.resourceVersion, "2", "watches from the new list's version");
  assert.deepEqual(store.failures(), [], "a routine watch end is not a failure");
  await store.stop();
});

Deno.test("store: failed lists are retried after 200, 400, 800 ms, then at most every 1 s", async () => {
  const { api, store, clock } = setup();
  api.answers = [REFUSED];
  store.track("services", "datastream");
  await clock.advance(5000);
  const start = api.lists[0]!;
  assert.deepEqual(
    api.lists.map((at) => at - start),
    [0, 200, 600, 1400, 2400, 3400, 4400],
  );
  // After a success the delay starts again from 200 ms.
  api.answers = [[]];
  await clock.advance(1000);
  const watch = api.open;
  api.answers = [REFUSED];
  const count = api.lists.length;
  watch.onDone(new KubeError("Cannot watch: connection reset", { status: 0 }));
  await clock.advance(200);
  assert.equal(api.lists.length, count + 2, "one list at once, one 200 ms later");
  await store.stop();
});

Deno.test("store: a Forbidden list is reported once, logged once at ERROR, and its recovery too", async () => {
  const { api, store, clock, reported, lines } = setup();
  api.answers = [FORBIDDEN];
  store.track("services", "datastream");
  const started = clock.now();
  await clock.advance(3000);
  assert.ok(api.lists.length >= 4, "retried");
  const expected: StoreFailure = {
    resource: "services",
    namespace: "datastream",
    verb: "list",
    status: 403,
    reason: "Forbidden",
    message: FORBIDDEN.message,
    since: started,
  };
  assert.deepEqual(reported, [expected]);
  assert.deepEqual(store.failures(), [expected]);
  assert.deepEqual(lines.filter((l) => l.level === "error").map((l) => l.msg), [
    "cannot list services, waiting for a fix",
  ]);
  assert.equal(lines.filter((l) => l.level === "warn").length, 0, "no WARN per retry");
  api.answers = [[service("brokers")]];
  await clock.advance(1000);
  assert.deepEqual(reported, [expected, undefined]);
  assert.deepEqual(store.failures(), []);
  await store.stop();
});

Deno.test("store: a failure that changes is reported again, keeping when the streak began", async () => {
  const { api, store, clock, reported } = setup();
  api.answers = [REFUSED, FORBIDDEN];
  store.track("services", "datastream");
  const started = clock.now();
  await clock.advance(1000);
  assert.deepEqual(reported.map((f) => [f?.status, f?.since]), [[0, started], [403, started]]);
  await store.stop();
});

Deno.test("store: a list answered 404 means the namespace is missing", async () => {
  const { api, store, clock } = setup();
  api.answers = [new KubeError("Cannot list Service in gone: HTTP 404", { status: 404 })];
  store.track("services", "gone");
  await clock.advance(0);
  const [failure] = store.failures();
  assert.equal(failure?.reason, "NotFound");
  assert.equal(failure?.verb, "list");
  assert.equal(failure?.message, "Cannot list services as namespace 'gone' does not exist");
  await store.stop();
});

Deno.test("store: a watch the API refuses is a watch failure, even after the list succeeded", async () => {
  const { api, store, clock, reported } = setup();
  api.watchError = new KubeError("Cannot watch Service in datastream: forbidden", {
    status: 403,
    reason: "Forbidden",
  });
  let synced = false;
  store.track("services", "datastream");
  store.synced().then(() => synced = true);
  await clock.advance(2000);
  assert.equal(synced, true, "the list alone syncs the store");
  assert.equal(store.connected, false);
  assert.deepEqual(reported.map((f) => [f?.verb, f?.status]), [["watch", 403]]);
  api.watchError = undefined;
  await clock.advance(1000);
  assert.equal(store.connected, true);
  assert.deepEqual(reported.map((f) => f?.verb), ["watch", undefined]);
  await store.stop();
});

Deno.test("store: a field selector keeps one object; transform trims what is kept; Nodes have no namespace", async () => {
  const clock = new FakeClock();
  const kube = new MemoryKube();
  const configMap = (name: string, list: string): KubeObject => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: "datastream", annotations: { bulky: "x".repeat(100) } },
    data: { list },
  });
  kube.seed(configMap("targets", "192.0.2.1"));
  kube.seed(configMap("other", "192.0.2.9"));
  kube.seed({ apiVersion: "v1", kind: "Node", metadata: { name: "node-1" } });
  const store = new ObjectStore({
    client: kube,
    clock,
    log: new Logger({ level: "error", write: () => {} }),
    onChange: () => {},
    transform: (object) => ({ ...object, metadata: { name: object.metadata.name } }),
  });
  store.track("configmaps", "datastream", undefined, { fieldSelector: "metadata.name=targets" });
  store.track("nodes", "");
  await clock.advance(0);
  assert.deepEqual(store.list("configmaps", "datastream"), [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "targets" },
      data: { list: "192.0.2.1" },
    },
  ]);
  assert.deepEqual(store.list("nodes", "").map((o) => o.metadata.name), ["node-1"]);
  await kube.apply(configMap("other", "192.0.2.8"));
  await kube.apply(configMap("targets", "192.0.2.2"));
  await settle();
  assert.deepEqual(store.list("configmaps", "datastream"), [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "targets" },
      data: { list: "192.0.2.2" },
    },
  ]);
  await store.stop();
});
