/**
 * What the release and CI workflows promise, read from the YAML (GitHub runs them; this machine
 * cannot): the order of the release's steps, the stamped tree reaching the binaries and the
 * image, both platforms, signing only where asked, and CI running `.ci/run`. The release-notes
 * step runs here for real, on CHANGELOG.md. actionlint checks the rest (lint_test.ts).
 */

import assert from "node:assert/strict";
import { parse } from "yaml";

const ROOT = new URL("../../", import.meta.url).pathname;
const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  version: string;
  tasks: Record<string, string>;
};
const ciVersion = /^DENO_VERSION=(\S+)$/m.exec(await Deno.readTextFile(`${ROOT}.ci/run`))?.[1];

// deno-lint-ignore no-explicit-any
type Obj = any;

interface Step {
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, string>;
}

async function workflow(name: string): Promise<Obj> {
  return parse(await Deno.readTextFile(`${ROOT}.github/workflows/${name}`));
}

const release = await workflow("release.yml");
const ci = await workflow("ci.yml");

function steps(job: string): Step[] {
  const found = release.jobs[job]?.steps;
  assert.ok(Array.isArray(found), `release.yml has a job '${job}'`);
  return found;
}

/** The index of the first step whose `run` or `uses` matches, failing when there is none. */
function stepIndex(list: readonly Step[], pattern: RegExp): number {
  const index = list.findIndex((s) => pattern.test(s.run ?? "") || pattern.test(s.uses ?? ""));
  assert.ok(index >= 0, `a step matching ${pattern}`);
  return index;
}

Deno.test("release.yml: a v* tag runs checks, unit tests, stamp, compile:all, package, in order", () => {
  assert.deepEqual(release.on, { push: { tags: ["v*"] } });
  assert.equal(release.env.DENO_VERSION, ciVersion, "the Deno of .ci/run");
  const binaries = steps("binaries");
  const order = [
    /^deno task check$/,
    /^deno task test:unit$/,
    /^deno task stamp --release --version "\$GITHUB_REF_NAME" --commit "\$GITHUB_SHA"$/,
    /^deno task compile:all$/,
    /^out=\$\(dist\/helaseid-linux-x86_64 version\)\n.*\n\[\[ \$out == "helaseid \$\{VERSION\} \("\* \]\]/,
    /^SOURCE_DATE_EPOCH="\$\(git log -1 --format=%ct\)" deno task package "\$VERSION"$/,
    /^sha256sum --strict -c SHA256SUMS$/,
    /^actions\/upload-artifact@/,
  ].map((pattern) => stepIndex(binaries, pattern));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), "steps in this order");
  const setup = binaries[stepIndex(binaries, /^denoland\/setup-deno@/)]!;
  assert.equal(setup.with?.["deno-version"], "${{ env.DENO_VERSION }}");
  assert.ok(denoJson.tasks.stamp?.includes("release/stamp.ts"));
  assert.ok(denoJson.tasks.package?.includes("release/package.ts"));
});

Deno.test("release.yml: the image is built per platform from the stamped tree, then joined", () => {
  const image = release.jobs.image;
  assert.deepEqual(
    image.strategy.matrix.include.map((m: Obj) => m.platform),
    ["linux/amd64", "linux/arm64"],
  );
  const list = steps("image");
  const stamp = stepIndex(list, /^deno task stamp --release /);
  const build = stepIndex(list, /^docker\/build-push-action@/);
  assert.ok(stamp < build, "stamped before the build");
  const buildStep = list[build]!;
  assert.equal(buildStep.with?.context, ".", "the stamped working tree, not a Git context");
  assert.equal(buildStep.with?.platforms, "${{ matrix.platform }}");
  assert.match(String(buildStep.with?.outputs), /push-by-digest=true/);
  assert.ok(stepIndex(list, /^out=\$\(docker run --rm "\$IMAGE@\$DIGEST" version\)/) > build);

  const manifest = steps("image-manifest");
  const meta = manifest[stepIndex(manifest, /^docker\/metadata-action@/)]!;
  assert.match(String(meta.with?.tags), /type=semver,pattern=\{\{version\}\}/);
  assert.ok(stepIndex(manifest, /docker buildx imagetools create/) >= 0);
  assert.deepEqual(release.jobs["github-release"].needs, ["binaries", "image-manifest"]);
});

