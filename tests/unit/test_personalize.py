"""A clone's identity: its own SSH host keys, a machine-id systemd will make anew."""

from __future__ import annotations

import stat
from pathlib import Path

from lxcprov.ops.bases import personalize
from lxcprov.system.rootfs import Rootfs
from tests.trees import debian_systemd, write


def test_clone_gets_new_host_keys_and_an_empty_machine_id(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    debian_systemd(root)
    write(root, "/etc/machine-id", "710b644912b14bdab0b914a3c95b1f86\n", 0o444)
    write(root, "/etc/ssh/ssh_host_ed25519_key", "BASE PRIVATE\n", 0o600)
    write(root, "/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAA root@base\n")
    write(root, "/etc/ssh/ssh_host_rsa_key", "BASE RSA\n", 0o600)
    write(root, "/etc/ssh/ssh_host_rsa_key.pub", "ssh-rsa AAAA root@base\n")
    write(root, "/etc/ssh/sshd_config", "PermitRootLogin no\n")
    with Rootfs(root) as rootfs:
        done = personalize(rootfs, "web7")
    assert done == ["machine-id", "ssh host keys"]
    assert (root / "etc/machine-id").read_text() == ""
    assert stat.S_IMODE((root / "etc/machine-id").stat().st_mode) == 0o444  # kept
    private = root / "etc/ssh/ssh_host_ed25519_key"
    assert "OPENSSH PRIVATE KEY" in private.read_text()
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
    assert public[0] == "ssh-ed25519" and public[2] == "root@web7" and public[1] != "AAAA"
    assert (root / "etc/ssh/sshd_config").read_text() == "PermitRootLogin no\n"
    assert not (root / "etc/ssh/ssh_host_ecdsa_key").exists(), "only the types the base had"
    # RSA takes 0.7 s to make: the base's is removed rather than shared.
    assert not (root / "etc/ssh/ssh_host_rsa_key").exists()
    assert not (root / "etc/ssh/ssh_host_rsa_key.pub").exists()
    # Nothing to do on a tree without them (busybox).
    with Rootfs(root) as rootfs:
        assert personalize(rootfs, "web7") == ["ssh host keys"]  # keys are always renewed


def test_nothing_to_personalize(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    with Rootfs(root) as rootfs:
        assert personalize(rootfs, "x") == []
