#!/usr/bin/env bash
# Builds the kfake test broker (main.go) once into a cache outside the repository and prints the
# path of the binary. HELASEID_KFAKE (a path to a built binary) short-circuits the build.
set -euo pipefail

if [[ -n "${HELASEID_KFAKE:-}" ]]; then
  [[ -x "$HELASEID_KFAKE" ]] || { echo "HELASEID_KFAKE='$HELASEID_KFAKE' is not executable" >&2; exit 2; }
  echo "$HELASEID_KFAKE"
  exit 0
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The cache key covers the module and the program, so any change rebuilds instead of reusing.
key=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)
cache="${HELASEID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/helaseid}/kfake-$key"

if [[ -x "$cache/kfake" ]]; then
  echo "$cache/kfake"
  exit 0
fi

command -v go >/dev/null || {
  echo "Go is needed to build the kfake test broker once (or set HELASEID_KFAKE)" >&2
  exit 2
}

mkdir -p "$(dirname "$cache")"
tmp=$(mktemp -d "${cache}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "building kfake into $cache (first time only)" >&2
start=$(date +%s)
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/kfake" .)
# Publish atomically: a build interrupted half way never leaves a cache that looks complete.
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "built in $(($(date +%s) - start))s" >&2
echo "$cache/kfake"
