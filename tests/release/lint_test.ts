/**
 * The release tooling's linters as tests: actionlint (built from its Go module by
 * tests/tools/build.sh; tests/netns.sh builds it while the network is there) on
 * .github/workflows, with shellcheck on their `run:` scripts, and shellcheck on every shell
 * script of the repository. A missing tool fails the test with how to get it.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const decoder = new TextDecoder();

interface Output {
  readonly code: number;
  readonly output: string;
}

async function run(command: string, args: readonly string[]): Promise<Output> {
  const out = await new Deno.Command(command, {
    args: [...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/** shellcheck's path; fails the test naming the package when it is missing. */
async function shellcheck(): Promise<string> {
  const found = await run("sh", ["-c", "command -v shellcheck"]);
  assert.equal(
    found.code,
    0,
    "shellcheck is missing: apt-get install shellcheck (.ci/run installs it, see README)",
  );
  return found.output.trim();
}

/** actionlint's path: HELASEID_TOOLS (set by tests/netns.sh), else tests/tools/build.sh. */
async function actionlint(): Promise<string> {
  let dir = Deno.env.get("HELASEID_TOOLS");
  if (!dir) {
    const built = await new Deno.Command("bash", {
      args: [`${ROOT}tests/tools/build.sh`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(
      built.success,
      `tests/tools/build.sh could not build actionlint (needs Go, or HELASEID_ACTIONLINT):\n${
        decoder.decode(built.stderr)
      }`,
    );
    dir = decoder.decode(built.stdout).trim();
  }
  return `${dir}/actionlint`;
}

/** Every shell script of the repository: *.sh and .ci/run, outside dist/ and .git/. */
function shellScripts(): string[] {
  const found: string[] = [".ci/run"];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(`${ROOT}${dir}`)) {
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory && ![".git", "dist", "node_modules", ".test-results"].includes(path)) {
        walk(path);
      } else if (entry.isFile && entry.name.endsWith(".sh")) {
        found.push(path);
      }
    }
  };
  walk("");
  return found.sort();
}

Deno.test("lint: actionlint finds nothing in .github/workflows (shellcheck on run: scripts)", async () => {
  const workflows = [...Deno.readDirSync(`${ROOT}.github/workflows`)]
    .filter((e) => /\.ya?ml$/.test(e.name)).map((e) => `.github/workflows/${e.name}`).sort();
  assert.deepEqual(workflows, [".github/workflows/ci.yml", ".github/workflows/release.yml"]);
  const result = await run(await actionlint(), [
    "-no-color",
    `-shellcheck=${await shellcheck()}`,
    "-pyflakes=",
    ...workflows,
  ]);
  assert.equal(result.output, "", "actionlint's findings");
  assert.equal(result.code, 0);
});

Deno.test("lint: actionlint reports a broken workflow and shellcheck's finding in it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-actionlint-" });
  try {
    const file = `${dir}/broken.yml`;
    await Deno.writeTextFile(
      file,
      [
        "on: push",
        "jobs:",
        "  build:",
        "    runs-on: ubuntu-24.04",
        "    steps:",
        "      - run: echo ${{ github.event.head_commit.message }}",
        "      - run: cp $SOURCE $TARGET",
        "      - uses: actions/checkout@v4",
        "        with:",
        "          fetch-depth: ${{ needs.nothing.outputs.x }}",
      ].join("\n") + "\n",
    );
    const result = await run(await actionlint(), [
      "-no-color",
      `-shellcheck=${await shellcheck()}`,
      "-pyflakes=",
      file,
    ]);
    assert.equal(result.code, 1, result.output);
    // Script injection, shellcheck's unquoted variable, an undefined job's output.
    assert.match(result.output, /"github\.event\.head_commit\.message" is potentially untrusted/);
    assert.match(result.output, /shellcheck reported issue in this script: SC2086/);
    assert.match(result.output, /property "nothing" is not defined/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lint: shellcheck finds nothing in the repository's shell scripts", async () => {
  const scripts = shellScripts();
  for (const expected of [".ci/run", "install.sh", "tests/netns.sh", "tests/tools/build.sh"]) {
    assert.ok(scripts.includes(expected), `${expected} is linted`);
  }
  const result = await run(await shellcheck(), ["--format=gcc", ...scripts]);
  assert.equal(result.output, "", "shellcheck's findings");
  assert.equal(result.code, 0);
  // install.sh is POSIX sh (its shebang): shellcheck checks it as such, not as bash.
  const posix = await run(await shellcheck(), ["--shell=sh", "--format=gcc", "install.sh"]);
  assert.equal(posix.output, "");
  assert.match(await Deno.readTextFile(`${ROOT}install.sh`), /^#!\/bin\/sh\n/);
});
