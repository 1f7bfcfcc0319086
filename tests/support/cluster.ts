/**
 * A real Kubernetes control plane for tests: etcd and kube-apiserver (built from the Go
 * modules by `tests/kube/build.sh`) on free loopback ports, with TLS, RBAC, client
 * certificates and service-account token signing, so the TokenRequest API works and the agent
 * can run with exactly the permissions a ServiceAccount is granted.
 *
 * The test runner (`tests/run.ts`) starts one cluster for the whole run and publishes it
 * through `HELASEID_TEST_CLUSTER`; tests reach it with {@linkcode sharedCluster} and isolate
 * themselves by namespace. A test that must stop the API server starts its own cluster with
 * {@linkcode startCluster} and stops it in `finally`.
 *
 * @module
 */

import { createPki, type Pki } from "./pki.ts";
import { delay } from "./wait.ts";
import { type CommandResult, runCommand } from "./command.ts";

const KUBE_DIR = new URL("../kube/", import.meta.url).pathname;

/** What a `kubectl` run printed. */
export type KubectlResult = CommandResult;

/** What tests need of a running cluster, whoever started it. */
export interface ClusterAccess {
  /** `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** Path of an admin (system:masters) kubeconfig. */
  readonly kubeconfigPath: string;
  /** Directory with the `etcd`, `kube-apiserver` and `kubectl` binaries. */
  readonly assets: string;
  /** Runs the test bed's kubectl with the admin kubeconfig (or `options.kubeconfig`). */
  kubectl(args: string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** Runs kubectl and throws with its stderr unless it succeeded; returns stdout. */
  kubectlOk(args: string[], options?: KubectlOptions): Promise<string>;
  /**
   * Writes a kubeconfig that authenticates as the ServiceAccount `namespace/name` with a
   * token from the TokenRequest API, and returns its path. The ServiceAccount must exist.
   */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>;
  /** Creates a namespace with a unique name starting with `prefix` and returns the name. */
  createNamespace(prefix: string, labels?: Record<string, string>): Promise<string>;
}

/** Options of {@linkcode ClusterAccess.kubectl}. */
export interface KubectlOptions {
  /** Text for kubectl's stdin (for `apply -f -`). */
  readonly stdin?: string;
  /** Another kubeconfig (for example a ServiceAccount's). */
  readonly kubeconfig?: string;
}

/** A cluster this process started and owns. */
export interface Cluster extends ClusterAccess, AsyncDisposable {
  /** Stops the API server (etcd keeps running) to simulate an outage. */
  stopApiServer(): Promise<void>;
  /** Starts the API server again on the same port and waits until it is ready. */
  startApiServer(): Promise<void>;
  /** Stops everything and removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
}

/** The run-wide cluster's description, as the runner writes it for tests. */
interface ClusterState {
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly assets: string;
  readonly dir: string;
}

/** Returns the directory of the test binaries, building them on first use. */
export async function kubeAssets(): Promise<string> {
  const given = Deno.env.get("HELASEID_KUBE_ASSETS");
  if (given) return given;
  const out = await new Deno.Command(`${KUBE_DIR}build.sh`, { stderr: "inherit", stdout: "piped" })
    .output();
  if (!out.success) throw new Error("Cannot build the test binaries: see the output above");
  return new TextDecoder().decode(out.stdout).trim();
}

/** The cluster the test runner started for this run. */
export async function sharedCluster(): Promise<ClusterAccess> {
  const path = Deno.env.get("HELASEID_TEST_CLUSTER");
  if (!path) {
    throw new Error(
      "No test cluster: integration tests run through 'deno task test', which starts one",
    );
  }
  const state = JSON.parse(await Deno.readTextFile(path)) as ClusterState;
  return access(state);
}

/** Options of {@linkcode startCluster}. */
export interface StartClusterOptions {
  /** Log lines of the two servers go to files in the cluster directory; print them too. */
  readonly verbose?: boolean;
}

/**
 * Starts etcd and kube-apiserver on free loopback ports and waits until `/readyz` answers.
 * Everything lives in a temporary directory that {@linkcode Cluster.stop} removes.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<Cluster> {
  const assets = await kubeAssets();
  const dir = await Deno.makeTempDir({ prefix: "helaseid-cluster-" });
  const processes: { etcd?: Deno.ChildProcess; apiserver?: Deno.ChildProcess } = {};
  let stopped = false;
  try {
    const pki = await createPki(dir);
    const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
    const server = `https://127.0.0.1:${apiPort}`;
    processes.etcd = spawn(
      `${assets}/etcd`,
      [
        "--name=default",
        `--data-dir=${dir}/etcd`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      `${dir}/etcd.log`,
      options.verbose,
    );
    const apiArgs = apiServerArgs(pki, dir, apiPort!, etcdClient!);
    const startApi = async () => {
      processes.apiserver = spawn(
        `${assets}/kube-apiserver`,
        apiArgs,
        `${dir}/apiserver.log`,
        options.verbose,
      );
      await waitReady(server, pki, processes.apiserver, `${dir}/apiserver.log`);
    };
    await startApi();
    const kubeconfigPath = `${dir}/admin.kubeconfig`;
    await Deno.writeTextFile(kubeconfigPath, await adminKubeconfig(server, pki));
    const base = access({ server, kubeconfigPath, assets, dir });
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await terminate(processes.apiserver);
      await terminate(processes.etcd);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    return {
      ...base,
      stopApiServer: () => terminate(processes.apiserver),
      startApiServer: startApi,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await terminate(processes.apiserver);
    await terminate(processes.etcd);
    const logs = await readLogTail(`${dir}/apiserver.log`) + await readLogTail(`${dir}/etcd.log`);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`Cannot start the test cluster\n${logs}`, { cause: error });
  }
}

/** Writes the state file that {@linkcode sharedCluster} reads and returns its path. */
export async function publishCluster(cluster: ClusterAccess): Promise<string> {
  const path = `${cluster.kubeconfigPath}.state.json`;
  const state: ClusterState = {
    server: cluster.server,
    kubeconfigPath: cluster.kubeconfigPath,
    assets: cluster.assets,
    dir: cluster.kubeconfigPath.replace(/\/[^/]+$/, ""),
  };
  await Deno.writeTextFile(path, JSON.stringify(state));
  return path;
}

function apiServerArgs(pki: Pki, dir: string, port: number, etcdPort: number): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${port}`,
    `--cert-dir=${dir}/certs`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    "--authorization-mode=RBAC",
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    // TEST-NET-2: ClusterIPs are only numbers in API objects here, never addresses we talk to.
    "--service-cluster-ip-range=198.51.100.0/24",
    // The `kubernetes` Service would get a loopback endpoint, which validation rejects.
    "--endpoint-reconciler-type=none",
    "--allow-privileged=false",
    "--enable-priority-and-fairness=false",
    "--event-ttl=1h",
    "--v=0",
  ];
}

function access(state: ClusterState): ClusterAccess {
  const kubectl = (args: string[], options: KubectlOptions = {}) =>
    runCommand(`${state.assets}/kubectl`, [
      "--kubeconfig",
      options.kubeconfig ?? state.kubeconfigPath,
      ...args,
    ], { stdin: options.stdin });
  const kubectlOk = async (args: string[], options?: KubectlOptions) => {
    const result = await kubectl(args, options);
    if (result.code !== 0) {
      throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr.trim()}`);
    }
    return result.stdout;
  };
  let namespaces = 0;
  return {
    server: state.server,
    kubeconfigPath: state.kubeconfigPath,
    assets: state.assets,
    kubectl,
    kubectlOk,
    async serviceAccountKubeconfig(namespace, name) {
      const token = (await kubectlOk(["create", "token", name, "-n", namespace, "--duration=2h"]))
        .trim();
      const ca = await Deno.readTextFile(`${state.dir}/ca.crt`);
      const path = `${state.dir}/sa-${namespace}-${name}.kubeconfig`;
      await Deno.writeTextFile(
        path,
        kubeconfigYaml(state.server, ca, `system:serviceaccount:${namespace}:${name}`, {
          token,
          namespace,
        }),
      );
      return path;
    },
    async createNamespace(prefix, labels = {}) {
      const name = `${prefix}-${Date.now().toString(36)}-${(namespaces++).toString(36)}`;
      const manifest = {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name, labels },
      };
      await kubectlOk(["apply", "-f", "-"], { stdin: JSON.stringify(manifest) });
      return name;
    },
  };
}

