"""A small, byte-exact ``multipart/form-data`` parser (the stdlib ``cgi`` is deprecated).

Binary file parts come back byte for byte: a part's data ends right before the CRLF that
precedes the next boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

__all__ = ["Part", "boundary_of", "parse"]


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def _param(header_value: str, header: str, name: str) -> str | None:
    msg = Message()
    msg[header] = header_value
    value = msg.get_param(name, header=header)
    if value is None or isinstance(value, str):
        return value
    return str(value[2])


def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart Content-Type, if any."""
    return _param(content_type, "Content-Type", "boundary")


def _part(chunk: bytes) -> Part:
    head, _, data = chunk.partition(b"\r\n\r\n")
    headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
    disposition = str(headers.get("Content-Disposition", ""))
    return Part(
        name=_param(disposition, "Content-Disposition", "name") or "",
        filename=_param(disposition, "Content-Disposition", "filename"),
        content_type=str(headers.get("Content-Type", "application/octet-stream")),
        data=data,
    )


def parse(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body, in order; ValueError if it is malformed."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 2:
        raise ValueError("no multipart boundary found in the body")
    parts: list[Part] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts
        if not chunk.startswith(b"\r\n"):
            raise ValueError("malformed multipart body")
        parts.append(_part(chunk[2:]))
    raise ValueError("multipart body has no closing boundary")
