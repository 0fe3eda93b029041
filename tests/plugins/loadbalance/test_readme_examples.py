"""The Corefile examples in the forward, proxy, cache and loadbalance READMEs parse (docs cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kdns import plugins
from kdns.corefile.parser import parse

PLUGIN_DIR = Path(plugins.__file__).parent
EXAMPLE = re.compile(r"~~~ corefile\n(.*?)~~~", re.S)


def examples() -> list[tuple[str, int, str]]:
    out = []
    for name in ("forward", "proxy", "cache", "loadbalance"):
        text = (PLUGIN_DIR / name / "README.md").read_text()
        for i, block in enumerate(EXAMPLE.findall(text)):
            out.append((name, i, block))
    return out


@pytest.mark.parametrize("name, index, corefile", examples())
def test_readme_example_parses(name, index, corefile):
    blocks = parse(corefile, f"{name}/README.md", known=lambda n: True)
    parsed = 0
    for block in blocks:
        for d in block.directives:
            spec = plugins.get(d.name.text)
            if d.name.text in ("forward", "proxy", "cache", "loadbalance"):
                if "/etc/resolv.conf" in d.values and not Path("/etc/resolv.conf").is_file():
                    continue
                assert spec is not None
                spec.parse(d)
                parsed += 1
    assert parsed >= 1
