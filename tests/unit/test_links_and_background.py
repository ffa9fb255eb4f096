"""Pure parts of two speed-ups of `new`: the sysfs link reader (on a fake /sys/class/net)
and the background helper that overlaps the host check with the boot."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lxcprov.system.background import Background
from lxcprov.system.hostnet import links


def _netdev(root: Path, name: str, flags: str, *, bridge: bool) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "flags").write_text(flags + "\n")
    if bridge:
        (root / name / "bridge").mkdir()


def test_link_reads_kind_and_up_flag(tmp_path: Path) -> None:
    _netdev(tmp_path, "br0", "0x1003", bridge=True)
    _netdev(tmp_path, "eth0", "0x1002", bridge=False)
    assert links.link("br0", tmp_path) == links.Link("br0", is_bridge=True, up=True)
    assert links.link("eth0", tmp_path) == links.Link("eth0", is_bridge=False, up=False)
    assert links.link("nothere", tmp_path) is None


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../etc", "a:b", "a b", "x" * 16])
def test_names_no_kernel_link_can_have_are_no_link_and_never_a_path(
    tmp_path: Path, name: str
) -> None:
    # A hostile config's lxc.net.0.link must not walk out of /sys/class/net.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "flags").write_text("0x1\n")
    (tmp_path / "flags").write_text("0x1\n")
    assert links.link(name, tmp_path / "net") is None


def test_background_runs_beside_the_caller_and_hands_back_value_and_error() -> None:
    release = threading.Event()
    job = Background(lambda: release.wait(5) and 42, "test")
    release.set()  # fn could only return True after this: it ran while we went on
    assert job.result() == 42

    def fail() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        Background(fail, "test").result()
