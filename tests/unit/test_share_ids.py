"""What a shared directory can hand out (issue 22, row 4): the ids a container's files get
on the host through an idmapped share, the options inside, and the sources never shared.

The real attack is in tests/real/test_mounts.py; here the decisions, case by case.
"""

from __future__ import annotations

import itertools

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


def test_no_container_id_is_stored_as_a_host_system_id() -> None:
    lines = mounts.share_map(HOST, COUNT)
    for container_id in range(COUNT):
        stored = _stored(lines, container_id)
        if container_id == 0:
            assert stored is None, "the container's root has no id in a share"
        elif container_id in mounts.USER_IDS:
            assert stored == container_id, "a host user is the same user inside"
        else:
            assert stored == HOST + container_id, "the container's own id, as unmapped"
        assert stored is None or not _system(stored), (container_id, stored)


def test_host_system_ids_show_as_nobody_inside() -> None:
    """A host file's id is mapped down through the same lines: one of a host system id
    has no kernel id, so it is nobody inside and nobody there can chown to it."""
    lines = mounts.share_map(HOST, COUNT)
    for disk in [0, 6, 42, 999, 60000, 65534, 65535]:
        assert not any(a <= disk < a + n for a, _b, n in lines), disk
    assert any(a <= 1000 < a + n for a, _b, n in lines)


def test_the_lines_are_a_map_the_kernel_takes() -> None:
    lines = mounts.share_map(HOST, COUNT)
    assert len(lines) <= 340
    for col in (0, 1):
        spans = sorted((line[col], line[col] + line[2]) for line in lines)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_a_container_range_among_the_hosts_own_ids_cannot_be_idmapped() -> None:
    with pytest.raises(MountError, match="overlap the host's own"):
        mounts.share_map(1000, COUNT)


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