Deno.test("release.yml: signing is keyless and runs only when SIGN_RELEASES is 'true'", () => {
  for (
    const [job, pattern] of [
      ["image-manifest", /^cosign sign --yes "\$IMAGE@\$DIGEST"$/],
      [
        "github-release",
        /^cosign sign-blob --yes --bundle .*SHA256SUMS\.sigstore\.json .*SHA256SUMS$/,
      ],
    ] as const
  ) {
    const list = steps(job);
    const sign = list[stepIndex(list, pattern)]!;
    assert.equal(sign.if, "vars.SIGN_RELEASES == 'true'", `${job}: optional`);
    assert.equal(release.jobs[job].permissions["id-token"], "write", `${job}: OIDC identity`);
  }
  // No other job may mint an identity token, and the default is read-only.
  assert.deepEqual(release.permissions, { contents: "read" });
  for (const [name, job] of Object.entries<Obj>(release.jobs)) {
    if (["image-manifest", "github-release"].includes(name)) continue;
    assert.equal(job.permissions?.["id-token"], undefined, `${name}: no id-token`);
  }
  const publish = steps("github-release").find((s) => s.run?.includes("gh release create"));
  assert.match(publish?.run ?? "", /--verify-tag/);
  // The archives, install.sh and SHA256SUMS (deno task package puts them all there).
  assert.match(publish?.run ?? "", /--notes-file notes\.md dist\/release\/\*$/m);
});

