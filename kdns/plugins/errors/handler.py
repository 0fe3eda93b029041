"""Catch what the rest of the chain raises: one log line, SERVFAIL, and the server goes on.

CoreDNS logs `plugin/errors: RCODE NAME TYPE: ERROR` for every error a plugin returns
(plugin/errors/errors.go). kdns plugins raise instead of returning errors; a plugin that answers
with an error it wants logged (forward giving up on every upstream, the end of the chain) puts the
text in `Response.error`.
"""

from __future__ import annotations

import asyncio
import logging

from dnslib import RCODE

from kdns.errors import KdnsError
from kdns.plugins.errors.config import Config, Consolidate
from kdns.request import Request
from kdns.response import Response
from kdns.types import Next

log = logging.getLogger(__name__)


class _Pattern:
    """A consolidate rule at run time: how many matching errors since the first unreported one."""

    __slots__ = ("rule", "count", "timer")

    def __init__(self, rule: Consolidate) -> None:
        self.rule = rule
        self.count = 0
        self.timer: asyncio.TimerHandle | None = None


class Handler:
    def __init__(self, next: Next, config: Config) -> None:
        self.next = next
        self.config = config
        self.patterns = [_Pattern(rule) for rule in config.consolidate]
        self.stopped = False

    async def __call__(self, req: Request) -> Response:
        try:
            resp = await self.next(req)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            resp = req.answer(RCODE.SERVFAIL, plugin="errors")
            self.report(req, resp.rcode, _describe(e), e)
            return resp
        if resp.error is not None:
            self.report(req, resp.rcode, resp.error, None)
        return resp

    def report(self, req: Request, rcode: int, text: str, exc: BaseException | None) -> None:
        # search(), not match(): Go's MatchString finds the pattern anywhere, as CoreDNS uses it.
        for pattern in self.patterns:
            if pattern.rule.pattern.search(text):
                if self._consolidate(pattern, req, rcode, text):
                    return
                break
        self._log(logging.ERROR, req, rcode, text, exc)

    def _log(self, level: int, req: Request, rcode: int, text: str, exc: BaseException | None) -> None:
        # CoreDNS's line: "plugin/errors: 2 example.org. A: <error>" (KdnsFormatter adds the prefix).
        exc_info = exc if (exc is not None and self.config.stacktrace) else None
        log.log(level, "%d %s %s: %s", rcode, req.qname_lower, req.type_name, text, exc_info=exc_info)

    def _consolidate(self, pattern: _Pattern, req: Request, rcode: int, text: str) -> bool:
        """Count the error against pattern; False when consolidation is off (after stop)."""
        if self.stopped:
            return False
        pattern.count += 1
        if pattern.count == 1:
            if pattern.rule.show_first:
                self._log(pattern.rule.level, req, rcode, text, None)
            loop = asyncio.get_running_loop()
            pattern.timer = loop.call_later(pattern.rule.period, self._flush, pattern)
        return True

    def _flush(self, pattern: _Pattern) -> None:
        count, pattern.count, pattern.timer = pattern.count, 0, None
        # With show_first the first error was already logged: a lone one needs no summary.
        if count == 0 or (pattern.rule.show_first and count == 1):
            return
        log.log(
            pattern.rule.level, "%d errors like '%s' occurred in last %s",
            count, pattern.rule.pattern.pattern, _go_duration(pattern.rule.period),
        )

    async def stop(self) -> None:
        """Report what is still being counted, as CoreDNS does on shutdown."""
        self.stopped = True
        for pattern in self.patterns:
            if pattern.timer is not None:
                pattern.timer.cancel()
                self._flush(pattern)


def _describe(e: BaseException) -> str:
    """Our own errors carry a message meant for the log; others need their type to be understood."""
    if isinstance(e, KdnsError) and str(e):
        return str(e)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _go_duration(seconds: float) -> str:
    """A period as Go's time.Duration prints it ("30s", "1m0s", "1h30m0s", "500ms")."""
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms"
    total = int(seconds)
    frac = seconds - total
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    sec = f"{s + frac:g}s"
    if h:
        return f"{h}h{m}m{sec}"
    if m:
        return f"{m}m{sec}"
    return sec
