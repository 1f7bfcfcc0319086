import assert from "node:assert/strict";
import { CredentialsError, kubeconfigCredentials } from "../../src/kube/credentials.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

async function kubeconfig(dir: string, users: unknown[], extra: Record<string, unknown> = {}) {
  const path = `${dir}/config`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "prod",
          cluster: { server: "https://192.0.2.1:6443/", "certificate-authority": "ca.crt" },
        },
        {
          name: "lab",
          cluster: { server: "https://192.0.2.2:6443", "insecure-skip-tls-verify": true },
        },
      ],
      users,
      contexts: [
        { name: "prod", context: { cluster: "prod", user: "u", namespace: "datastream" } },
        { name: "lab", context: { cluster: "lab", user: "u" } },
      ],
      "current-context": "prod",
      ...extra,
    }),
  );
  await Deno.writeTextFile(`${dir}/ca.crt`, CA);
  return path;
}

Deno.test("credentials: a token user, with the CA file resolved next to the kubeconfig", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await kubeconfig(dir, [{ name: "u", user: { token: "t0ken" } }]);
    const credentials = kubeconfigCredentials(path);
    assert.equal(credentials.name, "prod");
    assert.equal(credentials.server, "https://192.0.2.1:6443");
    assert.equal(credentials.namespace, "datastream");
    const auth = await credentials.auth();
    assert.equal(auth.ca, CA);
    assert.deepEqual(auth.headers, { Authorization: "Bearer t0ken" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credentials: client certificate data and basic auth", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await kubeconfig(dir, [{
      name: "u",
      user: {
        "client-certificate-data": btoa("CERT"),
        "client-key-data": btoa("KEY"),
        username: "admin",
        password: "secret",
      },
    }]);
    const auth = await kubeconfigCredentials(path).auth();
    assert.equal(auth.cert, "CERT");
    assert.equal(auth.key, "KEY");
    assert.equal(auth.headers.Authorization, `Basic ${btoa("admin:secret")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credentials: an exec plugin's token is used (EKS/GKE style)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const credential = JSON.stringify({
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      status: { token: "from-plugin" },
    });
    const path = await kubeconfig(dir, [{
      name: "u",
      user: {
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: "sh",
          args: ["-c", `echo '${credential}'`],
          interactiveMode: "Never",
        },
      },
    }]);
    const auth = await kubeconfigCredentials(path).auth();
    assert.equal(auth.headers.Authorization, "Bearer from-plugin");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credentials: clear errors for a missing context, skip-TLS clusters and auth-providers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await kubeconfig(dir, [{
      name: "u",
      user: { "auth-provider": { name: "gcp", config: {} } },
    }]);
    assert.throws(
      () => kubeconfigCredentials(path, "staging"),
      (error: Error) =>
        error instanceof CredentialsError &&
        error.message ===
          `Cannot use context 'staging' as kubeconfig '${path}' has none: it has 'prod', 'lab'`,
    );
    assert.throws(() => kubeconfigCredentials(path, "lab"), /Cannot skip TLS verification/);
    await assert.rejects(() => kubeconfigCredentials(path).auth(), /auth-provider 'gcp'/);
    assert.throws(() => kubeconfigCredentials(`${dir}/missing`), /Cannot read kubeconfig/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
