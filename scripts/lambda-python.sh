#!/bin/sh
# Print the path of a Python of the Lambda runtime's version (default 3.13), to compile the artifacts'
# bytecode with: /var/task is read-only, so a module shipped without bytecode for the runtime's own
# Python is compiled again on every cold start (about 110 ms for the poller, more than all of its code).
#
# Looks for $LAMBDA_PYTHON, then pythonX.Y on PATH, then a copy cached by an earlier run. On a
# Debian-like machine without one, it fetches Debian's build of that Python (.deb files from
# deb.debian.org, checked against the Debian archive keyring, unpacked into the user's cache: nothing is
# installed system-wide) and runs it with its own C library. Exits 1, saying why, when none can be had.
#
# Debian testing's build comes first: it follows upstream's patch releases, as the Lambda runtime does,
# while stable keeps its first one (trixie: 3.13.5, which still has CPython gh-142183, calls that cross
# a stack-chunk boundary re-allocating it each time: 30 ms of the batch function's import chain here).
# Stable's is the fallback, for when testing has dropped that version or its build does not run.
set -eu

version="${1:-3.13}"
# Named for where it came from: a copy from stable (named python$version) is fetched again from testing.
cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/sidekiq-watch/debian-python$version"
# Beside the interpreter, so Python finds its standard library from the name it is started by; that
# name is sys.executable, so subprocesses (tests run some) start through the wrapper too.
wrapper="$cache/usr/bin/python3"

says_version() {  # $1 runs as a Python and reports $version
  [ -n "$1" ] && [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$version" ]
}

for candidate in "${LAMBDA_PYTHON:-}" "$(command -v "python$version" 2>/dev/null || true)" "$wrapper"; do
  if says_version "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done
if [ -n "${LAMBDA_PYTHON:-}" ]; then
  echo "LAMBDA_PYTHON=$LAMBDA_PYTHON is not a Python $version" >&2
  exit 1
fi

case "$version" in
  3.13) suite=trixie ;;
  *) echo "no python$version found, and no Debian suite known to ship it: install python$version" >&2; exit 1 ;;
esac
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1 || [ ! -r "$keyring" ]; then
  echo "no python$version found; install it (e.g. 'uv python install $version' or your package manager)" >&2
  exit 1
fi

# Unpacked beside its final place, so moving it there is one rename on one file system.
mkdir -p "$(dirname "$cache")"
work="$(mktemp -d "$cache.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Fetches python$version from the Debian suites in $1 and unpacks it into $work/$2/root; fails unless
# it starts and has the modules the tests and the build use.
fetch() {
  dir="$work/$2"
  mkdir -p "$dir/sources" "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs" "$dir/root"
  cat >"$dir/sources/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $1
Components: main
Signed-By: $keyring
EOF
  # apt's own state and the system's sources are left alone: everything lives under $dir.
  apt_options="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$dir/sources \
    -o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache -o Dir::State::status=/dev/null \
    -o APT::Sandbox::User=root -o Debug::NoLocking=1"
  echo "fetching python$version from Debian $1 into $cache (once)" >&2
  # shellcheck disable=SC2086
  apt-get $apt_options -qq update >&2 || return 1
  # The interpreter, its standard library and the C libraries they link (a newer glibc than this machine's).
  # shellcheck disable=SC2086
  (cd "$dir/debs" && apt-get $apt_options -qq download \
    "python$version-minimal" "libpython$version-minimal" "libpython$version-stdlib" \
    libc6 zlib1g libexpat1 libssl3t64 libffi8 libbz2-1.0 liblzma5 libmpdec4 libsqlite3-0 libuuid1 libzstd1 >&2) ||
    return 1
  for deb in "$dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$dir/root" || return 1
  done
  loader="$(find "$dir/root/usr/lib" -maxdepth 2 -name 'ld-linux-*.so.*' | head -n 1)"
  [ -n "$loader" ] && "$loader" --library-path "$(dirname "$loader")" "$dir/root/usr/bin/python$version" \
    -c 'import bz2, ctypes, decimal, hashlib, lzma, pyexpat, sqlite3, ssl, uuid, zlib' >/dev/null 2>&1
}

if fetch testing testing; then
  root="$work/testing/root"
elif fetch "$suite $suite-updates" stable; then
  root="$work/stable/root"
else
  echo "no python$version that runs here could be fetched from Debian testing or $suite" >&2
  exit 1
fi
loader="$(find "$root/usr/lib" -maxdepth 2 -name 'ld-linux-*.so.*' | head -n 1)"
libraries="$(dirname "$loader")"
cat >"$root/usr/bin/python3" <<EOF
#!/bin/sh
exec "$cache/${loader#"$root/"}" --argv0 "$wrapper" --library-path "$cache/${libraries#"$root/"}" \\
  "$cache/usr/bin/python$version" "\$@"
EOF
chmod +x "$root/usr/bin/python3"
[ ! -e "$cache" ] || says_version "$wrapper" || rm -rf "$cache"  # a broken or older copy
# Into place in one rename; a build running beside this one (sam build --parallel) may have won.
if mv -T "$root" "$cache" 2>/dev/null; then
  # Debian compiles the standard library when the package is installed; unpacked, it would be
  # compiled on every start of this interpreter. Some test modules do not compile: that is expected.
  "$wrapper" -m compileall -q "$cache/usr/lib/python$version" >/dev/null 2>&1 || true
fi
if ! says_version "$wrapper"; then
  echo "fetched Debian's python$version into $cache, but it does not run on this machine" >&2
  exit 1
fi
echo "$wrapper"
