/**
 * Runs a test tool (kubectl, helm, promtool) to completion with optional stdin, collecting
 * what it printed: one way for every test helper that shells out.
 *
 * @module
 */

/** What a finished command printed. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Where and with what a command runs, and what it reads on stdin. */
export interface CommandOptions {
  readonly stdin?: string;
  readonly cwd?: string;
  /** When set, the command sees only these variables. */
  readonly env?: Record<string, string>;
}

/** Runs `path` with `args`; never throws on a non-zero exit. */
export async function runCommand(
  path: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const child = new Deno.Command(path, {
    args: [...args],
    cwd: options.cwd,
    clearEnv: options.env !== undefined,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}
