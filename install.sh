#!/bin/sh
# Installs a HELASEID release binary, checked against the release's SHA256SUMS.
#
#   curl -fsSL https://github.com/helaseid/helaseid/releases/download/v0.1.0/install.sh | sh -s -- --version 0.1.0
#
# POSIX sh. Needs curl or wget, tar, and sha256sum or shasum. Never asks for root: it writes only
# to the install directory, so run it with sudo only when that directory needs it.
set -eu

BASE_URL_DEFAULT=https://github.com/helaseid/helaseid/releases

usage() {
  cat <<'EOF'
Usage: install.sh [--version VERSION] [--dir DIR] [--base-url URL]

Downloads helaseid-VERSION-OS-ARCH.tar.gz and SHA256SUMS of a HELASEID release, verifies the
archive's SHA-256 and installs the binary as DIR/helaseid.

  --version VERSION  release to install, e.g. 0.1.0 (default: the latest release)
  --dir DIR          install directory (default: /usr/local/bin if writable, else ~/.local/bin)
  --base-url URL     where releases are (default: https://github.com/helaseid/helaseid/releases);
                     files are read from URL/download/vVERSION/ or URL/latest/download/
  -h, --help         this help

Environment: HELASEID_VERSION, HELASEID_INSTALL_DIR and HELASEID_BASE_URL stand for the flags.
Supported: Linux and macOS on x86_64 (amd64) and aarch64 (arm64).
EOF
}

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

version=${HELASEID_VERSION:-}
dir=${HELASEID_INSTALL_DIR:-}
base_url=${HELASEID_BASE_URL:-$BASE_URL_DEFAULT}

while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --version) [ $# -ge 2 ] || fail "--version needs a value"; version=$2; shift 2 ;;
    --version=*) version=${1#*=}; shift ;;
    --dir) [ $# -ge 2 ] || fail "--dir needs a value"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    --base-url) [ $# -ge 2 ] || fail "--base-url needs a value"; base_url=$2; shift 2 ;;
    --base-url=*) base_url=${1#*=}; shift ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
version=${version#v}
base_url=${base_url%/}

check_version() { # a release's version: digits first, then only what a tag may hold
  case $version in
    [0-9]*.*[0-9]*.*[0-9]*) ;;
    *) fail "'$version' is not a version such as 0.2.0" ;;
  esac
  case $version in
    *[!0-9A-Za-z.+-]*) fail "'$version' is not a version such as 0.2.0" ;;
  esac
}
[ -z "$version" ] || check_version

# ---- platform: the names of deno.json's compile tasks ----------------------------------------
uname_s=$(uname -s)
case $uname_s in
  Linux) os=linux ;;
  Darwin) os=macos ;;
  *) fail "unsupported operating system '$uname_s': releases exist for Linux and macOS (or run the bundle with Deno, see the README)" ;;
esac
uname_m=$(uname -m)
case $uname_m in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) fail "unsupported architecture '$uname_m': releases exist for x86_64 (amd64) and aarch64 (arm64)" ;;
esac

# ---- tools ------------------------------------------------------------------------------------
if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  fail "curl or wget is needed to download the release"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
  fail "sha256sum or shasum is needed to verify the download"
fi
command -v tar >/dev/null 2>&1 || fail "tar is needed to unpack the release"
case $base_url in
  https://*) ;;
  *) echo "install.sh: warning: '$base_url' is not https: the checksum then only guards against corruption" >&2 ;;
esac

# ---- install directory: chosen before downloading, so that a refusal costs nothing -------------
if [ -z "$dir" ]; then
  if [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
    dir=/usr/local/bin
  else
    [ -n "${HOME:-}" ] || fail "HOME is not set: choose a directory with --dir"
    dir=$HOME/.local/bin
  fi
fi
cannot_write="cannot write to '$dir': choose another with --dir, or run as a user who may (e.g. with sudo)"
if [ -e "$dir" ] && { [ ! -d "$dir" ] || [ ! -w "$dir" ]; }; then fail "$cannot_write"; fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t helaseid)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

download() { # URL FILE
  fetch "$1" "$2" || fail "cannot download '$1' (is version '${version:-latest}' released for $os-$arch?)"
}

# ---- version: the latest release's SHA256SUMS names it -----------------------------------------
if [ -z "$version" ]; then
  download "$base_url/latest/download/SHA256SUMS" "$tmp/SHA256SUMS"
  version=$(sed -n "s/^[0-9a-f]\{64\}  helaseid-\(.*\)-$os-$arch\.tar\.gz\$/\1/p" "$tmp/SHA256SUMS" | head -n 1)
  [ -n "$version" ] || fail "the latest release's SHA256SUMS lists no archive for $os-$arch"
else
  download "$base_url/download/v$version/SHA256SUMS" "$tmp/SHA256SUMS"
fi
check_version
archive="helaseid-$version-$os-$arch.tar.gz"

# ---- download and verify -----------------------------------------------------------------------
expected=$(awk -v name="$archive" '$2 == name || $2 == "*" name { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || fail "SHA256SUMS of $version has no entry for $archive"
download "$base_url/download/v$version/$archive" "$tmp/$archive"
actual=$(sha256 "$tmp/$archive")
if [ "$actual" != "$expected" ]; then
  fail "checksum mismatch for $archive: SHA256SUMS says $expected, the download is $actual; refusing to install (download again, or report it if it persists)"
fi
echo "verified $archive (sha256 $actual)" >&2

mkdir "$tmp/unpacked"
tar -xzf "$tmp/$archive" -C "$tmp/unpacked" helaseid || fail "cannot unpack helaseid from $archive"

# ---- install -----------------------------------------------------------------------------------
mkdir -p "$dir" 2>/dev/null || fail "cannot create '$dir': choose another with --dir, or run as a user who may (e.g. with sudo)"
[ -w "$dir" ] || fail "$cannot_write"
# Copied next to the target, then renamed: a running helaseid is never overwritten in place.
cp "$tmp/unpacked/helaseid" "$dir/.helaseid.$$" || fail "cannot write to '$dir'"
chmod 755 "$dir/.helaseid.$$"
mv -f "$dir/.helaseid.$$" "$dir/helaseid" || { rm -f "$dir/.helaseid.$$"; fail "cannot replace '$dir/helaseid'"; }

echo "installed $dir/helaseid" >&2
"$dir/helaseid" version || echo "install.sh: warning: '$dir/helaseid version' failed" >&2
case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *) echo "note: $dir is not in PATH; add it, e.g. export PATH=\"$dir:\$PATH\"" >&2 ;;
esac
