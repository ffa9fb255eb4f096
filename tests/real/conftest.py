"""Real containers in a private lxcpath, removed afterwards whether the test passed or not."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcprov.system import lxcfs
from tests.real.harness import Lxc, destroy_all, unmount_under
from tests.real.hostnet.hostnet_lab import (
    NetLab,
    forwarding_sysctls,
    kill_pid,
    processes_mentioning,
    restore_sysctls,
)


@pytest.fixture(scope="session", autouse=True)
def _lxcfs_as_found() -> Iterator[None]:
    """lxcprov starts lxcfs when the host's boot did not (no systemd here): a service it
    leaves running. The suite leaves the machine as it found it, so an lxcfs the tests
    started is stopped and its mount removed at the end (every container is gone then)."""
    was_running = lxcfs.state() == "running"  # a dead mount is restarted by the tests
    yield
    if was_running or lxcfs.state() != "running":
        return
    for pid in processes_mentioning(str(lxcfs.PROGRAM)):
        kill_pid(pid)
    subprocess.run(["umount", "--lazy", str(lxcfs.MOUNT)], capture_output=True, check=False)


@pytest.fixture
def lxcpath() -> Iterator[Lxc]:
    # Under /var/tmp, not a tmpfs, and never the host's /var/lib/lxc.
    path = Path(tempfile.mkdtemp(prefix="lxcprov-test-", dir="/var/tmp"))
    try:
        yield Lxc(path)
    finally:
        destroy_all(path)
        unmount_under(path)  # user namespaces pinned for idmapped mounts, leftovers
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def password_file(tmp_path: Path) -> tuple[Path, str]:
    password = "Test-pw-" + os.urandom(4).hex()
    p = tmp_path / "root-password"
    p.write_text(password + "\n")
    p.chmod(0o600)
    return p, password


@pytest.fixture
def netlab(lxcpath: Lxc, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetLab]:
    # The same config and state dirs for `lxcprov net` and `lxcprov new`, under /var/tmp:
    # dnsmasq reads its hosts file there as an unprivileged user, which pytest's 0700
    # tmp_path would refuse.
    base = Path(tempfile.mkdtemp(prefix="lxcprov-netlab-", dir="/var/tmp"))
    base.chmod(0o755)
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(base / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(base / "var"))
    lab = NetLab(tmp=base)
    sysctls = forwarding_sysctls()
    try:
        yield lab
    finally:
        destroy_all(lxcpath.path)  # containers first: their veths sit on the bridge
        lab.cleanup()
        restore_sysctls(sysctls)
        shutil.rmtree(base, ignore_errors=True)
