/**
 * The reconciler at the level of its logic: a fake clock, the in-memory API and the real
 * store. What is asserted is what reaches the API (writes, their times and contents) and the
 * publishing state operators and alerts read.
 */

import assert from "node:assert/strict";
import type { ServiceConfig } from "../../src/config/schema.ts";
import { KubeError } from "../../src/kube/client.ts";
import { MemoryKube } from "../../src/kube/memory.ts";
import { ObjectStore } from "../../src/kube/store.ts";
import type {
  EndpointSliceObject,
  EndpointsObject,
  KubeObject,
  Resource,
  ServiceObject,
} from "../../src/kube/types.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { ANNOTATION_CONFIG_HASH, ANNOTATION_WRITER } from "../../src/publish/identity.ts";
import {
  ANNOTATION_TRIGGER_TIME,
  LABEL_MANAGED_BY,
  LABEL_SKIP_MIRROR,
  serviceObject,
} from "../../src/publish/objects.ts";
import {
  type HealthSource,
  type PublishState,
  Reconciler,
  type ReconcilerOptions,
} from "../../src/publish/reconciler.ts";
import type { ViewStatus } from "../../src/publish/views.ts";
import { FakeClock, kubeWithService, serviceConfig } from "../support/fakes.ts";

const A = "192.0.2.1";
const B = "192.0.2.2";
const C = "192.0.2.3";
const SLICE = {
  resource: "endpointslices",
  namespace: "datastream",
  name: "brokers-helaseid-ipv4",
} as const;
const ENDPOINTS = { resource: "endpoints", namespace: "datastream", name: "brokers" } as const;

/** A MemoryKube that records every call's time and can refuse calls by verb and resource. */
class ScriptedKube extends MemoryKube {
  readonly calls: { verb: string; resource: string; at: number }[] = [];
  /** `verb resource` → the error to throw (e.g. `"list endpointslices"`). */
  readonly refuse = new Map<string, KubeError>();
  readonly #clock: FakeClock;

  constructor(clock: FakeClock) {
    super();
    this.#clock = clock;
  }

  #call(verb: string, resource: string): void {
    this.calls.push({ verb, resource, at: this.#clock.now() });
    const error = this.refuse.get(`${verb} ${resource}`);
    if (error) throw error;
  }

  override apply(object: KubeObject): Promise<KubeObject> {
    try {
      this.#call("apply", resourceName(object));
    } catch (error) {
      return Promise.reject(error);
    }
    return super.apply(object);
  }

  override create(object: KubeObject): Promise<KubeObject> {
    try {
      this.#call("create", resourceName(object));
    } catch (error) {
      return Promise.reject(error);
    }
    return super.create(object);
  }

  override list(resource: Resource, namespace: string, labelSelector?: string) {
    try {
      this.#call("list", resource);
    } catch (error) {
      return Promise.reject(error);
    }
    return super.list(resource, namespace, labelSelector);
  }

  /** Times of the calls of `verb resource`. */
  times(verb: string, resource: string): number[] {
    return this.calls.filter((c) => c.verb === verb && c.resource === resource).map((c) => c.at);
  }
}

function resourceName(object: KubeObject): string {
  return object.kind === "EndpointSlice" ? "endpointslices" : `${object.kind.toLowerCase()}s`;
}

/** Health a test sets by address; counts how often the reconciler asked. */
class Health implements HealthSource {
  readonly statuses = new Map<string, ViewStatus>();
  asked = 0;

  constructor(healthy: readonly string[] = []) {
    for (const address of healthy) this.statuses.set(address, "healthy");
  }

  status(_service: ServiceConfig, address: string): ViewStatus {
    this.asked++;
    return this.statuses.get(address) ?? "unknown";
  }

