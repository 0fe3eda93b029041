"""Names as rewrite rules see them: presentation text, as CoreDNS matches and rewrites it.

CoreDNS rewrites the question's name as text (escapes included) and checks the result with
dns.IsDomainName; kdns does the same, and turns the result back into labels here (the other way is
kdns.request.name_text).
"""

from __future__ import annotations

from kdns.server.wire import MAX_LABEL, MAX_NAME


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
    if text == ".":
        return ()
    labels: list[bytes] = []
    label = bytearray()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 3 < n and text[i + 1 : i + 4].isdigit():
                value = int(text[i + 1 : i + 4])
                if value > 255:
                    raise BadName(f"bad escape in {text!r}")
                label.append(value)
                i += 4
                continue
            if i + 1 >= n:
                raise BadName(f"trailing backslash in {text!r}")
            label.extend(text[i + 1].encode("utf-8"))
            i += 2
            continue
        if c == ".":
            if not label:
                raise BadName(f"empty label in {text!r}")
            labels.append(bytes(label))
            label = bytearray()
        else:
            label.extend(c.encode("utf-8"))
        i += 1
    if label:
        labels.append(bytes(label))
    for part in labels:
        if len(part) > MAX_LABEL:
            raise BadName(f"label longer than {MAX_LABEL} bytes in {text!r}")
    if sum(len(part) + 1 for part in labels) + 1 > MAX_NAME:
        raise BadName(f"name longer than {MAX_NAME} bytes: {text!r}")
    return tuple(labels)

