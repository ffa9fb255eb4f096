"""What an import accepts of an archive (lxcprov.engine.archive): tables of members,
manifests and LXC config lines, each refused or taken for a stated reason."""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from lxcprov.engine import archive
from lxcprov.engine.archive import CHECKSUMS, MANIFEST, Checker, Manifest, SnapshotEntry
from lxcprov.errors import ArchiveError, StateFileError
from lxcprov.system import lxcconf, snapstore
from lxcprov.system.tarball import Member

MAP = "1100000000:65536"
WHEN = "2026-01-01T00:00:00+00:00"
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
        ([*HEAD, m("rootfs/etc/" + "n" * 256)], "longer than a filesystem takes"),
        ([*HEAD, m("rootfs/etc/l", "symlink", linkname="")], "no link can have"),
        ([*HEAD, m("rootfs/etc/l", "symlink", linkname="x" * 4096)], "no link can have"),
        ([*HEAD, m("rootfs/etc/l", "hardlink", linkname="rootfs/etc\0x")], "no link can have"),
        ([*HEAD, m("rootfs/etc/x", xattrs=(("nodot", b""),))], "an xattr no file can have"),
        ([*HEAD, m("rootfs/etc/x", xattrs=(("user.a\0b", b""),))], "an xattr no file can"),
        ([*HEAD, m("rootfs/etc/l", "symlink", linkname="a", xattrs=(("user.a", b""),))],
         "an xattr no symlink can have"),
        ([*HEAD, m("rootfs/etc/x", uid=(1 << 32) - 1)], "an owner no file can have"),
        ([*HEAD, m("rootfs/etc/x", gid=-5)], "an owner no file can have"),
        ([*HEAD, m("rootfs/etc/x", "chardev", devmajor=4096)], "no such device"),
        ([*HEAD, m("rootfs/etc/x", "blockdev", devminor=1 << 20)], "no such device"),
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


def test_an_unprivileged_tree_keeps_only_the_devices_a_container_needs() -> None:
    """Row 9 of issue 22: the host's consoles (4:N, 5:1), pts nodes, memory and disks are
    left out (LXC's autodev makes /dev at start); null, zero, full, random, urandom, tty,
    ptmx and overlayfs' whiteout are written."""
    kept = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (0, 0)]
    out = [("c", 4, 1), ("c", 4, 63), ("c", 5, 1), ("c", 136, 0), ("c", 1, 1), ("c", 10, 200),
           ("b", 8, 0)]  # fmt: skip
    checker = _checked(*HEAD)
    for i, (major, minor) in enumerate(kept):
        assert checker.check(m(f"rootfs/etc/k{i}", "chardev", devmajor=major, devminor=minor))
    for kind, major, minor in out:
        member = m(f"rootfs/etc/{kind}{major}-{minor}", "chardev" if kind == "c" else "blockdev",
                   devmajor=major, devminor=minor, mode=0o666)  # fmt: skip
        assert checker.check(member) is False
    # A hard link to a node left out is left out too; nothing may be made under it.
    assert checker.check(m("rootfs/etc/tty1", "hardlink", linkname="rootfs/etc/c4-1")) is False
    with pytest.raises(ArchiveError, match="not a directory"):
        checker.check(m("rootfs/etc/c4-1/x"))
    why = "device c 4:1: no unprivileged container needs it"
    assert checker.left_out[0] == f"rootfs/etc/c4-1 ({why})"
    assert len(checker.left_out) == len(out) + 1
    # A privileged tree keeps them all (imported only with --privileged).
    priv = _checked(*HEAD, manifest=_manifest(ids="privileged"))
    assert priv.check(m("rootfs/etc/tty1", "chardev", devmajor=4, devminor=1))
    assert priv.check(m("rootfs/etc/sda", "blockdev", devmajor=8, uid=0, gid=0))


