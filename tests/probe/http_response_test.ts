import assert from "node:assert/strict";
import {
  decodeChunked,
  encodeRequest,
  MAX_HEAD_BYTES,
  parseBody,
  parseHead,
} from "../../src/probe/http_response.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("http request: Host, close and extra headers, a given Host replacing the default", () => {
  assert.equal(
    text(encodeRequest({ method: "GET", path: "/ready", host: "10.188.2.3:9644" })),
    "GET /ready HTTP/1.1\r\nHost: 10.188.2.3:9644\r\nUser-Agent: helaseid-probe\r\n" +
      "Accept: */*\r\nConnection: close\r\n\r\n",
  );
  assert.equal(
    text(encodeRequest({ method: "HEAD", path: "/", host: "x", headers: { host: "api.example" } })),
    "HEAD / HTTP/1.1\r\nUser-Agent: helaseid-probe\r\nAccept: */*\r\nConnection: close\r\n" +
      "host: api.example\r\n\r\n",
  );
});

Deno.test("http head: incomplete, complete, malformed from the first bytes, or too long", () => {
  assert.deepEqual(parseHead(bytes("HTTP/1.1 200 O")), { kind: "incomplete" });
  assert.deepEqual(parseHead(bytes("SSH-2.0")), { kind: "malformed" });
  assert.deepEqual(parseHead(bytes("HTTP/2 200\r\n\r\n")), { kind: "malformed" });
  const head = parseHead(bytes("HTTP/1.0 503 Busy\r\nX-A: 1\r\nx-a: 2\r\n\r\nbody"));
  assert.ok(head.kind === "head");
  assert.equal(head.head.status, 503);
  assert.equal(head.head.headers.get("x-a"), "1, 2");
  assert.equal(head.head.bodyStart, 37);
  const endless = bytes("HTTP/1.1 200 OK\r\nX: " + "a".repeat(MAX_HEAD_BYTES));
  assert.deepEqual(parseHead(endless), { kind: "malformed" });
});

Deno.test("http body: Content-Length, chunked (cut anywhere), until close, none for HEAD/204", () => {
  const response = (head: string, body: string) => {
    const all = bytes(head + "\r\n\r\n" + body);
    const parsed = parseHead(all);
    assert.ok(parsed.kind === "head");
    return { head: parsed.head, all };
  };
  const sized = response("HTTP/1.1 200 OK\r\nContent-Length: 5", "hello, and more");
  assert.deepEqual(
    parseBody(sized.head, sized.all, { method: "GET", eof: false }),
    { body: bytes("hello"), complete: true, malformed: false },
  );
  const chunked = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
  assert.deepEqual(decodeChunked(bytes(chunked)), {
    body: bytes("hello, world"),
    complete: true,
    malformed: false,
  });
  // Every prefix decodes to a prefix of the body, incomplete, never malformed.
  for (let n = 0; n < chunked.length - 5; n++) {
    const part = decodeChunked(bytes(chunked.slice(0, n)));
    assert.equal(part.complete, false, `prefix ${n}`);
    assert.equal(part.malformed, false, `prefix ${n}`);
    assert.ok("hello, world".startsWith(text(part.body)), `prefix ${n}`);
  }
  assert.equal(decodeChunked(bytes("zz\r\nhello\r\n")).malformed, true);
  const open = response("HTTP/1.1 200 OK", "streamed");
  assert.equal(parseBody(open.head, open.all, { method: "GET", eof: false }).complete, false);
  assert.equal(parseBody(open.head, open.all, { method: "GET", eof: true }).complete, true);
  const head = response("HTTP/1.1 200 OK\r\nContent-Length: 5", "");
  assert.deepEqual(parseBody(head.head, head.all, { method: "HEAD", eof: false }).complete, true);
  const bad = response("HTTP/1.1 200 OK\r\nContent-Length: -1", "");
  assert.equal(parseBody(bad.head, bad.all, { method: "GET", eof: false }).malformed, true);
});

Deno.test("http head and chunked body: 10,000 random inputs never throw", () => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = "HTTP/1.1 200\r\n:;0123456789abcdefXz -";
  for (let i = 0; i < 10_000; i++) {
    const input = i % 2 === 0
      ? Array.from(
        { length: Math.floor(random() * 80) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join("")
      : "HTTP/1.1 200 OK\r\n" +
        Array.from(
          { length: Math.floor(random() * 40) },
          () => alphabet[Math.floor(random() * alphabet.length)],
        ).join("");
    const parsed = parseHead(bytes(input));
    assert.ok(["incomplete", "malformed", "head"].includes(parsed.kind));
    const body = decodeChunked(bytes(input));
    assert.ok(body.body.length <= input.length);
  }
});
