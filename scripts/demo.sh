#!/usr/bin/env bash
# The README's first command: installs kdns into .venv (see scripts/venv.sh) and starts it on
# 127.0.0.1:1053 with Corefile.example, answering from the bundled demo cluster in demo/. Ctrl-C
# stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
kdns_venv
exec python -m kdns -conf Corefile.example "$@"
