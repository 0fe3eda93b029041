"""Names as rewrite rules see them: presentation text, as CoreDNS matches and rewrites it.

CoreDNS rewrites the question's name as text (escapes included) and checks the result with
dns.IsDomainName; kdns does the same, and turns the result back into labels here (both directions
of the text form are kdns.request's name_text and text_labels).
"""

from __future__ import annotations

from kdns.request import text_labels
from kdns.server.wire import MAX_NAME


class BadName(ValueError):
    """A rewritten name that is no domain name (empty label, label over 63 or name over 255 bytes)."""


def normalize(text: str) -> str:
    """CoreDNS's plugin.Name(text).Normalize(): lowercased and fully qualified."""
    text = text.lower()
    return text if text.endswith(".") and not _escaped_end(text) else text + "."


def _escaped_end(text: str) -> bool:
    """True when the final dot of text is escaped (`a\\.`), so it is part of a label."""
    backslashes = len(text) - 1 - len(text[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def to_labels(text: str) -> tuple[bytes, ...]:
    """The labels of a name in presentation form (a relative one is taken as fully qualified).

    Raises BadName for what dns.IsDomainName refuses.
    """
    try:
        labels, _ = text_labels(text)
    except ValueError as e:
        raise BadName(str(e)) from None
    if sum(len(part) + 1 for part in labels) + 1 > MAX_NAME:
        raise BadName(f"name longer than {MAX_NAME} bytes: {text!r}")
    return labels
