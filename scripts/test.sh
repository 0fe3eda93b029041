#!/usr/bin/env bash
# The README's test command: installs everything the tests use (Debian packages, and kdns with its
# test extra into .venv, see scripts/venv.sh), then runs pytest from .venv with the arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh

# dig, dnsperf, busybox nslookup: real clients; dnsmasq: a real upstream; unbound: a real
# DNS-over-TLS upstream, openssl: its test certificates; tinyproxy: a real HTTP proxy to the API;
# iproute2: the pod netns test; a compiler and Python's headers: kdns's C module, which the tests
# cover beside its fallback.
# shellcheck disable=SC2046  # one word per package
kdns_apt_install bind9-dnsutils dnsperf dnsmasq iproute2 busybox unbound openssl tinyproxy $(kdns_build_packages)
kdns_venv "[test]"
exec python -m pytest "$@"
