#!/usr/bin/env bash
# Builds the ecosystem test tools (helm, promtool) once into a cache outside the repository and
# prints the directory that holds them. HELASEID_ECOSYSTEM_TOOLS (a directory holding executable
# helm and promtool) short-circuits the build.
set -euo pipefail

need=(helm promtool)

if [[ -n "${HELASEID_ECOSYSTEM_TOOLS:-}" ]]; then
  for bin in "${need[@]}"; do
    [[ -x "$HELASEID_ECOSYSTEM_TOOLS/$bin" ]] || {
      echo "HELASEID_ECOSYSTEM_TOOLS='$HELASEID_ECOSYSTEM_TOOLS' has no executable '$bin'" >&2
      exit 2
    }
  done
  echo "$HELASEID_ECOSYSTEM_TOOLS"
  exit 0
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The cache key covers the module, so a version bump rebuilds instead of reusing.
key=$(cat "$here/go.mod" "$here/go.sum" "$here/tools.go" | sha256sum | cut -c1-12)
cache="${HELASEID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/helaseid}/ecosystem-$key"

complete=1
for bin in "${need[@]}"; do [[ -x "$cache/$bin" ]] || complete=0; done
if [[ $complete == 1 ]]; then
  echo "$cache"
  exit 0
fi

command -v go >/dev/null || {
  echo "Go is needed to build helm and promtool once (or set HELASEID_ECOSYSTEM_TOOLS)" >&2
  exit 2
}

mkdir -p "$(dirname "$cache")"
tmp=$(mktemp -d "${cache}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "building helm and promtool into $cache (first time only)" >&2
start=$(date +%s)
(
  cd "$here"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/" \
    helm.sh/helm/v4/cmd/helm github.com/prometheus/prometheus/cmd/promtool
)
# Publish atomically: a build interrupted half way never leaves a cache that looks complete.
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "built in $(($(date +%s) - start))s" >&2
echo "$cache"
