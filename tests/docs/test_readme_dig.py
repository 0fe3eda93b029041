"""The README's dig examples, run against Corefile.example and its demo cluster: docs cannot rot.

Every `$ dig ... +short` line in a ```console block of README.md is run with dig against kdns started
from Corefile.example (the demo's own config), and must print the lines the README shows (as a set:
loadbalance shuffles addresses). The one change: `forward` points at a loopback test upstream, never
at this machine's resolv.conf.
"""

from __future__ import annotations

import re
import shlex

from conftest import REPO, kdns_server
from upstreams import FakeUpstream

EXAMPLE = re.compile(r"^\$ (dig .*\+short)\n((?:[^$`\n].*\n)*)", re.M)


def readme_examples() -> list[tuple[list[str], list[str]]]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    examples = []
    for block in blocks:
        for command, output in EXAMPLE.findall(block):
            args = shlex.split(command)[1:]
            args = [a for a in args if not a.startswith("@")]
            if "-p" in args:
                i = args.index("-p")
                del args[i : i + 2]
            examples.append((args, output.splitlines()))
    return examples


def test_readme_has_examples_for_every_kind_of_name() -> None:
    commands = " ".join(" ".join(args) for args, _ in readme_examples())
    for needle in ("SRV", "-x", "AAAA", "db-0.db", "pod.cluster.local", "dns-version", "frontend"):
        assert needle in commands


async def test_readme_dig_examples_print_what_the_readme_shows() -> None:
    corefile = (REPO / "Corefile.example").read_text()
    async with FakeUpstream(records={("www.example.com.", "A"): ["www.example.com. 60 IN A 93.184.215.14"]}) as up:
        corefile = corefile.replace("forward . /etc/resolv.conf", f"forward . {up.address}")
        corefile = corefile.replace("manifests demo/", f"manifests {REPO / 'demo'}/")
        corefile = re.sub(r"localhost:\d+", "127.0.0.1:0", corefile).replace(".:1053", ".:0")
        async with kdns_server(corefile) as server:
            for args, expected in readme_examples():
                out = await server.dig(*args)
                assert sorted(out.splitlines()) == sorted(expected), f"dig {' '.join(args)}"
            # The ExternalName the README describes in prose: chased through forward.
            out = await server.dig("search.demo.svc.cluster.local", "+short")
            assert out.splitlines() == ["www.example.com.", "93.184.215.14"]
