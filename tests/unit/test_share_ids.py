"""What a shared directory can hand out (issue 22, row 4): the ids a container's files get
on the host through an idmapped share, the options inside, and the sources never shared.

The real attack is in tests/real/test_mounts.py; here the decisions, case by case.
"""

from __future__ import annotations

import itertools
import stat

import pytest

from lxcprov.engine import mounts
from lxcprov.engine.mounts import Mount
from lxcprov.errors import MountError

HOST = 1_100_000_000
COUNT = 65536


def _system(disk: int) -> bool:
    return disk < 1000 or 60000 <= disk <= 65535


def _stored(lines: list[tuple[int, int, int]], container_id: int) -> int | None:
    """The id the host's filesystem stores for a file a container id makes through the
    idmapped mount (None: it cannot make one), as the kernel maps it: the container's
    id is kernel id HOST+id, and the mount's namespace maps kernel ids up to stored ids."""
    kernel = HOST + container_id
    for inside, outside, count in lines:
        if outside <= kernel < outside + count:
            return inside + (kernel - outside)
    return None


@pytest.mark.parametrize("passed", [1000, 1234, 59999, None])
def test_only_the_sharing_owner_is_stored_as_a_host_id(passed: int | None) -> None:
    """Issue 22 review, row 3: a share passed every host user id through, and container
    uid 1001 left a setuid file of host user 1001 in host user 1000's directory. Now
    only the directory's owner (or group) passes: every other id of the container is
    stored as its own host id, root as nothing."""
    lines = mounts.share_map(HOST, COUNT, passed)
    for container_id in range(COUNT):
        stored = _stored(lines, container_id)
        if container_id == 0:
            assert stored is None, "the container's root has no id in a share"
        elif container_id == passed:
            assert stored == container_id, "the sharing user is the same user inside"
        else:
            assert stored == HOST + container_id, "the container's own id, as unmapped"
        assert stored is None or stored == passed or stored >= HOST, (container_id, stored)


@pytest.mark.parametrize("passed", [1000, None])
def test_other_host_users_and_system_ids_show_as_nobody_inside(passed: int | None) -> None:
    """A host file's id is mapped down through the same lines: one of another host user or
    of a host system id has no kernel id, so it is nobody inside and nobody there can
    chown to it."""
    for disk in [0, 6, 42, 999, 1001, 1002, 30000, 59999, 60000, 65534, 65535]:
        assert mounts.shown_inside(disk, HOST, COUNT, passed) is None, disk
    assert mounts.shown_inside(1000, HOST, COUNT, passed) == passed
    assert mounts.shown_inside(HOST + 33, HOST, COUNT, passed) == 33


@pytest.mark.parametrize("passed", [1000, 1234, 59999, None])
def test_the_lines_are_a_map_the_kernel_takes(passed: int | None) -> None:
    lines = mounts.share_map(HOST, COUNT, passed)
    assert len(lines) <= 340 and all(n > 0 for _a, _b, n in lines)
    for col in (0, 1):
        spans = sorted((line[col], line[col] + line[2]) for line in lines)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_what_passes_is_the_owner_if_it_is_a_host_user() -> None:
    assert mounts.passed_ids(1000, 1000) == (1000, 1000)
    assert mounts.passed_ids(1000, 100) == (1000, None)  # users (100) is a system group
    assert mounts.passed_ids(0, 0) == (None, None)
    assert mounts.passed_ids(65534, 60000) == (None, None)
    with pytest.raises(ValueError):
        mounts.share_map(HOST, COUNT, 33)


def test_what_passes_is_recorded_in_the_namespace_name() -> None:
    for owner in [(1000, 1000), (1000, None), (None, None), (59999, 1001)]:
        name = mounts.userns_name((HOST, HOST), owner)
        assert mounts.owner_of(name) == owner
    # An older lxcprov's namespaces (every host user id, or every id) record nothing:
    # start records the owner then. A forged name with a system id records nothing.
    assert mounts.owner_of(f"{HOST}-{HOST}-users") is None
    assert mounts.owner_of(f"{HOST}-{HOST}") is None
    assert mounts.owner_of(f"{HOST}-{HOST}-owner-0-none") is None
    entry = Mount("/srv/x", "/srv/share").entry(f"/l/.lxcprov/userns/{HOST}-{HOST}-owner-1000-none")
    found = mounts.from_entry(entry, unprivileged=True)
    assert found is not None and found.owner == (1000, None) and found.idmap


def test_a_container_range_among_the_hosts_own_ids_cannot_be_idmapped() -> None:
    with pytest.raises(MountError, match="overlap the host's own"):
        mounts.share_map(1000, COUNT, None)


