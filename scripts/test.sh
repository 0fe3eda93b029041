#!/usr/bin/env bash
# The README's test command: installs everything the tests use, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if command -v apt-get >/dev/null 2>&1; then
  # dig, dnsperf, busybox nslookup: real clients; dnsmasq: a real upstream; unbound: a real
  # DNS-over-TLS upstream, openssl: its test certificates; iproute2: the pod netns test.
  missing=""
  for pkg in bind9-dnsutils dnsperf dnsmasq iproute2 busybox unbound openssl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  fi
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