Deno.test("release.yml: the notes step takes deno.json's version's section of CHANGELOG.md", async () => {
  const notes = steps("github-release").find((s) => s.name === "release notes from CHANGELOG.md");
  assert.ok(notes?.run, "a release notes step");
  const dir = await Deno.makeTempDir({ prefix: "helaseid-notes-" });
  try {
    await Deno.copyFile(`${ROOT}CHANGELOG.md`, `${dir}/CHANGELOG.md`);
    const runNotes = async (version: string) => {
      const out = await new Deno.Command("bash", {
        args: ["-e", "-c", notes.run!],
        cwd: dir,
        env: { VERSION: version },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    const ok = await runNotes(denoJson.version);
    assert.equal(ok.code, 0, ok.stderr);
    const text = await Deno.readTextFile(`${dir}/notes.md`);
    const changelog = await Deno.readTextFile(`${ROOT}CHANGELOG.md`);
    const start = changelog.indexOf(`## [${denoJson.version}]`);
    assert.ok(start > 0);
    assert.ok(text.trim().length > 0 && changelog.includes(text.trim()), "a part of the changelog");
    assert.doesNotMatch(text, /^## /m, "one version's section only");
    assert.doesNotMatch(text, /\[Unreleased\]/);

    const missing = await runNotes("9.9.9");
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "CHANGELOG.md has no section '## [9.9.9]'\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CHANGELOG.md: Keep a Changelog, Unreleased first, deno.json's version released", async () => {
  const text = await Deno.readTextFile(`${ROOT}CHANGELOG.md`);
  const versions = [...text.matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$/gm)];
  assert.equal(versions[0]?.[1], "Unreleased");
  assert.ok(
    versions.some((v) => v[1] === denoJson.version && v[2]),
    `a dated section '## [${denoJson.version}] - YYYY-MM-DD'`,
  );
  for (const [, version] of versions) {
    assert.match(text, new RegExp(`^\\[${version!.replaceAll(".", "\\.")}\\]: https://`, "m"));
  }
  for (const heading of text.matchAll(/^### (.*)$/gm)) {
    assert.ok(
      ["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"].includes(heading[1]!),
      `'### ${heading[1]}' is a Keep a Changelog type`,
    );
  }
});

Deno.test("ci.yml: pull requests run .ci/run with the same Deno", () => {
  assert.ok("pull_request" in ci.on, "on pull_request");
  const list: Step[] = ci.jobs.test.steps;
  assert.equal(
    list.find((s) => s.uses?.startsWith("denoland/setup-deno@"))?.with?.["deno-version"],
    ciVersion,
  );
  assert.ok(list.some((s) => s.run === "bash .ci/run"), "runs .ci/run");
  assert.deepEqual(ci.permissions, { contents: "read" });
  assert.ok(ci.jobs.test["timeout-minutes"] <= 90, "within CI's 90 minutes");
});

Deno.test("Dockerfile: the image's binary is compiled from the (stamped) src/build_info.ts", async () => {
  const dockerfile = await Deno.readTextFile(`${ROOT}Dockerfile`);
  const build = dockerfile.slice(0, dockerfile.indexOf("\nFROM ", dockerfile.indexOf("FROM ") + 1));
  assert.match(build, /^COPY src\/ \.\/src\/$/m, "the build stage copies src/");
  assert.match(build, /deno compile [^\n]*\\?\n?[\s\S]*main\.ts[\s\S]*&& \/out\/helaseid version/);
  const ignore = (await Deno.readTextFile(`${ROOT}.dockerignore`)).split("\n").map((l) => l.trim());
  assert.ok(ignore.includes("!src/"), ".dockerignore lets src/ into the context");
  await Deno.stat(`${ROOT}src/build_info.ts`);
  const main = await Deno.readTextFile(`${ROOT}main.ts`);
  assert.match(main, /^import \{ BUILD_INFO \} from "\.\/src\/build_info\.ts";$/m);
  assert.doesNotMatch(main, /deno\.json/, "the version is not read from deno.json");
});

Deno.test("release version: every file naming the released version names deno.json's", async () => {
  const version = denoJson.version;
  const mentions: [string, RegExp][] = [
    ["Dockerfile", /org\.opencontainers\.image\.version="([^"]+)"/g],
    ["Dockerfile", /ghcr\.io\/helaseid\/helaseid:([0-9][^\s]*)/g],
    ["manifests/deployment.yaml", /ghcr\.io\/helaseid\/helaseid:([0-9][^\s]*)/g],
    ["charts/helaseid/Chart.yaml", /^appVersion: "?([^"\s]+)"?$/gm],
    ["README.md", /ghcr\.io\/helaseid\/helaseid:([0-9][^\s`]*)/g],
    ["README.md", /releases\/download\/v([0-9][^/\s]*)\//g],
    ["README.md", /install\.sh \| sh -s -- --version ([^\s]+)/g],
    ["README.md", /^v=([0-9][^\s]*) /gm],
    ["install.sh", /releases\/download\/v([0-9][^/\s]*)\//g],
    ["install.sh", /--version ([0-9][^\s]*)$/gm],
  ];
  for (const [file, pattern] of mentions) {
    const found = [...(await Deno.readTextFile(`${ROOT}${file}`)).matchAll(pattern)];
    assert.ok(found.length > 0, `${file} names the version (${pattern})`);
    for (const match of found) {
      assert.equal(match[1], version, `${file}: '${match[0]}' (bump it with deno.json)`);
    }
  }
});

Deno.test("workflows: actions pinned to a release, checkouts keep no token", () => {
  for (const [file, doc] of [["release.yml", release], ["ci.yml", ci]] as const) {
    for (const [name, job] of Object.entries<Obj>(doc.jobs)) {
      for (const step of job.steps as Step[]) {
        if (!step.uses) continue;
        assert.match(step.uses, /^[\w.-]+\/[\w.-]+@v\d+(\.\d+)*$/, `${file} ${name}: ${step.uses}`);
        if (step.uses.startsWith("actions/checkout@")) {
          assert.equal(step.with?.["persist-credentials"], false, `${file} ${name}: checkout`);
        }
      }
    }
  }
});
