#!/usr/bin/env bash
# Installs, from Debian, what the benchmark harness needs: the peers' C libraries and
# headers (RocksDB, LMDB, SQLite), Redis for the socket comparison, strace for the sync
# check, and matplotlib for the chart. Idempotent: silent when everything is present.
set -euo pipefail

pkgs=(gcc make librocksdb-dev liblmdb-dev libsqlite3-dev redis-server redis-tools strace
      python3 python3-matplotlib)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bench/setup.sh: installing ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