  checked(_service: ServiceConfig, address: string): boolean {
    this.asked++;
    return this.statuses.has(address);
  }
}

interface Running {
  readonly reconciler: Reconciler;
  readonly store: ObjectStore;
  readonly states: PublishState[];
  state(): PublishState;
  stop(): Promise<void>;
}

/** A reconciler and its store on `kube`, started. */
function run(
  kube: MemoryKube,
  config: ServiceConfig,
  clock: FakeClock,
  options: Partial<ReconcilerOptions> & { health?: HealthSource } = {},
): Running {
  const states: PublishState[] = [];
  // The store calls back only once tracking starts, after the reconciler exists.
  const store: ObjectStore = new ObjectStore({
    client: kube,
    clock,
    log: silentLogger(),
    onChange: (change) => reconciler.storeChanged(change),
    onFailure: (resource, namespace) => reconciler.storeFailed(resource, namespace),
  });
  const reconciler: Reconciler = new Reconciler({
    services: [config],
    health: options.health ?? new Health(config.targets.map((t) => t.address)),
    client: kube,
    store,
    clock,
    log: silentLogger(),
    writer: "agent-a/1",
    random: () => 0.5,
    onState: (state) => states.push(state),
    ...options,
  });
  Reconciler.track(store, [config]);
  reconciler.start();
  const running = reconciler;
  return {
    reconciler: running,
    store,
    states,
    state: () => running.states()[0]!,
    async stop() {
      const stopping = Promise.all([running.stop(), store.stop()]);
      await clock.advance(1);
      await stopping;
    },
  };
}

function readiness(kube: MemoryKube): Record<string, boolean> {
  const slice = kube.get(SLICE) as EndpointSliceObject | undefined;
  return Object.fromEntries(
    (slice?.endpoints ?? []).map((e) => [e.addresses[0], e.conditions?.ready ?? false]),
  );
}

Deno.test("reconciler: a failing write is retried after 100, 200, 400 ms, then recovers", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A]);
  const kube = new ScriptedKube(clock);
  kube.seed(serviceObject(config, { uid: "uid-1" }));
  kube.refuse.set("apply endpointslices", new KubeError("Cannot apply: boom", { status: 500 }));
  const r = run(kube, config, clock);
  try {
    await clock.advance(1000);
    const times = kube.times("apply", "endpointslices");
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Each delay, plus the 2 ms the reconciler waits for more transitions before a pass.
    assert.deepEqual(gaps, [102, 202, 402]);
    assert.equal(r.state().failures, 4);
    assert.equal(r.state().failingSince, times[0]);
    assert.equal(r.state().blocked, undefined, "a 500 is a failure, not a block");
    kube.refuse.clear();
    await clock.advance(800);
    assert.deepEqual(readiness(kube), { [A]: true });
    assert.equal(r.state().failures, 0);
    assert.equal(r.state().failingSince, undefined);
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: a failed Service creation is retried, then the Service is published", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A], {
    publish: { ...serviceConfig([]).publish, createService: true },
  });
  const kube = new ScriptedKube(clock);
  kube.refuse.set("create services", new KubeError("Cannot create: etcd down", { status: 503 }));
  const r = run(kube, config, clock);
  try {
    await clock.advance(350);
    assert.deepEqual(kube.times("create", "services").length, 3, "at 0, 100 and 300 ms");
    assert.equal(kube.get(SLICE), undefined);
    assert.equal(r.state().failures, 3);
    kube.refuse.clear();
    await clock.advance(400);
    assert.equal(kube.times("create", "services").length, 4);
    const service = kube.get({ resource: "services", namespace: "datastream", name: "brokers" });
    assert.equal((service as ServiceObject | undefined)?.spec?.clusterIP, "None");
    assert.deepEqual(readiness(kube), { [A]: true });
    assert.equal(r.state().failures, 0);
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: a refused Service creation blocks the Service as access-denied", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A], {
    publish: { ...serviceConfig([]).publish, createService: true },
  });
  const kube = new ScriptedKube(clock);
  kube.refuse.set(
    "create services",
    new KubeError("Cannot create: forbidden", { status: 403, reason: "Forbidden" }),
  );
  const r = run(kube, config, clock);
  try {
    await clock.advance(10);
    const state = r.state();
    assert.equal(state.blocked, "access-denied");
    assert.equal(state.detail, "create services in namespace 'datastream': 403 Forbidden");
    assert.equal(state.blockedSince, kube.times("create", "services")[0]);
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: only changes of its own Service's objects make it look again", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A]);
  const kube = kubeWithService(config);
  const health = new Health([A]);
  const r = run(kube, config, clock, { health });
  try {
    await clock.advance(20);
    assert.deepEqual(readiness(kube), { [A]: true });
    const slice = kube.get(SLICE)!;
    const asked = () => {
      const before = health.asked;
      return async () => {
        await clock.advance(20);
        return health.asked > before;
      };
    };
    let looked = asked();
    r.reconciler.storeChanged({
      resource: "endpointslices",
      namespace: "elsewhere",
      object: slice,
    });
    assert.equal(await looked(), false, "another namespace");
    looked = asked();
    const other = structuredClone(slice) as { metadata: { labels: Record<string, string> } };
    other.metadata.labels["kubernetes.io/service-name"] = "cache";
    r.reconciler.storeChanged({
      resource: "endpointslices",
      namespace: "datastream",
      object: other as unknown as KubeObject,
    });
    assert.equal(await looked(), false, "another Service's slice");
    looked = asked();
    r.reconciler.storeChanged({
      resource: "endpointslices",
      namespace: "datastream",
      object: slice,
    });
    assert.equal(await looked(), true, "our slice");
    looked = asked();
    r.reconciler.storeChanged({ resource: "endpoints", namespace: "datastream" });
    assert.equal(await looked(), true, "a relist of our namespace");
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: without a slice, the readiness the Endpoints show is kept until checked", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A, B]);
  const kube = kubeWithService(config);
  kube.seed({
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: {
      name: "brokers",
      namespace: "datastream",
      labels: { [LABEL_MANAGED_BY]: "helaseid", [LABEL_SKIP_MIRROR]: "true" },
    },
    subsets: [{ addresses: [{ ip: A }], notReadyAddresses: [{ ip: B }], ports: [] }],
  } as EndpointsObject);
  // No target has been checked yet.
  const r = run(kube, config, clock, { health: new Health([]) });
  try {
    await clock.advance(20);
    assert.deepEqual(readiness(kube), { [A]: true, [B]: false });
    assert.equal(r.state().blocked, undefined);
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: a restart keeps the trigger time the objects carry", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A]);
  const kube = kubeWithService(config);
  const first = run(kube, config, clock);
  const trigger = clock.now() - 5000;
  first.reconciler.transition(config, trigger);
  await clock.advance(20);
  await first.stop();
  const iso = new Date(trigger).toISOString();
  assert.equal(kube.get(SLICE)!.metadata.annotations?.[ANNOTATION_TRIGGER_TIME], iso);
  // The Endpoints object goes missing while no agent runs; the restarted one writes it again.
  await kube.delete(ENDPOINTS);
  await clock.advance(60_000);
  const second = run(kube, config, clock, { writer: "agent-a/2" });
  try {
    await clock.advance(20);
    const endpoints = kube.get(ENDPOINTS);
    assert.ok(endpoints, "the Endpoints object is written again");
    assert.equal(endpoints.metadata.annotations?.[ANNOTATION_TRIGGER_TIME], iso);
  } finally {
    await second.stop();
  }
});

Deno.test("reconciler: writes carry the writer and config hash; a new writer adopts without rewriting", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A]);
  const kube = kubeWithService(config);
  const first = run(kube, config, clock, { writer: "pod-1/1" });
  await clock.advance(20);
  await first.stop();
  const annotations = kube.get(SLICE)!.metadata.annotations!;
  assert.equal(annotations[ANNOTATION_WRITER], "pod-1/1");
  assert.match(annotations[ANNOTATION_CONFIG_HASH]!, /^[0-9a-f]{16}$/);
  const writes = kube.writes.length;
  // A restart under another identity (a new pod): nothing to change, so nothing written.
  const second = run(kube, config, clock, { writer: "pod-2/1" });
  try {
    await clock.advance(1000);
    assert.equal(kube.writes.length, writes);
    assert.equal(second.state().blocked, undefined);
    assert.deepEqual(second.state().view?.endpoints.map((e) => e.address), [A]);
  } finally {
    await second.stop();
  }
});

