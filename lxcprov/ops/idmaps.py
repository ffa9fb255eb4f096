"""The id map a container gets, made true on the host (root's range registered, an
isolated block claimed or given back); lxcprov.engine.idmap decides."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxcprov.engine import idmap, network
from lxcprov.errors import IdMapError
from lxcprov.system import containerfs, lxc, lxcconf, shift, subids


def root_range() -> idmap.RootRange:
    """Root's range as /etc/subuid and /etc/subgid say now (lines to add, if any)."""
    users, groups = subids.host_ids()
    return idmap.root_range(
        idmap.parse_subids(subids.read(subids.SUBUID), str(subids.SUBUID)),
        idmap.parse_subids(subids.read(subids.SUBGID), str(subids.SUBGID)),
        user_ids=users,
        group_ids=groups,
    )


def ensure_root_range() -> tuple[idmap.RootRange, str]:
    """Root's range, registered first if it has none; the note says what was added."""
    with subids.locked("subids"):
        found = root_range()
        done = []
        for path, line in (
            (subids.SUBUID, found.add_uid_line),
            (subids.SUBGID, found.add_gid_line),
        ):
            if line:
                subids.append(path, line)
                done.append(f"{line} to {path}")
    note = ""
    if done:
        note = "root had no subordinate ids for unprivileged containers: added " + " and ".join(
            done
        )
    return idmap.RootRange(found.uids, found.gids), note


def claim_isolated(owner: str, root: idmap.RootRange) -> idmap.IdMap:
    """A block of its own for owner (the one it holds already, if any); recorded."""
    with subids.locked("idmaps"):
        book = subids.read_book()
        for index, who in book.items():
            if who == owner:
                return idmap.isolated(root, index)
        index = idmap.free_block(root, set(book))
        chosen = idmap.isolated(root, index)  # raises when the range is full
        book[index] = owner
        subids.write_book(book)
        return chosen


@dataclass(frozen=True)
class Registered:
    """An unprivileged container's map on this host, and the shared map beside it (its
    base's: the map a cached base is shifted into)."""

    own: idmap.IdMap
    shared: idmap.IdMap


def choose_and_register(
    name: str, lxcpath: Path, *, isolated: bool, say: Callable[[str], None]
) -> Registered:
    """The map an unprivileged container NAME gets in lxcpath, made true on the host: root's
    subordinate range registered in /etc/subuid and /etc/subgid if it has none, with
    isolated a block of its own claimed in the book (the one it holds already, if any),
    and the lxcpath made traversable (o+x) for the map's root. say() gets each change."""
    root, note = ensure_root_range()
    if note:
        say(note)
    shared = idmap.shared(root)
    own = claim_isolated(network.owner_of(name, str(lxcpath)), root) if isolated else shared
    changed = ensure_traversable(lxcpath, own)
    if changed:
        say(changed)
    return Registered(own, shared)


def release_isolated(owner: str) -> bool:
    """Give owner's block back (its container is gone)."""
    if not subids.book_path().exists():
        return False
    with subids.locked("idmaps"):
        book = subids.read_book()
        kept = {k: v for k, v in book.items() if v != owner}
        if kept == book:
            return False
        subids.write_book(kept)
        return True


def map_of(container: lxc.Container) -> idmap.IdMap | None:
    """The container's id map (None: privileged)."""
    return idmap.from_config(container.idmap())


def ensure_traversable(lxcpath: Path, ids: idmap.IdMap) -> str:
    """The container's root must reach its rootfs: the lxcpath gets o+x if it lacks it
    (never read), and an ancestor that is not traversable is refused with the command.

    Returns what was changed ("" when nothing was), to be said once.
    """
    path = Path(os.path.abspath(lxcpath))
    for parent in reversed(path.parents):
        st = parent.stat()
        if not _traversable(st, ids):
            raise IdMapError(
                f"{parent} is not traversable by unprivileged containers' root "
                f"(host uid {ids.host_uid}), so they cannot reach their rootfs below it",
                hint=f"chmod o+x {parent} (or: setfacl -m u:{ids.host_uid}:x {parent}), "
                "or use an lxcpath elsewhere",
            )
    st = path.stat()
    if _traversable(st, ids):
        return ""
    path.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
    return (f"made {path} traversable (o+x, not readable) for unprivileged containers' root "
            f"(host uid {ids.host_uid})")  # fmt: skip


def _traversable(st: os.stat_result, ids: idmap.IdMap) -> bool:
    if st.st_mode & stat.S_IXOTH:
        return True
    if st.st_uid == ids.host_uid and st.st_mode & stat.S_IXUSR:
        return True
    return st.st_gid == ids.host_gid and bool(st.st_mode & stat.S_IXGRP)


def move(src: idmap.IdMap | None, dst: idmap.IdMap | None) -> shift.Move:
    """The owner change from one map to another (None: privileged, ids as they are)."""

    def span(ids: idmap.IdMap | None, gid: bool) -> shift.Span:
        if ids is None:
            return shift.Span(0, idmap.BLOCK)
        return shift.Span(ids.host_gid if gid else ids.host_uid, ids.count)

    return shift.Move(span(src, False), span(dst, False), span(src, True), span(dst, True))


def _pending(container: lxc.Container) -> Path:
    return container.lxcpath / container.name / "lxcprov-shift.json"


def shift_in_place(container: lxc.Container, move: shift.Move, ids: idmap.IdMap | None) -> None:
    """Shift a dir-backed container's rootfs by move and record its new map in its config.

    The map goes into the config only after the rootfs is shifted, so a container is never
    started with a map its files do not have; a shift that was killed is finished (or, the
    other way, undone) by running it again: see lxcprov.system.shift.
    """
    root = containerfs.rootfs_dir(container)
    shift.shift(root, move, pending=_pending(container))
    text = lxcconf.read(container.config_path)
    lines = lxcconf.set_values(lxcconf.parse(text), "lxc.idmap", ids.lxc_lines() if ids else [])
    new = lxcconf.render(lines)
    if new != text:
        lxcconf.write(container.config_path, new)
    directory = container.lxcpath / container.name
    if ids is not None:  # its root must traverse its own directory (the overlay lower too)
        directory.chmod(stat.S_IMODE(directory.stat().st_mode) | stat.S_IXOTH)


def moves(src: idmap.IdMap | None, dst: idmap.IdMap | None) -> list[shift.Move]:
    """The shifts that take owners from one map to another: none, one, or two through
    the container's own ids when the two host ranges overlap (a shift needs them apart)."""
    if src == dst:
        return []
    if src is None or dst is None:
        return [move(src, dst)]
    apart = src.host_uid + src.count <= dst.host_uid or dst.host_uid + dst.count <= src.host_uid
    apart_g = src.host_gid + src.count <= dst.host_gid or dst.host_gid + dst.count <= src.host_gid
    if apart and apart_g:
        return [move(src, dst)]
    return [move(src, None), move(None, dst)]
