import assert from "node:assert/strict";
import { WatchStreamDecoder, WatchStreamError } from "../../src/kube/watch_stream.ts";

const encoder = new TextEncoder();

/** A watch body as the API server sends it: an edit, a bookmark, then the 410 that ends it. */
const BODY = [
  `{"type":"MODIFIED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",` +
  `"metadata":{"name":"brokers-helaseid-ipv4","namespace":"datastream","resourceVersion":"812",` +
  `"annotations":{"note":"zone é-1"}},"addressType":"IPv4","endpoints":[]}}`,
  `{"type":"BOOKMARK","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",` +
  `"metadata":{"resourceVersion":"815","annotations":{"k8s.io/initial-events-end":"true"}}}}`,
  `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},` +
  `"status":"Failure","message":"too old resource version: 1 (815)","reason":"Expired",` +
  `"code":410}}`,
].map((line) => line + "\n").join("");

const EXPECTED = [
  {
    type: "MODIFIED",
    object: {
      kind: "EndpointSlice",
      apiVersion: "discovery.k8s.io/v1",
      metadata: {
        name: "brokers-helaseid-ipv4",
        namespace: "datastream",
        resourceVersion: "812",
        annotations: { note: "zone é-1" },
      },
      addressType: "IPv4",
      endpoints: [],
    },
  },
  { type: "BOOKMARK", resourceVersion: "815" },
  {
    type: "ERROR",
    status: {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "too old resource version: 1 (815)",
      reason: "Expired",
      code: 410,
    },
  },
];

Deno.test("watch stream: events, a bookmark and a 410 Expired from one body", () => {
  assert.deepEqual(new WatchStreamDecoder().push(encoder.encode(BODY)), EXPECTED);
});

Deno.test("watch stream: the same events whatever the chunk boundaries, even inside a UTF-8 character", () => {
  const bytes = encoder.encode(BODY);
  const accent = bytes.indexOf(0xc3); // first byte of "é"
  for (const size of [1, 7, 64, 1000]) {
    const decoder = new WatchStreamDecoder();
    const events = [];
    for (let i = 0; i < bytes.length; i += size) {
      events.push(...decoder.push(bytes.subarray(i, i + size)));
    }
    assert.deepEqual(events, EXPECTED, `chunks of ${size} bytes`);
    assert.equal(decoder.partial, false);
  }
  const decoder = new WatchStreamDecoder();
  const events = [
    ...decoder.push(bytes.subarray(0, accent + 1)),
    ...decoder.push(bytes.subarray(accent + 1)),
  ];
  assert.deepEqual(events, EXPECTED, "split between the two bytes of 'é'");
});

Deno.test("watch stream: a cut line stays pending; blank lines are skipped", () => {
  const decoder = new WatchStreamDecoder();
  const first = BODY.slice(0, BODY.indexOf("\n") + 1);
  assert.deepEqual(decoder.push("\n" + first + '{"type":"MOD'), [EXPECTED[0]]);
  assert.equal(decoder.partial, true);
});

Deno.test("watch stream: garbage and unknown event types are errors, not silently dropped", () => {
  assert.throws(
    () => new WatchStreamDecoder().push("<html>502 Bad Gateway</html>\n"),
    (error: Error) =>
      error instanceof WatchStreamError &&
      error.message === "Cannot parse watch event '<html>502 Bad Gateway</html>'",
  );
  assert.throws(
    () => new WatchStreamDecoder().push('{"type":"SYNC","object":{}}\n'),
    /Cannot use watch event of type 'SYNC'/,
  );
});
