import assert from "node:assert/strict";
import { addSummaries, parseJunit, summaryLine } from "./junit.ts";

/** What `deno test --junit-path` writes for a pass, an ignored test, steps and a failure. */
const REPORT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="6" failures="1" errors="0" time="0.008">
    <testsuite name="./t_test.ts" tests="6" disabled="2" errors="0" failures="1">
        <testcase name="a" classname="./t_test.ts" time="0.000" line="1" col="6">
        </testcase>
        <testcase name="b &lt;skipped&gt;" classname="./t_test.ts" time="0.000" line="2" col="6">
            <skipped/>
        </testcase>
        <testcase name="c" classname="./t_test.ts" time="0.001" line="3" col="6">
        </testcase>
        <testcase name="d fail" classname="./t_test.ts" time="0.000" line="4" col="6">
            <failure message="Uncaught Error: x &lt;y&gt;">Error: x &lt;y&gt;</failure>
        </testcase>
        <testcase name="c &gt; s1" classname="./t_test.ts" time="0.000" line="3" col="39">
            <skipped/>
        </testcase>
        <testcase name="c &gt; s2" classname="./t_test.ts" time="0.000" line="3" col="90">
        </testcase>
    </testsuite>
</testsuites>
`;

Deno.test("junit: counts passed and failed cases and names the skipped ones", () => {
  assert.deepEqual(parseJunit(REPORT), {
    passed: 3,
    failed: 1,
    skipped: ["t_test.ts > b <skipped>", "t_test.ts > c > s1"],
  });
});

Deno.test("junit: the CI line adds ', N skipped' only when some were", () => {
  const one = parseJunit(REPORT);
  assert.equal(summaryLine(one), "3 passed, 1 failed, 2 skipped");
  assert.equal(summaryLine({ passed: 5, failed: 0, skipped: [] }), "5 passed, 0 failed");
  assert.equal(summaryLine(addSummaries([one, one])), "6 passed, 2 failed, 4 skipped");
});
