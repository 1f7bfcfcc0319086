/**
 * Version stamping and packaging (release/stamp.ts, release/package.ts): which version and commit
 * a build gets, that the stamped module stays formatted, that a bundle built after stamping
 * reports the stamped version in `helaseid version`, `/status` and `helaseid_build_info`, and
 * that the archives and SHA256SUMS are what install.sh and `sha256sum -c` expect. The bundle is
 * built in a temporary copy of the sources: the working tree is never modified.
 */

import assert from "node:assert/strict";
import { parse } from "yaml";
import { BUILD_INFO } from "../../src/build_info.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { statusDocument } from "../../src/observe/server.ts";
import { resolveBuildInfo, stampedSource, StampError } from "../../release/stamp.ts";
import {
  archiveName,
  checksumsText,
  PackageError,
  packageRelease,
  packageTargets,
} from "../../release/package.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  version: string;
  tasks: Record<string, string>;
};
const decoder = new TextDecoder();
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

async function command(
  program: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(program, {
    args: [...args],
    cwd: options.cwd ?? ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("stamp: the committed default is deno.json's version, -dev, commit unknown", () => {
  assert.deepEqual(BUILD_INFO, { version: `${denoJson.version}-dev`, commit: "unknown" });
});

Deno.test("stamp: given values win over git, git over the default; a v is dropped", () => {
  const packageVersion = "0.2.0";
  assert.deepEqual(
    resolveBuildInfo({ packageVersion, version: "v0.2.1", commit: "abcdef1", head: COMMIT }),
    { version: "0.2.1", commit: "abcdef1" },
  );
  assert.deepEqual(
    resolveBuildInfo({ packageVersion, describe: "v0.2.0-3-gabcdef1-dirty", head: COMMIT }),
    { version: "0.2.0-3-gabcdef1-dirty", commit: COMMIT },
  );
  assert.deepEqual(resolveBuildInfo({ packageVersion }), {
    version: "0.2.0-dev",
    commit: "unknown",
  });
});

Deno.test("stamp: refuses what is not a version or a commit, and a release not deno.json's", () => {
  const packageVersion = "0.2.0";
  const refused = (sources: Parameters<typeof resolveBuildInfo>[0], message: string) =>
    assert.throws(() => resolveBuildInfo(sources), (error: unknown) => {
      assert.ok(error instanceof StampError);
      assert.equal(error.message, message);
      return true;
    });
  refused(
    { packageVersion, version: 'v1"; evil()' },
    `Cannot stamp version '1"; evil()': not a semantic version such as 0.2.0`,
  );
  refused(
    { packageVersion, commit: "HEAD" },
    "Cannot stamp commit 'HEAD': not 7 to 40 lowercase hex digits",
  );
  refused(
    { packageVersion, release: true, version: "v0.3.0" },
    "Cannot release '0.3.0': deno.json's version is '0.2.0' (bump it, the Dockerfile label and " +
      "CHANGELOG.md in the release commit)",
  );
  refused({ packageVersion, release: true }, "Cannot stamp a release without --version");
  assert.deepEqual(
    resolveBuildInfo({ packageVersion, release: true, version: "v0.2.0-rc.1", commit: COMMIT }),
    { version: "0.2.0-rc.1", commit: COMMIT },
  );
});

Deno.test("stamp: the stamped module keeps its doc comments and is deno fmt clean", async () => {
  const source = await Deno.readTextFile(`${ROOT}src/build_info.ts`);
  const stamped = stampedSource(source, { version: "1.2.3-rc.1", commit: COMMIT });
  assert.equal(
    stamped.replace(/version: "[^"]*"/, 'version: "0.1.0-dev"').replace(
      /commit: "[^"]*"/,
      'commit: "unknown"',
    ),
    source,
    "only the two values change",
  );
  assert.match(stamped, /^ {2}version: "1\.2\.3-rc\.1",\n {2}commit: "0123456789abcdef/m);
  const dir = await Deno.makeTempDir({ prefix: "helaseid-stamp-" });
  try {
    await Deno.writeTextFile(`${dir}/build_info.ts`, stamped);
    const fmt = await command(Deno.execPath(), [
      "fmt",
      "--check",
      "--line-width=100",
      `${dir}/build_info.ts`,
    ]);
    assert.equal(fmt.code, 0, fmt.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(() => stampedSource("export const X = 1;\n", BUILD_INFO), StampError);
});

const STAMPED = `${denoJson.version}-rc.7`;

/** Stamps a copy of the sources with STAMPED and COMMIT, bundles it, and returns the copy. */
async function stampedBundle(): Promise<{ dir: string; run: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-stamped-" });
  const copy = await command("cp", [
    "-R",
    "main.ts",
    "deno.json",
    "deno.lock",
    "src",
    "release",
    dir,
  ]);
  assert.equal(copy.code, 0, copy.stderr);
  const env = { ...Deno.env.toObject(), DENO_NO_UPDATE_CHECK: "1" };
  const stamp = await command(
    Deno.execPath(),
    ["task", "stamp", "--release", "--version", `v${STAMPED}`, "--commit", COMMIT],
    { cwd: dir, env },
  );
  assert.equal(stamp.code, 0, stamp.stderr);
  assert.equal(stamp.stdout, `stamped src/build_info.ts: version ${STAMPED}, commit ${COMMIT}\n`);
  const bundle = await command(Deno.execPath(), ["task", "bundle"], { cwd: dir, env });
  assert.equal(bundle.code, 0, bundle.stderr);
  // Run as users run the bundle: no config, the compile task's permissions.
  const permissions = denoJson.tasks.compile!.split(/\s+/).filter((w) => w.startsWith("--allow-"));
  return {
    dir,
    run: ["run", "--no-config", "--no-prompt", ...permissions, `${dir}/dist/helaseid.js`],
  };
}

Deno.test("stamp: a bundle built after deno task stamp prints the stamped version", async () => {
  const before = await Deno.readTextFile(`${ROOT}src/build_info.ts`);
  const { dir, run } = await stampedBundle();
  try {
    const version = await command(Deno.execPath(), [...run, "version"], { cwd: dir });
    assert.equal(version.code, 0, version.stderr);
    assert.equal(
      version.stdout,
      `helaseid ${STAMPED} (deno ${Deno.version.deno}, ${Deno.build.target}, commit ${COMMIT})\n`,
    );

    // The release workflow's own check of the compiled binary, run on the bundle in its place.
    const release = parse(await Deno.readTextFile(`${ROOT}.github/workflows/release.yml`)) as {
      jobs: { binaries: { steps: { name?: string; run?: string }[] } };
    };
    const check = release.jobs.binaries.steps
      .find((step) => step.name === "the linux binary reports the stamped version")?.run;
    assert.ok(check, "release.yml checks the binary's version");
    const binary = `${dir}/dist/helaseid-linux-x86_64`;
    const quoted = [Deno.execPath(), ...run].map((word) => `'${word}'`).join(" ");
    await Deno.writeTextFile(binary, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
    const workflowCheck = (version: string) =>
      command("bash", ["-e", "-c", check], {
        cwd: dir,
        env: { ...Deno.env.toObject(), VERSION: version },
      });
    const passed = await workflowCheck(STAMPED);
    assert.equal(passed.code, 0, passed.stderr);
    assert.equal(passed.stdout, version.stdout);
    assert.equal(
      (await workflowCheck(`${denoJson.version}-rc.70`)).code,
      1,
      "another version fails",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(await Deno.readTextFile(`${ROOT}src/build_info.ts`), before, "tree unchanged");
});

Deno.test({
  name: "stamp: the stamped bundle's /status and helaseid_build_info show version and commit",
  // The dry-run agent checks its target (192.0.2.10, TEST-NET-1): only inside the test network
  // namespace (tests/netns.sh, deno task test), where no packet can leave the machine.
  ignore: Deno.env.get("HELASEID_TESTNET") !== "1",
  fn: async () => {
    const { dir, run } = await stampedBundle();
    try {
      const agent = new Deno.Command(Deno.execPath(), {
        args: [...run, "run", "--dry-run", "--listen", "127.0.0.1:0", "--log-format", "json"],
        cwd: dir,
        clearEnv: true,
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          DENO_NO_UPDATE_CHECK: "1",
          IPS: "192.0.2.10",
          PORT: "9092",
          SERVICE_NAME: "helaseid-stamp-test",
          NAMESPACE: "default",
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(agent.stderr).text();
      const stdout = agent.stdout.pipeThrough(new TextDecoderStream()).getReader();
      try {
        // The "starting" line names the port the agent took.
        let starting: Record<string, unknown> | undefined;
        let buffered = "";
        while (!starting) {
          const { value, done } = await stdout.read();
          if (done) break;
          buffered += value;
          const line = buffered.split("\n").find((l) => l.includes('"starting"'));
          if (line) starting = JSON.parse(line);
        }
        assert.ok(starting, `the agent logged 'starting':\n${buffered}`);
        assert.equal(starting.version, STAMPED);
        assert.equal(starting.commit, COMMIT);
        const listen = starting.listen as string;
        const status = await (await fetch(`http://${listen}/status`)).json();
        assert.equal(status.version, STAMPED);
        assert.equal(status.commit, COMMIT);
        const metrics = await (await fetch(`http://${listen}/metrics`)).text();
        const info = metrics.split("\n").filter((l) => l.startsWith("helaseid_build_info"));
        assert.deepEqual(info, [
          `helaseid_build_info{version="${STAMPED}",commit="${COMMIT}",deno="${Deno.version.deno}"} 1`,
        ]);
      } finally {
        agent.kill("SIGTERM");
        // Read to the end: the agent logs its shutdown, and a closed pipe would fail it.
        while (!(await stdout.read()).done);
        const code = (await agent.status).code;
        const log = await stderr;
        assert.equal(code, 0, log);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("package: one archive per compile target holding helaseid, and SHA256SUMS that verify", async () => {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-package-test-" });
  try {
    const targets = packageTargets(denoJson.tasks);
    assert.deepEqual(targets.map((t) => `${t.os}-${t.arch}`), [
      "linux-aarch64",
      "linux-x86_64",
      "macos-aarch64",
      "macos-x86_64",
    ]);
    await Deno.mkdir(`${dir}/dist`);
    for (const target of targets) {
      await Deno.writeTextFile(
        `${dir}/${target.binary}`,
        `binary of ${target.os}-${target.arch}\n`,
      );
    }
    await Deno.writeTextFile(`${dir}/install.sh`, "#!/bin/sh\n");
    const out = `${dir}/out`;
    const files = await packageRelease("0.3.0", {
      root: `${dir}/`,
      tasks: denoJson.tasks,
      out,
      extras: ["install.sh"],
    });
    const names = targets.map((t) => archiveName("0.3.0", t));
    assert.deepEqual(
      files,
      [...names, "install.sh", "SHA256SUMS"].map((name) => `${out}/${name}`),
    );
    assert.deepEqual(
      [...Deno.readDirSync(out)].map((e) => e.name).sort(),
      [...names, "install.sh", "SHA256SUMS"].sort(),
    );
    assert.equal(names[0], "helaseid-0.3.0-linux-aarch64.tar.gz");

    const verify = await command("sha256sum", ["--strict", "-c", "SHA256SUMS"], { cwd: out });
    assert.equal(verify.code, 0, verify.stderr);
    // Sorted by name, the installer among the archives: users verify it before running it.
    assert.equal(
      verify.stdout,
      [...names, "install.sh"].sort().map((name) => `${name}: OK\n`).join(""),
    );
    for (const target of targets) {
      const name = archiveName("0.3.0", target);
      const list = await command("tar", ["-tvzf", `${out}/${name}`]);
      assert.match(list.stdout, /^-rwxr-xr-x 0\/0 .* helaseid\n$/, name);
      const content = await command("tar", ["-xOzf", `${out}/${name}`, "helaseid"]);
      assert.equal(content.stdout, `binary of ${target.os}-${target.arch}\n`);
    }
    // With a fixed file time, the same binaries give the same archives, whatever their mtime.
    const sums = async (out: string) => {
      await packageRelease("0.3.0", { root: `${dir}/`, tasks: denoJson.tasks, out, mtime: 1e9 });
      return await Deno.readTextFile(`${out}/SHA256SUMS`);
    };
    const first = await sums(`${dir}/again-1`);
    for (const target of targets) await Deno.utime(`${dir}/${target.binary}`, 5, 5);
    assert.equal(await sums(`${dir}/again-2`), first);
    const listed = await command("tar", ["--utc", "-tvzf", `${dir}/again-2/${names[0]}`]);
    assert.match(listed.stdout, / 2001-09-09 01:46 helaseid\n$/);

    assert.equal(
      checksumsText(new Map([["b.tar.gz", "22"], ["a.tar.gz", "11"]])),
      "11  a.tar.gz\n22  b.tar.gz\n",
    );

    await Deno.remove(`${dir}/dist/helaseid-macos-x86_64`);
    await assert.rejects(
      packageRelease("0.3.0", { root: `${dir}/`, tasks: denoJson.tasks, out }),
      (error: unknown) => {
        assert.ok(error instanceof PackageError);
        assert.equal(
          error.message,
          "Cannot package: no dist/helaseid-macos-x86_64 (run deno task compile:all first)",
        );
        return true;
      },
    );
    await assert.rejects(
      packageRelease("latest", { root: `${dir}/`, tasks: denoJson.tasks, out }),
      /not a semantic version/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("package: deno task package runs with the task's own permissions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-package-task-" });
  try {
    const copy = await command("cp", [
      "-R",
      "deno.json",
      "deno.lock",
      "install.sh",
      "src",
      "release",
      dir,
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    await Deno.mkdir(`${dir}/dist`);
    for (const target of packageTargets(denoJson.tasks)) {
      await Deno.writeTextFile(`${dir}/${target.binary}`, `${target.os}-${target.arch}\n`);
    }
    const env = {
      ...Deno.env.toObject(),
      DENO_NO_UPDATE_CHECK: "1",
      SOURCE_DATE_EPOCH: "1000000000",
    };
    const packaged = await command(Deno.execPath(), ["task", "package", "v0.4.0"], {
      cwd: dir,
      env,
    });
    assert.equal(packaged.code, 0, packaged.stderr);
    assert.equal(packaged.stdout.trim().split("\n").at(-1), `${dir}/dist/release/SHA256SUMS`);
    const verify = await command("sha256sum", ["--strict", "-c", "SHA256SUMS"], {
      cwd: `${dir}/dist/release`,
    });
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^helaseid-0\.4\.0-linux-x86_64\.tar\.gz: OK$/m);
    assert.match(verify.stdout, /^install\.sh: OK$/m);
    assert.equal(
      await Deno.readTextFile(`${dir}/dist/release/install.sh`),
      await Deno.readTextFile(`${ROOT}install.sh`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build info: helaseid_build_info and /status carry version and commit", () => {
  const metrics = new Metrics({ version: "1.2.3", commit: "abcdef1", services: [] });
  const lines = metrics.render().split("\n").filter((l) => l.startsWith("helaseid_build_info"));
  assert.deepEqual(lines, [
    `helaseid_build_info{version="1.2.3",commit="abcdef1",deno="${Deno.version.deno}"} 1`,
  ]);
  const unknown = new Metrics({ version: "1.2.3", services: [] }).render();
  assert.match(unknown, /^helaseid_build_info\{version="1\.2\.3",commit="unknown",/m);
  const status = statusDocument([], { now: 0, version: "1.2.3", commit: "abcdef1" });
  assert.deepEqual(status, {
    time: "1970-01-01T00:00:00.000Z",
    version: "1.2.3",
    commit: "abcdef1",
    services: [],
  });
});
