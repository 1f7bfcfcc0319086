/**
 * HTTPS and TLS checks against real TLS servers (Deno.listenTls) with certificates made by
 * openssl: valid for `broker.test`, valid for another name, expired, and from an unknown CA.
 * This also proves what the probers rely on in Deno 2.9.6's `node:tls`: SNI and name
 * verification for an IP target, `rejectUnauthorized: false`, `getPeerCertificate()`, and a
 * connection that a timed-out handshake really closes.
 */

import assert from "node:assert/strict";
import { proberFor } from "../../src/probe/mod.ts";
import type { ProbeCheck } from "../../src/probe/types.ts";
import { serveAddress } from "./_net.ts";

const DAY = 86_400_000;

async function openssl(args: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${text(out.stderr)}`);
  return text(out.stdout);
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function ca(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = `${dir}/${name}.crt`;
  const key = `${dir}/${name}.key`;
  await openssl([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "7",
    "-subj",
    `/CN=${name}`,
  ]);
  return { cert, key };
}

/** A leaf for `dnsName` signed by `issuer`, valid for `days` (negative: already expired). */
async function leaf(
  dir: string,
  name: string,
  options: { issuer: { cert: string; key: string }; dnsName: string; days: number },
): Promise<{ cert: string; key: string; notAfter: number }> {
  const ext = `${dir}/${name}.ext`;
  await Deno.writeTextFile(
    ext,
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
      `extendedKeyUsage=serverAuth\nsubjectAltName=DNS:${options.dnsName}\n`,
  );
  const key = `${dir}/${name}.key`;
  const csr = `${dir}/${name}.csr`;
  const cert = `${dir}/${name}.crt`;
  await openssl([
    "req",
    "-new",
    ...EC,
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/CN=${options.dnsName}`,
  ]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    options.issuer.cert,
    "-CAkey",
    options.issuer.key,
    "-CAcreateserial",
    "-days",
    String(options.days),
    "-extfile",
    ext,
    "-out",
    cert,
  ]);
  const notAfter = Date.parse(
    (await openssl(["x509", "-in", cert, "-noout", "-enddate"])).replace("notAfter=", ""),
  );
  return { cert, key, notAfter };
}

/** A TLS server presenting `cert` that answers any HTTP request with 200 `tls ok`. */
function tlsServer(address: string, cert: { cert: string; key: string }) {
  const listener = Deno.listenTls({
    hostname: address,
    port: 0,
    cert: Deno.readTextFileSync(cert.cert),
    key: Deno.readTextFileSync(cert.key),
  });
  const handlers = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const conn of listener) {
      const handler = (async () => {
        try {
          await conn.handshake();
          const buffer = new Uint8Array(4096);
          const n = await conn.read(buffer);
          if (n !== null) {
            await conn.write(
              new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ntls ok"),
            );
          }
        } catch {
          // The client refused the certificate, or closed after the handshake.
        } finally {
          conn.close();
        }
      })();
      handlers.add(handler);
      handler.finally(() => handlers.delete(handler));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await loop.catch(() => {});
      await Promise.all(handlers);
    },
  };
}

