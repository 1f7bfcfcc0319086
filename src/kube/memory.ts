/**
 * An in-memory {@linkcode KubeClient}: what `--dry-run` writes to (it logs each write and
 * remembers the result, so the agent behaves exactly as against a cluster) and what unit tests
 * use as a fake API. It is not a model of the API server's validation: behaviour that claims
 * to be Kubernetes' is tested against the real one.
 *
 * @module
 */

import type { KubeClient, WatchEventType, WatchHandle, WatchOptions } from "./client.ts";
import { KubeError } from "./client.ts";
import {
  isClusterScoped,
  type KubeObject,
  objectKey,
  type ObjectRef,
  type Resource,
  resourceOf,
} from "./types.ts";

/** A write the memory client accepted, as `--dry-run` reports it. */
export interface MemoryWrite {
  readonly verb: "apply" | "create" | "replace" | "delete";
  readonly resource: Resource;
  readonly namespace: string;
  readonly name: string;
  /** The object as sent (absent for deletes). */
  readonly object?: KubeObject;
}

/** Options of {@linkcode MemoryKube}. */
export interface MemoryKubeOptions {
  /** Name shown as the cluster (default "dry-run"). */
  readonly name?: string;
  /** Called after each accepted write. */
  readonly onWrite?: (write: MemoryWrite) => void;
}

interface Watcher {
  readonly resource: Resource;
  readonly namespace: string;
  readonly selector?: string;
  readonly fieldSelector?: string;
  readonly onEvent: WatchOptions["onEvent"];
}

/** A Kubernetes API in a Map. */
export class MemoryKube implements KubeClient {
  readonly name: string;
  /** Every accepted write, in order (tests count them). */
  readonly writes: MemoryWrite[] = [];
  readonly #onWrite?: (write: MemoryWrite) => void;
  readonly #objects = new Map<Resource, Map<string, KubeObject>>();
  readonly #watchers = new Map<Resource, Set<Watcher>>();
  #version = 1;
  #uid = 1;
  /** When set, every call fails with this error (to simulate an unreachable API). */
  failure?: KubeError;

  constructor(options: MemoryKubeOptions = {}) {
    this.name = options.name ?? "dry-run";
    this.#onWrite = options.onWrite;
  }

  /** Puts an object in place without counting it as a write (test and dry-run setup). */
  seed(object: KubeObject): KubeObject {
    return this.#store(object, false);
  }

  /** The stored object, if any. */
  get(ref: ObjectRef): KubeObject | undefined {
    return this.#bucket(ref.resource).get(objectKey(ref.namespace, ref.name));
  }

