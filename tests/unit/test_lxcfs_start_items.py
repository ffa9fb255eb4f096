"""What a start asks LXC to bind of lxcfs's files in place of its mount hook: the
`lxc-start -s` items, from a directory laid out as lxcfs serves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.system import lxcfs

OTHER = "/usr/local/lib/admin-hook --with args"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    program = tmp_path / "lxcfs-program"
    program.write_text("")
    monkeypatch.setattr(lxcfs, "PROGRAM", program)
    mount = tmp_path / "lxcfs"
    for name in ("meminfo", "uptime", "cpuinfo"):
        (mount / "proc").mkdir(parents=True, exist_ok=True)
        (mount / "proc" / name).write_text("")
    cpu = mount / "sys" / "devices" / "system" / "cpu"
    cpu.mkdir(parents=True)
    (cpu / "uevent").write_text("")
    return mount


def _entries(items: list[tuple[str, str]]) -> list[str]:
    return [value for key, value in items if key == "lxc.mount.entry"]


def test_lxcfs_files_are_bound_by_lxc_and_its_hook_is_cleared(served: Path) -> None:
    items = lxcfs.start_items([lxcfs.HOOK], served)
    assert items[0] == ("lxc.hook.mount", "")
    assert [k for k, _ in items[1:]] == ["lxc.mount.entry"] * 5
    assert _entries(items) == [
        f"{served}/proc/cpuinfo proc/cpuinfo none bind,optional 0 0",
        f"{served}/proc/meminfo proc/meminfo none bind,optional 0 0",
        f"{served}/proc/uptime proc/uptime none bind,optional 0 0",
        f"{served}/sys/devices/system/cpu sys/devices/system/cpu none bind,optional 0 0",
        f"{served} var/lib/lxcfs none bind,optional 0 0",
    ]


def test_the_containers_other_mount_hooks_are_given_again_in_their_order(served: Path) -> None:
    items = lxcfs.start_items([lxcfs.HOOK, "/second", OTHER], served)
    hooks = [value for key, value in items if key == "lxc.hook.mount"]
    assert hooks == ["", "/second", OTHER]


def test_a_mount_hook_before_lxcfss_keeps_the_hook(served: Path) -> None:
    """LXC makes mount entries before any hook runs: a hook listed before lxcfs's would
    see the binds already there, and what it binds over /proc would end up under them."""
    assert lxcfs.start_items(["/first", lxcfs.HOOK, OTHER], served) == []


def test_lxcfs_hook_listed_twice_keeps_the_hook(served: Path) -> None:
    """Each run of the hook binds every file again (found by the second outside review: a
    hand start had 18 lxcfs mounts where the entries made 9)."""
    assert lxcfs.start_items([lxcfs.HOOK, OTHER, lxcfs.HOOK], served) == []


@pytest.mark.parametrize("quoted", ["'/x/my hook'", '"/x/my hook" arg', "/x/hook 'an arg'"])
def test_a_hook_value_in_quotes_keeps_the_hook(served: Path, quoted: str) -> None:
    """LXC takes a pair of quotes off a config value and another off an `-s` item."""
    assert lxcfs.start_items([lxcfs.HOOK, quoted], served) == []


def test_quotes_inside_a_hook_value_are_given_as_they_are(served: Path) -> None:
    hooks = [v for k, v in lxcfs.start_items([lxcfs.HOOK, "/x 'a b' c"], served)
             if k == "lxc.hook.mount"]  # fmt: skip
    assert hooks == ["", "/x 'a b' c"]


def test_without_a_whole_cpu_directory_its_entries_are_bound_one_by_one(served: Path) -> None:
    cpu = served / "sys" / "devices" / "system" / "cpu"
    (cpu / "uevent").unlink()
    for name in ("online", "cpu0"):
        (cpu / name).write_text("")
    cpus = [e for e in _entries(lxcfs.start_items([lxcfs.HOOK], served)) if "system/cpu" in e]
    assert cpus == [
        f"{cpu}/cpu0 sys/devices/system/cpu/cpu0 none bind,optional 0 0",
        f"{cpu}/online sys/devices/system/cpu/online none bind,optional 0 0",
    ]


def test_a_name_a_mount_entry_cannot_carry_is_left_to_nobody(served: Path) -> None:
    (served / "proc" / "two words").write_text("")
    entries = _entries(lxcfs.start_items([lxcfs.HOOK], served))
    assert not [e for e in entries if "two" in e]
    assert len(entries) == 5


def test_a_config_without_lxcfs_hook_is_left_to_its_config(served: Path) -> None:
    assert lxcfs.start_items([OTHER], served) == []
    assert lxcfs.start_items([], served) == []


def test_lxcfs_not_serving_leaves_the_hook_in_place(served: Path, tmp_path: Path) -> None:
    assert lxcfs.start_items([lxcfs.HOOK], tmp_path / "nothing-mounted") == []
