/**
 * Reads the counts out of a `deno test --junit-path` report, for the plain
 * `N passed, N failed` line CI recognises.
 *
 * Usage as a script: deno run --allow-read tests/support/junit.ts REPORT.xml
 *
 * @module
 */

/** Test counts of a JUnit report. */
export interface JunitSummary {
  readonly passed: number;
  readonly failed: number;
  readonly ignored: number;
}

/** Counts the test cases of a JUnit report: failed ones have a `<failure>` or `<error>`. */
export function parseJunit(xml: string): JunitSummary {
  let passed = 0;
  let failed = 0;
  let ignored = 0;
  // Each <testcase ...> is either self-closing or closed by </testcase>.
  const cases = xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g);
  for (const match of cases) {
    const body = match[2] ?? "";
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) ignored++;
    else passed++;
  }
  return { passed, failed, ignored };
}

/** Reads and parses a JUnit report file. */
export async function summarizeJunit(path: string): Promise<JunitSummary> {
  return parseJunit(await Deno.readTextFile(path));
}

if (import.meta.main) {
  const path = Deno.args[0];
  if (!path) {
    console.error("usage: junit.ts REPORT.xml");
    Deno.exit(2);
  }
  const summary = await summarizeJunit(path);
  console.log(`${summary.passed} passed, ${summary.failed} failed`);
  Deno.exit(summary.failed > 0 || summary.passed === 0 ? 1 : 0);
}
