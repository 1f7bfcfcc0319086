#!/usr/bin/env bash
# Runs a Deno script of the test bed inside a private network namespace:
#   tests/netns.sh tests/run.ts [deno test arguments...]   (deno task test)
#   tests/netns.sh tests/demo.ts                           (deno task demo)
#
# Outside the namespace (network available): cache npm packages, build the test binaries once.
# Inside (`unshare`): only lo exists, so no packet can leave the machine; a PID namespace too,
# so etcd, the API server and every agent die with the run even when it is killed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DENO_NO_UPDATE_CHECK=1

script=${1:?usage: tests/netns.sh SCRIPT.ts [ARGS...]}
shift

deno install --frozen --quiet
HELASEID_KUBE_ASSETS=$(tests/kube/build.sh)
export HELASEID_KUBE_ASSETS
# The kafka probe's test broker (kfake), built here while the network is there.
HELASEID_KFAKE=$(tests/kafka/build.sh)
export HELASEID_KFAKE
# helm and promtool for the chart, alert-rule and dashboard tests (tests/ecosystem/).
HELASEID_ECOSYSTEM_TOOLS=$(tests/ecosystem/build.sh)
export HELASEID_ECOSYSTEM_TOOLS
# actionlint for tests/release/lint_test.ts (tests/tools/), built here while the network is there.
HELASEID_TOOLS=$(tests/tools/build.sh)
export HELASEID_TOOLS

# dnsmasq is the DNS server of the dns source's tests (tests/support/dns_server.ts).
for tool in ip nft openssl unshare dnsmasq; do
  command -v "$tool" >/dev/null || {
    echo "'$tool' is missing: install iproute2, nftables, openssl, util-linux and dnsmasq (see README)" >&2
    exit 2
  }
done

ns=(unshare --net --pid --fork --kill-child --mount-proc)
[[ $(id -u) == 0 ]] || ns=(unshare --map-root-user "${ns[@]:1}")
exec "${ns[@]}" env HELASEID_TESTNET=1 sh -c 'ip link set lo up && exec "$@"' sh \
  deno run --allow-all "$script" "$@"
