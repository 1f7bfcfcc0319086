/**
 * Runs the real agent as a separate process, exactly as users run it: `deno run` of main.ts
 * with the permission and V8 flags of `deno task compile` (read from deno.json, so tests
 * prove the binary's permissions are enough), or the bundle when `HELASEID_AGENT_BUNDLE` names one.
 * JSON log lines are collected so tests can wait for events.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * The runtime flags of the compile task in deno.json: its `--allow-*` permissions and its
 * `--v8-flags`, which `deno compile` bakes into the binary.
 */
export async function agentFlags(): Promise<string[]> {
  const json = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const task: string = json.tasks?.compile ?? "";
  const flags = task.split(/\s+/).filter((word) =>
    word.startsWith("--allow-") || word.startsWith("--v8-flags=")
  );
  if (!flags.some((flag) => flag.startsWith("--allow-"))) {
    throw new Error("deno.json has no compile task with --allow flags");
  }
  return flags;
}

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown> & { msg: string; level: string };

/** Options of {@linkcode startAgent}. */
export interface AgentProcessOptions {
  /** Arguments after the program (e.g. `["run", "--config", path]`). */
  readonly args: readonly string[];
  /** Extra environment (the process gets no other variables but PATH and HOME). */
  readonly env?: Record<string, string>;
  /** Print the agent's output as it comes (debugging). */
  readonly echo?: boolean;
  /** Extra `deno run` flags before the entry point (e.g. `--inspect=127.0.0.1:9229`). */
  readonly denoFlags?: readonly string[];
}

/** A running agent process. */
export interface AgentProcess extends AsyncDisposable {
  /** The process id (for /proc readings in benchmarks). */
  readonly pid: number;
  readonly lines: LogLine[];
  /** Raw stderr text so far. */
  readonly stderr: () => string;
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Resolves with the exit code when the process ends on its own. */
  readonly exited: Promise<number>;
}

/** Starts the agent. */
export async function startAgent(options: AgentProcessOptions): Promise<AgentProcess> {
  const bundle = Deno.env.get("HELASEID_AGENT_BUNDLE");
  const entry = bundle ?? `${ROOT}main.ts`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      ...(bundle ? ["--no-config"] : [`--config=${ROOT}deno.json`]),
      ...(await agentFlags()),
      ...(options.denoFlags ?? []),
      entry,
      ...options.args,
    ],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      DENO_NO_UPDATE_CHECK: "1",
      ...options.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let stderr = "";
  const pump = async (stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        onLine(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    }
    if (buffer) onLine(buffer);
  };
  const stdoutDone = pump(child.stdout, (text) => {
    if (options.echo) console.error(`[agent] ${text}`);
    let line: LogLine;
    try {
      line = JSON.parse(text);
    } catch {
      line = { msg: text, level: "raw" };
    }
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const stderrDone = pump(child.stderr, (text) => {
    if (options.echo) console.error(`[agent:stderr] ${text}`);
    stderr += text + "\n";
  });
  const exited = Promise.all([child.status, stdoutDone, stderrDone]).then(([status]) =>
    status.code
  );
  let ended = false;
  exited.then(() => ended = true);
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (!ended) {
      try {
        child.kill(signal);
      } catch {
        // Already exited.
      }
    }
    return await exited;
  };
  return {
    pid: child.pid,
    lines,
    stderr: () => stderr,
    exited,
    waitForLog(match, timeoutMs = 20_000) {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise<LogLine>((resolve, reject) => {
        const waiter = {
          match,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `No matching agent log line within ${timeoutMs} ms; last lines:\n` +
                lines.slice(-15).map((l) => JSON.stringify(l)).join("\n") + `\n${stderr}`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
        exited.then((code) => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`The agent exited (code ${code}) before logging the line:\n${stderr}`));
        });
      });
    },
    stop,
    async [Symbol.asyncDispose]() {
      await stop("SIGKILL");
    },
  };
}
