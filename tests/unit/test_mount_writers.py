"""`mount add` says which ids inside can write a host directory, and what changes that."""

from __future__ import annotations

import os
import stat

from lxcprov.ops.mounts import writers

ROOT = (1_100_000_000, 1_100_000_000)


def _st(uid: int, gid: int, mode: int) -> os.stat_result:
    return os.stat_result((stat.S_IFDIR | mode, 0, 0, 2, uid, gid, 0, 0, 0, 0))


def test_a_root_owned_directory_is_written_by_no_one_and_the_fix_is_named() -> None:
    found = writers("/srv/data", _st(0, 0, 0o755), ROOT, idmap=True, ro=False)
    assert found is not None and found.who == "no one"
    assert "chown N:G /srv/data" in found.fix
    assert f"--no-idmap after chown -R {ROOT[0]}:{ROOT[1]} /srv/data" in found.fix


def test_idmapped_owner_and_group_are_the_same_ids_inside_root_never() -> None:
    found = writers("/srv/d", _st(1000, 1001, 0o775), ROOT, idmap=True, ro=False)
    assert found is not None and found.who == "uid 1000, group 1001"
    # A host system group (users, 100) passes no id through, and the kernel writes no
    # inode whose owner or group has no id inside: nobody writes there, its owner neither.
    found = writers("/srv/d", _st(1000, 100, 0o775), ROOT, idmap=True, ro=False)
    assert found is not None and found.who == "no one" and "chown N:G /srv/d" in found.fix
    found = writers("/srv/d", _st(0, 0, 0o1777), ROOT, idmap=True, ro=False)
    assert found is not None and found.who == "no one"
    # The container's own system ids are stored as its host ids, and show as themselves.
    found = writers("/srv/d", _st(ROOT[0] + 33, ROOT[1] + 33, 0o770), ROOT, idmap=True, ro=False)
    assert found is not None and found.who == "uid 33, group 33"
    found = writers("/srv/d", _st(1000, 1000, 0o777), ROOT, idmap=True, ro=False)
    assert found is not None and found.who == "uid 1000, group 1000, everyone but root"


def test_without_idmap_the_containers_own_range_owns_it() -> None:
    found = writers("/srv/d", _st(ROOT[0], ROOT[1], 0o755), ROOT, idmap=False, ro=False)
    assert found is not None and found.who == "root"
    found = writers("/srv/d", _st(1000, 1000, 0o755), ROOT, idmap=False, ro=False)
    assert found is not None and found.who == "no one"
    assert found.fix == f"for root inside: chown -R {ROOT[0]}:{ROOT[1]} /srv/d"


def test_privileged_and_read_only() -> None:
    assert writers("/srv/d", _st(0, 0, 0o755), None, idmap=False, ro=False) is None
    found = writers("/srv/d", _st(1000, 1000, 0o777), ROOT, idmap=True, ro=True)
    assert found is not None and found.who == "no one (read-only)"
