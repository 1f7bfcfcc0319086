/**
 * `deno task package VERSION`: turns the binaries of `deno task compile:all` into the release's
 * files, in dist/release/:
 *
 *   helaseid-<version>-<os>-<arch>.tar.gz   one per compile:<os>-<arch> task, holding `helaseid`
 *   install.sh                              the installer, as it is in the repository
 *   SHA256SUMS                              `sha256sum` format, of all the above
 *
 * The targets are read from deno.json's `compile:<os>-<arch>` tasks and their `--output`, so a
 * new target is packaged once it has a task. Needs GNU `tar` (the release runs on Ubuntu).
 *
 * @module
 */

/** A release that cannot be packaged: a missing binary, a bad version, a failed `tar`. */
export class PackageError extends Error {
  /** An error saying what cannot be packaged and why. */
  constructor(message: string) {
    super(message);
    this.name = "PackageError";
  }
}

/** A binary of one target and the archive it goes into. */
export interface PackageTarget {
  /** `linux`, `macos`. */
  readonly os: string;
  /** `x86_64`, `aarch64`. */
  readonly arch: string;
  /** The compile task's `--output`, relative to the repository. */
  readonly binary: string;
}

/** The targets of deno.json's `compile:<os>-<arch>` tasks, sorted by name. */
export function packageTargets(tasks: Readonly<Record<string, string>>): PackageTarget[] {
  const targets: PackageTarget[] = [];
  for (const [name, command] of Object.entries(tasks)) {
    const match = /^compile:([a-z]+)-([a-z0-9_]+)$/.exec(name);
    if (!match) continue;
    const words = command.trim().split(/\s+/);
    const binary = words[words.indexOf("--output") + 1];
    if (!words.includes("--output") || !binary) {
      throw new PackageError(`Cannot package task '${name}': it has no --output`);
    }
    targets.push({ os: match[1]!, arch: match[2]!, binary });
  }
  return targets.sort((a, b) => `${a.os}-${a.arch}`.localeCompare(`${b.os}-${b.arch}`));
}

/** The archive's file name: `helaseid-<version>-<os>-<arch>.tar.gz`. */
export function archiveName(version: string, target: PackageTarget): string {
  return `helaseid-${version}-${target.os}-${target.arch}.tar.gz`;
}

/** Lowercase hex SHA-256 of `data`. */
export async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** `SHA256SUMS` text: one `<hex>  <file>` line per file, sorted by name, as `sha256sum` writes. */
export function checksumsText(sums: ReadonlyMap<string, string>): string {
  return [...sums].sort(([a], [b]) => a.localeCompare(b))
    .map(([file, hex]) => `${hex}  ${file}\n`).join("");
}

/** Options of {@linkcode packageRelease}. */
export interface PackageOptions {
  /** The repository's root (binaries are read relative to it). */
  readonly root: string;
  /** Where the archives and SHA256SUMS go (created; default `<root>dist/release`). */
  readonly out?: string;
  /** The tasks of deno.json. */
  readonly tasks: Readonly<Record<string, string>>;
  /**
   * Modification time of `helaseid` in the archives, epoch seconds (`SOURCE_DATE_EPOCH`, the
   * commit's time in the release): with it, the same binaries give the same archives and sums.
   * Default: the binary's own.
   */
  readonly mtime?: number;
  /** Files shipped beside the archives as they are, and summed too (the release: install.sh). */
  readonly extras?: readonly string[];
}

/** Writes one archive per target, the extras and SHA256SUMS; returns the files, SHA256SUMS last. */
export async function packageRelease(version: string, options: PackageOptions): Promise<string[]> {
  if (!/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/.test(version)) {
    throw new PackageError(
      `Cannot package version '${version}': not a semantic version such as 0.2.0`,
    );
  }
  const targets = packageTargets(options.tasks);
  const missing = [];
  for (const target of targets) {
    try {
      await Deno.stat(`${options.root}${target.binary}`);
    } catch {
      missing.push(target.binary);
    }
  }
  if (missing.length > 0) {
    throw new PackageError(
      `Cannot package: no ${missing.join(", ")} (run deno task compile:all first)`,
    );
  }
  const out = options.out ?? `${options.root}dist/release`;
  await Deno.mkdir(out, { recursive: true });
  const sums = new Map<string, string>();
  for (const target of targets) {
    const stage = await Deno.makeTempDir({ dir: out, prefix: ".stage-" });
    try {
      // Every archive holds one file, `helaseid`, executable, owned by root.
      await Deno.copyFile(`${options.root}${target.binary}`, `${stage}/helaseid`);
      await Deno.chmod(`${stage}/helaseid`, 0o755);
      const name = archiveName(version, target);
      const tar = await new Deno.Command("tar", {
        args: [
          "-C",
          stage,
          "--owner=0",
          "--group=0",
          "--numeric-owner",
          ...(options.mtime !== undefined ? [`--mtime=@${options.mtime}`] : []),
          "-czf",
          `${out}/${name}`,
          "helaseid",
        ],
        stderr: "piped",
      }).output();
      if (!tar.success) {
        throw new PackageError(
          `Cannot archive ${name}: ${new TextDecoder().decode(tar.stderr).trim()}`,
        );
      }
      sums.set(name, await sha256Hex(await Deno.readFile(`${out}/${name}`)));
    } finally {
      await Deno.remove(stage, { recursive: true });
    }
  }
  for (const extra of options.extras ?? []) {
    const name = extra.slice(extra.lastIndexOf("/") + 1);
    await Deno.copyFile(`${options.root}${extra}`, `${out}/${name}`);
    sums.set(name, await sha256Hex(await Deno.readFile(`${out}/${name}`)));
  }
  await Deno.writeTextFile(`${out}/SHA256SUMS`, checksumsText(sums));
  return [...[...sums.keys()].map((name) => `${out}/${name}`), `${out}/SHA256SUMS`];
}

if (import.meta.main) {
  const version = Deno.args[0]?.replace(/^v/, "");
  if (!version) {
    console.error("usage: deno task package VERSION");
    Deno.exit(2);
  }
  const root = new URL("../", import.meta.url).pathname;
  const { tasks } = JSON.parse(await Deno.readTextFile(`${root}deno.json`));
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  if (epoch !== undefined && !/^\d+$/.test(epoch)) {
    console.error(
      `package: SOURCE_DATE_EPOCH must be seconds since 1970: current value is '${epoch}'`,
    );
    Deno.exit(2);
  }
  const mtime = epoch === undefined ? {} : { mtime: Number(epoch) };
  try {
    const extras = ["install.sh"];
    for (const file of await packageRelease(version, { root, tasks, extras, ...mtime })) {
      console.log(file);
    }
  } catch (error) {
    if (!(error instanceof PackageError)) throw error;
    console.error(`package: ${error.message}`);
    Deno.exit(1);
  }
}
