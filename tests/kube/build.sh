#!/usr/bin/env bash
# Builds the test bed's binaries (etcd, kube-apiserver, kubectl) once into a cache outside the
# repository and prints the directory that holds them. KUBEBUILDER_ASSETS (the envtest
# convention) short-circuits the build: the binaries are taken from there as they are.
set -euo pipefail

need=(etcd kube-apiserver kubectl)

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for bin in "${need[@]}"; do
    [[ -x "$KUBEBUILDER_ASSETS/$bin" ]] || {
      echo "KUBEBUILDER_ASSETS='$KUBEBUILDER_ASSETS' has no executable '$bin'" >&2
      exit 2
    }
  done
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2 }' "$here/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2 }' "$here/go.mod")
# The cache key covers go.mod and go.sum, so a version bump rebuilds instead of reusing.
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)
cache="${HELASEID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/helaseid}/kube-$version-$key"

complete=1
for bin in "${need[@]}"; do [[ -x "$cache/$bin" ]] || complete=0; done
if [[ $complete == 1 ]]; then
  echo "$cache"
  exit 0
fi

command -v go >/dev/null || {
  echo "Go is needed to build the test binaries once (or set KUBEBUILDER_ASSETS)" >&2
  exit 2
}

minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done

tmp=$(mktemp -d "${cache}.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$cache")"; mktemp -d "${cache}.tmp.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
echo "building kube-apiserver and kubectl $version, etcd $etcd_version into $cache (first time only)" >&2
start=$(date +%s)
(
  cd "$here"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
)
# Publish atomically: a build interrupted half way never leaves a cache that looks complete.
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "built in $(($(date +%s) - start))s" >&2
echo "$cache"
