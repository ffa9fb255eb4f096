from __future__ import annotations

from pathlib import Path

from lxcprov.engine.facts import MAX_TTYS, gather, parse_os_release, tty_count
from lxcprov.engine.recipes import managed
from lxcprov.system.rootfs import Rootfs
from tests.trees import TREES


def test_block_is_replaced_in_place_and_user_lines_survive() -> None:
    text = "mine 1\n"
    once = managed.with_block(text, ["ours a"])
    edited = once + "mine 2\n"
    twice = managed.with_block(edited, ["ours b"])
    assert "mine 1" in twice and "mine 2" in twice
    assert "ours a" not in twice and twice.count("ours b") == 1
    assert twice.count(managed.BEGIN) == 1
    assert managed.with_block(twice, []).strip().splitlines() == ["mine 1", "mine 2"]


def test_os_release_parsing() -> None:
    values = parse_os_release('ID="centos"\nID_LIKE="rhel fedora"\n# c\nVERSION_ID=9\n')
    assert values == {"ID": "centos", "ID_LIKE": "rhel fedora", "VERSION_ID": "9"}


def test_facts_per_tree(tmp_path: Path) -> None:
    expected = {
        "debian-systemd": ("debian", "systemd", "", 4),
        "debian-sysvinit": ("debian", "sysvinit", "sysvinit", 4),
        "busybox": ("busybox", "busybox", "busybox", 5),
        "alpine-openrc-noautodev": ("alpine", "openrc", "busybox", 4),
        "centos-systemd": ("centos", "systemd", "", 2),
    }
    for kind, (build, config) in TREES.items():
        root = tmp_path / kind
        root.mkdir()
        build(root)
        with Rootfs(root) as rootfs:
            f = gather("x", rootfs, config)
        syntax = "" if f.init == "systemd" else f.inittab_syntax
        assert (f.distro, f.init, syntax, f.ttys) == expected[kind], kind


def test_ttys_are_capped_at_what_lxcprov_sets(tmp_path: Path) -> None:
    """A config's lxc.tty.max is a file's word: doctor and the recipes go through each
    tty, so a number beyond MAX_TTYS is taken as MAX_TTYS (review of issue 22, row 6:
    99999999 made doctor and fix --dry-run allocate gigabytes)."""
    build, config = TREES["busybox"]
    build(tmp_path)
    with Rootfs(tmp_path) as rootfs:
        f = gather("x", rootfs, {**config, "lxc.tty.max": "99999999"})
    assert f.ttys == MAX_TTYS == 63
    cases = {"4": 4, " 6 ": 6, "": 0, "-3": 0, "x": 0, "64": 63, "9" * 40: 63}
    assert {raw: tty_count(raw) for raw in cases} == cases
