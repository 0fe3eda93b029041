"""Run the fake kube-apiserver as a process of its own, loaded from YAML files.

The pod-view test starts this under `ip netns exec <server namespace>`, so that kdns, running in
the same namespace, reaches it on that namespace's own loopback and no packet leaves the
namespaces the test made.

    python tests/e2e/fakeapi_main.py --objects cluster.yaml [--objects more.yaml] [--host 127.0.0.1]

Prints one JSON line once listening, {"api": "http://127.0.0.1:PORT"}, then serves until its
stdin closes or it gets SIGTERM/SIGINT; every JSON line written to its stdin is an object created.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fakeapi.server import FakeApi  # noqa: E402


def load_objects(paths: list[str]) -> list[dict[str, Any]]:
    """Every object in the YAML files, `kind: List` unpacked; comments and empty documents skipped."""
    objects: list[dict[str, Any]] = []
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")):
            if not doc:
                continue
            if str(doc.get("kind", "")).endswith("List") and "items" in doc:
                objects.extend(doc["items"])
            else:
                objects.append(doc)
    return objects


async def serve(args: argparse.Namespace) -> None:
    api = FakeApi(load_objects(args.objects), host=args.host)
    await api.start()
    print(json.dumps({"api": api.url}), flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent closing our stdin (or dying) ends us too, so nothing outlives the test. Each
    # line it writes is an API object (JSON) to create, as a controller would, while kdns watches.
    stdin = sys.stdin.fileno()
    pending = bytearray()

    def read_input() -> None:
        chunk = os.read(stdin, 65536)
        if not chunk:
            stop.set()
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip():
                api.create(json.loads(line))

    loop.add_reader(stdin, read_input)
    try:
        await stop.wait()
    finally:
        loop.remove_reader(stdin)
        await api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", action="append", default=[], help="YAML file of API objects")
    parser.add_argument("--host", default="127.0.0.1")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
