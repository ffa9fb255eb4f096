"""monitors.running_elsewhere: the container's command socket under another spelling of
its lxcpath, confirmed by a root monitor of that spelling (a socket's name can be
anyone's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lxcprov.system import monitors

HEADER = "Num       RefCount Protocol Flags    Type St Inode Path\n"


def _sockets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    table = tmp_path / "unix"
    rows = [f"0000000000000000: 00000002 00000000 00010000 0001 01 {i} {n}\n"
            for i, n in enumerate(names, 1000)]  # fmt: skip
    table.write_text(HEADER + "".join(rows))
    monkeypatch.setattr(monitors, "_UNIX_SOCKETS", table)


@pytest.fixture
def spellings(tmp_path: Path) -> tuple[Path, Path, Path]:
    real = tmp_path / "lxc dir"  # a space: the socket's name is the rest of the line
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    other = tmp_path / "other"
    other.mkdir()
    return real, link, other


def test_another_spelling_with_its_monitor_is_found(
    spellings: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, link, other = spellings
    _sockets(tmp_path, monkeypatch, f"@{real}/web/command", f"@{link}/web/command",
             f"@{other}/web/command", f"@{link}/web2/command", "@/run/x")  # fmt: skip
    asked: list[tuple[str, str]] = []

    def monitor(path: Path | str, name: str) -> list[int]:
        asked.append((str(path), name))
        return [4242]

    monkeypatch.setattr(monitors, "monitor_pids", monitor)
    assert monitors.running_elsewhere(real, "web") == str(link)
    assert asked == [(str(link), "web")]  # its own spelling and other dirs never asked
    assert monitors.running_elsewhere(real, "db") is None


def test_a_socket_without_a_root_monitor_is_anyones(
    spellings: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, link, _ = spellings
    _sockets(tmp_path, monkeypatch, f"@{link}/web/command")
    monkeypatch.setattr(monitors, "monitor_pids", lambda path, name: [])
    assert monitors.running_elsewhere(real, "web") is None


def test_a_spelling_that_names_nothing_is_this_one_only_by_its_files(
    spellings: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symlink removed while the container ran under it: told by its init's root (the
    second outside review's second init); another lxcpath's namesake whose lxcpath went is
    not taken for this one (a parallel test of the same name was, once)."""
    real, _, _ = spellings
    _sockets(tmp_path, monkeypatch, f"@{tmp_path}/gone/web/command")
    monkeypatch.setattr(monitors, "monitor_pids", lambda path, name: [1])
    monkeypatch.setattr(monitors, "_init_root", lambda pid: os.stat(real))
    assert monitors.running_elsewhere(real, "web", lambda st: True) == f"{tmp_path}/gone"
    assert monitors.running_elsewhere(real, "web", lambda st: False) is None
    assert monitors.running_elsewhere(real, "web") is None  # nothing to compare with


def test_an_unreadable_socket_table_is_none(
    spellings: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, _, _ = spellings
    monkeypatch.setattr(monitors, "_UNIX_SOCKETS", tmp_path / "missing")
    assert monitors.running_elsewhere(real, "web") is None


def _procs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *cmdlines: bytes) -> None:
    proc = tmp_path / "proc"
    for pid, cmdline in enumerate(cmdlines, 100):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(cmdline)
    (proc / "self").mkdir()
    monkeypatch.setattr(monitors, "_PROC", proc)
    monkeypatch.setattr(monitors, "_hosts_root", lambda pid: pid != 101)


def test_a_spelling_too_long_for_a_socket_name_is_found_by_its_monitor(
    spellings: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Second outside review: with a long spelling LXC names its socket @lxc/HASH/command,
    which names no path; the monitors then say it."""
    real, link, other = spellings
    _sockets(tmp_path, monkeypatch, "@lxc/9f86d081884c7d65/command")
    _procs(tmp_path, monkeypatch,
           f"[lxc monitor] {other} web\0".encode(),  # another lxcpath
           f"[lxc monitor] {link} web\0".encode(),  # pid 101: not root's, so anyone's
           f"[lxc monitor] {real} web\0".encode(),  # its own spelling
           f"[lxc monitor] {link} web2\0".encode())  # fmt: skip
    assert monitors.running_elsewhere(real, "web") is None
    _procs(tmp_path / "again", monkeypatch, f"[lxc monitor] {link} web\0".encode())
    assert monitors.running_elsewhere(real, "web") == str(link)


def test_without_a_hashed_socket_proc_is_not_walked(
    spellings: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, link, _ = spellings
    _sockets(tmp_path, monkeypatch, "@/run/other/command")
    _procs(tmp_path, monkeypatch, f"[lxc monitor] {link} web\0".encode())  # root's
    assert monitors.running_elsewhere(real, "web") is None  # /proc not walked