Deno.test("reconciler: two writers with different targets stop fighting; one takes over when the other is quiet", async () => {
  const clock = new FakeClock();
  const mine = serviceConfig([A, B]);
  const theirs = serviceConfig([A, C]);
  const kube = kubeWithService(mine);
  const a = run(kube, mine, clock, { writer: "agent-a/1" });
  await clock.advance(20);
  assert.deepEqual(readiness(kube), { [A]: true, [B]: true });
  const bHealth = new Health([A, C]);
  const b = run(kube, theirs, clock, { writer: "agent-b/2", health: bHealth });
  const started = kube.writes.length;
  let bStopped = false;
  try {
    await clock.advance(20);
    // b adopted the objects (it had written nothing yet); a saw b's write after its own.
    const state = a.state();
    assert.equal(state.blocked, "conflict");
    assert.equal(state.conflict?.writer, "agent-b/2");
    const since = state.blockedSince!;
    assert.equal(state.conflict?.retryAt, since + 10_000, "10 s, jitter 1.0 at random 0.5");
    assert.match(state.detail!, /^another HELASEID writer 'agent-b\/2' with another configuration/);
    assert.match(
      state.detail!,
      /rewrote (EndpointSlice datastream\/brokers-helaseid-ipv4|Endpoints datastream\/brokers)$/,
    );
    assert.equal(b.state().blocked, undefined);
    assert.deepEqual(readiness(kube), { [A]: true, [C]: true });
    const writes = kube.writes.length;
    await clock.advance(5000);
    assert.equal(kube.writes.length, writes, "nothing is rewritten while a holds off");
    // b writes again during a's backoff...
    bHealth.statuses.set(C, "unhealthy");
    b.reconciler.transition(theirs, clock.now());
    await clock.advance(20);
    assert.deepEqual(readiness(kube), { [A]: true, [C]: false });
    // ...so at the retry a backs off again, for twice as long, still blocked since the start.
    await clock.advance(since + 10_000 - clock.now());
    assert.equal(a.state().blocked, "conflict");
    assert.equal(a.state().blockedSince, since);
    assert.equal(a.state().conflict?.retryAt, since + 10_000 + 20_000);
    await b.stop();
    bStopped = true;
    await clock.advance(20_010);
    assert.equal(a.state().blocked, undefined, "b was quiet: a took over");
    assert.equal(a.state().conflict, undefined);
    assert.deepEqual(readiness(kube), { [A]: true, [B]: true });
    assert.equal(kube.get(SLICE)!.metadata.annotations?.[ANNOTATION_WRITER], "agent-a/1");
    // b's adoption, b's change, a's takeover: each the slice and the Endpoints.
    assert.equal(kube.writes.length - started, 6);
  } finally {
    await a.stop();
    if (!bStopped) await b.stop();
  }
});

