#!/usr/bin/env bash
# Builds the ecosystem test tools (helm, promtool) once into a cache outside the repository and
# prints the directory that holds them. HELASEID_ECOSYSTEM_TOOLS (a directory holding executable
# helm and promtool) short-circuits the build.
set -euo pipefail

need=(helm promtool)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/build_lib.sh
source "$here/../build_lib.sh"

given_dir HELASEID_ECOSYSTEM_TOOLS "${need[@]}"
cache=$(cache_dir ecosystem "$here/go.mod" "$here/go.sum" "$here/tools.go")

if has_all "$cache" "${need[@]}"; then
  echo "$cache"
  exit 0
fi

need_go "helm and promtool" HELASEID_ECOSYSTEM_TOOLS

# build DIR: helm and promtool into DIR.
build() (
  cd "$here"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/" \
    helm.sh/helm/v4/cmd/helm github.com/prometheus/prometheus/cmd/promtool
)
publish_build "$cache" "helm and promtool" build
echo "$cache"
