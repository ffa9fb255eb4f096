"""Every recipe on synthetic rootfs trees: first run changes, second is a no-op, dry-run
(planning) writes nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lxcprov.engine.facts import gather
from lxcprov.engine.recipes import Secrets, apply, load_all, plan, providing
from lxcprov.engine.recipes.actions import parse_inittab
from lxcprov.system import passwords
from lxcprov.system.rootfs import Rootfs
from tests.trees import TREES, opened, snapshot

SECRETS = Secrets(
    root_password="correct horse",
    ssh_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxjeHByb3YgdGVzdCBrZXk= test@lxcprov"],
)


def _make(tmp_path: Path, kind: str) -> tuple[Rootfs, dict[str, str]]:
    """The tree of kind at tmp_path/rootfs, opened (closed after the test)."""
    build, config = TREES[kind]
    root = tmp_path / "rootfs"
    root.mkdir()
    build(root)
    return opened(root), config


@pytest.mark.parametrize("kind", sorted(TREES))
def test_first_run_changes_second_is_noop_and_planning_writes_nothing(
    tmp_path: Path, kind: str
) -> None:
    rootfs, config = _make(tmp_path, kind)
    facts = gather("web1", rootfs, config)
    before = snapshot(tmp_path / "rootfs")
    first = plan(rootfs, facts, load_all(), SECRETS)
    assert first.changes, f"{kind}: a fresh template tree needs fixing"
    assert snapshot(tmp_path / "rootfs") == before, "planning (dry-run) must not write"
    apply(rootfs, first)
    assert snapshot(tmp_path / "rootfs") != before
    second = plan(rootfs, gather("web1", rootfs, config), load_all(), SECRETS)
    assert [c.describe() for c in second.changes] == []


def _getty_devices(text: str, syntax: str) -> list[str]:
    return sorted(
        e.device
        for e in parse_inittab(text, syntax)
        if e.device and "getty" in e.process and e.action == "respawn"
    )


@pytest.mark.parametrize(
    ("kind", "syntax", "ttys"),
    [
        ("busybox", "busybox", 5),
        ("debian-sysvinit", "sysvinit", 4),
        ("alpine-openrc-noautodev", "busybox", 4),
    ],
)
def test_inittab_has_exactly_one_getty_per_terminal(
    tmp_path: Path, kind: str, syntax: str, ttys: int
) -> None:
    rootfs, config = _make(tmp_path, kind)
    apply(rootfs, plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS))
    text = rootfs.read_text("/etc/inittab") or ""
    wanted = sorted(["console", *(f"tty{n}" for n in range(1, ttys + 1))])
    assert _getty_devices(text, syntax) == wanted
    # The template's own sysinit line is kept untouched.
    assert text.splitlines()[0] in (
        "::sysinit:/etc/init.d/rcS",
        "id:3:initdefault:",
        "::sysinit:/sbin/openrc sysinit",
    )


def test_busybox_console_shell_is_switched_off_not_deleted(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "busybox")
    apply(rootfs, plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS))
    text = rootfs.read_text("/etc/inittab") or ""
    assert "#lxcprov-off# console::askfirst:/bin/sh" in text
    assert "tty1::respawn:/bin/getty -L tty1 115200 vt100" in text  # the template's, kept


def test_user_inittab_lines_survive_a_rerun(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "busybox")
    apply(rootfs, plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS))
    path = (tmp_path / "rootfs") / "etc/inittab"
    path.write_text(path.read_text() + "::once:/usr/local/bin/my-thing\n")
    apply(rootfs, plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS))
    assert "::once:/usr/local/bin/my-thing" in path.read_text()
    assert plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS).changes == []


def test_systemd_dropin_and_links(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "debian-systemd")
    apply(rootfs, plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS))
    dropin = rootfs.read_text("/etc/systemd/system/getty@.service.d/lxcprov-container.conf")
    assert dropin is not None and "\nConditionPathExists=\n" in dropin
    wants = "/etc/systemd/system/getty.target.wants"
    for n in range(1, 5):
        assert rootfs.readlink(f"{wants}/getty@tty{n}.service") == (
            "/usr/lib/systemd/system/getty@.service"
        )
        assert rootfs.readlink(f"/etc/systemd/system/container-getty@{n}.service") == "/dev/null"
    assert rootfs.readlink(f"{wants}/getty@tty5.service") is None
    # Nothing under /lib was edited.
    assert "ConditionPathExists=/dev/tty0" in (
        rootfs.read_text("/usr/lib/systemd/system/getty@.service") or ""
    )


def test_root_password_is_a_sha512_hash_and_shadow_not_world_readable(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "busybox")
    apply(rootfs, plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS))
    shadow = rootfs.read_text("/etc/shadow") or ""
    root_hash = shadow.split(":")[1]
    assert root_hash.startswith("$6$")
    assert "correct horse" not in shadow
    assert passwords.verify("correct horse", root_hash)
    assert not passwords.verify("wrong", root_hash)
    assert stat.S_IMODE(((tmp_path / "rootfs") / "etc/shadow").stat().st_mode) & 0o007 == 0


def test_a_new_password_replaces_the_old_hash(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "debian-systemd")
    facts = gather("c", rootfs, config)
    apply(rootfs, plan(rootfs, facts, load_all(), SECRETS))
    other = Secrets(root_password="another one")
    p = plan(rootfs, facts, load_all(), other)
    assert [c.path for c in p.changes] == ["/etc/shadow"]
    assert "(secret content changed, not shown)" in p.changes[0].diff()
    apply(rootfs, p)
    assert passwords.verify("another one", (rootfs.read_text("/etc/shadow") or "").split(":")[1])


def test_authorized_keys_modes(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "debian-systemd")
    apply(rootfs, plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS))
    ssh = (tmp_path / "rootfs") / "root/.ssh"
    assert stat.S_IMODE(ssh.stat().st_mode) == 0o700
    keys = ssh / "authorized_keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert SECRETS.ssh_keys[0] in keys.read_text()


def test_hostname_and_hosts(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "debian-systemd")
    apply(rootfs, plan(rootfs, gather("web1", rootfs, config), load_all(), SECRETS))
    assert rootfs.read_text("/etc/hostname") == "web1\n"
    hosts = rootfs.read_text("/etc/hosts") or ""
    assert "127.0.1.1 web1" in hosts
    assert hosts.count("localhost") == 1  # already there: not added twice


def test_tty_nodes_and_securetty_when_autodev_is_off(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "alpine-openrc-noautodev")
    apply(rootfs, plan(rootfs, gather("c", rootfs, config), load_all(), SECRETS))
    for n in range(1, 5):
        st = ((tmp_path / "rootfs") / f"dev/tty{n}").lstat()
        assert stat.S_ISCHR(st.st_mode)
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (4, n)
    assert not ((tmp_path / "rootfs") / "dev/tty5").exists()
    securetty = [
        ln.strip()
        for ln in ((tmp_path / "rootfs") / "etc/securetty").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert sorted(set(securetty)) == ["console", "tty1", "tty2", "tty3", "tty4"]
    assert securetty.count("tty1") == 1


def test_opt_out_file_is_honoured(tmp_path: Path) -> None:
    rootfs, config = _make(tmp_path, "debian-systemd")
    ((tmp_path / "rootfs") / "etc/.lxcprov-ignore.hosts").write_text("")
    p = plan(rootfs, gather("web1", rootfs, config), load_all(), SECRETS)
    assert "/etc/hosts" not in [c.path for c in p.changes]
    assert any(s.skipped and "opted out" in s.skipped for s in p.steps)


@pytest.mark.parametrize("kind", sorted(TREES))
def test_every_step_says_why_it_changes_nothing(tmp_path: Path, kind: str) -> None:
    rootfs, config = _make(tmp_path, kind)
    apply(rootfs, plan(rootfs, gather("web1", rootfs, config), load_all(), SECRETS))
    second = plan(rootfs, gather("web1", rootfs, config), load_all(), SECRETS)
    for step in second.steps:
        assert step.status in ("in-place", "skipped") and step.reason, (step.recipe, step)


@pytest.mark.parametrize(
    ("kind", "terminals"),
    [
        ("debian-systemd", ["console", "tty1", "tty2", "tty3", "tty4"]),
        ("debian-sysvinit", []),  # the template's gettys hold the console and tty1-4
        ("busybox", ["console", "tty2", "tty3", "tty4", "tty5"]),
        ("centos-systemd", ["console", "tty1", "tty2"]),
    ],
)
def test_pending_console_changes_name_the_terminals_without_a_login(
    tmp_path: Path, kind: str, terminals: list[str]
) -> None:
    """doctor's console-empty comes from here: no recipe name or file path in Python."""
    rootfs, config = _make(tmp_path, kind)
    loaded = load_all()
    console = {r.name for r in providing(loaded, "console")}
    first = plan(rootfs, gather("c", rootfs, config), loaded, SECRETS)
    missing = {
        t for s in first.steps if s.recipe in console for c in s.changes for t in c.terminals
    }
    assert sorted(missing) == sorted(terminals)
    apply(rootfs, first)
    again = plan(rootfs, gather("c", rootfs, config), loaded, SECRETS)
    assert not [c for s in again.steps if s.recipe in console for c in s.changes]