async function adminKubeconfig(server: string, pki: Pki): Promise<string> {
  const [ca, cert, key] = await Promise.all(
    [pki.caCert, pki.adminCert, pki.adminKey].map((path) => Deno.readTextFile(path)),
  );
  return kubeconfigYaml(server, ca!, "admin", { cert: cert!, key: key! });
}

function kubeconfigYaml(
  server: string,
  ca: string,
  user: string,
  auth: { token?: string; cert?: string; key?: string; namespace?: string },
): string {
  const b64 = (text: string) => btoa(text);
  const credentials = auth.token
    ? { token: auth.token }
    : { "client-certificate-data": b64(auth.cert!), "client-key-data": b64(auth.key!) };
  // JSON is YAML: one less dependency for the test bed.
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "helaseid-test",
        cluster: { server, "certificate-authority-data": b64(ca) },
      }],
      users: [{ name: user, user: credentials }],
      contexts: [{
        name: "helaseid-test",
        context: {
          cluster: "helaseid-test",
          user,
          ...(auth.namespace ? { namespace: auth.namespace } : {}),
        },
      }],
      "current-context": "helaseid-test",
    },
    null,
    2,
  );
}

function spawn(
  binary: string,
  args: string[],
  logFile: string,
  verbose = false,
): Deno.ChildProcess {
  const quoted = [binary, ...args].map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
  const redirect = verbose ? `2>&1 | tee -a '${logFile}'` : `>>'${logFile}' 2>&1`;
  // `exec` keeps the server's PID the child's PID when there is no pipe to tee through.
  return new Deno.Command("sh", {
    args: ["-c", verbose ? `${quoted} ${redirect}` : `exec ${quoted} ${redirect}`],
    stdin: "null",
    stdout: verbose ? "inherit" : "null",
    stderr: verbose ? "inherit" : "null",
  }).spawn();
}

