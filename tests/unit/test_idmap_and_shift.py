"""The id map decision (pure) and the shifter on a synthetic tree (real files, as root)."""

from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

import pytest

from lxcprov.engine import idmap
from lxcprov.engine.idmap import BLOCK, DEFAULT_COUNT, DEFAULT_START, Range
from lxcprov.errors import IdMapError, ShiftError
from lxcprov.system import shift

EMPTY = idmap.parse_subids("", "/etc/subuid")


def test_root_without_a_range_gets_the_default_once() -> None:
    got = idmap.root_range(EMPTY, EMPTY, user_ids={0, 1000}, group_ids={0})
    assert got.uids == Range(DEFAULT_START, DEFAULT_COUNT) == got.gids
    assert got.add_uid_line == f"root:{DEFAULT_START}:{DEFAULT_COUNT}"
    shared = idmap.shared(got)
    assert shared.lxc_lines() == [f"u 0 {DEFAULT_START} {BLOCK}", f"g 0 {DEFAULT_START} {BLOCK}"]
    assert idmap.isolated(got, 1).host_uid == DEFAULT_START + BLOCK
    assert idmap.free_block(got, {1, 2, 4}) == 3


def test_an_existing_root_range_is_used_as_it_is() -> None:
    sub = idmap.parse_subids("# proxmox\nroot:100000:65536\nalice:165536:65536\n", "f")
    got = idmap.root_range(sub, sub, user_ids=set(), group_ids=set())
    assert got.uids == Range(100000, 65536) and got.add_uid_line == ""
    assert idmap.isolated_blocks(got) == 0
    with pytest.raises(IdMapError, match="no free block"):
        idmap.isolated(got, 1)


def test_the_default_range_steps_around_other_users_and_host_ids() -> None:
    sub = idmap.parse_subids(f"alice:{DEFAULT_START + 5}:65536\n", "f")
    got = idmap.root_range(sub, EMPTY, user_ids=set(), group_ids={DEFAULT_START + 3})
    assert not got.uids.overlaps(Range(DEFAULT_START + 5, 65536))
    assert got.gids.start > DEFAULT_START + 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("root:100000:1000\n", "smaller than"),
        ("root:100000:65536\nbob:120000:65536\n", "overlaps bob's"),
        ("root:100000\n", "not NAME:START:COUNT"),
        ("root:x:65536\n", "not NAME:START:COUNT"),
    ],
)
def test_bad_subordinate_ranges_are_one_line_with_the_fix(text: str, message: str) -> None:
    with pytest.raises(IdMapError) as exc:
        sub = idmap.parse_subids(text, "/etc/subuid")
        idmap.root_range(sub, EMPTY, user_ids=set(), group_ids=set())
    assert message in exc.value.message and exc.value.hint


def test_map_from_config() -> None:
    got = idmap.from_config(["u 0 1100000000 65536", "g 0 1100000000 65536"])
    assert got == idmap.IdMap(1100000000, 1100000000, 65536)
    assert idmap.from_config([]) is None


# -- the shifter on a tree with every kind of file --------------------------------------


def _to_unprivileged(host_uid: int, host_gid: int, count: int) -> shift.Move:
    """Ids 0..count-1 of a privileged tree moved to host ids from host_uid and host_gid."""
    return shift.Move(
        shift.Span(0, count), shift.Span(host_uid, count),
        shift.Span(0, count), shift.Span(host_gid, count),
    )  # fmt: skip


def _reverse(move: shift.Move) -> shift.Move:
    """The same shift backwards."""
    return shift.Move(move.dst_uid, move.src_uid, move.dst_gid, move.src_gid)


OFF = 1_100_000_000
MOVE = _to_unprivileged(OFF, OFF, BLOCK)
PING_CAP_V2 = struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0)  # cap_net_raw=p