def test_every_entry_is_nosuid_and_nodev_inside() -> None:
    for idmap_path in (None, "/l/.lxcprov/userns/1-1-users"):
        for ro in (False, True):
            opts = Mount("/srv/x", "/srv/share", ro).entry(idmap_path).split()[3].split(",")
            assert {"bind", "nosuid", "nodev"} <= set(opts)


PROTECTED = {
    "/etc": "a host system directory",
    "/var/lib/lxc": "a host system directory",
    "/var/tmp/lxc": "the lxcpath",
    "/var/lib/lxcprov": "lxcprov's state directory",
}


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("/", "holds /etc (a host system directory)"),
        ("/etc", "is a host system directory"),
        ("/etc/ssh", "is inside /etc (a host system directory)"),
        ("/var", "holds /var/lib/lxc (a host system directory)"),
        ("/var/tmp", "holds /var/tmp/lxc (the lxcpath)"),
        ("/var/tmp/lxc", "is the lxcpath"),
        ("/var/tmp/lxc/web1/rootfs", "is inside /var/tmp/lxc (the lxcpath)"),
        ("/var/lib/lxcprov/net", "is inside /var/lib/lxcprov (lxcprov's state directory)"),
        ("/var/tmp/lxcx", ""),
        ("/etcetera", ""),
        ("/srv/www", ""),
        ("/home/alice/project", ""),
    ],
)
def test_sources_never_shared(source: str, why: str) -> None:
    assert mounts.refusal(source, PROTECTED) == why


def test_the_system_list_covers_the_host_not_its_data() -> None:
    for path in ("/etc", "/proc", "/sys", "/dev", "/run", "/boot", "/root", "/usr"):
        assert path in mounts.SYSTEM_SOURCES
    for path in ("/srv", "/home", "/tmp", "/var/tmp", "/opt", "/mnt", "/media"):
        assert not mounts.refusal(path + "/data", dict.fromkeys(mounts.SYSTEM_SOURCES, "s"))


@pytest.mark.parametrize(
    ("parent_uid", "mode", "child_uid", "why"),
    [
        (0, 0o755, 1000, ""),  # /srv, /home: only root renames what is in them
        (0, 0o1777, 0, ""),  # /var/tmp/dir-of-root: sticky, the entry is root's
        (0, 0o1777, 1000, ""),  # /tmp/alices: sticky, the entry is the owner's
        (0, 0o1777, 1001, "is writable by everyone (sticky, but the entry is someone else"),
        (0, 0o777, 0, "is writable by everyone"),
        (0, 0o775, 0, "is writable by its group"),
        (1000, 0o755, 1000, ""),  # /home/alice/proj: alice may swap only for her own
        (1000, 0o775, 1000, "is writable by its group"),
        (1001, 0o755, 1000, "is owned by uid 1001"),  # bob's directory above alice's share
        (1001, 0o700, 0, "is owned by uid 1001"),
    ],
)
def test_a_parent_only_root_or_the_owner_can_change(
    parent_uid: int, mode: int, child_uid: int, why: str
) -> None:
    """Issue 22 review, row 4: a host user who owns a directory on the way swapped the
    shared one for a symlink to another user's files before a restart. The share's owner
    (uid 1000 here) may own the way to it: a symlink is refused, and a directory of
    someone else's changes the owner, which every start judges again."""
    found = mounts.swap_risk(parent_uid, stat.S_IFDIR | mode, child_uid, 1000)
    assert found.startswith(why) and bool(found) == bool(why), found


DEV, OTHER = "254:0", "0:55"
PLACES = [((DEV, "/var/tmp/lxc"), "/var/tmp/lxc", "the lxcpath"),
          ((DEV, "/etc"), "/etc", "a host system directory")]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ((DEV, "/var/tmp/lxc"), "is /var/tmp/lxc (the lxcpath), mounted again elsewhere"),
        ((DEV, "/var/tmp/lxc/c1/rootfs"), "is inside /var/tmp/lxc (the lxcpath), mounted"),
        ((DEV, "/var/tmp"), "holds /var/tmp/lxc (the lxcpath), mounted again elsewhere"),
        ((DEV, "/"), "holds /var/tmp/lxc"),
        ((DEV, "/var/tmp/lxcx"), ""),
        ((OTHER, "/var/tmp/lxc"), ""),  # another filesystem: not the lxcpath
        ((OTHER, "/"), ""),
    ],
)
def test_a_bind_mount_of_a_refused_directory_is_refused(source: mounts.Place, why: str) -> None:
    """Issue 22 review, row 12: `mount --bind /var/tmp/lxcpath /var/tmp/bindlxc` made the
    lxcpath shareable by another path. Judged by place (filesystem, path inside it), a
    bind mount is what it shows."""
    found = mounts.refusal_in_fs(source, PLACES)
    assert found.startswith(why) and bool(found) == bool(why), found
