"""The command line of `kdns explain` (kdns extension; explain.py explains): offline on manifests,
or asking a running kdns through the `explain` endpoint of its kubernetes block."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dnslib import QTYPE

from kdns.config import load_config
from kdns.errors import KdnsError
from kdns.plugins.kubernetes.config import Config
from kdns.plugins.kubernetes.explain import explain, next_plugin
from kdns.plugins.kubernetes.handler import Handler
from kdns.plugins.kubernetes.manifests import ManifestError, ManifestSource

DEFAULT_ZONES = ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")


@dataclass
class _Block:
    """The BlockInfo of an offline handler: only its zones are read."""

    zones: list[str]
    addresses: list[tuple[str, int]]
    app: Any = None
    resolve: Any = None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kdns explain",
        description="Show which Kubernetes objects made a DNS answer of the kubernetes plugin, and by which rule.",
    )
    p.add_argument("name", help="the name asked, e.g. web.demo.svc.cluster.local")
    p.add_argument("type", nargs="?", default="A", help="the record type (default A)")
    p.add_argument("--manifests", action="append", metavar="PATH", default=[],
                   help="offline: serve the objects in these YAML/JSON files or directories")
    p.add_argument("-conf", "--conf", metavar="FILE",
                   help="offline: take the kubernetes options (zones, pods, ttl, ...) from this Corefile")
    p.add_argument("--server", metavar="HOST:PORT",
                   help="ask a running kdns through the `explain` endpoint of its kubernetes block")
    return p


def offline_handler(manifests: Sequence[str], corefile: str | None) -> Handler:
    """A kubernetes handler serving manifests, with the options of corefile's first kubernetes block."""
    config, zones = Config(), list(DEFAULT_ZONES)
    if corefile:
        uses = [(use, bc) for bc in load_config(corefile).blocks for use in bc.plugins if use.name == "kubernetes"]
        if not uses:
            raise ManifestError(f"{corefile}: no kubernetes block")
        config, zones = uses[0][0].config, [key.zone for key in uses[0][1].keys]
    config = dataclasses.replace(config, manifests=tuple(manifests), endpoint="", kubeconfig="", explain=None)
    handler = Handler(next_plugin, config)
    handler.attach(_Block(zones, []))
    handler.index.keep_versions()
    if not ManifestSource(manifests, handler.index).reload():
        raise ManifestError("the manifests could not be read (see the error above)")
    return handler


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.type.upper() not in QTYPE.reverse:
        print(f"kdns explain: unknown record type {args.type!r}", file=sys.stderr)
        return 2
    if bool(args.server) == bool(args.manifests):
        print("kdns explain: give either --manifests PATH or --server HOST:PORT", file=sys.stderr)
        return 2
    if args.server:
        return asyncio.run(_ask_server(args.server, args.name, args.type.upper()))
    try:
        handler = offline_handler(args.manifests, args.conf)
    except KdnsError as e:
        print(f"kdns explain: {e}", file=sys.stderr)
        return 1
    try:
        text = asyncio.run(explain(handler, args.name, args.type.upper()))
    except ValueError as e:
        print(f"kdns explain: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


async def _ask_server(server: str, name: str, qtype: str) -> int:
    from kdns.plugins.kubernetes.httpclient import HttpClient, HttpError

    url = f"http://{server}/explain"
    try:
        client = HttpClient(f"http://{server}")
    except ValueError as e:
        print(f"kdns explain: --server {server}: {e}", file=sys.stderr)
        return 1
    try:
        async with asyncio.timeout(10):
            response = await client.get(f"/explain?{urllib.parse.urlencode({'name': name, 'type': qtype})}", {}, 10)
            text = (await response.read()).decode("utf-8", "replace")
    except (HttpError, TimeoutError) as e:
        print(f"kdns explain: {url}: {e or 'no answer in 10 s'}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    (sys.stdout if response.status == 200 else sys.stderr).write(text)
    return 0 if response.status == 200 else 1
