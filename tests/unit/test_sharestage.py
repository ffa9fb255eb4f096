"""What a killed start or a killed live `mount add` left under the share stage goes with
the container's next start, stop or removal (sharestage.clear_left), and nothing of
another container's goes with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.system import sharestage


@pytest.fixture
def stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sharestage, "STAGE", tmp_path / "shares")
    monkeypatch.setattr(sharestage, "LIVE", tmp_path / "shares" / "live")
    return tmp_path / "shares"


def test_a_killed_live_mount_adds_directory_goes_with_the_container(stage: Path) -> None:
    lxcpath = Path("/var/lib/lxc")
    mine = sharestage.live_dir(lxcpath, "web")
    theirs = sharestage.live_dir(lxcpath, "db")
    other_path = sharestage.live_dir(Path("/srv/lxc"), "web")  # same name, other lxcpath
    for d in (mine, theirs, other_path):
        d.mkdir(parents=True)
    assert sharestage.clear_left(lxcpath, "web") is False  # no staged shares were left
    assert not mine.exists()
    assert theirs.is_dir() and other_path.is_dir()
    assert sharestage.LIVE.is_dir()  # another container's may be made in it at any time


def test_names_of_two_lxcpaths_never_meet(stage: Path) -> None:
    a = sharestage.live_dir(Path("/var/lib/lxc"), "web")
    b = sharestage.live_dir(Path("/var/lib/lxc2"), "web")
    assert a != b and a.parent == b.parent == sharestage.LIVE
    assert a.name.endswith("-web")
