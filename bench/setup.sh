#!/usr/bin/env bash
# Installs what the socket benchmark compares against: redis-server and redis-benchmark
# (Debian packages redis-server and redis-tools).
set -euo pipefail
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  echo "redis-server and redis-benchmark are installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update
$SUDO apt-get install -y redis-server redis-tools
