"""monitors.running_elsewhere: the container's command socket under another spelling of
its lxcpath, confirmed by a root monitor of that spelling (a socket's name can be
anyone's)."""

from __future__ import annotations

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


def test_a_spelling_that_no_longer_exists_or_an_unreadable_table_is_none(
    spellings: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, _, _ = spellings
    _sockets(tmp_path, monkeypatch, f"@{tmp_path}/gone/web/command", "@\0odd/web/command")
    monkeypatch.setattr(monitors, "monitor_pids", lambda path, name: [1])
    assert monitors.running_elsewhere(real, "web") is None
    monkeypatch.setattr(monitors, "_UNIX_SOCKETS", tmp_path / "missing")
    assert monitors.running_elsewhere(real, "web") is None
