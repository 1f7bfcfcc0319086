import assert from "node:assert/strict";
import { Secret } from "../../src/config/schema.ts";
import { parseRetryAfter, postJson, scrubUrls } from "../../src/notify/post.ts";
import { FakeClock } from "../support/fakes.ts";
import { ScriptedFetch, SIG, WORKFLOW_PATH } from "./_support.ts";

const URL_TEXT = `https://prod-42.westeurope.logic.azure.com:443${WORKFLOW_PATH}`;
const SECRET = new Secret(URL_TEXT);
const NOW = Date.UTC(2026, 10, 26, 10, 0, 0);

Deno.test("parseRetryAfter() reads delay-seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("3", NOW), 3000);
  assert.equal(parseRetryAfter(" 0 ", NOW), 0);
  assert.equal(parseRetryAfter("1.5", NOW), 1500);
  assert.equal(parseRetryAfter("Thu, 26 Nov 2026 10:00:05 GMT", NOW), 5000);
  assert.equal(parseRetryAfter("Thu, 26 Nov 2026 09:59:00 GMT", NOW), 0, "past: no wait");
  assert.equal(parseRetryAfter(null, NOW), undefined);
  assert.equal(parseRetryAfter("soon", NOW), undefined);
  assert.equal(parseRetryAfter("-1", NOW), undefined);
});

Deno.test("scrubUrls() removes the webhook URL, its path and query, and any other URL", () => {
  const text = `error sending request for url (${URL_TEXT}): connect error; ` +
    `path ${new URL(URL_TEXT).pathname}; query ${new URL(URL_TEXT).search}; sig=${SIG}; ` +
    `see https://aka.ms/x?y=1`;
  const clean = scrubUrls(text, SECRET);
  assert.ok(!clean.includes(SIG), clean);
  assert.ok(!clean.includes("workflows/0123456789abcdef"), clean);
  assert.ok(!clean.includes("aka.ms"), clean);
  assert.match(clean, /^error sending request for url \(<redacted>\): connect error/);
});

Deno.test("postJson() classifies answers: sent, retry with Retry-After, refused", async () => {
  const clock = new FakeClock(NOW);
  const fake = new ScriptedFetch(clock);
  fake.answer(
    { status: 202 },
    { status: 429, retryAfter: "7", body: "Too many requests" },
    { status: 503, retryAfter: "Thu, 26 Nov 2026 10:00:02 GMT" },
    { status: 500 },
    { status: 408 },
    { status: 400, body: `Bad card, URL was ${URL_TEXT}` },
    { status: 404 },
  );
  const post = () => postJson(SECRET, '{"a":1}', { fetch: fake.fetch, now: NOW });
  assert.deepEqual(await post(), { ok: true, status: 202 });
  assert.deepEqual(await post(), {
    ok: false,
    retry: true,
    status: 429,
    retryAfter: 7000,
    error: "HTTP 429: Too many requests",
  });
  assert.deepEqual(await post(), {
    ok: false,
    retry: true,
    status: 503,
    retryAfter: 2000,
    error: "HTTP 503",
  });
  assert.equal((await post() as { retry: boolean }).retry, true, "500");
  assert.equal((await post() as { retry: boolean }).retry, true, "408");
  const refused = await post();
  assert.equal(refused.ok, false);
  assert.equal((refused as { retry: boolean }).retry, false);
  assert.equal((refused as { error: string }).error, "HTTP 400: Bad card, URL was <redacted>");
  assert.equal((await post() as { retry: boolean }).retry, false, "404");
  assert.equal(fake.requests[0]?.body, '{"a":1}');
});

Deno.test("postJson() turns network errors into retries without the URL", async () => {
  const failing: typeof fetch = () =>
    Promise.reject(
      new TypeError("fetch failed", {
        cause: new Error(
          `error sending request for url (${URL_TEXT}): client error (Connect): tcp connect error`,
        ),
      }),
    );
  const outcome = await postJson(SECRET, "{}", { fetch: failing, now: NOW });
  assert.equal(outcome.ok, false);
  const { retry, error } = outcome as { retry: boolean; error: string };
  assert.equal(retry, true);
  assert.equal(
    error,
    "TypeError: fetch failed: error sending request for url (<redacted>): client error (Connect): tcp connect error",
  );
});

Deno.test("postJson() reports an aborted request by the abort's reason", async () => {
  const clock = new FakeClock(NOW);
  const fake = new ScriptedFetch(clock);
  fake.answer("hang");
  const controller = new AbortController();
  const pending = postJson(SECRET, "{}", {
    fetch: fake.fetch,
    now: NOW,
    signal: controller.signal,
  });
  controller.abort(new Error(`timed out posting to ${URL_TEXT}`));
  assert.deepEqual(await pending, {
    ok: false,
    retry: true,
    error: "timed out posting to <redacted>",
  });
});
