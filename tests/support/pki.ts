/**
 * A throwaway PKI for the test API server, made with the `openssl` command line: a CA, a
 * serving certificate for 127.0.0.1, an admin client certificate (group system:masters) and a
 * service-account signing key. Leaf certificates are marked `CA:FALSE`, as rustls insists.
 *
 * @module
 */

/** Paths of the PEM files {@linkcode createPki} wrote. */
export interface Pki {
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

/** Writes a fresh PKI into `dir` (which must exist). */
export async function createPki(dir: string): Promise<Pki> {
  const pki: Pki = {
    caCert: `${dir}/ca.crt`,
    caKey: `${dir}/ca.key`,
    serverCert: `${dir}/apiserver.crt`,
    serverKey: `${dir}/apiserver.key`,
    adminCert: `${dir}/admin.crt`,
    adminKey: `${dir}/admin.key`,
    serviceAccountKey: `${dir}/sa.key`,
    serviceAccountPub: `${dir}/sa.pub`,
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    pki.caKey,
    "-out",
    pki.caCert,
    "-days",
    "7",
    "-subj",
    "/CN=helaseid-test-ca",
  ]);
  await leaf(dir, "apiserver", "/CN=kube-apiserver", [
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], pki);
  await leaf(dir, "admin", "/O=system:masters/CN=helaseid-test-admin", [
    "extendedKeyUsage=clientAuth",
  ], pki);
  await openssl([
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    pki.serviceAccountKey,
  ]);
  await openssl(["pkey", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub]);
  return pki;
}

async function leaf(
  dir: string,
  name: string,
  subject: string,
  extensions: string[],
  pki: Pki,
): Promise<void> {
  const ext = `${dir}/${name}.ext`;
  await Deno.writeTextFile(
    ext,
    ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
      .concat(extensions).join("\n") + "\n",
  );
  const csr = `${dir}/${name}.csr`;
  await openssl([
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${dir}/${name}.key`,
    "-out",
    csr,
    "-subj",
    subject,
  ]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-CAcreateserial",
    "-days",
    "7",
    "-extfile",
    ext,
    "-out",
    `${dir}/${name}.crt`,
  ]);
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(
      `Cannot run 'openssl ${args[0]}': ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}
