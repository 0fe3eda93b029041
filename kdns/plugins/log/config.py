"""`log [NAMES...] [FORMAT] { class CLASSES...; minDuration [DURATION] }` (CoreDNS plugin/log/setup.go)."""

from __future__ import annotations

from dataclasses import dataclass

from kdns.corefile.duration import parse_duration
from kdns.corefile.tree import Directive

EMPTY = "-"
COMMON = '{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}'
COMBINED = COMMON + ' "{>opcode}"'
CLASSES = ("all", "success", "denial", "error")
# CoreDNS's default for a bare `minDuration`.
DEFAULT_MIN_DURATION = 0.1


@dataclass(frozen=True)
class Rule:
    name: str  # lowercase, fully qualified: queries at or below it are logged
    format: str = COMMON
    classes: frozenset[str] = frozenset({"all"})
    min_duration: float = 0.0


@dataclass(frozen=True)
class Config:
    rules: tuple[Rule, ...] = (Rule("."),)


def parse(d: Directive) -> Config:
    args = d.values
    fmt = COMMON
    # As CoreDNS: with two or more arguments, a last one holding "{" is the format.
    if len(args) >= 2 and "{" in args[-1]:
        fmt = {"{common}": COMMON, "{combined}": COMBINED}.get(args[-1], args[-1])
        args = args[:-1]
    names = d.zones(0, len(args)) or (".",)
    classes: set[str] = set()
    min_duration = 0.0
    for opt in d.options():
        opt.no_block()
        if opt.name.text == "class":
            opt.expect_args(1)
            for token in opt.args:
                if token.text not in CLASSES:
                    raise opt.error(f"invalid Class: {token.text}", token)
                classes.add(token.text)
        elif opt.name.text == "minDuration":
            given = opt.expect_args(0, 1)
            if given:
                try:
                    min_duration = parse_duration(given[0])
                except ValueError:
                    raise opt.error(f"Illegal duration found: '{given[0]}'", opt.args[0]) from None
            else:
                min_duration = DEFAULT_MIN_DURATION
        else:
            raise opt.unknown_option()
    chosen = frozenset(classes or {"all"})
    return Config(rules=tuple(Rule(n, fmt, chosen, min_duration) for n in names))
