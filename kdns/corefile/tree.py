"""What the Corefile parser produces: server blocks of directives, every token with file and line.

A plugin's config.parse() gets one Directive (one use of the plugin in one server block) and reads
its arguments and nested option lines from it. Errors are raised through Directive.error(), so every
message names file, line and directive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from kdns.corefile.duration import parse_duration
from kdns.corefile.keys import ServerKey, parse_key, unreachable, unreachable_warning
from kdns.corefile.tokens import Token, to_integer
from kdns.errors import ConfigError

# Token, to_integer and ServerKey live below this module (tokens.py, keys.py) and are named here
# too, as everything a plugin's config reads from a Directive.
__all__ = ["Directive", "ServerBlock", "ServerKey", "Token", "to_integer"]


@dataclass(slots=True)
class Directive:
    """A directive line `name arg... [{ option lines }]`; option lines are Directives too."""

    name: Token
    args: list[Token] = field(default_factory=list)
    block: list[Directive] | None = None
    # The plugin this line belongs to (itself for a top-level directive): named in errors.
    plugin: str = ""

    @property
    def file(self) -> str:
        return self.name.file

    @property
    def line(self) -> int:
        return self.name.line

    @property
    def values(self) -> list[str]:
        return [t.text for t in self.args]

    def error(self, message: str, token: Token | None = None) -> ConfigError:
        at = token or self.name
        return ConfigError(message, at.file, at.line, self.plugin or self.name.text)

    def warn(self, message: str, token: Token | None = None) -> None:
        """Log a warning about this line: a form kdns accepts but would have written differently (a
        legacy spelling), naming file and line as errors do. Config parsing calls it, so it is said
        at each load of the Corefile (start, reload, -validate), not per query."""
        at = token or self.name
        plugin = self.plugin or self.name.text
        logging.getLogger(f"kdns.plugins.{plugin}").warning("%s:%d: %s", at.file, at.line, message)

    def options(self) -> Iterator[Directive]:
        """The option lines of the block, if any."""
        return iter(self.block or ())

    def unknown_option(self) -> ConfigError:
        return self.error(f"unknown property '{self.name.text}'")

    def no_block(self) -> None:
        if self.block is not None:
            raise self.error(f"'{self.name.text}' takes no block")

    def duration(self, index: int = 0) -> float:
        """Argument `index` as a Go duration (`5s`, `500ms`) in seconds, or a ConfigError naming it."""
        token = self.args[index]
        try:
            return parse_duration(token.text)
        except ValueError as e:
            raise self.error(str(e), token) from None

    def integer(self, index: int = 0, minimum: int | None = None, maximum: int | None = None) -> int:
        """Argument `index` as a decimal integer within [minimum, maximum], or a ConfigError naming it."""
        token = self.args[index]
        value = to_integer(token.text)
        if value is None:
            problem = "is not a number"
        elif (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            problem = "is out of range"
        else:
            return value
        raise self.error(f"'{token.text}' {problem}: {self.name.text} must be {_span(minimum, maximum)}", token)

    def zones(self, start: int = 0, stop: int | None = None) -> tuple[str, ...]:
        """Arguments start:stop read as zones the way server block keys are (CoreDNS's
        plugin.Host.NormalizeExact): lowercased, fully qualified, `dns://` and a port dropped, a CIDR
        standing for its reverse zones; or a ConfigError naming the bad one. A zone written with a
        leading dot is kept as CoreDNS keeps it, with a warning (keys.unreachable)."""
        zones: list[str] = []
        for token in self.args[start:stop]:
            try:
                keys = parse_key(token, "zone")
            except ConfigError as e:
                raise self.error(e.message, token) from None
            if any(unreachable(key.zone) for key in keys):
                self.warn(unreachable_warning(token.text), token)
            zones.extend(key.zone for key in keys)
        return tuple(zones)

    def expect_args(self, minimum: int, maximum: int | None = None) -> list[str]:
        """The argument texts, or a ConfigError when there are too few or too many."""
        n = len(self.args)
        if n < minimum or (maximum is not None and n > maximum):
            if maximum is None:
                want = f"at least {minimum}"
            elif minimum == maximum:
                want = f"exactly {minimum}"
            else:
                want = f"{minimum} to {maximum}"
            raise self.error(f"wrong argument count: '{self.name.text}' takes {want}, got {n}")
        return self.values


def _span(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer not less than {minimum}"
    if maximum is not None:
        return f"an integer not more than {maximum}"
    return "an integer"


@dataclass(slots=True)
class ServerBlock:
    keys: list[ServerKey]
    directives: list[Directive]
    file: str
    line: int
