/**
 * Makes a whole /112 of test addresses local to the bench's network namespace (one route on
 * `lo`), so that thousands of targets need no address each.
 *
 * @module
 */

async function ip(args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`Cannot run 'ip ${args.join(" ")}': ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Makes every address of `prefix`/112 local (one route), removed again when disposed. */
export async function localPrefix(prefix: string): Promise<AsyncDisposable> {
  await ip(["-6", "route", "add", "local", `${prefix}/112`, "dev", "lo"]);
  return {
    [Symbol.asyncDispose]: () => ip(["-6", "route", "del", "local", `${prefix}/112`, "dev", "lo"]),
  };
}
