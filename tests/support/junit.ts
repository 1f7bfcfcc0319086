/**
 * Reads the counts out of a `deno test --junit-path` report, for the plain
 * `N passed, N failed, N skipped` line CI recognises, and the names of the skipped tests, so
 * that a test which skips itself cannot pass CI unnoticed.
 *
 * Usage as a script: deno run --allow-read tests/support/junit.ts REPORT.xml
 *
 * @module
 */

/** Test counts of a JUnit report. */
export interface JunitSummary {
  readonly passed: number;
  readonly failed: number;
  /** `file > test name` of each skipped test case (`ignore: true` or a skipped step). */
  readonly skipped: readonly string[];
}

/** Counts the test cases of a JUnit report: failed ones have a `<failure>` or `<error>`. */
export function parseJunit(xml: string): JunitSummary {
  let passed = 0;
  let failed = 0;
  const skipped: string[] = [];
  // Each <testcase ...> is either self-closing or closed by </testcase>.
  const cases = xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g);
  for (const match of cases) {
    const body = match[3] ?? "";
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped.push(caseName(match[1] ?? ""));
    else passed++;
  }
  return { passed, failed, skipped };
}

/** Reads and parses a JUnit report file. */
export async function summarizeJunit(path: string): Promise<JunitSummary> {
  return parseJunit(await Deno.readTextFile(path));
}

/** Adds up summaries (of the reports of one CI run). */
export function addSummaries(summaries: readonly JunitSummary[]): JunitSummary {
  return {
    passed: summaries.reduce((sum, s) => sum + s.passed, 0),
    failed: summaries.reduce((sum, s) => sum + s.failed, 0),
    skipped: summaries.flatMap((s) => s.skipped),
  };
}

/** The line CI reads: `N passed, N failed`, then `, N skipped` when some were. */
export function summaryLine(summary: JunitSummary): string {
  const skipped = summary.skipped.length > 0 ? `, ${summary.skipped.length} skipped` : "";
  return `${summary.passed} passed, ${summary.failed} failed${skipped}`;
}

function caseName(attributes: string): string {
  const attribute = (name: string) =>
    unescapeXml(new RegExp(`\\b${name}="([^"]*)"`).exec(attributes)?.[1] ?? "");
  const file = attribute("classname").replace(/^\.\//, "");
  return file ? `${file} > ${attribute("name")}` : attribute("name");
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+);/g, (_, entity: string) => {
    const named: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };
    return named[entity] ?? String.fromCharCode(Number(entity.slice(1)));
  });
}

if (import.meta.main) {
  const path = Deno.args[0];
  if (!path) {
    console.error("usage: junit.ts REPORT.xml");
    Deno.exit(2);
  }
  const summary = await summarizeJunit(path);
  console.log(summaryLine(summary));
  for (const name of summary.skipped) console.log(`skipped: ${name}`);
  Deno.exit(summary.failed > 0 || summary.passed === 0 ? 1 : 0);
}
