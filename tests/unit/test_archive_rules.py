"""What an import accepts of an archive (lxcprov.engine.archive): tables of members,
manifests and LXC config lines, each refused or taken for a stated reason."""

from __future__ import annotations

import json
import struct
from dataclasses import replace

import pytest

from lxcprov.engine import archive
from lxcprov.engine.archive import CHECKSUMS, MANIFEST, Checker, Manifest, SnapshotEntry
from lxcprov.errors import ArchiveError
from lxcprov.system.tarball import Member

MAP = "1100000000:65536"
ROOT = 1100000000


def _manifest(**changes: object) -> Manifest:
    base = Manifest(name="web1", created="2026-01-01T00:00:00+00:00", ids=MAP,
                    config="lxc.arch = amd64\n",
                    snapshots=(SnapshotEntry("s1", "2026-01-01T00:00:00+00:00", MAP),))  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def m(name: str, kind: str = "file", **kw: object) -> Member:
    fields: dict[str, object] = {"size": 0, "mode": 0o644, "uid": ROOT, "gid": ROOT}
    fields.update(kw)
    return Member(name, kind, **fields)  # type: ignore[arg-type]


def _checked(*members: Member, manifest: Manifest | None = None) -> Checker:
    checker = Checker()
    for i, member in enumerate(members):
        checker.check(member)
        if i == 0:
            checker.manifest = manifest or _manifest()
    return checker


HEAD = [m(MANIFEST, size=100), m("rootfs", "dir"), m("rootfs/etc", "dir")]
CAP2 = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def CAP3(rootid: int) -> bytes:
    return struct.pack("<IIIIII", 0x03000001, 1 << 13, 0, 0, 0, rootid)


def test_a_good_archive_passes() -> None:
    checker = _checked(
        *HEAD,
        m("rootfs/etc/passwd", size=10),
        m("rootfs/etc/passwd-link", "hardlink", linkname="rootfs/etc/passwd"),
        m("rootfs/etc/localtime", "symlink", linkname="/usr/share/zoneinfo/UTC"),
        m("rootfs/etc/fifo", "fifo"),
        m("rootfs/dev", "dir"),
        m("rootfs/dev/null", "chardev", devmajor=1, devminor=3),
        m("snapshots/s1/rootfs", "dir"),
        m("snapshots/s1/rootfs/etc", "dir"),
        m(CHECKSUMS, size=100),
    )
    checker.finish()


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([m("rootfs", "dir")], "starts with"),
        ([*HEAD, m("rootfs/../../etc/passwd")], "`..`"),
        ([*HEAD, m("/etc/passwd")], "absolute"),
        ([*HEAD, m("rootfs//etc/x")], "empty"),
        ([*HEAD, m("rootfs/./etc")], "`.`"),
        ([*HEAD, m("config")], "outside the container"),
        ([*HEAD, m("lxcprov/other.json")], "outside the container"),
        ([*HEAD, m("snapshots/s2/rootfs", "dir")], "outside the container"),
        ([*HEAD, m("snapshots/s1/etc", "dir")], "outside the container"),
        ([*HEAD, m("rootfs/etc", "dir")], "twice"),
        # An absolute symlink, then a file under it: GNU tar would follow the symlink.
        ([*HEAD, m("rootfs/etc/evil", "symlink", linkname="/etc"),
          m("rootfs/etc/evil/passwd")], "under the symlink"),
        ([*HEAD, m("rootfs/etc/sl", "symlink", linkname="/"),
          m("rootfs/etc/hl", "hardlink", linkname="rootfs/etc/sl"),
          m("rootfs/etc/hl/x")], "under the symlink"),
        ([*HEAD, m("rootfs/usr/bin/x")], "not in the archive before it"),
        ([*HEAD, m("rootfs/etc/f"), m("rootfs/etc/f/x")], "not a directory"),
        ([*HEAD, m("rootfs/etc/l", "hardlink", linkname="/etc/shadow")], "hard link"),
        ([*HEAD, m("rootfs/etc/l", "hardlink", linkname="rootfs/etc/later")], "hard link"),
        ([*HEAD, m("rootfs/etc/l", "hardlink", linkname="rootfs/etc")], "directory"),
        ([*HEAD, m("snapshots/s1/rootfs", "dir"),
          m("snapshots/s1/rootfs/l", "hardlink", linkname="rootfs/etc")], "hard link"),
        ([*HEAD, m("rootfs/etc/x", "other")], "type"),
        ([m(MANIFEST), m("lxcprov/../dev/sda", "blockdev")], "`..`"),
        ([*HEAD, m("sda", "blockdev", devmajor=8)], "outside the container"),
        ([*HEAD, m("rootfs/etc/x", uid=0, mode=0o4755)], "a way to root on the host"),
        ([*HEAD, m("rootfs/etc/x", gid=ROOT + 65536, mode=0o2755)], "a way to root"),
        ([*HEAD, m("rootfs/etc/x", uid=0, xattrs=(("security.capability", CAP3(0)),))],
         "a way to root"),
        ([*HEAD, m("rootfs/etc/x", xattrs=(("security.capability", CAP2),))],
         "not its container root's"),
        ([*HEAD, m("rootfs/etc/x", xattrs=(("security.capability", CAP3(ROOT + 1)),))],
         "not its container root's"),
        ([*HEAD, m("rootfs/etc/sda", "blockdev", devmajor=8)], "the device 8:0"),
        ([*HEAD, m("rootfs/etc/mem", "chardev", devmajor=1, devminor=1)], "the device 1:1"),
        ([*HEAD, m("rootfs/etc/ttyS0", "chardev", devmajor=4, devminor=64)], "the device 4:64"),
        ([*HEAD, m(CHECKSUMS, size=10), m("rootfs/etc/late")], "follows the checksums"),
        ([*HEAD, m(MANIFEST)], "twice"),
        ([*HEAD, m(CHECKSUMS, "symlink", linkname="/etc/shadow")], "regular file"),
        ([m(MANIFEST, size=archive.MAX_MANIFEST + 1)], "regular file"),
    ],
)  # fmt: skip
def test_members_that_would_land_outside_are_refused(members: list[Member], why: str) -> None:
    with pytest.raises(ArchiveError) as caught:
        _checked(*members)
    assert why in caught.value.message


