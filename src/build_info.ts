/**
 * The version and commit of this build. Release builds rewrite this file with `deno task stamp`
 * (release/stamp.ts) before compiling, so the binary carries them and never looks them up at run
 * time; a plain checkout reports the committed default below.
 *
 * @module
 */

/** What `helaseid version`, `/status` and `helaseid_build_info` report. */
export interface BuildInfo {
  /** Semantic version without the tag's `v`, e.g. `0.2.0`; `-dev` marks an unreleased build. */
  readonly version: string;
  /** Full or abbreviated git commit the build was made from, or `unknown`. */
  readonly commit: string;
}

/** This build's version and commit. */
export const BUILD_INFO: BuildInfo = {
  version: "0.1.0-dev",
  commit: "unknown",
};
