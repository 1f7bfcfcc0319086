# shellcheck shell=bash
# Sourced by tests/*/build.sh: the cache every test binary is built into once, outside the
# repository, and its atomic publish. Each build.sh keeps what is its own (what it builds, the
# variable that short-circuits it, the path it prints).

# given_dir NAME BIN...: when the variable NAME is set (a directory of built binaries), prints it
# and exits 0 if it holds every BIN as an executable, else exits 2 naming the missing one.
given_dir() {
  local name=$1 dir=${!1:-} bin
  shift
  [[ -n $dir ]] || return 0
  for bin in "$@"; do
    [[ -x "$dir/$bin" ]] || {
      echo "$name='$dir' has no executable '$bin'" >&2
      exit 2
    }
  done
  echo "$dir"
  exit 0
}

# cache_dir NAME FILE...: prints the cache directory NAME-<key>, the key a hash of the FILEs, so a
# change to any of them (a version bump) rebuilds instead of reusing.
cache_dir() {
  local name=$1 key
  shift
  key=$(cat "$@" | sha256sum | cut -c1-12)
  echo "${HELASEID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/helaseid}/$name-$key"
}

# has_all DIR BIN...: true when every BIN is an executable in DIR.
has_all() {
  local dir=$1 bin
  shift
  for bin in "$@"; do [[ -x "$dir/$bin" ]] || return 1; done
}

# need_go WHAT VARIABLE: exits 2 (naming the VARIABLE that short-circuits the build) without Go.
need_go() {
  command -v go >/dev/null || {
    echo "Go is needed to build $1 once (or set $2)" >&2
    exit 2
  }
}

build_tmp=""

# publish_build CACHE WHAT COMMAND...: runs COMMAND with a fresh directory beside CACHE as its last
# argument, then moves that directory to CACHE. Atomic: a build interrupted half way never leaves
# a cache that looks complete.
publish_build() {
  local cache=$1 what=$2 start
  shift 2
  mkdir -p "$(dirname "$cache")"
  build_tmp=$(mktemp -d "${cache}.tmp.XXXXXX")
  trap 'rm -rf "$build_tmp"' EXIT
  echo "building $what into $cache (first time only)" >&2
  start=$(date +%s)
  "$@" "$build_tmp"
  rm -rf "$cache"
  mv "$build_tmp" "$cache"
  trap - EXIT
  echo "built in $(($(date +%s) - start))s" >&2
}