def test_unmapped_plain_files_are_noted_and_a_v3_capability_of_its_root_is_fine() -> None:
    checker = _checked(*HEAD, m("rootfs/etc/hostfile", uid=0, gid=0),
                       m("rootfs/etc/ping", xattrs=(("security.capability", CAP3(ROOT)),)),
                       m("rootfs/etc/null", "chardev", devmajor=1, devminor=3))  # fmt: skip
    assert checker.outside_map == ["rootfs/etc/hostfile"]


def test_privileged_archives_may_hold_anything_and_an_archive_must_end_in_checksums() -> None:
    checker = _checked(*HEAD, m("rootfs/etc/x", uid=0, gid=0, mode=0o4755),
                       m("rootfs/etc/sda", "blockdev", devmajor=8),
                       manifest=_manifest(ids="privileged"))  # fmt: skip
    with pytest.raises(ArchiveError, match=r"no lxcprov/checksums\.json"):
        checker.finish()


def test_snapshot_trees_are_checked_against_their_own_map() -> None:
    other = "1200000000:65536"
    manifest = _manifest(snapshots=(SnapshotEntry("s1", "t", other),))
    _checked(*HEAD, m("snapshots/s1/rootfs", "dir", uid=1200000000, gid=1200000000),
             manifest=manifest)  # fmt: skip
    checker = _checked(*HEAD, m("snapshots/s1/rootfs", "dir"), manifest=manifest)
    assert checker.outside_map == ["snapshots/s1/rootfs"]
    with pytest.raises(ArchiveError, match="a way to root"):
        _checked(*HEAD, m("snapshots/s1/rootfs", "dir", mode=0o4755), manifest=manifest)


# -- manifests and checksums ------------------------------------------------------------


def test_a_manifest_reads_back_as_written() -> None:
    written = _manifest(mac="00:16:3e:aa:bb:cc", extra_state={"lxcprov-mounts.toml": "x = 1\n"})
    assert archive.parse_manifest(written.to_json()) == written


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"format": "tar"}, "another format"),
        ({"version": 2}, "format version 2"),
        ({"version": "1"}, "no format version"),
        ({"name": "../evil"}, "invalid name"),
        ({"name": "web1\n"}, "invalid name"),
        ({"ids": "everything"}, "invalid name or id map"),
        ({"mac": "00:16:3e:aa:bb:cc\nlxc.hook.pre-start = /x"}, "invalid MAC"),
        ({"snapshots": [{"name": "../s", "created": "t", "ids": MAP}]}, "invalid snapshot"),
        ({"snapshots": [{"name": "s", "created": "t", "ids": MAP}] * 2}, "twice"),
        ({"network": {"mode": "bridge-all"}}, "unknown network mode"),
        ({"network": {"mode": "dhcp", "evil": "x"}}, "wrong shape"),
        ({"config": 5}, "wrong type"),
    ],
)
def test_bad_manifests_are_refused(change: dict[str, object], why: str) -> None:
    data = json.loads(_manifest().to_json())
    data.update(change)
    with pytest.raises(ArchiveError) as caught:
        archive.parse_manifest(json.dumps(data).encode())
    assert why in caught.value.message


