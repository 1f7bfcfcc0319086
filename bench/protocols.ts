/**
 * Benchmark scenario "protocols" (issue 11 item 6): what a protocol check costs next to a TCP
 * connect. One Service of 1,000 targets at a 1 s interval, checked in turn with `tcp`, `http`
 * (`GET /`, one fresh connection per check) and `kafka` (an ApiVersions v0 request) in the same
 * run: agent CPU, RSS, scheduling lag p50/p99, probes per second and failures.
 *
 * The targets are 1,000 addresses of 2001:db8:2::/112 made local at once by a route (as the
 * big-Service scenario does), served by one listener on `[::]:9092` per protocol inside the
 * bench process: a plain accept-and-close, a `Deno.serve` answering 200, or a TCP server that
 * answers each ApiVersions v0 request with a well-formed v0 response (error 0). The servers'
 * CPU is the bench's, not the agent's: only the agent process is measured.
 *
 * Settings: `BENCH_PROTOCOL_TARGETS` (default 1000), `BENCH_PROTOCOL_TYPES` (default
 * `tcp,http,kafka`).
 *
 * @module
 */

import { stringify } from "yaml";
import type { AgentProcess } from "../tests/support/agent_process.ts";
import { startBenchAgent } from "./_agent.ts";
import { localPrefix } from "./_prefix.ts";
import { createService } from "../tests/support/service.ts";
import { rawServer as serveRaw } from "../tests/probe/_net.ts";
import type { ClusterAccess } from "../tests/support/cluster.ts";
import { delta, sleep, type SteadyFigures, steadyState } from "./measure.ts";

/** The probe types compared. */
export const PROTOCOL_TYPES = ["tcp", "http", "kafka"] as const;
/** One of {@linkcode PROTOCOL_TYPES}. */
export type ProtocolType = typeof PROTOCOL_TYPES[number];

/** What the scenario needs of the bench. */
export interface ProtocolsBed {
  /** The test API server. */
  readonly cluster: ClusterAccess;
  /** A free port for the agent's metrics. */
  metricsPort(): number;
}

/** Settings of one run. */
export interface ProtocolsSettings {
  /** Targets of the one Service. */
  readonly targets: number;
  /** The probe types measured, in turn. */
  readonly types: readonly ProtocolType[];
  /** Seconds measured once every target has been checked for a while. */
  readonly steadySeconds: number;
}

/** The settings from the environment. */
export function protocolsSettings(
  env: Readonly<Record<string, string | undefined>>,
): ProtocolsSettings {
  const types = (env.BENCH_PROTOCOL_TYPES ?? PROTOCOL_TYPES.join(",")).split(",");
  for (const type of types) {
    if (!(PROTOCOL_TYPES as readonly string[]).includes(type)) {
      throw new Error(
        `Cannot bench probe type '${type}' as BENCH_PROTOCOL_TYPES allows only ${PROTOCOL_TYPES}`,
      );
    }
  }
  return {
    targets: Number(env.BENCH_PROTOCOL_TARGETS ?? 1000),
    types: types as ProtocolType[],
    steadySeconds: 15,
  };
}

/** One probe type's figures in one run. */
export interface ProtocolFigures extends SteadyFigures, Record<string, number> {
  /** Mean check latency (from the probe histogram), ms. */
  readonly probeMeanMs: number;
}

/** One run's figures: `<type>_<figure>` (flat, so the bench's medians apply). */
export type ProtocolsResult = Record<string, number>;

const PREFIX = "2001:db8:2::";
const PORT = 9092;

/** Accepts connections on `[::]:9092` and hands each to `handle` (closed afterwards). */
function rawServer(handle: (conn: Deno.Conn) => Promise<void>): AsyncDisposable {
  const server = serveRaw("::", handle, PORT);
  return { [Symbol.asyncDispose]: () => server.close() };
}

/** A v0 ApiVersions response frame (size prefix included) with error 0 and one API key. */
function apiVersionsResponse(correlationId: number): Uint8Array {
  const bytes = new Uint8Array(4 + 16);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, 16);
  view.setInt32(4, correlationId);
  view.setInt16(8, 0); // error code
  view.setInt32(10, 1); // one entry: ApiVersions (18), versions 0-3
  view.setInt16(14, 18);
  view.setInt16(16, 0);
  view.setInt16(18, 3);
  return bytes;
}

