#!/usr/bin/env bash
# Builds the testbed's Patroni 4 venv once, and prints its path on stdout.
#
# Usage: patroni-venv.sh [CACHE_DIR]   (default: $PGVIP_CACHE, else /var/cache/pgvip)
#
# The venv lives at <cache>/patroni-venv-<key>, where <key> is the 64-bit FNV-1a hash of
# requirements-patroni4.txt in hex, so a change of the pins builds a new venv. It is created at
# its final path (venvs hard-code that path in their scripts) with one pip install, and a marker
# file is written last: a venv without the marker (an interrupted build) is removed and rebuilt.
# A lock makes concurrent callers (`make setup`, `testbed up`) build it once. Called by
# .ci/setup, so the first `make demo` needs no network, and by the testbed when it starts.
set -euo pipefail
umask 022
here=$(cd "$(dirname "$0")" && pwd)
req="$here/requirements-patroni4.txt"
cache=${1:-${PGVIP_CACHE:-/var/cache/pgvip}}
# Debian's python3, not whatever is first on PATH: the venv must be usable by the postgres user.
py=/usr/bin/python3

key=$("$py" - "$req" <<'EOF'
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
print(f"{h:016x}")
EOF
)
venv="$cache/patroni-venv-$key"
marker="$venv/.pgvip-complete"

mkdir -p "$cache"
exec 9>"$cache/.patroni-venv.lock"
flock 9
if [ ! -f "$marker" ]; then
  t0=$(date +%s)
  # An interrupted build, or a venv of the earlier two-install scheme (and its .tmp twin).
  rm -rf "$venv" "$venv.tmp"
  "$py" -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  [ -x "$venv/bin/patroni" ] && [ -x "$venv/bin/patronictl" ] || {
    echo "patroni-venv: pip did not install patroni into $venv" >&2
    exit 1
  }
  cp "$req" "$marker"
  echo "built the Patroni 4 venv in $(( $(date +%s) - t0 ))s into $venv" >&2
fi
# Drop venvs of older pins so the cache does not grow without bound.
for old in "$cache"/patroni-venv-*; do
  [ "$old" = "$venv" ] || [ ! -d "$old" ] || rm -rf "$old"
done
echo "$venv"
