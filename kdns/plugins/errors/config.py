"""`errors [stdout] { stacktrace; consolidate DURATION REGEXP [LEVEL] [show_first] }`."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from kdns.corefile.tree import Directive

LEVELS = {
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
# CoreDNS refuses longer patterns (plugin/errors/setup.go) to bound regexp compile cost.
MAX_REGEXP = 10000


@dataclass(frozen=True)
class Consolidate:
    period: float
    pattern: re.Pattern[str]
    level: int = logging.ERROR
    show_first: bool = False


@dataclass(frozen=True)
class Config:
    stacktrace: bool = False
    consolidate: tuple[Consolidate, ...] = ()


def parse(d: Directive) -> Config:
    args = d.expect_args(0, 1)
    if args and args[0] != "stdout":
        # CoreDNS accepts only "stdout" as a log destination.
        raise d.error(f"invalid log file: {args[0]}", d.args[0])
    stacktrace = False
    patterns: list[Consolidate] = []
    for opt in d.options():
        name = opt.name.text
        if name == "stacktrace":
            opt.expect_args(0, 0)
            opt.no_block()
            stacktrace = True
        elif name == "consolidate":
            opt.no_block()
            patterns.append(_consolidate(opt))
        else:
            raise opt.unknown_option()
    return Config(stacktrace=stacktrace, consolidate=tuple(patterns))


def _consolidate(opt: Directive) -> Consolidate:
    args = opt.expect_args(2, 4)
    period = opt.duration(0)
    if period <= 0:
        raise opt.error(f"consolidate needs a positive duration, got '{args[0]}'", opt.args[0])
    if len(args[1]) > MAX_REGEXP:
        raise opt.error(f"regexp longer than {MAX_REGEXP} characters", opt.args[1])
    try:
        pattern = re.compile(args[1])
    except re.error as e:
        raise opt.error(f"invalid regexp '{args[1]}': {e}", opt.args[1]) from None
    level = logging.ERROR
    show_first = False
    for token in opt.args[2:]:
        if token.text == "show_first" and not show_first:
            show_first = True
        elif token.text in LEVELS and token is opt.args[2]:
            level = LEVELS[token.text]
        else:
            raise opt.error(f"unknown log level argument in consolidate: {token.text}", token)
    return Consolidate(period=period, pattern=pattern, level=level, show_first=show_first)