def test_limits_stop_at_the_header_that_goes_past_them() -> None:
    limits = archive.Limits(members=5, size=3 * archive.BLOCK_SIZE)
    checker = Checker(limits=limits)
    checker.check(m(MANIFEST, size=10))
    checker.manifest = _manifest()
    for member in (m("rootfs", "dir"), m("rootfs/a", size=1)):  # a block each
        checker.check(member)
    assert checker.need == 2 * archive.BLOCK_SIZE
    with pytest.raises(ArchiveError, match="more than 12288 bytes on disk"):
        checker.check(m("rootfs/b", size=archive.BLOCK_SIZE + 1))
    # A sparse file takes its data runs, not its length.
    checker = Checker(limits=limits)
    checker.check(m(MANIFEST, size=10))
    checker.manifest = _manifest()
    checker.check(m("rootfs", "dir"))
    checker.check(m("rootfs/lastlog", size=1 << 40, sparse=((0, 10), (1 << 39, 10))))
    assert checker.need == 3 * archive.BLOCK_SIZE
    checker.check(m("rootfs/c", "fifo"))
    checker.check(m("rootfs/d", "fifo"))  # the fifth
    with pytest.raises(ArchiveError, match="more than 5 members"):
        checker.check(m("rootfs/e", "fifo"))


def test_the_holes_of_a_format_1_archive_are_bounded() -> None:
    """Format 1 hashed holes as zeros: an import does too, for at most MAX_V1_HOLES."""
    big = archive.MAX_V1_HOLES
    assert _checked(*HEAD).check(m("rootfs/etc/s", size=1 << 50, sparse=((0, 10),)))
    old = _checked(*HEAD, manifest=_manifest(version=1))
    assert old.check(m("rootfs/etc/a", size=big // 2 + 11, sparse=((0, 10),)))
    with pytest.raises(ArchiveError, match="more than 1 GiB of holes"):
        old.check(m("rootfs/etc/b", size=big // 2 + 11, sparse=((0, 10),)))


def test_privilege_is_imported_only_when_asked() -> None:
    cmd = "lxcprov import x.tar.zst"
    archive.require_privilege(_manifest(), False, cmd)
    for manifest in (_manifest(ids="privileged"),
                     _manifest(snapshots=(SnapshotEntry("s1", "t", "privileged"),))):  # fmt: skip
        with pytest.raises(ArchiveError, match="root inside it would be root") as caught:
            archive.require_privilege(manifest, False, cmd)
        assert caught.value.hint.startswith(f"if you trust whoever made it: {cmd} --privileged")
        archive.require_privilege(manifest, True, cmd)


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
    limited = _manifest(disk=64 * 1024**2)  # a disk limit: recreated by import
    assert archive.parse_manifest(limited.to_json()).disk == 64 * 1024**2


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"format": "tar"}, "another format"),
        ({"version": 3}, "format version 3"),
        ({"version": "1"}, "no format version"),
        ({"name": "../evil"}, "invalid name"),
        ({"name": "web1\n"}, "invalid name"),
        ({"ids": "everything"}, "invalid name or id map"),
        ({"mac": "00:16:3e:aa:bb:cc\nlxc.hook.pre-start = /x"}, "invalid MAC"),
        ({"snapshots": [{"name": "../s", "created": WHEN, "ids": MAP}]}, "invalid snapshot"),
        ({"snapshots": [{"name": "s", "created": WHEN, "ids": MAP}] * 2}, "twice"),
        ({"snapshots": [{"name": "s", "created": "t", "ids": MAP}]}, "no time it was made"),
        ({"snapshots": [{"name": "s", "created": "\ud800", "ids": MAP}]}, "not Unicode"),
        ({"snapshots": [{"name": "s", "created": 5, "ids": MAP}]}, "no time it was made"),
        ({"created": "t)\nlxc.hook.pre-start = /bin/sh -c x #"}, "no time it was made"),
        ({"network": {"mode": "dhcp", "bridge": "br\udfff"}}, "not Unicode"),
        ({"extra_state": {"\ud800": "x"}}, "not Unicode"),
        ({"network": {"mode": "bridge-all"}}, "unknown network mode"),
        ({"network": {"mode": "dhcp", "evil": "x"}}, "wrong shape"),
        ({"config": 5}, "wrong type"),
        ({"disk": -1}, "invalid disk limit"),
        ({"disk": 1024}, "invalid disk limit"),
        ({"disk": 64 * 1024**2 + 1}, "invalid disk limit"),
        ({"disk": True}, "wrong type"),
        ({"disk": "64M"}, "wrong type"),
    ],
)
def test_bad_manifests_are_refused(change: dict[str, object], why: str) -> None:
    data = json.loads(_manifest().to_json())
    data.update(change)
    with pytest.raises(ArchiveError) as caught:
        archive.parse_manifest(json.dumps(data).encode())
    assert why in caught.value.message