async function withPki<T>(
  fn: (pki: {
    dir: string;
    caFile: string;
    valid: { cert: string; key: string; notAfter: number };
    otherName: { cert: string; key: string };
    expired: { cert: string; key: string };
    unknownCa: { cert: string; key: string };
  }) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "helaseid-probe-tls-" });
  try {
    const trusted = await ca(dir, "trusted-ca");
    const stranger = await ca(dir, "stranger-ca");
    return await fn({
      dir,
      caFile: trusted.cert,
      valid: await leaf(dir, "valid", { issuer: trusted, dnsName: "broker.test", days: 30 }),
      otherName: await leaf(dir, "other", { issuer: trusted, dnsName: "other.test", days: 30 }),
      expired: await leaf(dir, "expired", { issuer: trusted, dnsName: "broker.test", days: -1 }),
      unknownCa: await leaf(dir, "unknown", { issuer: stranger, dnsName: "broker.test", days: 30 }),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The result of one check against a server presenting `cert`. */
async function checkAgainst(
  address: string,
  cert: { cert: string; key: string },
  check: ProbeCheck,
) {
  const server = tlsServer(address, cert);
  try {
    return await proberFor(check)({ address, port: server.port, timeout: 3000 });
  } finally {
    await server.close();
  }
}

Deno.test("https: an IP target verified for serverName with the CA file; wrong name, expired and unknown CA are down with reasons", async () => {
  await using net = await serveAddress(235);
  await withPki(async (pki) => {
    const https = (more: Partial<ProbeCheck> = {}): ProbeCheck => ({
      type: "https",
      path: "/",
      serverName: "broker.test",
      caFile: pki.caFile,
      ...more,
    });
    const at = (cert: { cert: string; key: string }, check: ProbeCheck) =>
      checkAgainst(net.address, cert, check);
    const up = await at(
      pki.valid,
      https({ body: { kind: "string", pattern: "tls ok", flags: "" } }),
    );
    assert.deepEqual([up.ok, up.error], [true, undefined]);
    assert.equal((await at(pki.otherName, https())).error, "tls: certificate name mismatch");
    assert.equal((await at(pki.expired, https())).error, "tls: certificate expired");
    assert.equal((await at(pki.unknownCa, https())).error, "tls: unknown certificate authority");
    // Without the CA file the system roots do not know the test CA.
    const { caFile: _, ...noCa } = https();
    assert.equal((await at(pki.valid, noCa)).error, "tls: unknown certificate authority");
    // Without serverName the certificate is checked against the IP address: no match.
    const { serverName: __, ...noName } = https();
    assert.equal((await at(pki.valid, noName)).error, "tls: certificate name mismatch");
    // A CA file that cannot be read is a reason, not a crash.
    assert.equal(
      (await at(pki.valid, https({ caFile: `${pki.dir}/missing.pem` }))).error,
      "tls: cannot read CA file",
    );
  });
});

Deno.test("https: insecureSkipVerify accepts an unknown CA, a wrong name and an expired certificate", async () => {
  await using net = await serveAddress(235);
  await withPki(async (pki) => {
    const insecure: ProbeCheck = {
      type: "https",
      path: "/",
      insecureSkipVerify: true,
      body: { kind: "string", pattern: "tls ok", flags: "" },
    };
    for (const cert of [pki.unknownCa, pki.otherName, pki.expired]) {
      const result = await checkAgainst(net.address, cert, insecure);
      assert.deepEqual([result.ok, result.error], [true, undefined]);
    }
  });
});

Deno.test("tls: the handshake verdict, and the peer certificate's days to expiry from node:tls", async () => {
  await using net = await serveAddress(236);
  await withPki(async (pki) => {
    // A wall clock 10.5 days before notAfter: 10 whole days left.
    const wallClock = () => pki.valid.notAfter - 10.5 * DAY;
    const tls = (more: Partial<ProbeCheck> = {}): ProbeCheck => ({
      type: "tls",
      serverName: "broker.test",
      caFile: pki.caFile,
      ...more,
    });
    const server = tlsServer(net.address, pki.valid);
    try {
      const request = { address: net.address, port: server.port, timeout: 3000 };
      const up = await proberFor(tls(), { wallClock })(request);
      assert.equal(up.ok, true);
      assert.deepEqual(up.certificate, { notAfter: pki.valid.notAfter, daysLeft: 10 });
      assert.equal(up.note, "tls: certificate expires in 10 days");
      const soon = await proberFor(tls({ minDaysToExpiry: 14 }), { wallClock })(request);
      assert.deepEqual([soon.ok, soon.error], [false, "tls: certificate expires soon"]);
      assert.deepEqual(soon.certificate, { notAfter: pki.valid.notAfter, daysLeft: 10 });
    } finally {
      await server.close();
    }
    const at = (cert: { cert: string; key: string }, check: ProbeCheck) =>
      checkAgainst(net.address, cert, check);
    assert.equal((await at(pki.expired, tls())).error, "tls: certificate expired");
    assert.equal((await at(pki.otherName, tls())).error, "tls: certificate name mismatch");
    assert.equal((await at(pki.unknownCa, tls())).error, "tls: unknown certificate authority");
    // Skipping verification still reads the certificate: an expired one fails on its date.
    const skipped = await at(pki.expired, tls({ insecureSkipVerify: true }));
    assert.deepEqual([skipped.ok, skipped.error], [false, "tls: certificate expired"]);
    assert.ok(skipped.certificate !== undefined && skipped.certificate.daysLeft < 0);
  });
});

Deno.test("https and tls: a server that accepts but never handshakes is down with 'timeout', nothing left open", async () => {
  await using net = await serveAddress(236);
  let ended = 0;
  const listener = Deno.listen({ hostname: net.address, port: 0 });
  const silent = (async () => {
    for (let i = 0; i < 3; i++) {
      const conn = await listener.accept();
      // Read the ClientHello and never answer; the prober's deadline must close the connection.
      const buffer = new Uint8Array(4096);
      while ((await conn.read(buffer).catch(() => null)) !== null) { /* drain */ }
      ended++;
      conn.close();
    }
  })();
  const request = {
    address: net.address,
    port: (listener.addr as Deno.NetAddr).port,
    timeout: 150,
  };
  try {
    for (
      const check of [
        { type: "https", serverName: "broker.test" },
        { type: "https", insecureSkipVerify: true },
        { type: "tls", serverName: "broker.test" },
      ] satisfies ProbeCheck[]
    ) {
      const result = await proberFor(check)(request);
      assert.deepEqual([result.ok, result.error], [false, "timeout"], JSON.stringify(check));
    }
    await silent;
  } finally {
    listener.close();
  }
  assert.equal(ended, 3);
});
