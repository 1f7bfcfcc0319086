/**
 * install.sh against a release served from loopback: a release directory made by
 * release/package.ts from stand-in binaries (shell scripts that print their version), served by
 * Deno.serve on 127.0.0.1 in GitHub's layout (`/releases/download/vX/...`, and
 * `/releases/latest/download/...` redirecting there). `uname` is a stand-in too, so every platform
 * is tried on any machine. The installer runs under `sh` (dash on Debian: POSIX, no bash).
 */

import assert from "node:assert/strict";
import { packageRelease, packageTargets } from "../../release/package.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const INSTALLER = `${ROOT}install.sh`;
const tasks: Record<string, string> = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;

/** A served release tree and what was asked of it. */
interface ReleaseServer {
  readonly base: string;
  readonly requests: string[];
  /** Paths answered with other bytes than the file's (a corrupted download). */
  readonly corrupt: Set<string>;
  readonly dir: string;
  close(): Promise<void>;
}

/** Makes releases of `versions` (the last one is "latest") and serves them on 127.0.0.1. */
async function serveReleases(versions: readonly string[]): Promise<ReleaseServer> {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-install-" });
  const site = `${dir}/site/releases`;
  for (const version of versions) {
    for (const target of packageTargets(tasks)) {
      const binary = `${dir}/repo/${target.binary}`;
      await Deno.mkdir(binary.slice(0, binary.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(
        binary,
        `#!/bin/sh\necho "helaseid ${version} (stand-in ${target.os}-${target.arch})"\n`,
      );
    }
    await packageRelease(version, {
      root: `${dir}/repo/`,
      tasks,
      out: `${site}/download/v${version}`,
    });
  }
  const latest = versions.at(-1)!;

  const requests: string[] = [];
  const corrupt = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    // As GitHub does: latest/download/FILE redirects to the latest release's download/vX/FILE.
    const file = /^\/releases\/latest\/download\/([^/]+)$/.exec(path)?.[1];
    if (file) {
      return Response.redirect(new URL(`/releases/download/v${latest}/${file}`, req.url), 302);
    }
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = await Deno.readFile(`${dir}/site${path}`);
    } catch {
      return new Response("Not Found", { status: 404 });
    }
    if (corrupt.has(path)) body[Math.floor(body.length / 2)]! ^= 0xff;
    return new Response(body);
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}/releases`,
    requests,
    corrupt,
    dir,
    close: async () => {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A `uname` answering `-s` and `-m` as FAKE_UNAME_S and FAKE_UNAME_M say. */
const FAKE_UNAME = `#!/bin/sh
case "$1" in
  -s) echo "\${FAKE_UNAME_S:-Linux}" ;;
  -m) echo "\${FAKE_UNAME_M:-x86_64}" ;;
  *) echo "fake uname: unexpected '$1'" >&2; exit 1 ;;
