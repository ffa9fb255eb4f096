"""The textfile node_exporter reads (system/textfile.py) in a scratch directory: written
whole with its mode, a killed writer's temporary file swept, nobody else's file touched.
(SIGKILL between the write and the rename, and racing writers: tests/real/test_metrics.py.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lxcprov.errors import StateFileError
from lxcprov.system import textfile


def test_the_file_is_replaced_whole_0644_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "lxcprov.prom"
    old = os.umask(0o077)
    try:
        textfile.replace(path, "a 1\n")
        textfile.replace(path, "b 2\n")
    finally:
        os.umask(old)
    assert path.read_text() == "b 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["lxcprov.prom"]  # no temporary file left


def test_only_its_own_stale_temporary_files_are_swept(tmp_path: Path) -> None:
    path = tmp_path / "lxcprov.prom"
    stale = tmp_path / ".lxcprov.prom.0123abcd.tmp"
    stale.write_text("half")
    others = {
        ".other.prom.0123abcd.tmp": "x",  # another file's temporary file
        ".lxcprov.prom.0123abcd.tmp.keep": "x",
        ".lxcprov.prom.XYZ.tmp": "x",  # not hex: not a name lxcprov makes
        "lxcprov.prom.0123abcd.tmp": "x",  # no leading dot
        "apt.prom": "x",
    }
    for name, text in others.items():
        (tmp_path / name).write_text(text)
    (tmp_path / ".lxcprov.prom.89abcdef.tmp").symlink_to("/etc/hostname")
    (tmp_path / ".lxcprov.prom.fedcba98.tmp").mkdir()
    textfile.replace(path, "a 1\n")
    assert not stale.exists() and path.read_text() == "a 1\n"
    assert all((tmp_path / n).read_text() == t for n, t in others.items())
    assert (tmp_path / ".lxcprov.prom.89abcdef.tmp").is_symlink()  # not followed, kept
    assert (tmp_path / ".lxcprov.prom.fedcba98.tmp").is_dir()
    assert textfile.temp_pattern("lxcprov.prom").fullmatch(".lxcprov.prom.0123abcd.tmp")
    assert not textfile.temp_pattern("lxcprov.prom").fullmatch(".lxcprovxprom.0123abcd.tmp")


def test_a_missing_directory_is_one_error_and_is_not_made(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="no directory"):
        textfile.replace(tmp_path / "nope" / "x.prom", "a 1\n")
    assert not (tmp_path / "nope").exists()
    (tmp_path / "d.prom").mkdir()
    with pytest.raises(StateFileError, match="is a directory"):
        textfile.replace(tmp_path / "d.prom", "a 1\n")
    assert os.listdir(tmp_path / "d.prom") == []
    assert sorted(os.listdir(tmp_path)) == ["d.prom"]  # its temporary file removed


def test_a_symlink_at_the_file_is_replaced_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("keep\n")
    path = tmp_path / "lxcprov.prom"
    path.symlink_to(target)
    textfile.replace(path, "a 1\n")
    assert not path.is_symlink() and path.read_text() == "a 1\n"
    assert target.read_text() == "keep\n"