  apply(object: KubeObject): Promise<KubeObject> {
    return this.#guard(() => {
      const stored = this.#store(object, true);
      this.#record({ verb: "apply", ...refOf(object), object });
      return stored;
    });
  }

  create(object: KubeObject): Promise<KubeObject> {
    return this.#guard(() => {
      const ref = refOf(object);
      if (this.get(ref)) {
        throw new KubeError(`${object.kind} ${ref.namespace}/${ref.name} already exists`, {
          status: 409,
          reason: "AlreadyExists",
        });
      }
      const stored = this.#store(object, true);
      this.#record({ verb: "create", ...ref, object });
      return stored;
    });
  }

  read(ref: ObjectRef): Promise<KubeObject | undefined> {
    return this.#guard(() => {
      const stored = this.get(ref);
      return stored && structuredClone(stored);
    });
  }

  replace(object: KubeObject): Promise<KubeObject> {
    return this.#guard(() => {
      const ref = refOf(object);
      const old = this.get(ref);
      if (!old) {
        throw new KubeError(`${object.kind} ${ref.namespace}/${ref.name} not found`, {
          status: 404,
          reason: "NotFound",
        });
      }
      if (object.metadata.resourceVersion !== old.metadata.resourceVersion) {
        throw new KubeError(
          `Operation cannot be fulfilled on ${object.kind} '${ref.name}': the object has been ` +
            "modified; please apply your changes to the latest version and try again",
          { status: 409, reason: "Conflict" },
        );
      }
      const stored = this.#store(object, true);
      this.#record({ verb: "replace", ...ref, object });
      return stored;
    });
  }

  delete(ref: ObjectRef): Promise<void> {
    return this.#guard(() => {
      const key = objectKey(ref.namespace, ref.name);
      const old = this.#bucket(ref.resource).get(key);
      if (!old) return;
      this.#bucket(ref.resource).delete(key);
      this.#record({ verb: "delete", ...ref });
      this.#emit(ref.resource, "DELETED", old);
    });
  }

  list(resource: Resource, namespace: string, labelSelector?: string, fieldSelector?: string) {
    return this.#guard(() => ({
      items: [...this.#bucket(resource).values()].filter((object) =>
        inScope(resource, object, namespace) && matches(object, labelSelector) &&
        matchesFields(object, fieldSelector)
      ),
      resourceVersion: String(this.#version),
    }));
  }

  watch(resource: Resource, namespace: string, options: WatchOptions): Promise<WatchHandle> {
    return this.#guard(() => {
      const watcher: Watcher = {
        resource,
        namespace,
        selector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        onEvent: options.onEvent,
      };
      const set = this.#watchers.get(resource) ?? new Set();
      this.#watchers.set(resource, set);
      set.add(watcher);
      return { stop: () => set.delete(watcher) };
    });
  }

  #store(object: KubeObject, emit: boolean): KubeObject {
    const resource = resourceOf(object);
    const key = objectKey(object.metadata.namespace ?? "", object.metadata.name);
    const old = this.#bucket(resource).get(key);
    const stored: KubeObject = structuredClone({
      ...object,
      metadata: {
        ...object.metadata,
        uid: old?.metadata.uid ?? object.metadata.uid ?? `memory-${this.#uid++}`,
        resourceVersion: String(++this.#version),
      },
    });
    this.#bucket(resource).set(key, stored);
    if (emit) this.#emit(resource, old ? "MODIFIED" : "ADDED", stored);
    return structuredClone(stored);
  }

  #emit(resource: Resource, type: WatchEventType, object: KubeObject): void {
    for (const watcher of this.#watchers.get(resource) ?? []) {
      if (!inScope(watcher.resource, object, watcher.namespace)) continue;
      if (!matches(object, watcher.selector)) continue;
      if (!matchesFields(object, watcher.fieldSelector)) continue;
      const copy = structuredClone(object);
      queueMicrotask(() => watcher.onEvent(type, copy));
    }
  }

  #record(write: MemoryWrite): void {
    this.writes.push(write);
    this.#onWrite?.(write);
  }

  #bucket(resource: Resource): Map<string, KubeObject> {
    let bucket = this.#objects.get(resource);
    if (!bucket) this.#objects.set(resource, bucket = new Map());
    return bucket;
  }

  #guard<T>(run: () => T): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

function refOf(object: KubeObject): Omit<ObjectRef, "resource"> & { resource: Resource } {
  return {
    resource: resourceOf(object),
    namespace: object.metadata.namespace ?? "",
    name: object.metadata.name,
  };
}

/** True when `object` is in `namespace`, or the resource has no namespaces. */
function inScope(resource: Resource, object: KubeObject, namespace: string): boolean {
  return isClusterScoped(resource) || (object.metadata.namespace ?? "") === namespace;
}

/** The one field selector HELASEID sends: `metadata.name=<name>`. */
function matchesFields(object: KubeObject, selector?: string): boolean {
  if (!selector) return true;
  const name = /^metadata\.name=(.*)$/.exec(selector)?.[1];
  if (name === undefined) {
    throw new KubeError(`Cannot use field selector '${selector}': only metadata.name is known`, {
      status: 400,
      reason: "BadRequest",
    });
  }
  return object.metadata.name === name;
}

/** Equality-based label selectors (`a=b,c=d`), all HELASEID uses. */
function matches(object: KubeObject, selector?: string): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const [key = "", value] = term.split("=");
    return object.metadata.labels?.[key.trim()] === value?.trim();
  });
}
