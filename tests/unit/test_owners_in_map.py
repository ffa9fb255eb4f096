"""Ids taken from a container's files stay inside 0..65535 of its map (issue 22, row 3).

Measured on main: a passwd line `acc:x:-100000:...` and a document file owned by "acc"
with mode 4755 made a setuid file of host uid 1099900000, outside the container's map;
-1100000000 would have been host root. Every id is now checked twice: where it is read
(engine/apply/files.py) and where a file is given to it (system/rootfs.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lxcprov.engine.apply.files import FileNow, plan_file, resolve_owner
from lxcprov.errors import RootfsEscapeError
from lxcprov.system.rootfs import Rootfs
from tests.unit.apply.docs import parse

BASE = 1_100_000_000  # lxcprov's default shared block (engine/idmap.py)
GROUP = "root:x:0:\nadm:x:4:\n"


@pytest.mark.parametrize(
    "uid",
    ["-100000", "-1100000000", "65536", "4294967295", "99999999999999999999", "+5", " 5",
     "5 ", "1_000", "\u0663", "0x10", "", "1e3"],
)  # fmt: skip
def test_a_passwd_uid_outside_the_map_is_refused(uid: str) -> None:
    passwd = f"root:x:0:0::/root:/bin/sh\nacc:x:{uid}:0::/:/bin/sh\n"
    found = resolve_owner("acc", passwd, GROUP)
    assert isinstance(found, str), f"uid {uid!r} became {found}"
    assert "is not an id the container has (0..65535" in found
    assert "/etc/passwd" in found and "\n" not in found


@pytest.mark.parametrize("gid", ["-1", "65536", "+4", "\u0664"])
def test_a_primary_or_named_group_outside_the_map_is_refused(gid: str) -> None:
    passwd = f"acc:x:1000:{gid}::/:/bin/sh\n"
    assert isinstance(resolve_owner("acc", passwd, GROUP), str)
    group = f"evil:x:{gid}:\n"
    refused = resolve_owner("1000:evil", "", group)
    assert isinstance(refused, str) and "/etc/group" in refused


@pytest.mark.parametrize("owner", ["65536", "0:65536", "4294967295:0", "99999999999"])
def test_numbers_in_the_document_are_held_to_the_map_too(owner: str) -> None:
    assert isinstance(resolve_owner(owner, "", ""), str)


def test_ids_inside_the_map_still_resolve() -> None:
    passwd = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
    assert resolve_owner("nobody", passwd, GROUP) == (65534, 65534)
    assert resolve_owner("65535:0", "", "") == (65535, 0)
    assert resolve_owner("root:adm", passwd, GROUP) == (0, 4)


def test_the_measured_exploit_is_refused_with_the_file_and_the_owner() -> None:
    text = ('[[containers.web.files]]\npath = "/usr/local/bin/acc"\ncontent = "x"\n'
            'owner = "acc"\nmode = "4755"\n')  # fmt: skip
    files = parse(f'[containers.web]\ntemplate = "busybox"\n{text}').containers[0].files
    assert files is not None
    passwd = "root:x:0:0::/root:/bin/sh\nacc:x:-100000:0::/:/bin/sh\n"
    for now in (FileNow("absent"), FileNow("file", b"old", 0o644, 0, 0)):
        change = plan_file(files[0], now, passwd, GROUP)
        assert not change.change
        assert change.problem.startswith("/usr/local/bin/acc: owner 'acc': uid '-100000'")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "usr/local/bin").mkdir(parents=True)
    return r


@pytest.mark.parametrize("ids", [(-100000, 0), (0, -1), (65536, 0), (0, 1 << 32)])
def test_the_jail_refuses_an_id_outside_the_map_and_writes_nothing(
    root: Path, ids: tuple[int, int]
) -> None:
    before = sorted(os.listdir(root / "usr/local/bin"))
    with Rootfs(root, owner=(BASE, BASE)) as rootfs:
        with pytest.raises(RootfsEscapeError, match=r"a container's ids are 0\.\.65535"):
            rootfs.write_bytes("/usr/local/bin/acc", b"#!/bin/sh\n", mode=0o4755,
                               uid=ids[0], gid=ids[1])  # fmt: skip
        (root / "usr/local/bin/there").write_text("x")
        with pytest.raises(RootfsEscapeError, match="/usr/local/bin/there"):
            rootfs.chown("/usr/local/bin/there", *ids)
    assert sorted(os.listdir(root / "usr/local/bin")) == sorted([*before, "there"])
    assert (root / "usr/local/bin/there").stat().st_uid == 0


def test_a_privileged_root_is_held_to_the_same_range(root: Path) -> None:
    with Rootfs(root) as rootfs, pytest.raises(RootfsEscapeError):
        rootfs.write_bytes("/etc-x", b"x", uid=70000, gid=0)
    assert not (root / "etc-x").exists()


def test_a_kept_owner_outside_the_map_becomes_the_containers_root(root: Path) -> None:
    """No container made a file of host uid 4242 in its rootfs: lxcprov's rewrite of it
    is not handed to that uid, but to the container's root."""
    inside = root / "usr/local/bin/inside"
    outside = root / "usr/local/bin/outside"
    for p, owner in ((inside, BASE + 1000), (outside, 4242)):
        p.write_text("old\n")
        os.chown(p, owner, owner)
        p.chmod(0o755)
    with Rootfs(root, owner=(BASE, BASE)) as rootfs:
        rootfs.write_bytes("/usr/local/bin/inside", b"new\n")
        rootfs.write_bytes("/usr/local/bin/outside", b"new\n")
    assert (inside.stat().st_uid, inside.stat().st_gid) == (BASE + 1000, BASE + 1000)
    assert (outside.stat().st_uid, outside.stat().st_gid) == (BASE, BASE)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755
