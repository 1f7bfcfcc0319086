#!/usr/bin/env bash
# Builds the release lint tools (actionlint, the `tool` of go.mod) once into a cache outside the
# repository and prints the directory that holds them. HELASEID_ACTIONLINT (a path to a built
# binary) short-circuits the build.
set -euo pipefail

if [[ -n "${HELASEID_ACTIONLINT:-}" ]]; then
  [[ -x "$HELASEID_ACTIONLINT" ]] || {
    echo "HELASEID_ACTIONLINT='$HELASEID_ACTIONLINT' is not executable" >&2
    exit 2
  }
  dirname "$HELASEID_ACTIONLINT"
  exit 0
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The cache key covers go.mod and go.sum, so a version bump rebuilds instead of reusing.
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)
cache="${HELASEID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/helaseid}/tools-$key"

if [[ -x "$cache/actionlint" ]]; then
  echo "$cache"
  exit 0
fi

command -v go >/dev/null || {
  echo "Go is needed to build actionlint once (or set HELASEID_ACTIONLINT)" >&2
  exit 2
}

version=$(awk '$1 == "github.com/rhysd/actionlint" && $2 ~ /^v/ { print $2 }' "$here/go.mod")
mkdir -p "$(dirname "$cache")"
tmp=$(mktemp -d "${cache}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "building actionlint $version into $cache (first time only)" >&2
start=$(date +%s)
(
  cd "$here"
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/rhysd/actionlint.version=$version" \
    -o "$tmp/actionlint" github.com/rhysd/actionlint/cmd/actionlint
)
# Publish atomically: a build interrupted half way never leaves a cache that looks complete.
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "built in $(($(date +%s) - start))s" >&2
echo "$cache"
