import assert from "node:assert/strict";
import { configHash, writerIdentity } from "../../src/publish/identity.ts";
import { serviceConfig } from "../support/fakes.ts";

Deno.test("identity: the pod (or host) name and the pid, unless HELASEID_WRITER_ID says", () => {
  const options = { pid: 4242, hostname: () => "vm-7" };
  assert.equal(
    writerIdentity({ POD_NAME: "helaseid-7d9c-x2kq" }, options),
    "helaseid-7d9c-x2kq/4242",
  );
  assert.equal(
    writerIdentity({ HOSTNAME: "helaseid-7d9c-x2kq" }, options),
    "helaseid-7d9c-x2kq/4242",
  );
  assert.equal(writerIdentity({}, options), "vm-7/4242");
  assert.equal(writerIdentity({}, { pid: 1, hostname: () => undefined }), "helaseid/1");
  assert.equal(
    writerIdentity({ HELASEID_WRITER_ID: " laptop-anna ", POD_NAME: "x" }, options),
    "laptop-anna",
  );
  assert.ok(writerIdentity({ POD_NAME: "p".repeat(300) }, options).length <= 128);
});

Deno.test("identity: the config hash follows what is published, not how it is listed or probed", () => {
  const base = serviceConfig(["192.0.2.1", "192.0.2.2"]);
  const hash = configHash(base);
  assert.match(hash, /^[0-9a-f]{16}$/);
  assert.equal(configHash(serviceConfig(["192.0.2.2", "192.0.2.1"])), hash, "target order");
  assert.equal(
    configHash({ ...base, probe: { ...base.probe, interval: 5000, fall: 9 } }),
    hash,
    "probe settings",
  );
  assert.notEqual(configHash(serviceConfig(["192.0.2.1", "192.0.2.3"])), hash, "targets");
  assert.notEqual(configHash({ ...base, name: "cache" }), hash, "the Service");
  assert.notEqual(
    configHash({ ...base, ports: [{ name: "kafka", port: 9093, protocol: "TCP" }] }),
    hash,
    "ports",
  );
  assert.notEqual(
    configHash({ ...base, publish: { ...base.publish, unhealthy: "remove" } }),
    hash,
    "publish options",
  );
  assert.notEqual(
    configHash(serviceConfig([{ address: "192.0.2.1", zone: "a" }, "192.0.2.2"])),
    hash,
    "a target's zone",
  );
});
