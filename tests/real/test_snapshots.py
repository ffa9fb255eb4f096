"""Snapshots on real containers: a restore gives back exactly the snapshot's tree; what
depends on a container or a base is never removed by surprise; ls counts snapshots."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.real.console import login_and_run
from tests.real.harness import Lxc
from tests.real.treedigest import differences, digest

pytestmark = pytest.mark.real


def _json(lxc: Lxc, *args: str) -> Any:
    return json.loads(lxc.cli(*args).stdout)


def _rows(lxc: Lxc) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in _json(lxc, "ls", "--json")}


def map_root(lxc: Lxc, name: str) -> int:
    config = (lxc.path / name / "config").read_text()
    line = next(ln for ln in config.splitlines() if ln.startswith("lxc.idmap = u 0 "))
    return int(line.split()[4])


def acl_for(uid: int) -> bytes:
    """A POSIX ACL xattr: owner rw, user uid r, group r, mask r, other none."""
    entries = ((0x01, 6, 0xFFFFFFFF), (0x02, 4, uid), (0x04, 4, 0xFFFFFFFF),
               (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF))  # fmt: skip
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def cap_net_raw(rootid: int) -> bytes:
    """cap_net_raw=ep as a v3 file capability for a container whose root is rootid."""
    return struct.pack("<IIIIII", 0x03000001, 1 << 13, 0, 0, 0, rootid)


def plant_special_files(root: Path, host_root: int) -> None:
    """setuid, a file capability, an ACL, a user xattr, a hard link and a FIFO, owned by
    the container's root (host_root on the host)."""
    opt = root / "opt/special"
    for directory in (opt.parent, opt):
        if not directory.exists():
            directory.mkdir()
            os.chown(directory, host_root, host_root)
    tool = opt / "tool"
    tool.write_bytes((root / "bin/busybox").read_bytes() if (root / "bin/busybox").exists()
                     else (root / "usr/bin/id").read_bytes())  # fmt: skip
    os.chown(tool, host_root, host_root)
    os.chmod(tool, 0o4755)
    capped = opt / "capped"
    capped.write_bytes(tool.read_bytes())
    os.chown(capped, host_root, host_root)
    os.chmod(capped, 0o755)
    os.setxattr(capped, "security.capability", cap_net_raw(host_root))
    shared = opt / "shared"
    shared.write_text("read by uid 1000 only\n")
    os.chown(shared, host_root, host_root)
    os.setxattr(shared, "system.posix_acl_access", acl_for(host_root + 1000))
    os.setxattr(shared, "user.lxcprov-test", b"\x00\x01binary\xff")
    os.link(shared, opt / "shared-link")
    os.mkfifo(opt / "fifo")
    os.chown(opt / "fifo", host_root, host_root)


@pytest.mark.parametrize(
    "template", ["busybox", pytest.param("debian", marks=pytest.mark.bases("debian"))]
)
def test_restore_gives_back_exactly_the_snapshot(
    lxcpath: Lxc, password_file: tuple[Path, str], template: str
) -> None:
    pw, password = password_file
    lxcpath.cli("new", "sn1", "-t", template, "--network", "none", "--root-password-file",
                str(pw))  # fmt: skip
    sh = "/bin/sh"
    lxcpath.attach("sn1", sh, "-c", "echo before > /root/kept && mkdir -p /srv/data && "
                   "echo data > /srv/data/file")  # fmt: skip
    lxcpath.cli("stop", "sn1")
    host_root = map_root(lxcpath, "sn1")
    with lxcpath.mounted("sn1") as root:
        plant_special_files(root, host_root)
        before = digest(root)
    taken = _json(lxcpath, "snapshot", "sn1", "first", "--json")
    assert taken["name"] == "first" and taken["kind"] == "upper" and taken["bytes"] > 0

    # Change and delete files (in the clone's layer and in its base's), while it runs.
    lxcpath.cli("start", "sn1")
    changed = lxcpath.attach("sn1", sh, "-c", "echo after > /root/kept && rm -rf /srv/data "
                             "/opt/special /etc/profile && echo new > /root/new && "
                             "chmod 700 /root && chown 1:1 /etc/hosts")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    # A snapshot of the running container (frozen while copied) holds the changes.
    lxcpath.cli("snapshot", "sn1", "second")
    assert _rows(lxcpath)["sn1"]["snapshots"] == 2
    assert _rows(lxcpath)["sn1"]["state"] == "RUNNING", "thawed after the copy"
    refused = lxcpath.cli("restore", "sn1", "first", check=False)
    assert refused.returncode != 0 and "--stop" in refused.stderr

    # Stopped first, so that the files compared are the restore's, not a boot's
    # (restore --stop starts it again afterwards: test_first_hour.py).
    lxcpath.cli("stop", "sn1")
    restored = lxcpath.cli("restore", "sn1", "first")
    assert "start it with: lxcprov start sn1" in restored.stderr
    with lxcpath.mounted("sn1") as root:
        after = digest(root)
    assert after == before, differences(before, after)

    lxcpath.cli("start", "sn1")
    assert login_and_run(lxcpath, "sn1", password, "cat /root/kept").strip() == "before"
    lxcpath.cli("restore", "sn1", "second", "--stop")
    lxcpath.cli("start", "sn1")
    out = lxcpath.attach("sn1", sh, "-c", "cat /root/kept /root/new; ls /srv /etc/profile")
    assert out.stdout.split("\n")[:2] == ["after", "new"] and "No such file" in out.stderr
    listed = _json(lxcpath, "snapshots", "sn1", "--json")
    assert [s["name"] for s in listed] == ["first", "second"]
    assert all(s["created"] and s["bytes"] > 0 for s in listed)


