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
# shellcheck source=tests/build_lib.sh
source "$here/../build_lib.sh"
cache=$(cache_dir tools "$here/go.mod" "$here/go.sum")

if has_all "$cache" actionlint; then
  echo "$cache"
  exit 0
fi

need_go actionlint HELASEID_ACTIONLINT

version=$(awk '$1 == "github.com/rhysd/actionlint" && $2 ~ /^v/ { print $2 }' "$here/go.mod")
# build DIR: actionlint into DIR.
build() (
  cd "$here"
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/rhysd/actionlint.version=$version" \
    -o "$1/actionlint" github.com/rhysd/actionlint/cmd/actionlint
)
publish_build "$cache" "actionlint $version" build
echo "$cache"