Deno.test("reconciler: a writer of the same configuration is a conflict only when it keeps overwriting", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A, B]);
  const kube = kubeWithService(config);
  const aHealth = new Health([A, B]);
  const bHealth = new Health([A, B]);
  const a = run(kube, config, clock, { writer: "pod-old/1", health: aHealth });
  const b = run(kube, config, clock, { writer: "pod-new/1", health: bHealth });
  try {
    await clock.advance(20);
    const writes = kube.writes.length;
    assert.equal(writes, 2, "one publication: the second agent found nothing to change");
    // A rolling update's two pods judge a transition a moment apart: no conflict.
    aHealth.statuses.set(B, "unhealthy");
    a.reconciler.transition(config, clock.now());
    await clock.advance(20);
    bHealth.statuses.set(B, "unhealthy");
    b.reconciler.transition(config, clock.now());
    await clock.advance(20);
    assert.equal(a.state().blocked, undefined);
    assert.equal(b.state().blocked, undefined);
    // Two agents of one configuration that disagree for good: one of them stops writing.
    bHealth.statuses.set(B, "healthy");
    b.reconciler.transition(config, clock.now());
    await clock.advance(1000);
    const blocked = [a.state(), b.state()].filter((state) => state.blocked === "conflict");
    assert.equal(blocked.length, 1);
    assert.match(blocked[0]!.detail!, /with the same configuration but other verdicts/);
    const settled = kube.writes.length;
    await clock.advance(5000);
    assert.equal(kube.writes.length, settled);
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("reconciler: a list refused before the first sync blocks at once, and recovers", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A]);
  const kube = new ScriptedKube(clock);
  kube.seed(serviceObject(config, { uid: "uid-1" }));
  kube.refuse.set(
    "list endpointslices",
    new KubeError("Cannot list: forbidden", { status: 403, reason: "Forbidden" }),
  );
  const r = run(kube, config, clock);
  try {
    await clock.advance(10);
    const state = r.state();
    assert.equal(state.blocked, "access-denied");
    assert.equal(state.detail, "list endpointslices in namespace 'datastream': 403 Forbidden");
    assert.equal(state.blockedSince, kube.times("list", "endpointslices")[0]);
    assert.ok(r.states.some((s) => s.blocked === "access-denied"), "onState was told");
    assert.equal(kube.get(SLICE), undefined);
    kube.refuse.clear();
    await clock.advance(1000);
    assert.equal(r.state().blocked, undefined);
    assert.deepEqual(readiness(kube), { [A]: true });
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: refused and namespace-less writes block with the verb, resource and status", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A]);
  const kube = new ScriptedKube(clock);
  kube.seed(serviceObject(config, { uid: "uid-1" }));
  kube.refuse.set(
    "apply endpointslices",
    new KubeError("Cannot apply: denied", { status: 401, reason: "Unauthorized" }),
  );
  const r = run(kube, config, clock);
  try {
    await clock.advance(10);
    assert.equal(r.state().blocked, "access-denied");
    assert.equal(
      r.state().detail,
      "apply endpointslices in namespace 'datastream': 401 Unauthorized",
    );
    assert.equal(r.state().failures, 1);
    kube.refuse.set(
      "apply endpointslices",
      new KubeError('Cannot apply: namespaces "datastream" not found', { status: 404 }),
    );
    await clock.advance(100);
    assert.equal(r.state().blocked, "namespace-missing");
    assert.equal(
      r.state().detail,
      "apply endpointslices in namespace 'datastream': 404 Not Found: namespace 'datastream' does not exist",
    );
    kube.refuse.clear();
    await clock.advance(200);
    assert.equal(r.state().blocked, undefined);
    assert.equal(r.state().detail, undefined);
    assert.equal(r.state().failures, 0);
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: a missing Service and a selector block with since and detail", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A]);
  const kube = new MemoryKube();
  const r = run(kube, config, clock);
  try {
    await clock.advance(10);
    assert.equal(r.state().blocked, "service-missing");
    assert.equal(r.state().detail, "Service 'datastream/brokers' not found");
    const since = r.state().blockedSince;
    assert.equal(since, clock.now() - 8);
    await clock.advance(1000);
    r.reconciler.storeChanged({ resource: "services", namespace: "datastream" });
    await clock.advance(10);
    assert.equal(r.state().blockedSince, since, "since stays while the block goes on");
    const service = serviceObject(config, { uid: "uid-1" });
    await kube.apply({ ...service, spec: { ...service.spec, selector: { app: "kafka" } } });
    await clock.advance(10);
    assert.equal(r.state().blocked, "service-has-selector");
    assert.equal(r.state().detail, "Service 'datastream/brokers' has the selector app=kafka");
    assert.equal(r.state().blockedSince, clock.now() - 8);
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: --once's flush does not wait for a store the API refuses to fill", async () => {
  const clock = new FakeClock();
  const config = serviceConfig([A]);
  const kube = new ScriptedKube(clock);
  kube.seed(serviceObject(config, { uid: "uid-1" }));
  kube.refuse.set(
    "list services",
    new KubeError("Cannot list: unauthorized", { status: 401, reason: "Unauthorized" }),
  );
  const r = run(kube, config, clock);
  try {
    let flushed = false;
    const flushing = r.reconciler.flush().then(() => flushed = true);
    await clock.advance(10);
    assert.equal(flushed, true);
    await flushing;
    assert.equal(r.reconciler.settled, false);
    assert.equal(r.state().detail, "list services in namespace 'datastream': 401 Unauthorized");
  } finally {
    await r.stop();
  }
});

Deno.test("reconciler: a conflict backs off 10 s, doubling up to 5 min, while the other keeps writing", async () => {
  const clock = new FakeClock();
  const mine = serviceConfig([A, B]);
  const theirs = serviceConfig([A, C]);
  const kube = new ScriptedKube(clock);
  kube.seed(serviceObject(mine, { uid: "uid-1" }));
  const a = run(kube, mine, clock, { writer: "agent-a/1" });
  await clock.advance(20);
  const bHealth = new Health([A, C]);
  const b = run(kube, theirs, clock, { writer: "agent-b/2", health: bHealth });
  try {
    await clock.advance(20);
    const delays: number[] = [];
    let retryAt = a.state().conflict!.retryAt;
    delays.push(retryAt - a.state().blockedSince!);
    // b keeps writing (C flaps every 5 s): a backs off again at each retry.
    for (let round = 0; delays.length < 7; round++) {
      bHealth.statuses.set(C, round % 2 === 0 ? "unhealthy" : "healthy");
      b.reconciler.transition(theirs, clock.now());
      await clock.advance(5000);
      const next = a.state().conflict!.retryAt;
      if (next !== retryAt) {
        delays.push(next - retryAt);
        retryAt = next;
      }
    }
    assert.deepEqual(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  } finally {
    await a.stop();
    await b.stop();
  }
});
