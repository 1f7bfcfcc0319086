#!/usr/bin/env bash
# `deno task test`: every test, unit and integration, against a real kube-apiserver + etcd in a
# private network namespace. Arguments go to `deno test` (for example a file or --filter).
#
# Outside the namespace (network available): cache npm packages, build the test binaries once.
# Inside (`unshare`): no packet can leave the machine; tests/run.ts starts the API server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DENO_NO_UPDATE_CHECK=1

deno install --frozen --quiet
HELASEID_KUBE_ASSETS=$(tests/kube/build.sh)
export HELASEID_KUBE_ASSETS

for tool in ip nft openssl unshare; do
  command -v "$tool" >/dev/null || {
    echo "'$tool' is missing: install iproute2, nftables, openssl and util-linux (see README)" >&2
    exit 2
  }
done

# A PID namespace too, so that etcd, the API server and any agent a test starts die with the
# run even when it is killed; root uses the namespaces directly, anyone else through a user
# namespace in which they are root.
ns=(unshare --net --pid --fork --kill-child --mount-proc)
[[ $(id -u) == 0 ]] || ns=(unshare --map-root-user "${ns[@]:1}")
exec "${ns[@]}" deno run --allow-all tests/run.ts "$@"
