/**
 * Property-based tests of the probe decoders: the Kafka ApiVersions v0 response and the HTTP/1.1
 * response parser. Whatever bytes a peer sends, they never throw, never return more than the
 * input (or the caps) allow, and a generated valid response decodes to what was encoded.
 * Each property has a fixed seed: a failure prints the seed and the shrunk counterexample.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeApiVersionsResponse,
  frameSize,
  MAX_RESPONSE_BYTES,
} from "../../src/probe/kafka_codec.ts";
import {
  decodeChunked,
  MAX_HEAD_BYTES,
  parseBody,
  parseHead,
} from "../../src/probe/http_response.ts";

const RUNS = { numRuns: 300 } as const;
const int16 = fc.integer({ min: -32768, max: 32767 });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

/** A v0 ApiVersions response frame (without its size prefix). */
function kafkaFrame(
  correlationId: number,
  errorCode: number,
  apiKeys: readonly { key: number; min: number; max: number }[],
): Uint8Array {
  const frame = new Uint8Array(10 + 6 * apiKeys.length);
  const view = new DataView(frame.buffer);
  view.setInt32(0, correlationId);
  view.setInt16(4, errorCode);
  view.setInt32(6, apiKeys.length);
  apiKeys.forEach((api, i) => {
    view.setInt16(10 + 6 * i, api.key);
    view.setInt16(12 + 6 * i, api.min);
    view.setInt16(14 + 6 * i, api.max);
  });
  return frame;
}

const apiKeysArb = fc.array(
  fc.tuple(int16, int16, int16).map(([key, min, max]) => ({ key, min, max })),
  { maxLength: 200 },
);

Deno.test("fuzz kafka: arbitrary frames never throw and never decode more than they hold", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), int32, (bytes, expected) => {
      const decoded = decodeApiVersionsResponse(bytes, expected);
      if (decoded.ok) {
        assert.equal(decoded.correlationId, expected);
        assert.equal(10 + 6 * decoded.apiKeys.length, bytes.length);
      } else {
        assert.match(decoded.reason, /^kafka: /);
      }
    }),
    { ...RUNS, seed: 1601 },
  );
});

Deno.test("fuzz kafka: a forged entry count never allocates beyond the frame", () => {
  fc.assert(
    fc.property(int32, int16, int32, fc.uint8Array({ maxLength: 64 }), (id, code, count, tail) => {
      const frame = new Uint8Array(10 + tail.length);
      const view = new DataView(frame.buffer);
      view.setInt32(0, id);
      view.setInt16(4, code);
      view.setInt32(6, count);
      frame.set(tail, 10);
      const decoded = decodeApiVersionsResponse(frame, id);
      const fits = count >= 0 && count * 6 === tail.length;
      assert.equal(decoded.ok, fits);
      if (decoded.ok) assert.equal(decoded.apiKeys.length, count);
    }),
    { ...RUNS, seed: 1602 },
  );
});

Deno.test("fuzz kafka: the size prefix is accepted only between 10 bytes and the cap", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), (prefix) => {
      const size = frameSize(prefix);
      if (prefix.length < 4) {
        return assert.deepEqual(size, { ok: false, reason: "kafka: truncated response" });
      }
      const announced = new DataView(prefix.buffer, prefix.byteOffset, 4).getInt32(0);
      assert.equal(size.ok, announced >= 10 && announced <= MAX_RESPONSE_BYTES);
      if (size.ok) assert.equal(size.size, announced);
    }),
    { ...RUNS, seed: 1603 },
  );
});

Deno.test("fuzz kafka: encode then decode gives back every field", () => {
  fc.assert(
    fc.property(int32, int16, apiKeysArb, (id, code, apiKeys) => {
      const frame = kafkaFrame(id, code, apiKeys);
      const prefix = new Uint8Array(4);
      new DataView(prefix.buffer).setInt32(0, frame.length);
      assert.deepEqual(frameSize(prefix), { ok: true, size: frame.length });
      assert.deepEqual(decodeApiVersionsResponse(frame, id), {
        ok: true,
        correlationId: id,
        errorCode: code,
        apiKeys,
      });
      // One byte missing or one byte too many is malformed, never a shorter list.
      assert.equal(decodeApiVersionsResponse(frame.subarray(0, frame.length - 1), id).ok, false);
      const longer = new Uint8Array(frame.length + 1);
      longer.set(frame);
      assert.equal(decodeApiVersionsResponse(longer, id).ok, false);
    }),
    { ...RUNS, seed: 1604 },
  );
});

const encoder = new TextEncoder();

/** Bytes that start like an HTTP response and then go wrong in any way. */
const httpishBytes = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.tuple(
    fc.constantFrom(
      "HTTP/1.1 ",
      "HTTP/1.0 200 OK\r\n",
      "HTTP/1.1 200 OK\r\nA: b\r\n\r\n",
      "HTTP/1.",
    ),
    fc.uint8Array({ maxLength: 512 }),
  ).map(([head, tail]) => {
    const prefix = encoder.encode(head);
    const bytes = new Uint8Array(prefix.length + tail.length);
    bytes.set(prefix);
    bytes.set(tail, prefix.length);
    return bytes;
  }),
  fc.array(fc.constantFrom("HTTP/1.1 ", "200", " OK", "\r\n", "\r", "\n", ":", "a", " ", "\t"), {
    maxLength: 40,
  }).map((parts) => encoder.encode(parts.join(""))),
);

