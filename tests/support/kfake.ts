/**
 * The kfake test broker (tests/kafka/main.go): a Kafka ApiVersions answerer on one address and
 * port, switched between answering, muted and closing through its standard input.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * The kfake binary: `HELASEID_KFAKE` (exported by tests/netns.sh, which builds it while the
 * network is there), else built now by tests/kafka/build.sh (needs Go, and the network the first
 * time).
 */
export async function kfakeBinary(): Promise<string> {
  const given = Deno.env.get("HELASEID_KFAKE");
  if (given !== undefined && given !== "") return given;
  const out = await new Deno.Command(`${ROOT}tests/kafka/build.sh`, {
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  if (!out.success) throw new Error(`Cannot build kfake: ${text(out.stderr)}`);
  return text(out.stdout);
}

/** A running kfake broker. */
export interface Kfake {
  /** kfake's first line, `listening <address>:<port>`. */
  readonly listening: string;
  /** Switches how ApiVersions is answered, once kfake has acknowledged the switch. */
  mode(command: "serve" | "mute" | "close"): Promise<void>;
  /** Closes its standard input and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts kfake on `address:port` and waits for its `listening` line. */
export async function startKfake(address: string, port: number): Promise<Kfake> {
  const child = new Deno.Command(await kfakeBinary(), {
    args: ["-host", address, "-port", String(port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async (): Promise<string> => {
    while (!pending.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("kfake exited");
      pending += value;
    }
    const at = pending.indexOf("\n");
    const line = pending.slice(0, at);
    pending = pending.slice(at + 1);
    return line;
  };
  const listening = await nextLine();
  const writer = child.stdin.getWriter();
  return {
    listening,
    async mode(command) {
      await writer.write(new TextEncoder().encode(`${command}\n`));
      const answer = await nextLine();
      if (answer !== `ok ${command}`) throw new Error(`kfake answered '${answer}' to '${command}'`);
    },
    async stop() {
      await writer.close();
      await child.status;
      await lines.cancel();
    },
  };
}
