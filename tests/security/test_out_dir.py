"""Item 5 of issue 16: ``twoway demo --out`` writes without following planted links, and
refuses a directory another user could write into."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.views.safefiles import prepare_out_dir, write_file
from workers.errors import RequestInvalid


def test_a_planted_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    """planted keystore.password symlink: target untouched, link replaced"""
    out = prepare_out_dir(tmp_path / "out")
    target = tmp_path / "victim"
    target.write_text("precious")
    target.chmod(0o644)
    (out / "keystore.password").symlink_to(target)
    write_file(out / "keystore.password", b"s3cret", 0o600)
    assert target.read_text() == "precious"
    assert target.stat().st_mode & 0o777 == 0o644
    written = out / "keystore.password"
    assert not written.is_symlink() and written.read_bytes() == b"s3cret"
    assert written.stat().st_mode & 0o777 == 0o600


def test_a_directory_writable_by_others_is_refused(tmp_path: Path) -> None:
    """--out directory writable by others: refused with how to fix it"""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(RequestInvalid, match="writable by others"):
        prepare_out_dir(shared)


def test_a_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    """--out directory owned by another user: refused"""
    if os.getuid() != 0:
        pytest.skip("needs root to give a directory away")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(RequestInvalid, match="belongs to another user"):
        prepare_out_dir(theirs)


def test_a_symlinked_out_directory_is_refused(tmp_path: Path) -> None:
    """--out is a symbolic link to a directory: refused"""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(RequestInvalid, match="not a directory"):
        prepare_out_dir(tmp_path / "link")
