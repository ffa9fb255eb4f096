"""A hostile rootfs must never make lxcprov read or write a host file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcprov.engine.facts import gather
from lxcprov.engine.recipes import Secrets, apply, load_all, plan
from lxcprov.errors import RootfsError, RootfsEscapeError
from lxcprov.system.rootfs import Rootfs
from tests.trees import debian_systemd

# Every rule holds with the kernel's openat2 lookups and with the walk older kernels get.
pytestmark = pytest.mark.usefixtures("lookups")


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A directory that plays the host: files here must never change."""
    h = tmp_path / "host"
    (h / "etc").mkdir(parents=True)
    (h / "etc/hostname").write_text("the-host\n")
    (h / "etc/shadow").write_text("root:HOSTHASH:1:::::\n")
    return h


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    return root


@pytest.fixture
def rootfs(root: Path) -> Iterator[Rootfs]:
    with Rootfs(root) as opened:
        yield opened


def test_absolute_symlink_means_inside_the_rootfs(rootfs: Rootfs, root: Path, host: Path) -> None:
    os.symlink(str(host / "etc/hostname"), root / "etc/hostname")
    rootfs.write_text("/etc/hostname", "c1\n", make_parents=True)
    assert (host / "etc/hostname").read_text() == "the-host\n"
    inside = root / str(host / "etc/hostname").lstrip("/")
    assert inside.read_text() == "c1\n"


def test_dotdot_stops_at_the_rootfs_root(rootfs: Rootfs, root: Path, host: Path) -> None:
    depth = len(root.parts) + 2
    os.symlink("../" * depth + str(host).lstrip("/") + "/etc/hostname", root / "etc/hostname")
    assert rootfs.resolve("/etc/hostname") == str(host / "etc/hostname")
    rootfs.write_text("/etc/hostname", "c1\n", make_parents=True)
    assert (host / "etc/hostname").read_text() == "the-host\n"


def test_symlinked_directory_is_followed_inside(rootfs: Rootfs, root: Path, host: Path) -> None:
    os.symlink(str(host / "etc"), root / "conf")
    rootfs.write_text("/conf/shadow", "root:x:::::::\n", mode=0o600, make_parents=True)
    assert (host / "etc/shadow").read_text() == "root:HOSTHASH:1:::::\n"


def test_reads_do_not_escape_either(rootfs: Rootfs, root: Path, host: Path) -> None:
    os.symlink(str(host / "etc/shadow"), root / "etc/shadow")
    assert rootfs.read_text("/etc/shadow") is None
    os.symlink("../../../../../../../../" + str(host / "etc/shadow").lstrip("/"), root / "etc/s2")
    assert rootfs.read_text("/etc/s2") is None


def test_symlink_loop_is_an_error(rootfs: Rootfs, root: Path) -> None:
    os.symlink("/etc/b", root / "etc/a")
    os.symlink("/etc/a", root / "etc/b")
    with pytest.raises(RootfsError, match="too many levels"):
        rootfs.write_text("/etc/a", "x")


def test_refuses_to_replace_a_non_file(rootfs: Rootfs, root: Path) -> None:
    (root / "etc/hostname").mkdir()
    with pytest.raises(RootfsEscapeError):
        rootfs.write_text("/etc/hostname", "x")


def test_write_is_atomic_and_keeps_mode_and_owner(rootfs: Rootfs, root: Path) -> None:
    target = root / "etc/shadow"
    target.write_text("old\n")
    target.chmod(0o640)
    os.chown(target, 0, 42)
    inode = target.stat().st_ino
    rootfs.write_text("/etc/shadow", "new\n")
    st = target.stat()
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (0, 42)
    assert st.st_ino != inode, "written through a new file and a rename"
    assert [p.name for p in (root / "etc").iterdir()] == ["shadow"], "no temp file left"


def test_relative_paths_are_refused(rootfs: Rootfs, root: Path) -> None:
    with pytest.raises(RootfsError):
        rootfs.write_text("etc/hostname", "x")


def test_recipes_on_a_hostile_template_tree_never_touch_the_host(
    tmp_path: Path, host: Path
) -> None:
    """Every file the recipes write is a symlink to a host path: nothing on the host moves."""
    root = tmp_path / "hostile"
    root.mkdir()
    debian_systemd(root)
    for name in ("hostname", "hosts", "shadow", "passwd"):
        target = host / "etc" / name
        if not target.exists():
            target.write_text(f"host {name}\n")
        (root / "etc" / name).unlink(missing_ok=True)
        os.symlink(str(target), root / "etc" / name)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    os.symlink(str(host / "etc"), root / "etc/systemd/system/getty@.service.d")
    (root / "root").rmdir()
    os.symlink(str(host), root / "root")
    before = {p: p.read_bytes() for p in host.rglob("*") if p.is_file()}
    secrets = Secrets(root_password="pw", ssh_keys=["ssh-ed25519 AAAAC3Nza test"])
    with Rootfs(root) as rfs:
        apply(rfs, plan(rfs, gather("evil", rfs, {"lxc.tty.max": "2"}), load_all(), secrets))
        after = {p: p.read_bytes() for p in host.rglob("*") if p.is_file()}
        assert after == before
        # The writes landed inside the rootfs, where the container itself would see them.
        assert rfs.read_text("/etc/hostname") == "evil\n"
        assert rfs.read_text("/root/.ssh/authorized_keys") is not None
