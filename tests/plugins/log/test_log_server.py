"""log over a real socket: the line for a dig query, with the client's real address and port."""

from __future__ import annotations

import logging
import re

import pytest

from conftest import kdns_server


async def test_dig_query_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kdns.plugins.log")
    async with kdns_server(". {\n    log\n    whoami\n}\n") as server:
        await server.dig("+tcp", "+noedns", "Example.ORG", "A")
    lines = [r.getMessage() for r in caplog.records if r.name == "kdns.plugins.log"]
    assert len(lines) == 1, lines
    match = re.fullmatch(
        r'127\.0\.0\.1:(\d+) - (\d+) "A IN example\.org\. tcp 29 false 65535" NOERROR qr,aa,rd,ra (\d+) [\d.]+s',
        lines[0],
    )
    assert match, lines[0]
    # whoami's answer: header 12 + question 13+4, A: pointer 2 + 10 + 4, SRV: "_tcp" label 5 +
    # pointer 2 + 10 + priority, weight, port 6 + root target 1.
    assert int(match.group(3)) == 12 + 17 + 16 + 24
