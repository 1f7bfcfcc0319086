/**
 * The status page at `/` in a real headless browser (Chromium from Debian) against the agent in
 * `--dry-run`: the DOM Chromium builds shows each target up or down as the agent judged it, the
 * page reloads itself and loads nothing from elsewhere, and a screenshot is taken. With
 * `HELASEID_UPDATE_SCREENSHOT=1` the screenshot replaces docs/status-page.png (README's picture).
 */

import assert from "node:assert/strict";
import { ROOT, startDryRunAgent } from "./_tools.ts";
import { untilValue } from "../support/wait.ts";

const UP = "192.0.2.71";
const DOWN = "192.0.2.72";
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The Chromium executable; fails naming the package when there is none. */
function chromiumPath(): string {
  const given = Deno.env.get("HELASEID_CHROMIUM");
  const candidates = given ? [given] : ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there: try the next one.
    }
  }
  throw new Error(
    `Chromium is missing (looked for ${candidates.join(", ")}): install the Debian package ` +
      "'chromium' (.ci/run does) or set HELASEID_CHROMIUM",
  );
}

/** Runs headless Chromium on `url` with `args`; returns stdout. */
async function chromium(url: string, args: string[]): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "helaseid-chromium-" });
  try {
    const out = await new Deno.Command(chromiumPath(), {
      args: [
        "--headless",
        // Root in a private namespace: Chromium's own sandbox needs user namespaces it lacks.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        ...args,
        url,
      ],
      env: { HOME: profile },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(90_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.ok(
      out.success,
      `chromium ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`,
    );
    return stdout;
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

/** `address:port → up|down|unknown` of the target rows in a DOM. */
function states(dom: string): Record<string, string> {
  const rows: Record<string, string> = {};
  for (const [tag] of dom.matchAll(/<tr [^>]*data-target="[^"]*"[^>]*>/g)) {
    const target = /data-target="([^"]*)"/.exec(tag)![1]!;
    rows[target] = /data-state="([^"]*)"/.exec(tag)![1]!;
  }
  return rows;
}

Deno.test("status page: Chromium shows each target up or down, and a screenshot", async () => {
  chromiumPath();
  await using bed = await startDryRunAgent({ [UP]: "accept", [DOWN]: "refuse" });
  const page = await bed.get("/");
  assert.equal(page.status, 200);
  // Self-contained: no script, no stylesheet or image from elsewhere.
  assert.doesNotMatch(page.body, /<script|<link|<img|src=|url\(/i);

  const dom = await chromium(`${bed.base}/`, ["--dump-dom"]);
  assert.deepEqual(states(dom), { [`${UP}:9092`]: "up", [`${DOWN}:9092`]: "down" });
  assert.match(dom, /<h2>datastream\/datastream-redpanda-api-dev<\/h2>/);
  assert.match(dom, /1 of 2 targets up/);
  assert.match(dom, /<meta http-equiv="refresh" content="\d+">/);
  // The down target's row names why (a refused connection).
  const downRow = dom.slice(dom.indexOf(`data-target="${DOWN}:9092"`)).split("</tr>")[0]!;
  assert.match(downRow, /refused/i);

  // The page follows the agent: the refused target comes back and the page shows it up.
  await bed.targets[1]!.setMode("accept");
  const after = await untilValue("the page showing both targets up", async () => {
    const next = states(await chromium(`${bed.base}/`, ["--dump-dom"]));
    return next[`${DOWN}:9092`] === "up" ? next : undefined;
  }, { timeoutMs: 60_000 });
  assert.deepEqual(after, { [`${UP}:9092`]: "up", [`${DOWN}:9092`]: "up" });
  await bed.targets[1]!.setMode("refuse");
  await untilValue("the refused target down again", async () => {
    const body = await bed.get("/status");
    const doc = JSON.parse(body.body);
    return doc.services[0].targets[1].status === "unhealthy" ? true : undefined;
  }, { timeoutMs: 60_000 });

  const dir = await Deno.makeTempDir({ prefix: "helaseid-screenshot-" });
  try {
    const shot = `${dir}/status-page.png`;
    await chromium(`${bed.base}/`, [`--screenshot=${shot}`, "--window-size=1100,260"]);
    const png = await Deno.readFile(shot);
    assert.deepEqual([...png.subarray(0, 8)], PNG_MAGIC, "a PNG");
    assert.ok(png.length > 5_000, `a picture with content (${png.length} bytes)`);
    if (Deno.env.get("HELASEID_UPDATE_SCREENSHOT") === "1") {
      await Deno.writeFile(`${ROOT}docs/status-page.png`, png);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
