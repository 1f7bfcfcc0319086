/**
 * What the API shows, kept current by list+watch: the Services we publish for and the objects
 * we own. The reconciler plans against this store instead of reading before each write, so a
 * steady state costs no API calls at all, and a change someone else makes (an edit, a
 * deletion) arrives as an event that triggers a repair.
 *
 * Each collection (resource, namespace, selector) runs its own loop: list, then watch from the
 * list's version; when the watch ends or fails, back off and list again.
 *
 * @module
 */

import type { Clock } from "../health/scheduler.ts";
import type { Logger } from "../observe/log.ts";
import { type KubeClient, KubeError, type WatchHandle } from "./client.ts";
import type { KubeObject, Resource } from "./types.ts";

/** A change in the store: an object added, modified or deleted, or a collection relisted. */
export interface StoreChange {
  readonly resource: Resource;
  readonly namespace: string;
  /** The object that changed; absent after a relist (anything may have changed). */
  readonly object?: KubeObject;
  readonly deleted?: boolean;
}

/**
 * Why a collection cannot be listed or watched. Unauthorized (401), Forbidden (403) and a
 * missing namespace (404 on a list, reason NotFound) need an operator; 0 means the API server
 * was not reached. Kept until the collection is listed and watched again.
 */
export interface StoreFailure {
  readonly resource: Resource;
  readonly namespace: string;
  readonly verb: "list" | "watch";
  /** HTTP status; 0 when the API server was not reached. */
  readonly status: number;
  /** The API's reason (`Forbidden`, `NotFound`, ...) when it gave one. */
  readonly reason?: string;
  readonly message: string;
  /** Clock time of the first failure of this streak. */
  readonly since: number;
}

/** Options of {@linkcode ObjectStore}. */
export interface ObjectStoreOptions {
  readonly client: KubeClient;
  readonly clock: Clock;
  readonly log: Logger;
  /** Called for every change (not for {@linkcode ObjectStore.record}ed own writes). */
  readonly onChange: (change: StoreChange) => void;
  /** First and longest wait before listing again after a failure (default 200 ms, 10 s). */
  readonly backoff?: { readonly initial: number; readonly max: number };
  /**
   * Reduces each listed or watched object to the fields the caller reads before it is kept
   * (client-go's `SetTransform`): a Node's image list or any object's managedFields need not
   * stay in memory. Default: objects are kept whole.
   */
  readonly transform?: (object: KubeObject) => KubeObject;
  /**
   * Called when a collection starts failing, when its failure changes (verb, status, reason
   * or message), and with `undefined` once it is listed and watched again. Not called for
   * each retry of the same failure, and called even before the store has synced.
   */
  readonly onFailure?: (
    resource: Resource,
    namespace: string,
    failure: StoreFailure | undefined,
  ) => void;
}

interface Collection {
  readonly resource: Resource;
  readonly namespace: string;
  readonly selector?: string;
  readonly fieldSelector?: string;
  readonly objects: Map<string, KubeObject>;
  synced: boolean;
  connected: boolean;
  watch?: WatchHandle;
  wake?: () => void;
  failure?: StoreFailure;
}

/** A watch-fed cache of a few collections. */
export class ObjectStore {
  readonly #options: ObjectStoreOptions;
  readonly #collections = new Map<string, Collection>();
  readonly #loops: Promise<void>[] = [];
  readonly #synced = Promise.withResolvers<void>();
  #stopped = false;

  constructor(options: ObjectStoreOptions) {
    this.#options = options;
  }

