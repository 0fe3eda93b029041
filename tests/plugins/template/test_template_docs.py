"""The plugin README's examples: every Corefile in it loads, and the table tests run exactly those."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from plugins.template import test_template_readme as readme

from kdns.config import config_from_text

README = Path(__file__).resolve().parents[3] / "kdns" / "plugins" / "template" / "README.md"
BLOCKS = re.findall(r"~~~ corefile\n(.*?)~~~", README.read_text(), re.S)


def _norm(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("corefile", BLOCKS)
def test_every_readme_example_loads(corefile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTNAME", "host1.engineering.coredns.io")
    config = config_from_text(corefile)
    assert any(use.name == "template" for use in config.blocks[0].plugins)


def test_the_tested_examples_are_the_readme_examples() -> None:
    documented = {_norm(block) for block in BLOCKS}
    tested = {_norm(corefile) for corefile, _ in readme.EXAMPLES}
    assert tested <= documented
    assert len(documented - tested) == 1  # the operator example, run in test_template_server.py