@pytest.mark.parametrize(
    "created",
    [WHEN, "2026-01-01T00:00:00", "2026-01-01T00:00:00.123456+00:00", "2026-01-01", "t",
     "\ud800", "2026-01-01T00:00:00+00:00\n", "2026-13-01T00:00:00", "", "9" * 41],
)  # fmt: skip
def test_an_archives_snapshot_time_is_one_lxcprov_reads_back(created: str, tmp_path: Path) -> None:
    """One rule: an import takes a snapshot's `created` exactly when `snapshots` can read
    the record it writes (review of issue 22, row 13: "\ud800" was taken, then every
    `lxcprov snapshots` of the container failed)."""
    data = json.loads(_manifest().to_json())
    data["snapshots"] = [{"name": "s1", "created": created, "ids": MAP}]
    try:
        archive.parse_manifest(json.dumps(data).encode())
        imported = True
    except ArchiveError:
        imported = False
    where = tmp_path / "s1"
    where.mkdir()
    (where / snapstore.META).write_text(snapstore.render(snapstore.Meta("s1", created, "rootfs",
                                                                       MAP, 0)))  # fmt: skip
    try:
        snapstore.read_meta(where)
        readable = True
    except StateFileError:
        readable = False
    assert imported == readable, (created, imported, readable)


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
        ("lxc.tty.max = 4", True),
        ("lxc.tty.max = 4$(reboot)", False),
        ("lxc.tty.max = 63", True),
        ("lxc.tty.max = 64", False),  # more than lxcprov sets: LXC makes each one
        ("lxc.tty.max = 99999999", False),
        ("lxc.tty.dir = lxc", True),
        ("lxc.tty.dir = ../../etc", False),
        ("lxc.arch = amd64", True),
        ("lxc.cap.drop = sys_module mac_admin", True),
        ("lxc.cap.drop = ", False),  # it would clear common.conf's drops
        ("lxc.cap.keep = sys_admin", False),
        ("lxc.cgroup.memory.limit_in_bytes = 536870912", True),
        ("lxc.cgroup2.cpu.max = 100000 100000", True),
        ("lxc.cgroup2.memory.max = max", True),
        ("lxc.cgroup.devices.allow = b 8:* rwm", False),
        ("lxc.cgroup2.devices.allow = a", False),
        ("lxc.cgroup2.devices.deny = ", False),
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
        ("lxc.mount.auto = ", False),
        ("lxc.apparmor.profile = unconfined", False),
        ("lxc.seccomp.profile = ", False),
        ("lxc.namespace.share.net = 1", False),
        ("lxc.console.logfile = /etc/shadow", False),
        ("lxc.log.file = /root/.bashrc", False),
        ("lxc.environment = PATH=/x", False),
        ("lxc.signal.halt = SIGUSR1", True),
        ("lxc.signal.halt = SIGRTMIN+3", True),
        # Row 2 of issue 22: devices of its files visible, booted by this host.
        ("lxc.autodev = 0", False),
        ("lxc.autodev = 1", False),
        ("lxc.start.auto = 1", False),
        ("lxc.start.delay = 5", False),
        ("lxc.include = /usr/share/lxc/config/nesting.conf", False),
        ("lxc.include = /usr/share/lxc/config/userns.conf", False),
        ("lxc.include = /usr/share/lxc/config/oci.common.conf", False),
        ("lxc.include = /usr/share/lxc/config/ubuntu-cloud.common.conf", False),
        ("lxc.include = /etc/lxc/evil.conf", False),
        ("lxc.include = /usr/share/lxc/config/../../../../etc/x.common.conf", False),
    ],
)
def test_only_settings_that_stay_inside_are_taken(line: str, taken: bool) -> None:
    found = archive.portable_config(line + "\n")
    key, _, value = line.partition("=")
    entry = f"{key.strip()} = {value.strip()}"
    assert found.lines[0] == f"lxc.include = {archive.COMMON}", "every config includes it"
    assert (found.lines[1:] == [entry]) is taken, found
    assert (found.dropped == [entry]) is not taken, found


