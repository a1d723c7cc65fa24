"""The one check of a reason an operator gives a lever (replay, cancel, rollback, resume,
"installed", renew, requeue), wherever it comes from: the CLI, the API or the console.

A reason is recorded in the job's history and shown in terminals and pages, so it is one
line of printable text: no control characters (ESC sequences, NUL, newlines), no format
characters (bidirectional overrides such as U+202E that reorder what a reader sees), no
separators other than the space; at most ``MAX_REASON`` characters.
"""

from __future__ import annotations

import unicodedata

from workers.errors import RequestInvalid

__all__ = ["MAX_REASON", "check_reason"]

MAX_REASON = 500


def check_reason(reason: str, *, what: str = "a replay") -> str:
    """The reason, stripped; RequestInvalid when it is empty, too long or not printable."""
    text = reason.strip()
    if not text:
        raise RequestInvalid(f"reason: {what} needs a reason", hint="say why, in a few words")
    if len(text) > MAX_REASON:
        raise RequestInvalid(
            f"reason: {len(text)} characters, at most {MAX_REASON}", hint="shorten the reason"
        )
    if not text.isprintable():
        bad = next(c for c in text if not c.isprintable())
        code = f"U+{ord(bad):04X}"
        name = unicodedata.name(bad, "")
        raise RequestInvalid(
            f"reason: control or format characters are not allowed ({name or 'control'} {code})",
            hint="give one line of plain text",
        )
    return text
