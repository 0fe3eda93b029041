"""The rewrite README's Corefile examples load, and its two cluster examples answer as it says
(docs cannot rot). The rule-by-rule README examples are in test_rewrite_handler.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import kdns_server
from plugins.rewrite.test_rewrite_server import SERVICE

from kdns import plugins
from kdns.config import load_config

README = Path(plugins.__file__).parent / "rewrite" / "README.md"
EXAMPLE = re.compile(r"~~~ corefile\n(.*?)~~~", re.S)
EXAMPLES = EXAMPLE.findall(README.read_text())


def test_readme_has_its_examples() -> None:
    assert len(EXAMPLES) >= 6
    for heading in ("## Name", "## Description", "## Syntax", "## Examples", "## Metrics"):
        assert heading in README.read_text()


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example_loads(index: int, tmp_path: Path) -> None:
    path = tmp_path / "Corefile"
    path.write_text(EXAMPLES[index])
    config = load_config(str(path), default_port=0)
    uses = [use for block in config.blocks for use in block.plugins if use.name == "rewrite"]
    assert uses and all(use.config.rules for use in uses)


def cluster_example(text: str, manifests: Path) -> str:
    """A README example served from manifests on a free port, without its forward line."""
    text = text.replace(".:53", ".:0")
    text = re.sub(r"(kubernetes [^\n{]*)\n", rf"\1 {{\n        manifests {manifests}\n    }}\n", text)
    return "\n".join(line for line in text.splitlines() if "forward" not in line) + "\n"


@pytest.mark.parametrize("index,asked", [
    (0, "web.demo.example.com"),
    (1, "web.x-demo-x-vcluster.svc.cluster.local"),
])
async def test_readme_cluster_examples(index: int, asked: str, tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(SERVICE.format(ip="10.96.0.10"))
    async with kdns_server(cluster_example(EXAMPLES[index], tmp_path)) as server:
        msg = await server.query(asked, "A")
        assert msg.question[0].name.to_text() == asked + "."
        assert [(r.name.to_text(), [rd.address for rd in r]) for r in msg.answer] == [(asked + ".", ["10.96.0.10"])]


def test_kdns_plugins_lists_rewrite() -> None:
    import subprocess
    import sys

    from conftest import REPO

    out = subprocess.run([sys.executable, "-m", "kdns", "-plugins"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "dns.rewrite" in out.stdout.split()
    # In chain order: after cache, before hosts and kubernetes (CoreDNS's plugin.cfg).
    names = out.stdout.split()
    assert names.index("dns.cache") < names.index("dns.rewrite") < names.index("dns.kubernetes")
