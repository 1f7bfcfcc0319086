/**
 * A deliberately simple checker in the style of the original HELASEID, kept for comparison
 * only (it is not part of the product): one target after another, up to MAX_RETRY connect
 * attempts each, then one write of the whole Endpoints object, then sleep INTERVAL. A
 * black-holed target costs MAX_RETRY × TIMEOUT of every pass, for every other target.
 *
 * Usage (inside the test bed): deno run -A bench/seed_style.ts
 * Environment: IPS, PORT, MAX_RETRY, INTERVAL, TIMEOUT (seconds), NAMESPACE, SERVICE_NAME,
 * KUBECONFIG (a test-bed kubeconfig: JSON with a client certificate).
 *
 * @module
 */

const env = (name: string) => {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const ips = env("IPS").split(/[\s,]+/).filter(Boolean);
const port = Number(env("PORT"));
const maxRetry = Number(env("MAX_RETRY"));
const interval = Number(env("INTERVAL")) * 1000;
const timeout = Number(env("TIMEOUT")) * 1000;
const namespace = env("NAMESPACE");
const service = env("SERVICE_NAME");
const config = JSON.parse(Deno.readTextFileSync(env("KUBECONFIG")));
const cluster = config.clusters[0].cluster;
const user = config.users[0].user;
const client = Deno.createHttpClient({
  caCerts: [atob(cluster["certificate-authority-data"])],
  cert: atob(user["client-certificate-data"]),
  key: atob(user["client-key-data"]),
});

async function alive(ip: string): Promise<boolean> {
  for (let attempt = 0; attempt < maxRetry; attempt++) {
    try {
      const conn = await Deno.connect({
        hostname: ip,
        port,
        signal: AbortSignal.timeout(timeout),
      });
      conn.close();
      return true;
    } catch {
      // Try again.
    }
  }
  return false;
}

let stop = false;
Deno.addSignalListener("SIGTERM", () => stop = true);
while (!stop) {
  const healthy: string[] = [];
  for (const ip of ips) if (await alive(ip)) healthy.push(ip);
  const body = {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: { name: service, namespace },
    subsets: healthy.length
      ? [{ addresses: healthy.map((ip) => ({ ip })), ports: [{ port, protocol: "TCP" }] }]
      : [],
  };
  const response = await fetch(
    `${cluster.server}/api/v1/namespaces/${namespace}/endpoints/${service}?fieldManager=seed-style&force=true`,
    {
      method: "PATCH",
      client,
      headers: { "content-type": "application/apply-patch+yaml" },
      body: JSON.stringify(body),
    },
  );
  await response.body?.cancel();
  console.log(JSON.stringify({ msg: "pass", healthy: healthy.length, status: response.status }));
  await new Promise((resolve) => setTimeout(resolve, interval));
}
client.close();
