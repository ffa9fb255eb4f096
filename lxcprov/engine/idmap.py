"""The id map of a container, decided in one place.

An unprivileged container sees uid/gid 0..65535; on the host they are HOST..HOST+65535,
a block of root's subordinate ids (/etc/subuid and /etc/subgid; liblxc maps them with
newuidmap/newgidmap, which refuse a range root is not given there, even for root).

lxcprov's range: root's existing subordinate range when it has one big enough, else
DEFAULT_START..DEFAULT_START+DEFAULT_COUNT, registered once for root (outside Debian
useradd's automatic range, Proxmox's 100000:65536 and Incus's 1000000.. default, below
2^31). Every unprivileged container shares the first block of it (its base is shifted
into that block once, so clones are plain overlays). `--isolated` gives a container a
block of its own from the rest of the range, recorded and never handed out twice while
the container exists (like Incus's security.idmap.isolated).

Pure: the files' text and the blocks in use come in, decisions and new file text go out.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.errors import IdMapError

BLOCK = 65536  # ids a container sees: 0..65535 (nobody is 65534)
DEFAULT_START = 1_100_000_000
DEFAULT_COUNT = BLOCK * 8192  # room for the shared block and 8191 isolated ones


@dataclass(frozen=True, order=True)
class Range:
    start: int
    count: int

    @property
    def end(self) -> int:  # exclusive
        return self.start + self.count

    def overlaps(self, other: Range) -> bool:
        return self.start < other.end and other.start < self.end

    def __str__(self) -> str:
        return f"{self.start}-{self.end - 1}"


@dataclass(frozen=True)
class IdMap:
    """uid and gid 0..count-1 inside are host_uid.. and host_gid.. outside."""

    host_uid: int
    host_gid: int
    count: int = BLOCK

    def lxc_lines(self) -> list[str]:
        """The lxc.idmap values, in the order liblxc wants (u then g)."""
        return [f"u 0 {self.host_uid} {self.count}", f"g 0 {self.host_gid} {self.count}"]

    def label(self) -> str:
        """For a base's key and for people: where the container's ids live on the host."""
        if self.host_uid == self.host_gid:
            return f"{self.host_uid}:{self.count}"
        return f"u{self.host_uid}:g{self.host_gid}:{self.count}"


def parse_label(label: str) -> IdMap | None:
    """IdMap.label() back ("privileged": None); ValueError for anything else."""
    if label == "privileged":
        return None
    parts = label.split(":")
    if len(parts) == 2:
        return IdMap(int(parts[0]), int(parts[0]), int(parts[1]))
    if len(parts) == 3 and parts[0][:1] == "u" and parts[1][:1] == "g":
        return IdMap(int(parts[0][1:]), int(parts[1][1:]), int(parts[2]))
    raise ValueError(f"not an id map: {label!r}")


@dataclass(frozen=True)
class SubIds:
    """Who has which subordinate ranges, as one of /etc/subuid or /etc/subgid says."""

    entries: tuple[tuple[str, Range], ...]

    def of(self, user: str) -> list[Range]:
        return [r for u, r in self.entries if u == user]

    def others(self, user: str) -> list[tuple[str, Range]]:
        return [(u, r) for u, r in self.entries if u != user]


def parse_subids(text: str, source: str) -> SubIds:
    """`name:start:count` lines; comments and blank lines allowed, anything else refused."""
    entries = []
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise IdMapError(
                f"{source}:{number}: not NAME:START:COUNT",
                hint=f"fix that line of {source} (see subuid(5))",
            )
        entries.append((parts[0], Range(int(parts[1]), int(parts[2]))))
    return SubIds(tuple(entries))


@dataclass(frozen=True)
class RootRange:
    """Root's range for lxcprov, and the lines to append to the files if it is new."""

    uids: Range
    gids: Range
    add_uid_line: str = ""  # "" when root's entry is already there
    add_gid_line: str = ""


def _choose(subids: SubIds, source: str, taken_ids: set[int]) -> tuple[Range, str]:
    mine = [r for r in subids.of("root") if r.count >= BLOCK]
    if mine:
        chosen = mine[0]
        for user, r in subids.others("root"):
            if r.overlaps(chosen):
                raise IdMapError(
                    f"{source}: root's range {chosen} overlaps {user}'s {r}",
                    hint=f"give root a range of its own in {source} (e.g. "
                    f"root:{DEFAULT_START}:{DEFAULT_COUNT}) and remove the overlap",
                )
        return chosen, ""
    small = subids.of("root")
    if small:
        raise IdMapError(
            f"{source}: root's range {small[0]} is smaller than the {BLOCK} ids a container needs",
            hint=f"make it at least {BLOCK} ids, e.g. root:{DEFAULT_START}:{DEFAULT_COUNT}",
        )
    start = DEFAULT_START
    while True:
        wanted = Range(start, DEFAULT_COUNT)
        clash = [r for _u, r in subids.entries if r.overlaps(wanted)]
        if not clash and not any(wanted.start <= i < wanted.end for i in taken_ids):
            return wanted, f"root:{wanted.start}:{wanted.count}"
        start = max([r.end for r in clash] + [start + BLOCK])
        if start + DEFAULT_COUNT > 2**31:
            raise IdMapError(
                f"no free range of {DEFAULT_COUNT} ids below 2^31 in {source}",
                hint=f"give root a range by hand in {source}: root:START:COUNT",
            )


def root_range(
    subuid: SubIds, subgid: SubIds, *, user_ids: set[int], group_ids: set[int]
) -> RootRange:
    """Root's range, or the one lxcprov registers for it (never over anybody else's, nor
    over an id a user or group of the host already has)."""
    uids, uline = _choose(subuid, "/etc/subuid", user_ids)
    gids, gline = _choose(subgid, "/etc/subgid", group_ids)
    return RootRange(uids, gids, uline, gline)


def shared(root: RootRange) -> IdMap:
    """The map every unprivileged container shares (and its base is shifted into)."""
    return IdMap(root.uids.start, root.gids.start, BLOCK)


def isolated_blocks(root: RootRange) -> int:
    """How many isolated blocks root's range has room for (the first block is shared)."""
    return min(root.uids.count, root.gids.count) // BLOCK - 1


def isolated(root: RootRange, index: int) -> IdMap:
    """The index-th isolated block (1-based: block 0 is the shared one)."""
    if not 1 <= index <= isolated_blocks(root):
        raise IdMapError(
            f"root's subordinate range has no free block for another isolated container "
            f"({isolated_blocks(root)} in all)",
            hint="destroy an isolated container, or give root a larger range in /etc/subuid "
            "and /etc/subgid",
        )
    return IdMap(root.uids.start + index * BLOCK, root.gids.start + index * BLOCK, BLOCK)


def free_block(root: RootRange, used: set[int]) -> int:
    """The lowest isolated block index nobody holds."""
    for index in range(1, isolated_blocks(root) + 1):
        if index not in used:
            return index
    return isolated_blocks(root) + 1  # isolated() says why there is none


def from_config(values: list[str]) -> IdMap | None:
    """The map of a container from its lxc.idmap values (None: privileged)."""
    uid = gid = None
    count = BLOCK
    for value in values:
        parts = value.split()
        if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
            continue
        kind, inside, outside, size = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
        if inside != 0:
            continue  # extra lines for chosen ids (mounts); the root line is what counts
        if kind in ("u", "b"):
            uid, count = outside, size
        if kind in ("g", "b"):
            gid = outside
    if uid is None or gid is None:
        return None
    return IdMap(uid, gid, count)
