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
# shellcheck source=tests/build_lib.sh
source "$here/../build_lib.sh"
# The key covers the program too, so any change to it rebuilds.
cache=$(cache_dir kfake "$here/go.mod" "$here/go.sum" "$here/main.go")

if has_all "$cache" kfake; then
  echo "$cache/kfake"
  exit 0
fi

need_go "the kfake test broker" HELASEID_KFAKE

# build DIR: kfake into DIR.
build() (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/kfake" .)
publish_build "$cache" kfake build
echo "$cache/kfake"