/** Reads one request frame (size prefix, then the header: key, version, correlation id). */
async function readKafkaRequest(conn: Deno.Conn): Promise<number | undefined> {
  const buffer = new Uint8Array(512);
  let length = 0;
  while (true) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) return undefined;
    length += n;
    if (length < 12) continue;
    const view = new DataView(buffer.buffer);
    const size = view.getInt32(0);
    if (size + 4 > buffer.length) return undefined;
    if (length >= size + 4) return view.getInt32(8);
  }
}

/** The server of one probe type on `[::]:9092`. */
function serve(type: ProtocolType): AsyncDisposable {
  switch (type) {
    case "tcp":
      return rawServer(() => Promise.resolve());
    case "kafka":
      return rawServer(async (conn) => {
        const correlationId = await readKafkaRequest(conn);
        if (correlationId !== undefined) await conn.write(apiVersionsResponse(correlationId));
      });
    case "http": {
      const server = Deno.serve(
        { hostname: "::", port: PORT, onListen: () => {} },
        () => new Response("ok"),
      );
      return { [Symbol.asyncDispose]: () => server.shutdown() };
    }
  }
}

/** Checks `settings.targets` targets with `type` and measures the agent in its steady state. */
async function measure(
  bed: ProtocolsBed,
  settings: ProtocolsSettings,
  type: ProtocolType,
): Promise<ProtocolFigures> {
  const { cluster } = bed;
  const namespace = await cluster.createNamespace(`proto-${type}`);
  await createService(cluster, namespace, { name: "brokers" });
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    file,
    stringify({
      services: [{
        name: "brokers",
        namespace,
        ports: [{ name: "kafka", port: PORT }],
        targets: Array.from(
          { length: settings.targets },
          (_, i) => `${PREFIX}${(i + 1).toString(16)}`,
        ),
        probe: { type, interval: "1s", timeout: "500ms", rise: 2, fall: 3 },
      }],
    }),
  );
  await using _server = serve(type);
  const port = bed.metricsPort();
  const metrics = `http://127.0.0.1:${port}/metrics`;
  let agent: AgentProcess | undefined;
  try {
    agent = await startBenchAgent({
      config: file,
      kubeconfig: cluster.kubeconfigPath,
      port,
    });
    const pid = agent.pid;
    // Ready (every target checked, the Service published), then past the first rounds.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`)
        .then(async (response) => (await response.body?.cancel(), response.ok))
        .catch(() => false);
      if (ok) break;
      await sleep(100);
    }
    const { before, after, figures } = await steadyState(pid, metrics, settings.steadySeconds);
    const durationSum = delta(before, after, "helaseid_probe_duration_seconds_sum");
    const durationCount = delta(before, after, "helaseid_probe_duration_seconds_count");
    return {
      ...figures,
      probeMeanMs: durationCount > 0 ? durationSum / durationCount * 1000 : NaN,
    };
  } finally {
    await agent?.stop();
    await Deno.remove(file);
  }
}

/** Runs the scenario once: every probe type in turn, on the same targets. */
export async function protocols(
  bed: ProtocolsBed,
  settings: ProtocolsSettings,
): Promise<ProtocolsResult> {
  await using _prefix = await localPrefix(PREFIX);
  const result: ProtocolsResult = { targets: settings.targets };
  for (const type of settings.types) {
    const figures = await measure(bed, settings, type);
    for (const [name, value] of Object.entries(figures)) result[`${type}_${name}`] = value;
  }
  return result;
}

/** The scenario's lines of the bench table, from the medians of its runs. */
export function protocolsTable(
  m: ProtocolsResult,
  settings: ProtocolsSettings,
  format: (value: number, digits?: number) => string,
): string[] {
  const f = (type: string, name: string) => m[`${type}_${name}`] ?? NaN;
  return [
    "",
    `| ${
      format(m.targets ?? NaN, 0)
    } targets at 1 s, by probe type | agent CPU (cores) | RSS (MiB) | lag p50 (ms) | lag p99 (ms) | probes/s (failed) | mean check (ms) |`,
    "|---|---|---|---|---|---|---|",
    ...settings.types.map((type) =>
      `| \`${type}\` | ${format(f(type, "cpuPerSecond"), 3)} | ${format(f(type, "rssMiB"))} | ${
        format(f(type, "lagP50Ms"), 2)
      } | ${format(f(type, "lagP99Ms"), 2)} | ${format(f(type, "probesPerSecond"), 0)} (${
        format(f(type, "failedProbes"), 0)
      }) | ${format(f(type, "probeMeanMs"), 2)} |`
    ),
  ];
}
