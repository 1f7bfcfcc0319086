import assert from "node:assert/strict";
import {
  decodeApiVersionsResponse,
  encodeApiVersionsRequest,
  frameSize,
  MAX_RESPONSE_BYTES,
} from "../../src/probe/kafka_codec.ts";

const hex = (text: string) =>
  Uint8Array.from(text.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));

Deno.test("kafka codec: the v0 request is the 22 bytes of research §1.4", () => {
  assert.deepEqual(
    encodeApiVersionsRequest(1),
    hex("00 00 00 12  00 12  00 00  00 00 00 01  00 08 68 65 6c 61 73 65 69 64"),
  );
});

Deno.test("kafka codec: decodes a v0 response and the v0-format UNSUPPORTED_VERSION error", () => {
  const response = hex("00 00 00 10  00 00 00 01  00 00  00 00 00 01  00 12 00 00 00 03");
  const size = frameSize(response.subarray(0, 4));
  assert.deepEqual(size, { ok: true, size: 16 });
  assert.deepEqual(decodeApiVersionsResponse(response.subarray(4), 1), {
    ok: true,
    correlationId: 1,
    errorCode: 0,
    apiKeys: [{ key: 18, min: 0, max: 3 }],
  });
  const old = hex("00 00 00 0a  00 00 00 02  00 23  00 00 00 00");
  assert.deepEqual(decodeApiVersionsResponse(old.subarray(4), 2), {
    ok: true,
    correlationId: 2,
    errorCode: 35,
    apiKeys: [],
  });
});

Deno.test("kafka codec: a wrong correlation id, a bad count or trailing bytes are malformed", () => {
  const frame = hex("00 00 00 07  00 00  00 00 00 01  00 12 00 00 00 03");
  assert.deepEqual(decodeApiVersionsResponse(frame, 8), {
    ok: false,
    reason: "kafka: wrong correlation id",
  });
  const malformed = { ok: false, reason: "kafka: malformed response" };
  // Count 2 but one entry; count -1; one byte too many; shorter than the fixed fields.
  assert.deepEqual(
    decodeApiVersionsResponse(hex("00 00 00 07 00 00 00 00 00 02 00 12 00 00 00 03"), 7),
    malformed,
  );
  assert.deepEqual(decodeApiVersionsResponse(hex("00 00 00 07 00 00 ff ff ff ff"), 7), malformed);
  assert.deepEqual(
    decodeApiVersionsResponse(hex("00 00 00 07 00 00 00 00 00 00 00"), 7),
    malformed,
  );
  assert.deepEqual(decodeApiVersionsResponse(hex("00 00 00 07 00 00 00"), 7), malformed);
});

Deno.test("kafka codec: frame sizes outside 10..64 KiB are refused before reading", () => {
  assert.deepEqual(frameSize(hex("00 00 00 09")), {
    ok: false,
    reason: "kafka: malformed response",
  });
  assert.deepEqual(frameSize(hex("ff ff ff ff")), {
    ok: false,
    reason: "kafka: malformed response",
  });
  assert.deepEqual(frameSize(hex("7f ff ff ff")), {
    ok: false,
    reason: "kafka: response too large",
  });
  assert.deepEqual(frameSize(hex("00 01 00 00")), { ok: true, size: MAX_RESPONSE_BYTES });
  assert.deepEqual(frameSize(hex("00 01 00 01")), {
    ok: false,
    reason: "kafka: response too large",
  });
  assert.deepEqual(frameSize(hex("00 00")), { ok: false, reason: "kafka: truncated response" });
});

/** Mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("kafka codec: 20,000 random, truncated and mutated frames decode without throwing", () => {
  const random = prng(0x5eed);
  const valid = hex("00 00 00 01  00 00  00 00 00 02  00 12 00 00 00 03  00 00 00 00 00 09");
  for (let i = 0; i < 20_000; i++) {
    let frame: Uint8Array;
    const kind = i % 3;
    if (kind === 0) {
      frame = Uint8Array.from({ length: Math.floor(random() * 64) }, () => random() * 256);
    } else if (kind === 1) {
      frame = valid.subarray(0, Math.floor(random() * valid.length));
    } else {
      frame = valid.slice();
      frame[Math.floor(random() * frame.length)] = random() * 256;
    }
    const decoded = decodeApiVersionsResponse(frame, 1);
    if (decoded.ok) {
      // Whatever passes is exactly consistent with the bytes: 10 fixed bytes + 6 per entry.
      assert.equal(frame.length, 10 + 6 * decoded.apiKeys.length, `case ${i}`);
      assert.equal(decoded.correlationId, 1);
    } else {
      assert.match(decoded.reason, /^kafka: /, `case ${i}`);
    }
    const size = frameSize(frame.subarray(0, 4));
    if (size.ok) assert.ok(size.size >= 10 && size.size <= MAX_RESPONSE_BYTES);
  }
  // Every truncation of the valid frame is refused (none is mistaken for a shorter answer).
  for (let n = 0; n < valid.length; n++) {
    assert.equal(decodeApiVersionsResponse(valid.subarray(0, n), 1).ok, false, `length ${n}`);
  }
  assert.equal(decodeApiVersionsResponse(valid, 1).ok, true);
});
