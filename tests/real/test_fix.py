"""`lxcprov fix` on containers made by plain lxc-create."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lxcprov.system import lxc
from tests.real.console import login_and_run
from tests.real.harness import Lxc, lxc_create
from tests.trees import snapshot

pytestmark = pytest.mark.real


def _lxc_create(lxc: Lxc, name: str, template: str, *args: str) -> None:
    # No bridge exists on a stock host, so the network section is loopback-only;
    # everything else is what the template does by itself.
    conf = lxc.path / "empty-net.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    lxc_create(lxc, name, conf, template, *args)


def test_plain_debian_then_fix_gives_a_working_login(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw_path, password = password_file
    _lxc_create(lxcpath, "plain1", "debian", "-r", "bookworm")
    dry = lxcpath.cli("fix", "plain1", "--dry-run", "--root-password-file", str(pw_path))
    assert "ConditionPathExists=" in dry.stderr and "changes planned, none made" in dry.stderr
    first = lxcpath.cli("fix", "plain1", "--root-password-file", str(pw_path))
    assert "changes made" in first.stderr
    second = lxcpath.cli("fix", "plain1", "--root-password-file", str(pw_path))
    assert "nothing to change" in second.stderr
    lxcpath.cli("start", "plain1")
    lxc.wait_for_login(lxc.Container("plain1", lxcpath.path), 1, 90)
    assert "plain1" in login_and_run(lxcpath, "plain1", password, "hostname")


def test_fix_dry_run_writes_nothing(lxcpath: Lxc, password_file: tuple[Path, str]) -> None:
    _lxc_create(lxcpath, "bbdry", "busybox")
    before = snapshot(lxcpath.rootfs("bbdry"))
    out = lxcpath.cli("fix", "bbdry", "--dry-run", "--root-password-file", str(password_file[0]))
    assert "+++ b/etc/inittab" in out.stderr
    assert snapshot(lxcpath.rootfs("bbdry")) == before


def test_hostile_rootfs_symlinks_never_write_on_the_host(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    _lxc_create(lxcpath, "evil1", "busybox")
    rootfs = lxcpath.rootfs("evil1")
    canaries = {}
    for name in ("hostname", "hosts", "shadow", "inittab"):
        canary = tmp_path / f"host-{name}"
        canary.write_text(f"host file {name}\n")
        canaries[canary] = canary.read_text()
        target = rootfs / "etc" / name
        target.unlink(missing_ok=True)
        os.symlink(str(canary), target)  # absolute: a host path, if followed naively
    os.symlink("../../../../../../../../../" + str(tmp_path).lstrip("/"), rootfs / "root/.ssh")
    key = tmp_path / "k.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxjeHByb3Y= x\n")
    lxcpath.cli(
        "fix", "evil1", "--root-password-file", str(password_file[0]), "--ssh-key", str(key)
    )
    for canary, text in canaries.items():
        assert canary.read_text() == text, f"{canary} was written through a symlink"
    assert not (tmp_path / "authorized_keys").exists()
    # The writes went where the container itself would see them: inside its rootfs.
    assert (rootfs / str(tmp_path / "host-hostname").lstrip("/")).read_text() == "evil1\n"


def test_a_fifo_where_a_config_file_should_be_is_one_line_error_never_a_hang(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    _lxc_create(lxcpath, "fifo1", "busybox")
    os_release = lxcpath.rootfs("fifo1") / "etc/os-release"
    os_release.unlink(missing_ok=True)
    os.mkfifo(os_release)
    commands = [
        ("fix", "fifo1", "--root-password-file", str(password_file[0])),
        ("doctor", "fifo1"),
        ("set", "fifo1", "hostname=fifo-two"),
    ]
    for command in commands:
        # The timeout is a safety net (these hung forever), not a measurement.
        out = lxcpath.cli(*command, check=False, timeout=120)
        assert out.returncode == 1, (command, out.stderr)
        errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
        assert errors == [f"error: /etc/os-release in {os_release.parent.parent} is a FIFO, "
                          "not a regular file"], (command, out.stderr)  # fmt: skip
    out = lxcpath.cli("start", "fifo1", check=False, timeout=120)
    assert out.returncode in (0, 1), out.stderr
