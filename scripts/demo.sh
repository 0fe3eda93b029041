#!/usr/bin/env bash
# The README's first command: installs kdns and starts it on 127.0.0.1:1053 with Corefile.example,
# answering from the bundled demo cluster in demo/. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e .
exec python3 -m kdns -conf Corefile.example "$@"
