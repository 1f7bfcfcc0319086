/**
 * The chaos run's outside view: a list-and-watch of the EndpointSlices and Endpoints of one
 * namespace, with plain fetch and the test bed's admin kubeconfig (independent of the agent's
 * client), that survives the API server stopping and hanging: a broken or silent watch is
 * listed again. Every change of an object's `resourceVersion` counts as one write, whether a
 * watch event or a relist showed it.
 *
 * @module
 */

import type { Json } from "./invariants.ts";

/** One write seen: when, and which object. */
export interface SeenWrite {
  readonly at: number;
  readonly kind: "EndpointSlice" | "Endpoints";
  readonly name: string;
}

/** A running observer. */
export interface Observer extends AsyncDisposable {
  /** The EndpointSlices now, by name. */
  readonly slices: ReadonlyMap<string, Json>;
  /** The Endpoints objects now, by name. */
  readonly endpoints: ReadonlyMap<string, Json>;
  /** Writes seen so far (objects selected by `include`). */
  readonly writes: readonly SeenWrite[];
  /** Called after every change of the view, with the time it was seen. */
  onChange?: (at: number) => void;
  /** Stops both watches and waits for them. */
  stop(): Promise<void>;
}

/** Options of {@linkcode observe}. */
export interface ObserveOptions {
  /** Path of a kubeconfig written by the test bed (JSON, client certificate). */
  readonly kubeconfigPath: string;
  readonly namespace: string;
  /** Which objects count as writes (default every object). */
  readonly include?: (kind: "EndpointSlice" | "Endpoints", object: Json) => boolean;
  /** The clock of the run, ms. */
  readonly now: () => number;
}

const COLLECTIONS = [
  { kind: "EndpointSlice", path: "/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices" },
  { kind: "Endpoints", path: "/api/v1/namespaces/NS/endpoints" },
] as const;

/** A watch without any line for this long is taken for dead (the server sends bookmarks). */
const SILENCE_MS = 20_000;

/** Starts watching; resolves once both collections were listed. */
export async function observe(options: ObserveOptions): Promise<Observer> {
  const config = JSON.parse(await Deno.readTextFile(options.kubeconfigPath));
  const cluster = config.clusters[0].cluster;
  const user = config.users[0].user;
  const client = Deno.createHttpClient({
    caCerts: [atob(cluster["certificate-authority-data"])],
    cert: atob(user["client-certificate-data"]),
    key: atob(user["client-key-data"]),
  });
  const server: string = cluster.server;
  const stopping = new AbortController();
  const maps = { EndpointSlice: new Map<string, Json>(), Endpoints: new Map<string, Json>() };
  const writes: SeenWrite[] = [];
  const include = options.include ?? (() => true);
  const observer: Observer = {
    slices: maps.EndpointSlice,
    endpoints: maps.Endpoints,
    writes,
    stop: async () => {
      stopping.abort();
      await Promise.allSettled(loops);
      client.close();
    },
    [Symbol.asyncDispose]: () => observer.stop(),
  };
  const listed: Promise<void>[] = [];
  const loops = COLLECTIONS.map(({ kind, path }) => {
    const first = Promise.withResolvers<void>();
    listed.push(first.promise);
    const map = maps[kind];
    const url = `${server}${path.replace("NS", options.namespace)}`;
    const seen = (object: Json, deleted: boolean) => {
      const name: string = object.metadata.name;
      const before = map.get(name);
      if (before?.metadata?.resourceVersion === object.metadata.resourceVersion && !deleted) {
        return false;
      }
      if (deleted) map.delete(name);
      else map.set(name, object);
      if (include(kind, object)) writes.push({ at: options.now(), kind, name });
      return true;
    };
    const loop = async () => {
      let failures = 0;
      while (!stopping.signal.aborted) {
        try {
          const list = await getJson(client, url, stopping.signal);
          const names = new Set<string>();
          let changed = false;
          for (const item of list.items ?? []) {
            names.add(item.metadata.name);
            changed = seen(item, false) || changed;
          }
          for (const [name, object] of [...map]) {
            if (!names.has(name)) changed = seen(object, true) || changed;
          }
          if (changed) observer.onChange?.(options.now());
          first.resolve();
          failures = 0;
          await watch(client, url, list.metadata.resourceVersion, stopping.signal, (event) => {
            if (event.type === "ERROR") throw new Error(`watch error: ${event.object?.message}`);
            if (event.type === "BOOKMARK") return;
            if (seen(event.object, event.type === "DELETED")) observer.onChange?.(options.now());
          });
        } catch {
          if (stopping.signal.aborted) break;
          failures++;
          await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)));
        }
      }
      first.resolve();
    };
    return loop();
  });
  await Promise.all(listed);
  return observer;
}

async function getJson(client: Deno.HttpClient, url: string, stop: AbortSignal): Promise<Json> {
  const signal = AbortSignal.any([stop, AbortSignal.timeout(5000)]);
  const response = await fetch(url, { client, signal });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`GET ${url}: HTTP ${response.status}`);
  }
  return await response.json();
}

/** Watches from `resourceVersion` until the stream ends, fails or stays silent too long. */
async function watch(
  client: Deno.HttpClient,
  url: string,
  resourceVersion: string,
  stop: AbortSignal,
  onEvent: (event: Json) => void,
): Promise<void> {
  const silence = new AbortController();
  const signal = AbortSignal.any([stop, silence.signal]);
  let timer = setTimeout(() => silence.abort(), SILENCE_MS);
  const params = new URLSearchParams({
    watch: "true",
    resourceVersion,
    allowWatchBookmarks: "true",
    timeoutSeconds: "120",
  });
  try {
    const response = await fetch(`${url}?${params}`, { client, signal });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`watch ${url}: HTTP ${response.status}`);
    }
    let buffer = "";
    for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(), SILENCE_MS);
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.trim()) onEvent(JSON.parse(line));
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
