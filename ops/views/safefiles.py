"""Writing files for the user (``twoway demo --out``) without following planted links.

An output directory must be the user's own and writable by no one else (else another
user could plant a link or swap a file between our check and our write). Each file is
written to a new temporary file in that directory (``O_EXCL | O_NOFOLLOW``, its mode set
before any byte is written) and renamed into place: a symlink already at the name is
replaced, never followed, and its target is neither written nor chmod-ed.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from workers.errors import RequestInvalid

__all__ = ["prepare_out_dir", "write_file"]


def prepare_out_dir(out: Path) -> Path:
    """Create ``out`` (0700) if need be; refuse one that is a link, not a directory, not
    the user's own, or writable by group or others."""
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RequestInvalid(
            f"--out {out}: a file is in the way (not a directory)",
            hint="name a directory of your own, or a new path",
        ) from None
    except PermissionError:
        raise RequestInvalid(
            f"--out {out}: cannot be created here (permission denied)",
            hint="name a directory of your own, or a new path",
        ) from None
    info = out.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise RequestInvalid(
            f"--out {out}: not a directory (a symbolic link or a file)",
            hint="name a directory of your own, or a new path",
        )
    if info.st_uid != os.getuid():
        raise RequestInvalid(
            f"--out {out}: the directory belongs to another user (uid {info.st_uid})",
            hint="name a directory of your own, or a new path",
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise RequestInvalid(
            f"--out {out}: the directory is writable by others (mode {info.st_mode & 0o777:o})",
            hint=f"chmod go-w {out}, or name a new path",
        )
    return out


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` with ``mode``, by a new file renamed into place."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(partial, flags, 0o600)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