def test_a_dir_container_is_snapshotted_whole_and_restored(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw = password_file[0]
    lxcpath.cli("new", "dir1", "-t", "busybox", "--network", "none", "--no-base", "--no-start",
                "--root-password-file", str(pw))  # fmt: skip
    root = lxcpath.rootfs("dir1")
    plant_special_files(root, map_root(lxcpath, "dir1"))
    before = digest(root)
    meta = _json(lxcpath, "snapshot", "dir1", "--json")
    assert meta["kind"] == "rootfs" and meta["name"].startswith("snap-")
    (root / "etc/passwd").unlink()
    (root / "opt/special/shared").write_text("changed\n")
    lxcpath.cli("restore", "dir1", meta["name"])
    assert digest(root) == before, differences(before, digest(root))


def test_snapshot_rm_and_what_destroy_refuses(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw = password_file[0]
    common = ["-t", "busybox", "--network", "none", "--no-start", "--root-password-file", str(pw)]
    lxcpath.cli("new", "keep1", *common)
    lxcpath.cli("snapshot", "keep1", "a")
    lxcpath.cli("snapshot", "keep1", "b")
    dup = lxcpath.cli("snapshot", "keep1", "a", check=False)
    assert dup.returncode != 0 and "already has a snapshot 'a'" in dup.stderr
    bad = lxcpath.cli("snapshot", "keep1", "../x", check=False)
    assert bad.returncode == 2 and "invalid snapshot name" in bad.stderr
    lxcpath.cli("snapshot", "rm", "keep1", "a")
    assert [s["name"] for s in _json(lxcpath, "snapshots", "keep1", "--json")] == ["b"]
    missing = lxcpath.cli("snapshot", "rm", "keep1", "a", check=False)
    assert missing.returncode != 0 and "no snapshot 'a'" in missing.stderr

    refused = lxcpath.cli("destroy", "keep1", check=False)
    assert refused.returncode != 0 and "its snapshots b" in refused.stderr
    assert "--force" in refused.stderr and "keep1" in _rows(lxcpath)
    (base,) = _json(lxcpath, "bases", "--json")
    refused = lxcpath.cli("snapshot", base["name"], check=False)
    assert refused.returncode != 0 and "cached base" in refused.stderr
    refused = lxcpath.cli("destroy", base["name"], check=False)
    assert refused.returncode != 0 and "cloned from it: keep1" in refused.stderr
    assert lxcpath.cli("bases", "rm", base["name"], check=False).returncode != 0

    # A copy is a clone of the same base, never of its source: the source can go.
    lxcpath.cli("copy", "keep1", "keep2")
    forced = lxcpath.cli("destroy", "--force", "keep1")
    assert "its snapshots b" in forced.stderr
    assert set(_rows(lxcpath)) == {"keep2"}

    # destroy --force of a base says what else goes: its clones (and their snapshots).
    lxcpath.cli("snapshot", "keep2", "c")
    forced = lxcpath.cli("destroy", "--force", base["name"])
    assert "removed keep2, cloned from it" in forced.stderr
    assert _rows(lxcpath) == {} and _json(lxcpath, "bases", "--json") == []
    assert sorted(os.listdir(lxcpath.path)) == [".lxcprov"]


def test_a_converted_clone_keeps_its_base_for_its_snapshots(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """A clone converted to a directory leaves its base's clone list, but its older
    snapshots still lie on the base: the base stays, and a restore still works (shifted
    into the container's new ids)."""
    pw = password_file[0]
    lxcpath.cli("new", "conv1", "-t", "busybox", "--network", "none", "--no-start",
                "--root-password-file", str(pw))  # fmt: skip
    with lxcpath.mounted("conv1") as root:
        (root / "root/marker").write_text("in the snapshot\n")
    lxcpath.cli("snapshot", "conv1", "old")
    lxcpath.cli("convert", "conv1", "--privileged")
    (base,) = _json(lxcpath, "bases", "--json")
    assert base["clones"] == []
    refused = lxcpath.cli("bases", "rm", base["name"], check=False)
    assert refused.returncode != 0 and "conv1's snapshot old" in refused.stderr
    (lxcpath.rootfs("conv1") / "root/marker").unlink()
    lxcpath.cli("restore", "conv1", "old")
    marker = lxcpath.rootfs("conv1") / "root/marker"
    assert marker.read_text() == "in the snapshot\n" and marker.stat().st_uid == 0
    lxcpath.cli("start", "conv1")
    assert lxcpath.attach("conv1", "cat", "/root/marker").stdout == "in the snapshot\n"