  /**
   * Starts keeping a collection. Call before {@linkcode synced}. A `fieldSelector`
   * (`metadata.name=<name>`) narrows it to one object that RBAC can grant by name.
   */
  track(
    resource: Resource,
    namespace: string,
    labelSelector?: string,
    options: { readonly fieldSelector?: string } = {},
  ): void {
    const id = `${resource}:${namespace}`;
    if (this.#collections.has(id)) return;
    const collection: Collection = {
      resource,
      namespace,
      selector: labelSelector,
      fieldSelector: options.fieldSelector,
      objects: new Map(),
      synced: false,
      connected: false,
    };
    this.#collections.set(id, collection);
    this.#loops.push(this.#run(collection));
  }

  /** Resolves once every tracked collection has been listed. */
  synced(): Promise<void> {
    return this.#synced.promise;
  }

  /** True once the collection of `resource` in `namespace` has been listed (at least once). */
  listed(resource: Resource, namespace: string): boolean {
    return this.#collections.get(`${resource}:${namespace}`)?.synced === true;
  }

  /** True when every collection is listed and its watch is running. */
  get connected(): boolean {
    return [...this.#collections.values()].every((c) => c.synced && c.connected);
  }

  /** The collections failing now, each with its latest failure. */
  failures(): StoreFailure[] {
    return [...this.#collections.values()].flatMap((c) => c.failure ? [c.failure] : []);
  }

  /** An object of a tracked collection. */
  get(resource: Resource, namespace: string, name: string): KubeObject | undefined {
    return this.#collections.get(`${resource}:${namespace}`)?.objects.get(name);
  }

  /** All objects of a tracked collection. */
  list(resource: Resource, namespace: string): KubeObject[] {
    return [...(this.#collections.get(`${resource}:${namespace}`)?.objects.values() ?? [])];
  }

  /**
   * Records the result of our own write, so that the next plan sees it before the watch
   * echoes it (and the echo, being equal, triggers nothing).
   */
  record(resource: Resource, object: KubeObject): void {
    const namespace = object.metadata.namespace ?? "";
    this.#collections.get(`${resource}:${namespace}`)?.objects.set(object.metadata.name, object);
  }

  /** Forgets an object we deleted. */
  forget(resource: Resource, namespace: string, name: string): void {
    this.#collections.get(`${resource}:${namespace}`)?.objects.delete(name);
  }

  /** Ends every watch and loop. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const collection of this.#collections.values()) {
      collection.watch?.stop();
      collection.wake?.();
    }
    await Promise.all(this.#loops);
  }

  async #run(collection: Collection): Promise<void> {
    const { initial, max } = this.#options.backoff ?? { initial: 200, max: 10_000 };
    let delay = initial;
    const log = this.#options.log.with({
      resource: collection.resource,
      namespace: collection.namespace,
    });
    // Each round: list, then watch from the list's version until the watch ends; a failed
    // list or watch request is a failure of the collection, retried with a doubling delay.
    while (!this.#stopped) {
      let verb: StoreFailure["verb"] = "list";
      try {
        const list = await this.#options.client.list(
          collection.resource,
          collection.namespace,
          collection.selector,
          collection.fieldSelector,
        );
        if (this.#stopped) return;
        const keep = this.#options.transform ?? ((object: KubeObject) => object);
        collection.objects.clear();
        for (const item of list.items) collection.objects.set(item.metadata.name, keep(item));
        const first = !collection.synced;
        collection.synced = true;
        if (first) this.#checkSynced();
        this.#options.onChange({ resource: collection.resource, namespace: collection.namespace });
        const ended = Promise.withResolvers<unknown>();
        verb = "watch";
        collection.watch = await this.#options.client.watch(
          collection.resource,
          collection.namespace,
          {
            labelSelector: collection.selector,
            fieldSelector: collection.fieldSelector,
            resourceVersion: list.resourceVersion,
            onEvent: (type, seen) => {
              const object = keep(seen);
              if (type === "DELETED") collection.objects.delete(object.metadata.name);
              else collection.objects.set(object.metadata.name, object);
              this.#options.onChange({
                resource: collection.resource,
                namespace: collection.namespace,
                object,
                deleted: type === "DELETED",
              });
            },
            onDone: (error) => ended.resolve(error),
          },
        );
        collection.connected = true;
        delay = initial;
        this.#recovered(collection, log);
        collection.wake = () => ended.resolve(undefined);
        const error = await ended.promise;
        collection.connected = false;
        collection.watch = undefined;
        // An expired version (410) or a closed stream is routine: list again at once.
        if (error) log.debug("watch ended, listing again", { error });
      } catch (error) {
        collection.connected = false;
        if (this.#stopped) return;
        const failure = this.#failed(collection, verb, error);
        if (!needsOperator(failure.status)) {
          log.warn(`cannot ${verb}, retrying`, { error, retryInMs: Math.round(delay) });
        }
        await this.#sleep(collection, delay);
        delay = Math.min(max, delay * 2);
      }
    }
  }

  /** Records a failure; reports it (and logs it, if it needs an operator) when it changed. */
  #failed(collection: Collection, verb: StoreFailure["verb"], error: unknown): StoreFailure {
    const kube = error instanceof KubeError ? error : undefined;
    const status = kube?.status ?? 0;
    const message = error instanceof Error ? error.message : String(error);
    const reason = kube?.reason ??
      (verb === "list" && status === 404 ? "NotFound" : undefined);
    const previous = collection.failure;
    const failure: StoreFailure = {
      resource: collection.resource,
      namespace: collection.namespace,
      verb,
      status,
      ...(reason ? { reason } : {}),
      message: verb === "list" && status === 404
        ? `Cannot list ${collection.resource} as namespace '${collection.namespace}' does not exist`
        : message,
      since: previous?.since ?? this.#options.clock.now(),
    };
    collection.failure = failure;
    if (
      previous?.verb === failure.verb && previous.status === failure.status &&
      previous.reason === failure.reason && previous.message === failure.message
    ) {
      return failure;
    }
    if (needsOperator(status)) {
      this.#options.log.error(`cannot ${verb} ${collection.resource}, waiting for a fix`, {
        resource: collection.resource,
        namespace: collection.namespace,
        status,
        reason,
        error: failure.message,
      });
    }
    this.#options.onFailure?.(collection.resource, collection.namespace, failure);
    return failure;
  }

  #recovered(collection: Collection, log: Logger): void {
    if (!collection.failure) return;
    collection.failure = undefined;
    log.info("listing and watching again");
    this.#options.onFailure?.(collection.resource, collection.namespace, undefined);
  }

  #sleep(collection: Collection, delay: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = this.#options.clock.setTimeout(resolve, delay);
    collection.wake = () => {
      this.#options.clock.clearTimeout(timer);
      resolve();
    };
    return promise;
  }

  #checkSynced(): void {
    if ([...this.#collections.values()].every((c) => c.synced)) this.#synced.resolve();
  }
}

/** 401, 403 and 404 do not go away by retrying: somebody has to fix a token, a Role or a namespace. */
function needsOperator(status: number): boolean {
  return status === 401 || status === 403 || status === 404;
}