@pytest.mark.parametrize(
    ("text", "include", "dropped"),
    [
        ("", archive.COMMON, []),
        ("lxc.include = /usr/share/lxc/config/common.conf\n", archive.COMMON, []),
        ("lxc.include = /usr/share/lxc/config/debian.common.conf\n",
         "/usr/share/lxc/config/debian.common.conf", []),
        # A distro's file, then common.conf (included by it anyway), then another distro's.
        ("lxc.include = /usr/share/lxc/config/debian.common.conf\n"
         "lxc.include = /usr/share/lxc/config/common.conf\n"
         "lxc.include = /usr/share/lxc/config/alpine.common.conf\n",
         "/usr/share/lxc/config/debian.common.conf",
         ["lxc.include = /usr/share/lxc/config/alpine.common.conf"]),
        ("lxc.include = /usr/share/lxc/config/debian.userns.conf\n", archive.COMMON,
         ["lxc.include = /usr/share/lxc/config/debian.userns.conf"]),
        # What `new` adds to a busybox config: common.conf brings it (common.conf.d/).
        ("lxc.include = /usr/share/lxc/config/common.conf.d/00-lxcfs.conf\n", archive.COMMON,
         []),
        ("lxc.include = /usr/share/lxc/config/common.conf.d/01-other.conf\n", archive.COMMON,
         ["lxc.include = /usr/share/lxc/config/common.conf.d/01-other.conf"]),
    ],
)  # fmt: skip
def test_every_config_includes_lxc_s_common_settings_once(
    text: str, include: str, dropped: list[str]
) -> None:
    found = archive.portable_config(text + "lxc.tty.max = 2\n")
    assert found.lines == [f"lxc.include = {include}", "lxc.tty.max = 2"]
    assert found.includes == [include] and found.dropped == dropped


def test_every_distro_file_taken_includes_common_conf_here() -> None:
    """What DISTRO_COMMON says of LXC's files, checked against this host's copies."""
    for distro in archive.DISTRO_COMMON:
        text = Path(f"{archive.CONFIG_DIR}/{distro}.common.conf").read_text()
        lines = [ln for ln in lxcconf.parse(text) if ln.key]
        assert ("lxc.include", archive.COMMON) in [(ln.key, ln.value) for ln in lines], distro
        for ln in lines:
            assert not ln.key.startswith(("lxc.hook", "lxc.apparmor")), (distro, ln)
            assert not (ln.key == "lxc.mount.entry" and ln.value.startswith("/")), (distro, ln)
    assert "ubuntu" not in archive.DISTRO_COMMON  # it binds the host's debugfs


def test_what_common_conf_brings_is_there_on_this_host() -> None:
    """INCLUDED_BY_COMMON, checked against this host's common.conf: it includes the
    directory of lxcfs's hooks, so an imported busybox sees its own limits in /proc."""
    text = Path(archive.COMMON).read_text()
    includes = [ln.value for ln in lxcconf.parse(text) if ln.key == "lxc.include"]
    for path in archive.INCLUDED_BY_COMMON:
        assert str(Path(path).parent) + "/" in includes, (path, includes)
        assert Path(path).is_file(), path


def test_lxcprov_s_own_keys_are_decided_again_and_not_reported() -> None:
    text = (
        "lxc.rootfs.path = dir:/old/rootfs\nlxc.net.0.type = veth\nlxc.net.0.hwaddr = x\n"
        "lxc.uts.name = old\nlxc.idmap = u 0 1 65536\n# a comment\nlxc.tty.max = 2\n"
    )
    found = archive.portable_config(text)
    assert found.lines[1:] == ["lxc.tty.max = 2"] and found.dropped == []
