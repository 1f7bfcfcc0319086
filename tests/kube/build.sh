#!/usr/bin/env bash
# Builds the test bed's binaries (etcd, kube-apiserver, kubectl) once into a cache outside the
# repository and prints the directory that holds them. KUBEBUILDER_ASSETS (the envtest
# convention) short-circuits the build: the binaries are taken from there as they are.
set -euo pipefail

need=(etcd kube-apiserver kubectl)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/build_lib.sh
source "$here/../build_lib.sh"

given_dir KUBEBUILDER_ASSETS "${need[@]}"

version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2 }' "$here/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2 }' "$here/go.mod")
cache=$(cache_dir "kube-$version" "$here/go.mod" "$here/go.sum")

if has_all "$cache" "${need[@]}"; then
  echo "$cache"
  exit 0
fi

need_go "the test binaries" KUBEBUILDER_ASSETS

minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done

# build DIR: the three binaries into DIR.
build() (
  cd "$here"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$1/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3
)
publish_build "$cache" "kube-apiserver and kubectl $version, etcd $etcd_version" build
echo "$cache"
