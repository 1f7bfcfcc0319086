/**
 * The agent's least-privilege RBAC on a test cluster (what `manifests/rbac.yaml` grants): a Role,
 * and a ServiceAccount bound to it with a kubeconfig of its token.
 *
 * @module
 */

import type { ClusterAccess } from "./cluster.ts";

/** The agent's least-privilege Role (manifests/rbac.yaml), with `watch` left out if asked. */
export function agentRole(namespace: string, options: { watch: boolean }) {
  const read = options.watch ? ["get", "list", "watch"] : ["get", "list"];
  const write = [...read, "create", "update", "patch", "delete"];
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "helaseid", namespace },
    rules: [
      { apiGroups: [""], resources: ["services"], verbs: read },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: write },
      { apiGroups: [""], resources: ["endpoints"], verbs: write },
      { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
    ],
  };
}

/** A ServiceAccount bound to {@linkcode role}; returns a kubeconfig with its token. */
export async function agentServiceAccount(
  cluster: ClusterAccess,
  namespace: string,
  options: { watch: boolean },
): Promise<string> {
  const objects = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "helaseid", namespace } },
    agentRole(namespace, options),
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "helaseid", namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "helaseid" },
      subjects: [{ kind: "ServiceAccount", name: "helaseid", namespace }],
    },
  ];
  for (const object of objects) {
    await cluster.kubectlOk(["apply", "-f", "-"], { stdin: JSON.stringify(object) });
  }
  return await cluster.serviceAccountKubeconfig(namespace, "helaseid");
}
