"""Logging, configured in one place: structlog JSON lines (readable on a terminal).

Every line passes through ``redact`` last, which removes key material, passwords, Basic
credentials and bearer tokens, whether they arrive as a field, inside a message or inside
an exception's text. Secrets that the process handles (keystore passwords, for example)
can be registered so that their exact values are masked wherever they turn up.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

__all__ = [
    "MASK",
    "configure_logging",
    "get_logger",
    "quiet_pika",
    "redact",
    "redact_text",
    "register_secret",
]

MASK = "[redacted]"
_SECRET_KEYS = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|authori[sz]ation|private_?key|key_pem|cookie|"
    r"credential|api_?key|storepass|keypass)",
    re.IGNORECASE,
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
            re.S,
        ),
        MASK,
    ),
    (re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{6,}", re.I), rf"\1 {MASK}"),
    (re.compile(r"(://[^:/\s@]+:)[^@\s/]+@"), rf"\1{MASK}@"),  # user:password@ in URLs
    (
        re.compile(
            # ``token:NAME`` (no space, not a twoway token) is who acted, not a secret.
            r"\b(?!(?-i:token:)(?!twoway_)\S)(password|passwd|secret|token|storepass|keypass)"
            r"(\s*[=:]\s*)[^\s,;&\"']+",
            re.I,
        ),
        rf"\1\2{MASK}",
    ),
]
_known: OrderedDict[str, None] = OrderedDict()
# Registered secrets by their first _PREFIX characters: a text is scanned once, position
# by position, instead of once per registered secret (a worker registers one keystore
# password per job, up to _MAX_KNOWN of them).
_by_prefix: dict[str, frozenset[str]] = {}
_known_lock = threading.Lock()
_MAX_KNOWN = 10_000
_PREFIX = 6


def register_secret(value: str) -> None:
    """Mask this exact value in every log line from now on (bounded, oldest forgotten)."""
    if len(value) < _PREFIX:
        return
    with _known_lock:
        if value in _known:
            _known.move_to_end(value)
            return
        _known[value] = None
        _by_prefix[value[:_PREFIX]] = _by_prefix.get(value[:_PREFIX], frozenset()) | {value}
        while len(_known) > _MAX_KNOWN:
            oldest, _ = _known.popitem(last=False)
            rest = _by_prefix[oldest[:_PREFIX]] - {oldest}
            if rest:
                _by_prefix[oldest[:_PREFIX]] = rest
            else:
                del _by_prefix[oldest[:_PREFIX]]


def redact_text(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``[redacted]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _mask_known(text)


def _mask_known(text: str) -> str:
    if not _by_prefix or len(text) < _PREFIX:
        return text
    lookup = _by_prefix.get  # buckets are replaced, never changed: safe to read unlocked
    found: set[str] = set()
    for start in range(len(text) - _PREFIX + 1):
        bucket = lookup(text[start : start + _PREFIX])
        if bucket:
            found.update(value for value in bucket if text.startswith(value, start))
    for value in sorted(found, key=len, reverse=True):  # a longer secret before its prefix
        text = text.replace(value, MASK)
    return text


def _clean(key: str, value: Any) -> Any:
    if isinstance(key, str) and _SECRET_KEYS.search(key) and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {k: _clean(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean("", v) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: the last step before rendering."""
    return {key: _clean(key, value) for key, value in event_dict.items()}


_quiet = threading.local()


@contextmanager
def quiet_pika() -> Iterator[None]:
    """Drop pika's own log lines from this thread while inside (nested is fine).

    For connections whose failure twoway reports itself, once: closing connections the
    broker already dropped at shutdown, and losing or re-opening consumer connections
    during an outage (machinery/link.py). pika would log each of these with several
    ERROR lines and a traceback per connection; other threads are not affected.
    """
    depth = getattr(_quiet, "depth", 0)
    _quiet.depth = depth + 1
    try:
        yield
    finally:
        _quiet.depth = depth


def _not_quieted(record: logging.LogRecord) -> bool:
    return not (getattr(_quiet, "depth", 0) and record.name.startswith("pika"))


def configure_logging(
    *, json: bool | None = None, level: str = "INFO", stream: TextIO | None = None
) -> None:
    """JSON lines (default when not on a terminal) or a readable console format."""
    out = stream or sys.stderr
    as_json = (not out.isatty()) if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # twoway's own lines are rendered once, straight to the stream; lines of libraries
    # (dramatiq, pika, uvicorn) arrive through the stdlib handler below.
    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=structlog.WriteLoggerFactory(file=out),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared[:-1]],
            processors=[
                redact,
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    handler.addFilter(_not_quieted)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pika", "urllib3", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