def test_checksums_must_match_member_for_member() -> None:
    sums = {"a": "0" * 64, "b": "1" * 64}
    assert archive.parse_checksums(archive.render_checksums(sums)) == sums
    archive.compare(sums, dict(sums))
    for actual, why in (({"a": "0" * 64}, "not in the archive"),
                        ({**sums, "c": "2" * 64}, "not in its checksums"),
                        ({**sums, "b": "2" * 64}, "wrong checksum")):  # fmt: skip
        with pytest.raises(ArchiveError, match=why):
            archive.compare(sums, actual)
    with pytest.raises(ArchiveError, match="not a sha256"):
        archive.parse_checksums(archive.render_checksums({"a": "zz"}))


# -- the LXC config an import writes ---------------------------------------------------


@pytest.mark.parametrize(
    ("line", "taken"),
    [
        ("lxc.include = /usr/share/lxc/config/debian.common.conf", True),
        ("lxc.include = /usr/share/lxc/config/common.conf", True),
        ("lxc.include = /usr/share/lxc/config/nesting.conf", False),
        ("lxc.include = /usr/share/lxc/config/userns.conf", False),
        ("lxc.include = /etc/lxc/evil.conf", False),
        ("lxc.include = /usr/share/lxc/config/../../../../etc/x.common.conf", False),
        ("lxc.tty.max = 4", True),
        ("lxc.arch = amd64", True),
        ("lxc.cap.drop = sys_module mac_admin", True),
        ("lxc.cap.keep = sys_admin", False),
        ("lxc.cgroup.memory.limit_in_bytes = 536870912", True),
        ("lxc.cgroup2.cpu.max = 100000 100000", True),
        ("lxc.cgroup.devices.allow = b 8:* rwm", False),
        ("lxc.cgroup2.devices.allow = a", False),
        ("lxc.hook.pre-start = /tmp/evil", False),
        ("lxc.hook.version = 1", False),
        ("lxc.mount.entry = /etc etc none bind 0 0", False),
        ("lxc.mount.entry = /lib lib none ro,bind 0 0", False),
        ("lxc.mount.entry = shm dev/shm tmpfs defaults,create=dir 0 0", True),
        ("lxc.mount.entry = mqueue dev/mqueue mqueue defaults,optional,create=dir 0 0", True),
        ("lxc.mount.entry = shm ../../host tmpfs defaults 0 0", False),
        ("lxc.mount.entry = none dev/x tmpfs bind 0 0", False),
        ("lxc.mount.fstab = /etc/fstab", False),
        ("lxc.mount.auto = cgroup:mixed proc:mixed sys:ro", True),
        ("lxc.mount.auto = proc:rw sys:rw", False),
        ("lxc.mount.auto = cgroup:rw", False),
        ("lxc.apparmor.profile = unconfined", False),
        ("lxc.seccomp.profile = ", False),
        ("lxc.namespace.share.net = 1", False),
        ("lxc.console.logfile = /etc/shadow", False),
        ("lxc.log.file = /root/.bashrc", False),
        ("lxc.environment = PATH=/x", False),
        ("lxc.signal.halt = SIGUSR1", True),
        ("lxc.start.auto = 1", True),
        ("lxc.tty.max = 4$(reboot)", False),
    ],
)
def test_only_settings_that_stay_inside_are_taken(line: str, taken: bool) -> None:
    found = archive.portable_config(line + "\n")
    key, _, value = line.partition("=")
    entry = f"{key.strip()} = {value.strip()}"
    assert (found.lines == [entry]) is taken, found
    assert (found.dropped == [entry]) is not taken, found


def test_lxcprov_s_own_keys_are_decided_again_and_not_reported() -> None:
    text = (
        "lxc.rootfs.path = dir:/old/rootfs\nlxc.net.0.type = veth\nlxc.net.0.hwaddr = x\n"
        "lxc.uts.name = old\nlxc.idmap = u 0 1 65536\n# a comment\nlxc.tty.max = 2\n"
    )
    found = archive.portable_config(text)
    assert found.lines == ["lxc.tty.max = 2"] and found.dropped == []
