/**
 * `deno task stamp`: writes the version and commit of a build into src/build_info.ts, so that
 * `deno compile`, `deno bundle` and the image embed them (nothing is looked up at run time).
 *
 *   deno task stamp                              # from git: `git describe --tags`, `git rev-parse HEAD`
 *   deno task stamp --version 0.2.0 --commit 0123abc
 *   deno task stamp --release --version v0.2.0   # the release workflow: must be deno.json's version
 *
 * `HELASEID_VERSION` and `HELASEID_COMMIT` stand for the flags. The file is rewritten in place;
 * `git checkout src/build_info.ts` returns to the committed default.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { BuildInfo } from "../src/build_info.ts";

/** A semantic version (2.0.0), without the tag's `v`. */
const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
/** An abbreviated or full git commit, or `unknown`. */
const COMMIT = /^(?:[0-9a-f]{7,40}|unknown)$/;
/** The declaration this script replaces, from `export const` to the closing `};`. */
const DECLARATION = /^export const BUILD_INFO: BuildInfo = \{[^}]*\};$/m;

/** A version or commit that cannot be stamped. */
export class StampError extends Error {
  /** An error saying what cannot be stamped and why. */
  constructor(message: string) {
    super(message);
    this.name = "StampError";
  }
}

/** Where the version and commit may come from, in order of precedence. */
export interface StampSources {
  /** `--version` or `HELASEID_VERSION` (a leading `v` is dropped). */
  readonly version?: string;
  /** `--commit` or `HELASEID_COMMIT`. */
  readonly commit?: string;
  /** `git describe --tags --match 'v[0-9]*' --dirty`, when git knows a tag. */
  readonly describe?: string;
  /** `git rev-parse HEAD`, when in a git checkout. */
  readonly head?: string;
  /** deno.json's `version`: `<it>-dev` when nothing else names one. */
  readonly packageVersion: string;
  /** A release: the version must be given and be deno.json's, with no `-dev`. */
  readonly release?: boolean;
}

/** Picks and checks the build's version and commit from its sources. */
export function resolveBuildInfo(sources: StampSources): BuildInfo {
  const given = sources.version?.replace(/^v/, "");
  if (sources.release) {
    if (!given) throw new StampError("Cannot stamp a release without --version");
    const core = SEMVER.exec(given)?.slice(1, 4).join(".");
    if (core !== sources.packageVersion) {
      throw new StampError(
        `Cannot release '${given}': deno.json's version is '${sources.packageVersion}'` +
          " (bump it, the Dockerfile label and CHANGELOG.md in the release commit)",
      );
    }
  }
  const version = given || sources.describe?.replace(/^v/, "") || `${sources.packageVersion}-dev`;
  const commit = sources.commit || sources.head || "unknown";
  if (!SEMVER.test(version)) {
    throw new StampError(`Cannot stamp version '${version}': not a semantic version such as 0.2.0`);
  }
  if (!COMMIT.test(commit)) {
    throw new StampError(`Cannot stamp commit '${commit}': not 7 to 40 lowercase hex digits`);
  }
  return { version, commit };
}

/** The text of src/build_info.ts with `info` as its `BUILD_INFO`, everything else kept. */
export function stampedSource(source: string, info: BuildInfo): string {
  if (!DECLARATION.test(source)) {
    throw new StampError("Cannot stamp: src/build_info.ts has no 'export const BUILD_INFO'");
  }
  const declaration = [
    "export const BUILD_INFO: BuildInfo = {",
    `  version: ${JSON.stringify(info.version)},`,
    `  commit: ${JSON.stringify(info.commit)},`,
    "};",
  ].join("\n");
  return source.replace(DECLARATION, declaration);
}

async function git(args: string[], cwd: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" })
      .output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && text !== "" ? text : undefined;
  } catch {
    return undefined; // No git: a source archive.
  }
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      version: { type: "string" },
      commit: { type: "string" },
      release: { type: "boolean", default: false },
    },
  });
  const root = new URL("../", import.meta.url).pathname;
  const file = `${root}src/build_info.ts`;
  const packageVersion = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).version;
  const version = values.version ?? Deno.env.get("HELASEID_VERSION");
  const commit = values.commit ?? Deno.env.get("HELASEID_COMMIT");
  try {
    const info = resolveBuildInfo({
      packageVersion,
      release: values.release,
      ...(version ? { version } : {}),
      ...(commit ? { commit } : {}),
      ...(version ? {} : {
        describe: await git(["describe", "--tags", "--match", "v[0-9]*", "--dirty"], root),
      }),
      ...(commit ? {} : { head: await git(["rev-parse", "HEAD"], root) }),
    });
    await Deno.writeTextFile(file, stampedSource(await Deno.readTextFile(file), info));
    console.log(`stamped src/build_info.ts: version ${info.version}, commit ${info.commit}`);
    return 0;
  } catch (error) {
    if (!(error instanceof StampError)) throw error;
    console.error(`stamp: ${error.message}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
