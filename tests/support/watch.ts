/**
 * An independent watcher for tests: records every change of EndpointSlices (or another
 * resource) in a namespace with the time it was seen, so tests can assert what clients of the
 * API actually observe — contents, timing, and how many changes there were.
 *
 * @module
 */

/** One change as a watch client saw it. */
export interface SeenEvent {
  readonly type: string;
  readonly at: number;
  // deno-lint-ignore no-explicit-any
  readonly object: any;
}

/** A running recorder. */
export interface Recorder extends AsyncDisposable {
  readonly events: SeenEvent[];
  /** Resolves with the first event (from `since` on) that matches. */
  waitFor(
    match: (event: SeenEvent) => boolean,
    options?: { timeoutMs?: number; since?: number },
  ): Promise<SeenEvent>;
  /** Ends the watch (await the recorder's dispose to wait for its end). */
  stop(): void;
}

/**
 * Starts recording `path` (an API collection path) with the given kubeconfig (one written by
 * the test bed: JSON, client certificate or token). Plain Deno fetch, independent of the
 * product's client, so the recorder sees what any client would.
 */
export async function record(
  kubeconfigPath: string,
  path: string,
  query: Record<string, string> = {},
): Promise<Recorder> {
  const config = JSON.parse(await Deno.readTextFile(kubeconfigPath));
  const cluster = config.clusters[0].cluster;
  const user = config.users[0].user;
  const client = Deno.createHttpClient({
    caCerts: [atob(cluster["certificate-authority-data"])],
    ...(user["client-certificate-data"]
      ? { cert: atob(user["client-certificate-data"]), key: atob(user["client-key-data"]) }
      : {}),
  });
  const abort = new AbortController();
  const params = new URLSearchParams({ watch: "true", ...query });
  const response = await fetch(`${cluster.server}${path}?${params}`, {
    client,
    signal: abort.signal,
    headers: user.token ? { authorization: `Bearer ${user.token}` } : {},
  });
  if (!response.ok) throw new Error(`Cannot watch ${path}: HTTP ${response.status}`);
  const events: SeenEvent[] = [];
  const waiters = new Set<() => void>();
  const pumping = (async () => {
    let buffer = "";
    for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (!line.trim()) continue;
        const { type, object } = JSON.parse(line);
        events.push({ type, at: performance.timeOrigin + performance.now(), object });
        for (const wake of [...waiters]) wake();
      }
    }
  })().catch(() => {}).finally(() => client.close());
  const stop = () => abort.abort();
  return {
    events,
    stop,
    waitFor(match, options = {}) {
      const since = options.since ?? 0;
      const find = () => events.slice(since).find(match);
      const found = find();
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const wake = () => {
          const event = find();
          if (!event) return;
          waiters.delete(wake);
          clearTimeout(timer);
          resolve(event);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(
            new Error(
              `No matching watch event within ${
                options.timeoutMs ?? 20_000
              } ms; saw ${events.length}`,
            ),
          );
        }, options.timeoutMs ?? 20_000);
        waiters.add(wake);
      });
    },
    [Symbol.asyncDispose]: async () => {
      stop();
      await pumping;
    },
  };
}

/** Readiness by address of an EndpointSlice object. */
// deno-lint-ignore no-explicit-any
export function readiness(slice: any): Record<string, boolean> {
  return Object.fromEntries(
    // deno-lint-ignore no-explicit-any
    (slice?.endpoints ?? []).map((e: any) => [e.addresses[0], e.conditions?.ready ?? false]),
  );
}

/** Name prefix of the marker objects written by {@linkcode fence}. */
export const MARKER_PREFIX = "helaseid-test-marker-";

let markers = 0;

/**
 * Ends a "nothing happened" window with a positive signal: writes a marker object into the
 * recorded collection (an EndpointSlice or an Endpoints object in `namespace` that no agent
 * selects: no managed-by label, its own name) and waits until the watch shows it. A watch
 * delivers a collection's changes in order, so every change made before the call is then in
 * `recorder.events`. Returns those changes, markers left out.
 */
export async function fence(
  recorder: Recorder,
  cluster: { kubectlOk(args: string[], options?: { stdin?: string }): Promise<string> },
  options: { namespace: string; kind: "EndpointSlice" | "Endpoints" },
): Promise<SeenEvent[]> {
  const name = `${MARKER_PREFIX}${Date.now().toString(36)}-${++markers}`;
  const metadata = { name, namespace: options.namespace };
  const object = options.kind === "EndpointSlice"
    ? {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { ...metadata, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints: [],
    }
    : { apiVersion: "v1", kind: "Endpoints", metadata, subsets: [] };
  await cluster.kubectlOk(["apply", "-f", "-"], { stdin: JSON.stringify(object) });
  const seen = await recorder.waitFor((event) => event.object?.metadata?.name === name);
  return recorder.events.slice(0, recorder.events.indexOf(seen)).filter((event) =>
    !String(event.object?.metadata?.name ?? "").startsWith(MARKER_PREFIX)
  );
}

/**
 * The readiness by address of the slice `name` in its latest event of `events` (what a watch
 * client shows now); undefined before its first event or after its deletion.
 */
export function shownSlice(
  events: readonly SeenEvent[],
  name: string,
): Record<string, boolean> | undefined {
  const last = events.filter((event) => event.object.metadata.name === name).at(-1);
  return last && last.type !== "DELETED" ? readiness(last.object) : undefined;
}
