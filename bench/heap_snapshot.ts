/**
 * Heap snapshots of a running agent, summarised, to find what a soak's memory growth is made of.
 *
 *   deno run -A bench/heap_snapshot.ts take 127.0.0.1:9229 out.json   (a summary of one snapshot)
 *   deno run -A bench/heap_snapshot.ts diff before.json after.json     (what grew, largest first)
 *
 * The agent must run with the inspector open (`BENCH_DENO_FLAGS=--inspect=127.0.0.1:9229` for
 * a benchmark's agent, see `bench/_agent.ts`); inside the test network, enter it first
 * (`nsenter -t <agent pid> -n`). Taking a snapshot collects garbage first, so what is counted
 * is what is reachable. A summary counts objects and their own bytes per kind: the constructor
 * name for objects, the type (string, closure, array…) otherwise.
 *
 * @module
 */

/** Objects and their own bytes, per kind. */
export type HeapSummary = Record<string, { count: number; bytes: number }>;

/** Takes one snapshot over the inspector protocol and returns its raw JSON text. */
export async function takeSnapshot(inspector: string): Promise<string> {
  const list = await (await fetch(`http://${inspector}/json/list`)).json();
  const url: string = list[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no debugger target at http://${inspector}/json/list`);
  const socket = new WebSocket(url);
  const chunks: string[] = [];
  try {
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot open ${url}`));
    });
    const done = new Promise<void>((resolve, reject) => {
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.method === "HeapProfiler.addHeapSnapshotChunk") {
          chunks.push(message.params.chunk);
        } else if (message.id === 2) {
          if (message.error) reject(new Error(JSON.stringify(message.error)));
          else resolve();
        }
      };
    });
    socket.send(JSON.stringify({ id: 1, method: "HeapProfiler.enable" }));
    socket.send(JSON.stringify({
      id: 2,
      method: "HeapProfiler.takeHeapSnapshot",
      params: { reportProgress: false },
    }));
    await done;
  } finally {
    socket.close();
  }
  return chunks.join("");
}

/** Counts a snapshot's nodes per kind. */
export function summarise(snapshotText: string): HeapSummary {
  const snapshot = JSON.parse(snapshotText);
  const fields: string[] = snapshot.snapshot.meta.node_fields;
  const types: string[] = snapshot.snapshot.meta.node_types[0];
  const strings: string[] = snapshot.strings;
  const nodes: number[] = snapshot.nodes;
  const width = fields.length;
  const typeAt = fields.indexOf("type"), nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const summary: HeapSummary = {};
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    const name = strings[nodes[i + nameAt]!]!;
    const kind = type === "object" || type === "native"
      ? `${type}:${name}`
      : type === "closure"
      ? `closure:${name || "(anonymous)"}`
      : type;
    const entry = summary[kind] ??= { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += nodes[i + sizeAt]!;
  }
  return summary;
}

/** The kinds that grew most between two summaries, by bytes. */
export function growth(before: HeapSummary, after: HeapSummary, top = 40): string[] {
  const rows = Object.entries(after).map(([kind, a]) => {
    const b = before[kind] ?? { count: 0, bytes: 0 };
    return { kind, count: a.count - b.count, bytes: a.bytes - b.bytes, now: a.count };
  }).sort((x, y) => y.bytes - x.bytes);
  const total = (s: HeapSummary) => Object.values(s).reduce((sum, e) => sum + e.bytes, 0);
  return [
    `total: ${(total(before) / 2 ** 20).toFixed(2)} → ${(total(after) / 2 ** 20).toFixed(2)} MiB`,
    ...rows.slice(0, top).map((r) =>
      `${(r.bytes / 1024).toFixed(1).padStart(10)} KiB ${
        String(r.count).padStart(8)
      } objects (now ${r.now})  ${r.kind}`
    ),
  ];
}

if (import.meta.main) {
  const [command, a, b] = Deno.args;
  if (command === "take" && a && b) {
    const summary = summarise(await takeSnapshot(a));
    await Deno.writeTextFile(b, JSON.stringify(summary));
    const bytes = Object.values(summary).reduce((sum, e) => sum + e.bytes, 0);
    console.log(`${b}: ${(bytes / 2 ** 20).toFixed(2)} MiB reachable`);
  } else if (command === "diff" && a && b) {
    const read = async (path: string) => JSON.parse(await Deno.readTextFile(path)) as HeapSummary;
    console.log(growth(await read(a), await read(b)).join("\n"));
  } else {
    console.error(
      "usage: bench/heap_snapshot.ts take HOST:PORT OUT.json | diff BEFORE.json AFTER.json",
    );
    Deno.exit(2);
  }
}