Deno.test("fuzz http: arbitrary bytes never throw; bodies never exceed what was read", () => {
  fc.assert(
    fc.property(
      httpishBytes,
      fc.constantFrom("GET", "HEAD"),
      fc.boolean(),
      (bytes, method, eof) => {
        const parsed = parseHead(bytes);
        if (parsed.kind !== "head") return;
        const { head } = parsed;
        assert.ok(head.status >= 100 && head.status <= 599);
        assert.ok(head.bodyStart <= bytes.length && head.bodyStart <= MAX_HEAD_BYTES + 4);
        const body = parseBody(head, bytes, { method, eof });
        assert.ok(body.body.length <= bytes.length - head.bodyStart);
      },
    ),
    { ...RUNS, seed: 1605 },
  );
});

Deno.test("fuzz http: a head that never ends is refused at the cap, not buffered", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4096 }), (extra) => {
      const bytes = new Uint8Array(MAX_HEAD_BYTES + extra).fill(0x61);
      bytes.set(encoder.encode("HTTP/1.1 200 OK\r\nX: "));
      assert.deepEqual(parseHead(bytes), { kind: "malformed" });
    }),
    { numRuns: 20, seed: 1606 },
  );
});

Deno.test("fuzz http: arbitrary chunked bodies never throw or grow beyond their input", () => {
  const chunkedish = fc.oneof(
    fc.uint8Array({ maxLength: 512 }),
    fc.array(
      fc.oneof(
        fc.integer({ min: 0, max: 0xffffffff }).map((n) => n.toString(16)),
        fc.constantFrom("\r\n", "0\r\n\r\n", ";ext=1", "zz", " ", "\n"),
        fc.string({ maxLength: 20 }),
      ),
      { maxLength: 30 },
    ).map((parts) => encoder.encode(parts.join(""))),
  );
  fc.assert(
    fc.property(chunkedish, (bytes) => {
      const body = decodeChunked(bytes);
      assert.ok(body.body.length <= bytes.length);
      assert.ok(!(body.complete && body.malformed));
    }),
    { ...RUNS, seed: 1607 },
  );
});

Deno.test("fuzz http: a chunk-size line with no end is malformed once it passes 1 KiB", () => {
  // Regression: the check compared the (negative) "not found" index, so it never fired and a
  // peer could keep a probe reading one endless chunk-size line.
  fc.assert(
    fc.property(fc.integer({ min: 1026, max: 4096 }), (length) => {
      const bytes = new Uint8Array(length).fill(0x30);
      assert.deepEqual(decodeChunked(bytes), {
        body: new Uint8Array(0),
        complete: false,
        malformed: true,
      });
    }),
    { numRuns: 20, seed: 1608 },
  );
  assert.equal(decodeChunked(new Uint8Array(1024).fill(0x30)).malformed, false);
});

/** A generated valid response. */
const responseArb = fc.record({
  status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304),
  reason: fc.stringMatching(/^[A-Za-z ]{0,12}$/),
  headers: fc.array(
    fc.tuple(
      fc.stringMatching(/^X-[A-Za-z0-9-]{1,10}$/),
      fc.stringMatching(/^[!-~]([ -~]{0,20}[!-~])?$/),
    ),
    { maxLength: 6 },
  ),
  body: fc.uint8Array({ maxLength: 600 }),
  framing: fc.constantFrom("length", "chunked", "eof"),
  chunk: fc.integer({ min: 1, max: 64 }),
  version: fc.constantFrom("1.0", "1.1"),
});

Deno.test("fuzz http: encode then parse a valid response gives back status, headers, body", () => {
  fc.assert(
    fc.property(responseArb, (r) => {
      const lines = [`HTTP/${r.version} ${r.status}${r.reason === "" ? "" : ` ${r.reason}`}`];
      for (const [name, value] of r.headers) lines.push(`${name}: ${value}`);
      const parts: Uint8Array[] = [];
      if (r.framing === "length") lines.push(`Content-Length: ${r.body.length}`);
      if (r.framing === "chunked") {
        lines.push("Transfer-Encoding: chunked");
        for (let at = 0; at < r.body.length; at += r.chunk) {
          const piece = r.body.subarray(at, at + r.chunk);
          parts.push(
            encoder.encode(`${piece.length.toString(16)}\r\n`),
            piece,
            encoder.encode("\r\n"),
          );
        }
        parts.push(encoder.encode("0\r\n\r\n"));
      } else {
        parts.push(r.body);
      }
      const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
      const bytes = concat([head, ...parts]);

      const parsed = parseHead(bytes);
      assert.equal(parsed.kind, "head");
      if (parsed.kind !== "head") return;
      assert.equal(parsed.head.status, r.status);
      assert.equal(parsed.head.bodyStart, head.length);
      const expected = new Map<string, string>();
      for (const [name, value] of r.headers) {
        const key = name.toLowerCase();
        const previous = expected.get(key);
        expected.set(key, previous === undefined ? value : `${previous}, ${value}`);
      }
      for (const [key, value] of expected) assert.equal(parsed.head.headers.get(key), value);
      const body = parseBody(parsed.head, bytes, { method: "GET", eof: true });
      assert.deepEqual(body, { body: r.body, complete: true, malformed: false });
      // Every prefix of the head is incomplete, never malformed.
      for (const cut of [0, 1, head.length >> 1, head.length - 1]) {
        assert.equal(parseHead(bytes.subarray(0, cut)).kind, "incomplete");
      }
    }),
    { ...RUNS, seed: 1609 },
  );
});

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
