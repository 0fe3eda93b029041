"""debug: its syntax, a plugin failure logged with its traceback, debug-level lines while it runs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import dns.rcode
import pytest

from conftest import kdns_server
from kdns import plugins
from kdns.config import config_from_text
from kdns.errors import ConfigError
from kdns.plugins.whoami.handler import Handler as Whoami
from kdns.request import Request
from kdns.response import Response

README = Path(plugins.__file__).parent / "debug" / "README.md"
EXAMPLE = re.compile(r"~~~ corefile\n(.*?)~~~", re.S)


@pytest.mark.parametrize("lines, line, words", [
    ("    debug now", 2, "wrong argument count"),
    ("    debug {\n      stack\n    }", 3, "unknown property 'stack'"),
    ("    debug\n    debug", 3, "only be used once"),
])
def test_setup_bad(lines: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_text(f".:53 {{\n{lines}\n    whoami\n}}\n", "Corefile")
    assert (info.value.file, info.value.line, info.value.directive) == ("Corefile", line, "debug")
    assert words in info.value.message


async def failing(self: Whoami, req: Request) -> Response:
    raise RuntimeError("whoami fell over")


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "without"])
async def test_plugin_failure_is_logged_with_its_traceback(
    debug: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Whoami, "__call__", failing)
    corefile = ".:0 {\n" + ("    debug\n" if debug else "") + "    whoami\n}\n"
    caplog.set_level(logging.INFO)
    async with kdns_server(corefile) as server:
        msg = await server.query("example.org", "A")
        assert msg.rcode() == dns.rcode.SERVFAIL
    (record,) = [r for r in caplog.records if "whoami fell over" in r.getMessage()]
    if debug:
        assert record.exc_info is not None
        text = logging.Formatter().formatException(record.exc_info)
        assert "Traceback" in text and "in failing" in text and "RuntimeError: whoami fell over" in text
    else:
        assert not record.exc_info


async def test_debug_lines_while_it_runs_and_the_old_level_after(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)
    try:
        corefile = EXAMPLE.findall(README.read_text())[0].replace(". {", ".:0 {")
        async with kdns_server(corefile, directory=tmp_path) as server:
            assert root.level == logging.DEBUG
            # A reload to a Corefile without debug goes back to the level before.
            server.corefile.write_text(".:0 {\n    whoami\n}\n")
            assert await server.app.reload()
            assert root.level == logging.INFO
            server.corefile.write_text(".:0 {\n    debug\n    whoami\n}\n")
            assert await server.app.reload()
            assert root.level == logging.DEBUG
        assert root.level == logging.INFO
    finally:
        root.setLevel(before)
