#!/usr/bin/env bash
# Builds one of the testbed's Python venvs once, and prints its path on stdout.
#
# Usage: venv.sh NAME [CACHE_DIR]   (default: $PGVIP_CACHE, else /var/cache/pgvip)
#   NAME is patroni (Patroni 4 for the testbed's members, requirements-patroni4.txt) or moto
#   (moto's server mode, the independent EC2 implementation the simulator's AWS front is checked
#   against, requirements-moto.txt) or patroni-etcd (the same Patroni with python-etcd, for the
#   failover bench's etcd DCS, requirements-patroni4-etcd.txt).
#
# The venv lives at <cache>/<NAME>-venv-<key>, where <key> is the 64-bit FNV-1a hash of the
# requirements file in hex, so a change of the pins builds a new venv. It is created at
# its final path (venvs hard-code that path in their scripts) with one pip install, and a marker
# file is written last: a venv without the marker (an interrupted build) is removed and rebuilt.
# A lock makes concurrent callers (`make setup`, `testbed up`) build it once. Called by
# .ci/setup, so the first `make demo` needs no network, and by the testbed when it starts.
set -euo pipefail
umask 022
here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: venv.sh patroni|patroni-etcd|moto [CACHE_DIR]}
case "$name" in
  patroni) req="$here/requirements-patroni4.txt"; bins=(patroni patronictl) ;;
  patroni-etcd) req="$here/requirements-patroni4-etcd.txt"; bins=(patroni patronictl) ;;
  moto) req="$here/requirements-moto.txt"; bins=(moto_server) ;;
  *) echo "venv.sh: unknown venv '$name' (patroni, patroni-etcd, moto)" >&2; exit 2 ;;
esac
cache=${2:-${PGVIP_CACHE:-/var/cache/pgvip}}
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
venv="$cache/$name-venv-$key"
marker="$venv/.pgvip-complete"

mkdir -p "$cache"
exec 9>"$cache/.$name-venv.lock"
flock 9
if [ ! -f "$marker" ]; then
  t0=$(date +%s)
  # An interrupted build, or a venv of the earlier two-install scheme (and its .tmp twin).
  rm -rf "$venv" "$venv.tmp"
  "$py" -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  for b in "${bins[@]}"; do
    [ -x "$venv/bin/$b" ] || {
      echo "venv.sh: pip did not install $b into $venv" >&2
      exit 1
    }
  done
  cp "$req" "$marker"
  echo "built the $name venv in $(( $(date +%s) - t0 ))s into $venv" >&2
fi
# Drop venvs of older pins so the cache does not grow without bound.
for old in "$cache/$name"-venv-*; do
  [ "$old" = "$venv" ] || [ ! -d "$old" ] || rm -rf "$old"
done
echo "$venv"