async function terminate(child: Deno.ChildProcess | undefined): Promise<void> {
  if (!child) return;
  try {
    child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), 5000);
  });
  const result = await Promise.race([child.status, killed]);
  clearTimeout(timer);
  if (result === "timeout") {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
  }
}

async function waitReady(
  server: string,
  pki: Pki,
  child: Deno.ChildProcess,
  logFile: string,
): Promise<void> {
  const [ca, cert, key] = await Promise.all(
    [pki.caCert, pki.adminCert, pki.adminKey].map((path) => Deno.readTextFile(path)),
  );
  const client = Deno.createHttpClient({ caCerts: [ca!], cert: cert!, key: key! });
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 120_000;
  let last = "";
  try {
    while (Date.now() < deadline) {
      if (exited) {
        throw new Error(`kube-apiserver exited during startup\n${await readLogTail(logFile)}`);
      }
      try {
        const response = await fetch(`${server}/readyz`, {
          client,
          signal: AbortSignal.timeout(2000),
        });
        last = await response.text();
        if (response.ok) return;
      } catch (error) {
        last = String(error);
      }
      await delay(100);
    }
    throw new Error(`kube-apiserver not ready after 120s: ${last}`);
  } finally {
    client.close();
  }
}

async function readLogTail(path: string, lines = 30): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return `--- ${path} ---\n${text.split("\n").slice(-lines).join("\n")}\n`;
  } catch {
    return "";
  }
}

async function freePorts(count: number): Promise<number[]> {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => (listener.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return await Promise.resolve(ports);
}
