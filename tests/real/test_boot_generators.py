"""The boot-generators recipe on a real Debian clone: the block-device generators are
masked, and systemd still brings the whole system up (nothing failed, the gettys run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real.harness import Lxc

pytestmark = pytest.mark.real

MASKED = ("cryptsetup", "integritysetup", "veritysetup", "gpt-auto", "hibernate-resume")


@pytest.mark.bases("debian")  # the run's Debian base (tests/real/seeds.py)
def test_a_debian_clone_boots_whole_without_the_block_device_generators(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    lxcpath.cli(
        "new", "gen1", "-t", "debian", "--network", "none",
        "--root-password-file", str(password_file[0]),
    )  # fmt: skip
    for name in MASKED:
        link = f"/etc/systemd/system-generators/systemd-{name}-generator"
        out = lxcpath.attach("gen1", "readlink", link)
        assert out.stdout.strip() == "/dev/null", (link, out.stdout, out.stderr)
    state = lxcpath.attach("gen1", "systemctl", "is-system-running", "--wait")
    failed = lxcpath.attach("gen1", "systemctl", "--failed", "--no-legend", "--plain").stdout
    assert state.stdout.strip() == "running", (state.stdout, failed)
    # What a person expects of a booted container is up: its gettys and its journal.
    active = lxcpath.attach("gen1", "systemctl", "is-active", "getty@tty1.service",
                            "console-getty.service", "systemd-journald.service")  # fmt: skip
    assert active.stdout.split() == ["active", "active", "active"], active.stdout