def _acl(entries: list[tuple[int, int, int]]) -> bytes:
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def _tree(root: Path) -> None:
    (root / "usr/bin").mkdir(parents=True)
    su = root / "usr/bin/su"
    su.write_bytes(b"su")
    su.chmod(0o4755)
    ping = root / "usr/bin/ping"
    ping.write_bytes(b"ping")
    os.setxattr(ping, shift.CAP, PING_CAP_V2)
    shadow = root / "shadow"
    shadow.write_text("x")
    os.chown(shadow, 0, 42)
    shadow.chmod(0o640)
    os.link(su, root / "usr/bin/su-link")
    os.mkfifo(root / "fifo")
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.symlink("/etc/shadow", root / "link")
    home = root / "home/alice"
    home.mkdir(parents=True)
    os.chown(home, 1000, 1000)
    acl = root / "acl"
    acl.mkdir()
    os.setxattr(acl, "system.posix_acl_access",
                _acl([(1, 7, 0xFFFFFFFF), (2, 7, 1000), (4, 5, 0xFFFFFFFF), (8, 5, 4),
                      (0x10, 7, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]))  # fmt: skip


def _owners(root: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    return out


def test_shift_keeps_setuid_caps_acls_links_and_special_files(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    _tree(root)
    before = _owners(root)
    done = shift.shift(root, MOVE)
    after = _owners(root)
    for path, (uid, gid, mode) in before.items():
        assert after[path] == (uid + OFF, gid + OFF, mode), path
    assert root.stat().st_uid == OFF
    assert done.inodes == len(before), "the root counts once, the hard link not at all"
    assert os.getxattr(root / "usr/bin/ping", shift.CAP) == struct.pack(
        "<IIIIII", 0x03000000, 1 << 13, 0, 0, 0, OFF
    ), "a v3 capability whose root is the container's root"
    raw = os.getxattr(root / "acl", "system.posix_acl_access")
    ids = [struct.unpack_from("<HHI", raw, i)[2] for i in range(4, len(raw), 8)]
    assert OFF + 1000 in ids and OFF + 4 in ids
    assert os.readlink(root / "link") == "/etc/shadow", "a symlink is never followed"
    assert (root / "usr/bin/su").stat().st_ino == (root / "usr/bin/su-link").stat().st_ino
    # Idempotent: a second run changes nothing; the reverse gives the tree back.
    shift.shift(root, MOVE)
    assert _owners(root) == after
    shift.shift(root, _reverse(MOVE))
    assert _owners(root) == before
    assert os.getxattr(root / "usr/bin/ping", shift.CAP) == PING_CAP_V2


def test_a_killed_shift_loses_no_setuid_bit_or_capability(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    _tree(root)
    pending = tmp_path / "pending.json"
    # What a kill right after the chown of su and ping leaves: owners moved, bits gone,
    # and what they were written down.
    for name in ("usr/bin/su", "usr/bin/ping"):
        st = (root / name).stat()
        cap = os.getxattr(root / name, shift.CAP) if name.endswith("ping") else None
        os.chown(root / name, st.st_uid + OFF, st.st_gid + OFF)
        data = json.loads(pending.read_text()) if pending.exists() else {}
        data[f"/{name}"] = {"mode": oct(stat.S_IMODE(st.st_mode)), "cap": cap.hex() if cap else ""}
        pending.write_text(json.dumps(data))
    assert not (root / "usr/bin/su").stat().st_mode & stat.S_ISUID
    shift.shift(root, MOVE, pending=pending)
    assert (root / "usr/bin/su").stat().st_mode & stat.S_ISUID
    assert os.getxattr(root / "usr/bin/ping", shift.CAP)[-4:] == struct.pack("<I", OFF)
    assert not pending.exists()


def test_an_owner_outside_the_map_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    odd = root / "odd"
    odd.write_text("x")
    os.chown(odd, 70000, 0)
    with pytest.raises(ShiftError, match="/odd: owner 70000 is outside"):
        shift.shift(root, MOVE)