esac
`;

/** Runs `sh install.sh args` with a stand-in uname first in PATH and a private HOME. */
async function install(
  server: ReleaseServer,
  args: readonly string[],
  options: { uname?: [string, string]; path?: string; unprivileged?: boolean } = {},
): Promise<Run> {
  const bin = `${server.dir}/fakebin`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.writeTextFile(`${bin}/uname`, FAKE_UNAME, { mode: 0o755 });
  const [os, arch] = options.uname ?? ["Linux", "x86_64"];
  // An unprivileged run: as we are, when we may not write /usr/local/bin (a user, or root mapped
  // in a user namespace); as user and group 65534 (nobody) when we may (root).
  const drop = options.unprivileged && await mayWrite("/usr/local/bin")
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    : [];
  const out = await new Deno.Command(drop[0] ?? "/bin/sh", {
    args: [...drop.slice(1), ...(drop.length > 0 ? ["/bin/sh"] : []), INSTALLER, ...args],
    clearEnv: true,
    env: {
      PATH: `${bin}:${options.path ?? Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      HOME: `${server.dir}/home`,
      HELASEID_BASE_URL: server.base,
      FAKE_UNAME_S: os,
      FAKE_UNAME_M: arch,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function mayWrite(dir: string): Promise<boolean> {
  return (await new Deno.Command("sh", { args: ["-c", 'test -w "$1"', "sh", dir] }).output())
    .success;
}

async function runInstalled(path: string): Promise<string> {
  const out = await new Deno.Command(path, { args: ["version"], stdout: "piped" }).output();
  assert.ok(out.success, `${path} version`);
  return new TextDecoder().decode(out.stdout);
}

async function sumOf(server: ReleaseServer, version: string, archive: string): Promise<string> {
  const sums = await Deno.readTextFile(
    `${server.dir}/site/releases/download/v${version}/SHA256SUMS`,
  );
  const line = sums.split("\n").find((l) => l.endsWith(`  ${archive}`));
  assert.ok(line, `SHA256SUMS lists ${archive}`);
  return line.split(" ")[0]!;
}

Deno.test("install.sh: the latest release, verified, installed executable into --dir", async () => {
  const server = await serveReleases(["0.1.0", "0.2.0"]);
  try {
    const dir = `${server.dir}/bin`;
    const run = await install(server, ["--dir", dir]);
    assert.equal(run.code, 0, run.stderr);
    const archive = "helaseid-0.2.0-linux-x86_64.tar.gz";
    assert.deepEqual(server.requests, [
      "/releases/latest/download/SHA256SUMS",
      "/releases/download/v0.2.0/SHA256SUMS",
      `/releases/download/v0.2.0/${archive}`,
    ]);
    assert.match(run.stderr, new RegExp(`^verified ${archive} \\(sha256 [0-9a-f]{64}\\)$`, "m"));
    assert.equal((await Deno.stat(`${dir}/helaseid`)).mode! & 0o777, 0o755);
    assert.equal(await runInstalled(`${dir}/helaseid`), "helaseid 0.2.0 (stand-in linux-x86_64)\n");
    // The installer runs it once to show what was installed.
    assert.equal(run.stdout, "helaseid 0.2.0 (stand-in linux-x86_64)\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["helaseid"]);
  } finally {
    await server.close();
  }
});

Deno.test("install.sh: a pinned version for each OS and architecture name uname gives", async () => {
  const server = await serveReleases(["0.1.0", "0.2.0"]);
  try {
    const cases: [string, string, string][] = [
      ["Linux", "x86_64", "linux-x86_64"],
      ["Linux", "amd64", "linux-x86_64"],
      ["Linux", "aarch64", "linux-aarch64"],
      ["Linux", "arm64", "linux-aarch64"],
      ["Darwin", "x86_64", "macos-x86_64"],
      ["Darwin", "arm64", "macos-aarch64"],
    ];
    for (const [os, arch, platform] of cases) {
      const dir = `${server.dir}/bin-${os}-${arch}`;
      server.requests.length = 0;
      const run = await install(server, ["--version", "v0.1.0", `--dir=${dir}`], {
        uname: [os, arch],
      });
      assert.equal(run.code, 0, `${os} ${arch}: ${run.stderr}`);
      assert.deepEqual(server.requests, [
        "/releases/download/v0.1.0/SHA256SUMS",
        `/releases/download/v0.1.0/helaseid-0.1.0-${platform}.tar.gz`,
      ]);
      assert.equal(
        await runInstalled(`${dir}/helaseid`),
        `helaseid 0.1.0 (stand-in ${platform})\n`,
      );
    }
  } finally {
    await server.close();
  }
});

Deno.test("install.sh: a corrupted archive is refused and the installed binary kept", async () => {
  const server = await serveReleases(["0.2.0"]);
  try {
    const dir = `${server.dir}/bin`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/helaseid`, "#!/bin/sh\necho old\n", { mode: 0o755 });
    const archive = "helaseid-0.2.0-linux-x86_64.tar.gz";
    server.corrupt.add(`/releases/download/v0.2.0/${archive}`);
    const run = await install(server, ["--version", "0.2.0", "--dir", dir]);
    assert.equal(run.code, 1);
    const expected = await sumOf(server, "0.2.0", archive);
    assert.match(
      run.stderr,
      new RegExp(
        `^install\\.sh: checksum mismatch for ${archive}: SHA256SUMS says ${expected}, ` +
          "the download is [0-9a-f]{64}; refusing to install",
        "m",
      ),
    );
    assert.doesNotMatch(run.stderr, /^verified/m);
    assert.equal(await Deno.readTextFile(`${dir}/helaseid`), "#!/bin/sh\necho old\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["helaseid"]);
  } finally {
    await server.close();
  }
});

Deno.test("install.sh: a missing release, archive or checksum entry is a clear error", async () => {
  const server = await serveReleases(["0.2.0"]);
  try {
    const dir = `${server.dir}/bin`;
    const unreleased = await install(server, ["--version", "9.9.9", "--dir", dir]);
    assert.equal(unreleased.code, 1);
    assert.match(
      unreleased.stderr,
      new RegExp(
        `^install\\.sh: cannot download '${server.base}/download/v9\\.9\\.9/SHA256SUMS' ` +
          `\\(is version '9\\.9\\.9' released for linux-x86_64\\?\\)$`,
        "m",
      ),
    );

    const release = `${server.dir}/site/releases/download/v0.2.0`;
    await Deno.remove(`${release}/helaseid-0.2.0-linux-aarch64.tar.gz`);
    const noArchive = await install(server, ["--version", "0.2.0", "--dir", dir], {
      uname: ["Linux", "aarch64"],
    });
    assert.equal(noArchive.code, 1);
    assert.match(
      noArchive.stderr,
      /^install\.sh: cannot download '.*\/download\/v0\.2\.0\/helaseid-0\.2\.0-linux-aarch64\.tar\.gz'/m,
    );

    const sums = await Deno.readTextFile(`${release}/SHA256SUMS`);
    await Deno.writeTextFile(
      `${release}/SHA256SUMS`,
      sums.split("\n").filter((line) => !line.includes("macos-x86_64")).join("\n"),
    );
    const noEntry = await install(server, ["--version", "0.2.0", "--dir", dir], {
      uname: ["Darwin", "x86_64"],
    });
    assert.equal(noEntry.code, 1);
    assert.match(
      noEntry.stderr,
      /^install\.sh: SHA256SUMS of 0\.2\.0 has no entry for helaseid-0\.2\.0-macos-x86_64\.tar\.gz$/m,
    );
    const latest = await install(server, ["--dir", dir], { uname: ["Darwin", "x86_64"] });
    assert.equal(latest.code, 1);
    assert.match(latest.stderr, /latest release's SHA256SUMS lists no archive for macos-x86_64$/m);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "nothing installed");
  } finally {
    await server.close();
  }
});

Deno.test("install.sh: an unknown architecture or OS is refused before any download", async () => {
  const server = await serveReleases(["0.2.0"]);
  try {
    const arch = await install(server, ["--dir", `${server.dir}/bin`], {
      uname: ["Linux", "riscv64"],
    });
    assert.equal(arch.code, 1);
    assert.equal(
      arch.stderr,
      "install.sh: unsupported architecture 'riscv64': releases exist for x86_64 (amd64) and " +
        "aarch64 (arm64)\n",
    );
    const os = await install(server, ["--dir", `${server.dir}/bin`], {
      uname: ["FreeBSD", "amd64"],
    });
    assert.equal(os.code, 1);
    assert.match(os.stderr, /^install\.sh: unsupported operating system 'FreeBSD': releases exist/);
    assert.deepEqual(server.requests, []);
  } finally {
    await server.close();
  }
});

/** Where `tool` is on this machine's PATH; fails the test when it is not. */
async function toolPath(tool: string): Promise<string> {
  const which = await new Deno.Command("sh", {
    args: ["-c", `command -v ${tool}`],
    stdout: "piped",
  })
    .output();
  assert.ok(which.success, `'${tool}' is needed for this test`);
  return new TextDecoder().decode(which.stdout).trim();
}

Deno.test("install.sh: shasum where sha256sum is missing, wget where curl is", async () => {
  const server = await serveReleases(["0.2.0"]);
  try {
    // A PATH holding only what the installer uses, shasum instead of sha256sum.
    const tools = `${server.dir}/tools`;
    await Deno.mkdir(tools);
    const needed = [
      "curl",
      "tar",
      "gzip",
      "shasum",
      "mktemp",
      "rm",
      "sed",
      "head",
      "awk",
      "mkdir",
      "cp",
      "chmod",
      "mv",
      "cut",
      "cat",
    ];
    for (const tool of needed) await Deno.symlink(await toolPath(tool), `${tools}/${tool}`);
    const dir = `${server.dir}/bin`;
    const run = await install(server, ["--version", "0.2.0", "--dir", dir], { path: tools });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^verified helaseid-0\.2\.0-linux-x86_64\.tar\.gz/m);

    // wget instead of curl, and the latest release through its redirect.
    await Deno.remove(`${tools}/curl`);
    await Deno.symlink(await toolPath("wget"), `${tools}/wget`);
    await Deno.remove(dir, { recursive: true });
    const wget = await install(server, ["--dir", dir], { path: tools });
    assert.equal(wget.code, 0, wget.stderr);
    assert.equal(await runInstalled(`${dir}/helaseid`), "helaseid 0.2.0 (stand-in linux-x86_64)\n");

    server.corrupt.add("/releases/download/v0.2.0/helaseid-0.2.0-linux-x86_64.tar.gz");
    const corrupted = await install(server, ["--version", "0.2.0", "--dir", dir], { path: tools });
    assert.equal(corrupted.code, 1);
    assert.match(corrupted.stderr, /checksum mismatch .* refusing to install/);
  } finally {
    await server.close();
  }
});

Deno.test("install.sh: --help, an unknown flag, and what is not a version", async () => {
  const server = await serveReleases(["0.2.0"]);
  try {
    const help = await install(server, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: install\.sh \[--version VERSION\] \[--dir DIR\]/);
    for (const word of ["HELASEID_BASE_URL", "HELASEID_VERSION", "HELASEID_INSTALL_DIR"]) {
      assert.ok(help.stdout.includes(word), word);
    }
    const bad = await install(server, ["--prefix", "/opt"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^install\.sh: unknown argument '--prefix'$/m);
    for (const version of ["latest", "0.2.0/../../etc", "0.2"]) {
      const refused = await install(server, ["--version", version]);
      assert.equal(refused.code, 1, version);
      assert.equal(refused.stderr, `install.sh: '${version}' is not a version such as 0.2.0\n`);
    }
    assert.deepEqual(server.requests, []);
  } finally {
    await server.close();
  }
});

Deno.test("install.sh: without --dir a user who cannot write /usr/local/bin gets ~/.local/bin", async () => {
  const server = await serveReleases(["0.2.0"]);
  try {
    // The unprivileged user must reach the stand-in uname and its own HOME.
    await Deno.chmod(server.dir, 0o755);
    await Deno.mkdir(`${server.dir}/home`, { mode: 0o777 });
    await Deno.chmod(`${server.dir}/home`, 0o777);
    const run = await install(server, ["--version", "0.2.0"], { unprivileged: true });
    assert.equal(run.code, 0, run.stderr);
    const installed = `${server.dir}/home/.local/bin/helaseid`;
    assert.equal(await runInstalled(installed), "helaseid 0.2.0 (stand-in linux-x86_64)\n");
    assert.match(run.stderr, new RegExp(`^installed ${installed}$`, "m"));
    assert.match(run.stderr, /^note: .*\/home\/\.local\/bin is not in PATH; add it/m);

    // A directory it may not write is refused before anything is downloaded.
    server.requests.length = 0;
    const refused = await install(server, ["--version", "0.2.0", "--dir", "/usr/local/bin"], {
      unprivileged: true,
    });
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      "install.sh: warning: '" + server.base + "' is not https: the checksum then only guards " +
        "against corruption\n" +
        "install.sh: cannot write to '/usr/local/bin': choose another with --dir, or run as a " +
        "user who may (e.g. with sudo)\n",
    );
    assert.deepEqual(server.requests, []);
  } finally {
    await server.close();
  }
});
