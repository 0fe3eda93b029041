"""errors: config syntax (CoreDNS plugin/errors/setup_test.go cases) and the handler's log lines."""

from __future__ import annotations

import asyncio
import logging

import pytest
from dnslib import RCODE, DNSRecord

from kdns.cli import KdnsFormatter
from kdns.corefile.parser import parse as parse_corefile
from kdns.corefile.tree import Directive
from kdns.errors import ConfigError
from kdns.plugins.errors.config import Config, parse
from kdns.plugins.errors.handler import Handler
from kdns.request import Request
from kdns.response import Response
from kdns.server.chain import no_next_plugin
from kdns.server.wire import parse_query

LOGGER = "kdns.plugins.errors.handler"


def directive(text: str) -> Directive:
    """The first directive of `. { <text> }`; it starts on line 2 of file "Corefile"."""
    blocks = parse_corefile(". {\n" + text + "\n}\n", "Corefile", known=lambda name: True)
    return blocks[0].directives[0]


def request(name: str = "example.org.", qtype: str = "A") -> Request:
    return parse_query(bytes(DNSRecord.question(name, qtype).pack()))


def printed(records: list[logging.LogRecord]) -> list[str]:
    """The lines as kdns prints them: the formatter, not the handler, adds "plugin/errors: "."""
    return [KdnsFormatter().format(r) for r in records]


@pytest.mark.parametrize(
    "text",
    [
        "errors",
        "errors stdout",
        "errors {\n stacktrace\n}",
        "errors {\n consolidate 1m .* \n}",
        "errors {\n consolidate 1m \"^a\" warning\n consolidate 30s ^b error show_first\n}",
        "errors {\n consolidate 1m ^x info\n consolidate 1m ^y debug\n}",
    ],
)
def test_good_syntax(text: str) -> None:
    assert isinstance(parse(directive(text)), Config)


def test_parsed_values() -> None:
    config = parse(directive("errors {\n stacktrace\n consolidate 1m30s \"^read udp\" warning show_first\n}"))
    assert config.stacktrace
    (rule,) = config.consolidate
    assert rule.period == 90.0
    assert rule.pattern.pattern == "^read udp"
    assert rule.level == logging.WARNING
    assert rule.show_first


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("errors /dev/stderr", 2, "invalid log file"),
        ("errors stdout extra", 2, "wrong argument count"),
        ("errors {\n stacktrace\n frobnicate\n}", 4, "frobnicate"),
        ("errors {\n consolidate 1m\n}", 3, "wrong argument count"),
        ("errors {\n consolidate abc .*\n}", 3, "invalid duration"),
        ("errors {\n consolidate 1m (\n}", 3, "invalid regexp"),
        ("errors {\n consolidate 1m .* loud\n}", 3, "unknown log level"),
        ("errors {\n consolidate 1m .* warning warning\n}", 3, "unknown log level"),
        ("errors {\n consolidate 0s .*\n}", 3, "positive duration"),
    ],
)
def test_bad_syntax(text: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(directive(text))
    assert info.value.file == "Corefile"
    assert info.value.line == line
    assert needle in str(info.value)


async def _raises(req: Request) -> Response:
    raise RuntimeError("boom")


async def _timeout(req: Request) -> Response:
    raise TimeoutError("read udp 10.0.0.1:53: i/o timeout")


async def test_exception_becomes_servfail_and_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    resp = await Handler(_raises, Config())(request("Example.ORG.", "AAAA"))
    assert resp.rcode == RCODE.SERVFAIL
    assert resp.msg.header.qr == 1
    assert printed(caplog.records) == ["[ERROR] plugin/errors: 2 example.org. AAAA: RuntimeError: boom"]
    assert caplog.records[0].exc_info is None


async def test_stacktrace_attaches_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    await Handler(_raises, Config(stacktrace=True))(request())
    assert caplog.records[0].exc_info is not None


async def test_answers_pass_unchanged_and_unlogged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    expected = request().answer(RCODE.NXDOMAIN, plugin="file")

    async def answer(req: Request) -> Response:
        return expected

    assert await Handler(answer, Config())(request()) is expected
    assert caplog.records == []


async def test_error_reported_by_a_plugin_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)

    async def failed(req: Request) -> Response:
        resp = req.answer(RCODE.SERVFAIL, plugin="forward")
        resp.error = "no healthy upstream"
        return resp

    resp = await Handler(failed, Config())(request("svc.example.", "SRV"))
    assert resp.plugin == "forward"
    assert printed(caplog.records) == ["[ERROR] plugin/errors: 2 svc.example. SRV: no healthy upstream"]


async def test_end_of_chain_error_is_logged_and_kept_by_copies(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    resp = await Handler(no_next_plugin, Config())(request())
    assert resp.rcode == RCODE.SERVFAIL
    # loadbalance and log answer with a copy: the error must survive it.
    assert resp.copy().error == resp.error == "no next plugin found"
    assert printed(caplog.records) == ["[ERROR] plugin/errors: 2 example.org. A: no next plugin found"]


async def test_consolidate_counts_then_prints_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    config = parse(directive("errors {\n consolidate 50ms \"i/o timeout$\" warning\n}"))
    handler = Handler(_timeout, config)
    for _ in range(3):
        assert (await handler(request())).rcode == RCODE.SERVFAIL
    # Other errors are not held back.
    await Handler(_raises, config)(request())
    assert printed(caplog.records) == ["[ERROR] plugin/errors: 2 example.org. A: RuntimeError: boom"]
    await asyncio.sleep(0.15)
    assert printed(caplog.records[1:]) == [
        "[WARN] plugin/errors: 3 errors like 'i/o timeout$' occurred in last 50ms",
    ]


async def test_consolidate_show_first(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    config = parse(directive("errors {\n consolidate 50ms timeout error show_first\n}"))
    handler = Handler(_timeout, config)
    await handler(request())
    assert printed(caplog.records) == [
        "[ERROR] plugin/errors: 2 example.org. A: TimeoutError: read udp 10.0.0.1:53: i/o timeout",
    ]
    await asyncio.sleep(0.15)  # a lone error: no summary
    assert len(caplog.records) == 1
    await handler(request())
    await handler(request())
    await asyncio.sleep(0.15)
    assert printed(caplog.records[-1:]) == ["[ERROR] plugin/errors: 2 errors like 'timeout' occurred in last 50ms"]
    assert len(caplog.records) == 3


async def test_stop_flushes_pending_counts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    handler = Handler(_timeout, parse(directive("errors {\n consolidate 1h timeout\n}")))
    await handler(request())
    await handler(request())
    assert caplog.records == []
    await handler.stop()
    assert printed(caplog.records) == [
        "[ERROR] plugin/errors: 2 errors like 'timeout' occurred in last 1h0m0s",
    ]
    # After stop nothing is held back any more.
    await handler(request())
    assert len(caplog.records) == 2

