"""`lxcprov mount add | rm | ls`, `new --mount` and `set mounts=`: host directories inside.

The config is the record (lxcprov's section of it, see lxcprov.engine.mounts). A running
container gets the mount at once (lxcprov.system.livemount), else at its next start.
Before anything is written: the source is opened once, one component at a time through
no symlink (lxcprov.system.hostdir), and judged on what was opened: an existing directory
that is none of the directories never shared (the host's system directories, the lxcpath,
lxcprov's state and configuration, their parents: lxcprov.engine.mounts.refusal by path,
refusal_in_fs by place, so a bind mount of one elsewhere is one), whose every parent only
root or the share's owner can change (swap_risk: else another host user could swap a
component before a start), every directory of it traversable by an unprivileged
container's root, and a filesystem that can be idmapped (or one line says what
--no-idmap would mean). A live mount is made from that descriptor. The idmap passes
through the directory's owner and group as they were then (recorded in the entry's
idmap= path). Every lxcprov start judges the sources again the same way, refuses one
whose owner changed, brings lxcprov's entries to the current form, and has LXC bind a
staged clone of each (`staged`) so that the flags are locked inside; a live mount's are
locked too (livemount.attach with lock_at).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import secrets
import shlex
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxcprov.engine import idmap, mounts
from lxcprov.engine.mounts import Mount
from lxcprov.errors import InvalidArgumentError, LxcprovError, MountError
from lxcprov.ops import devices, recovery, targets, workspace
from lxcprov.system import (
    containerfs,
    faults,
    hostdir,
    livemount,
    locks,
    lxc,
    lxcconf,
    sharestage,
    subids,
    usernspins,
)
from lxcprov.system.hostnet import settings as netsettings

Status = Literal["changed", "no change", "needs restart", "removed"]


@dataclass(frozen=True)
class Result:
    mount: Mount
    status: Status
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {**self.mount.as_dict(), "status": self.status, "detail": self.detail}


def listing(container: lxc.Container) -> list[Mount]:
    """The host directories lxcprov mounts into the container, by target."""
    lines = lxcconf.parse(lxcconf.read(container.config_path))
    unprivileged = containerfs.map_root(container) is not None
    found = [mounts.from_entry(v, unprivileged)
             for v in lxcconf.section_values(lines, mounts.ENTRY_KEY)]  # fmt: skip
    return sorted(m for m in found if m is not None)


def _traversable(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_mode & stat.S_IXOTH:
        return True
    if st.st_uid == uid and st.st_mode & stat.S_IXUSR:
        return True
    return st.st_gid == gid and bool(st.st_mode & stat.S_IXGRP)


def _protected(lxcpath: Path | None) -> dict[str, str]:
    """The host directories never shared (symlinks resolved), with what they are."""
    found = {os.path.realpath(p): "a host system directory" for p in mounts.SYSTEM_SOURCES}
    if lxcpath is not None:
        found[os.path.realpath(lxcpath)] = "the lxcpath, where every container's files are"
    found[os.path.realpath(subids.state_dir())] = "lxcprov's state directory"
    found[os.path.realpath(netsettings.config_dir())] = "lxcprov's configuration directory"
    return found


def check_shareable(source: str, lxcpath: Path | None) -> None:
    """One line when source, symlinks resolved, is a directory never shared."""
    real = os.path.realpath(source)
    why = mounts.refusal(real, _protected(lxcpath))
    if why:
        shown = source if real == source else f"{source} (resolved: {real})"
        raise InvalidArgumentError(
            f"{shown} {why}: lxcprov does not share it with a container",
            hint="share a directory of data (e.g. under /srv or /home), not the host's "
            "system, its containers or lxcprov's own files",
        )


def _protected_places(lxcpath: Path | None) -> list[tuple[mounts.Place, str, str]]:
    found = []
    for path, what in _protected(lxcpath).items():
        where = hostdir.place_of(path)
        if where is not None:
            found.append((where, path, what))
    return found


def _lxc_kind(path: str) -> str:
    """What path is, if it holds LXC containers ("" if not): an lxcpath lxcprov used (its
    .lxcprov state), or a container's directory (a config and a rootfs), whatever lxcpath
    it is in. Another lxcpath is as dangerous to share as the container's own: its
    containers' configs run hooks as host root, and their files are the container's ids."""

    def mode(name: str) -> int:
        try:
            return os.lstat(os.path.join(path, name)).st_mode
        except OSError:
            return 0

    if stat.S_ISDIR(mode(".lxcprov")):
        return "an lxcpath (lxcprov's state is in it)"
    if stat.S_ISREG(mode("config")) and stat.S_ISDIR(mode("rootfs")):
        return "a container's directory"
    return ""


_SCAN_LIMIT = 4096  # entries of the source looked at for containers below it


def _lxc_tree(source: str, walked: hostdir.Walked) -> str:
    """Why source is in, or is, or directly holds LXC's containers ("" if not): every
    directory on the way and the source's own entries are looked at by shape, so an
    lxcpath lxcprov was never told about (another `LXCPROV_LXCPATH`, raw LXC's) is
    refused as its own lxcpath is."""
    for directory, _ in walked.steps:
        what = _lxc_kind(directory)
        if what:
            where = "is" if directory == source else f"is inside {directory},"
            return f"{where} {what}"
    with contextlib.suppress(OSError), os.scandir(source) as entries:
        for entry in itertools.islice(entries, _SCAN_LIMIT):
            if entry.is_dir(follow_symlinks=False) and (what := _lxc_kind(entry.path)):
                return f"holds {entry.path}, {what}"
    return ""


def _refuse(source: str, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{source} {why}: lxcprov does not share it with a container",
        hint="share a directory of data (e.g. under /srv or /home), not the host's "
        "system, its containers or lxcprov's own files",
    )


def _judge(source: str, walked: hostdir.Walked, root: tuple[int, int] | None,
           lxcpath: Path | None) -> None:  # fmt: skip
    """One line when the opened directory may not be shared (see the module's doc)."""
    check_shareable(source, lxcpath)
    try:
        where = hostdir.place(walked.fd)
    except OSError as exc:
        raise InvalidArgumentError(f"{source}: where it is cannot be told ({exc})") from None
    why = mounts.refusal_in_fs(where, _protected_places(lxcpath))
    if why:
        raise _refuse(source, why)
    why = _lxc_tree(source, walked)
    if why:
        raise _refuse(source, why)
    # A privileged container's start has LXC mount the path again (nothing is staged: no
    # user namespace to lock flags in), so only root may change the way to it there; an
    # unprivileged one's start mounts what it opened and judged, the owner's alone.
    owner_uid = walked.steps[-1][1].st_uid if root is not None else 0
    for (above, st), (below, child) in itertools.pairwise(walked.steps):
        why = mounts.swap_risk(st.st_uid, st.st_mode, child.st_uid, owner_uid)
        if why:
            raise InvalidArgumentError(
                f"{above} {why}: {below} could be another directory (or a symlink) when LXC "
                f"mounts the path at a start, so {source} is not shared",
                hint="share a directory whose every parent only root or the directory's "
                "owner can change, e.g. /srv/NAME (chown NAME to its user) or /home/USER/NAME",
            )
    if root is None:
        return  # a privileged container's root is host root: it reaches anything
    for directory, st in walked.steps:
        if not _traversable(st, *root):
            raise InvalidArgumentError(
                f"{directory} is not traversable by the container's root (host uid "
                f"{root[0]}), so {source} cannot be mounted into it",
                hint=f"chmod o+x {directory}",
            )


def _opened(m: Mount, root: tuple[int, int] | None, lxcpath: Path | None) -> hostdir.Walked:
    """The source, opened and judged (the caller closes its fd)."""
    walked = hostdir.walk(m.source)
    try:
        _judge(m.source, walked, root, lxcpath)
    except BaseException:
        os.close(walked.fd)
        raise
    return walked


def _owned(m: Mount, walked: hostdir.Walked, root: tuple[int, int] | None) -> Mount:
    """m with what its idmap passes through: the opened directory's owner and group (None
    when it is not idmapped)."""
    if root is None or not m.idmap:
        return dataclasses.replace(m, owner=None)
    st = walked.steps[-1][1]
    return dataclasses.replace(m, owner=mounts.passed_ids(st.st_uid, st.st_gid))


def check_source(m: Mount, root: tuple[int, int] | None, lxcpath: Path) -> Mount:
    """The source is a directory that may be shared and that the container's root can
    reach (one line if not); m with what its idmap passes through."""
    walked = _opened(m, root, lxcpath)
    try:
        return _owned(m, walked, root)
    finally:
        os.close(walked.fd)


def userns_path(container: lxc.Container, root: tuple[int, int], owner: mounts.Owner) -> Path:
    """Where the user namespace a share of this container is idmapped through is pinned:
    one per owner passed through (mounts.userns_name; the name is the record). A
    namespace an older lxcprov pinned (`<uid>-<gid>-users`, every host user id through,
    or `<uid>-<gid>`, every id) is not used again: start moves lxcprov's entries off it,
    and it goes at the next reboot."""
    return usernspins.pins_dir(container.lxcpath) / mounts.userns_name(root, owner)


def _pinned(container: lxc.Container, root: tuple[int, int], owner: mounts.Owner) -> Path:
    return livemount.pinned_userns(
        userns_path(container, root, owner),
        mounts.share_map(root[0], idmap.BLOCK, owner[0]),
        mounts.share_map(root[1], idmap.BLOCK, owner[1]),
    )


def ensure_userns(container: lxc.Container) -> None:
    """Before any start: judge the sources again as `mount add` did (refused, or an owner
    that changed since: one line, nothing starts), bring lxcprov's entries to the current
    form (nosuid,nodev, the namespace of the owner passed through, recorded now for an
    entry of an older lxcprov), and pin those namespaces (after a reboot they are gone).
    Every parent of a source is root's or its owner's alone (swap_risk), so what a start
    mounts is the directory judged here or something of the owner's own."""
    devices.prepare(container)  # its host devices' nodes, as recorded (lxcprov.ops.devices)
    current = listing(container)
    if not current:
        return
    root = containerfs.map_root(container)
    judged = []
    for m in current:
        walked = _opened(m, root, container.lxcpath)
        try:
            now = _owned(m, walked, root)
        finally:
            os.close(walked.fd)
        # A privileged container passes no owner through (its root is the host's): an
        # owner recorded while it was unprivileged (convert since) is not compared, and
        # the entry is written again without it below.
        if root is not None and m.owner is not None and now.owner != m.owner:
            raise InvalidArgumentError(
                f"the owner of {m.source} changed since it was shared with {container.name} "
                f"(uid:gid passed through then {_ids(m.owner)}, now {_ids(now.owner)}), so it "
                "is not mounted",
                hint=f"to share it as it is now: lxcprov mount add {container.name} "
                f"{shlex.quote(m.source)} {shlex.quote(m.target)}",
            )
        judged.append(now)
    _write(container, judged)
    if root is not None:
        for owner in {m.owner for m in judged if m.owner is not None}:
            _pinned(container, root, owner)


def _idmap_path(container: lxc.Container, root: tuple[int, int], m: Mount) -> str | None:
    if not m.idmap:
        return None
    # An entry of an older lxcprov records no owner: the directory's owner now (the next
    # start judges it again), never a plain bind in place of an idmapped one.
    return str(userns_path(container, root, m.owner or _owner_now(m.source)))


def _owner_now(source: str) -> mounts.Owner:
    try:
        st = os.lstat(source)
    except OSError:
        return (None, None)
    return mounts.passed_ids(st.st_uid, st.st_gid)


STAGE = sharestage.STAGE


def _stage_dir(container: lxc.Container) -> Path:
    return sharestage.stage_dir(container.lxcpath, container.name)


@contextlib.contextmanager
def staged(container: lxc.Container) -> Iterator[list[tuple[str, str]]]:
    """For a start (after ensure_userns): each share of lxcprov's, opened and judged
    again, cloned (nosuid, nodev, ro, a slave; idmapped for an unprivileged container)
    and attached under STAGE in the host's namespace; yields the `lxc-start -s` items
    that make LXC bind those instead of the paths (every mount entry again, in order,
    ours replaced). A bind keeps the flags of the mount it copies: LXC's own bind of a
    read-write path drops nosuid,nodev (measured: a privileged container's share showed
    `rw,relatime`). For an unprivileged container LXC's bind is made in a copy of the
    host's mount namespace owned by its user namespace, where the kernel locks the
    staged flags: its root cannot remount its share rw, suid or dev (a privileged
    container's root is the host's: nothing is locked against it). The staged mounts go
    when the block ends (the container keeps its copies); what a killed start left goes
    at the next start or stop."""
    root = containerfs.map_root(container)
    ours = listing(container)
    mine = _stage_dir(container)
    if not ours:
        # Nothing to stage now (no share left): what a killed start left when it had
        # some goes all the same, its directory too.
        sharestage.clear_left(container.lxcpath, container.name)
        yield []
        return
    if mine.is_dir():
        for left in mine.iterdir():
            livemount.unstage(left)  # what a killed start left
    written = {m.entry(None if root is None else _idmap_path(container, root, m)): m
               for m in ours}  # fmt: skip
    group = 0 if root is None else root[1]  # a privileged container's root is the host's
    where = mine / secrets.token_hex(8)
    try:
        for _ in range(5):  # another container's start may take an empty parent away
            with contextlib.suppress(FileNotFoundError):
                STAGE.parent.mkdir(mode=0o755, exist_ok=True)  # /run/lxcprov: not ours alone
                for directory in (STAGE, mine.parent):  # shared by containers of any ids
                    directory.mkdir(mode=0o711, exist_ok=True)
                    directory.chmod(0o711)
                for directory in (mine, where):
                    directory.mkdir(mode=0o700, exist_ok=True)
                    # Traversable by the container's root alone (LXC binds the staged
                    # mount as it, in its user namespace): a host user who read the path
                    # in mountinfo or ps cannot walk in and keep a descriptor of the share.
                    os.chown(directory, 0, group)
                    directory.chmod(0o710)
                break
        instead: dict[str, str] = {}
        for index, (value, m) in enumerate(sorted(written.items())):
            walked = _opened(m, root, container.lxcpath)
            try:
                if m.owner is not None and _owned(m, walked, root).owner != m.owner:
                    # Swapped since ensure_userns judged it (by its owner, the only one who
                    # can): what is staged is what was judged, or nothing.
                    raise InvalidArgumentError(
                        f"{m.source} changed owner while {container.name} started, so it is "
                        "not mounted",
                        hint=f"start it again: lxcprov start {container.name}",
                    )
                fd = (
                    _userns_fd(container, root, m.owner)
                    if m.owner is not None and root is not None
                    else None
                )
                try:
                    tree = livemount.detached(walked.fd, ro=m.ro, userns_fd=fd)
                finally:
                    if fd is not None:
                        os.close(fd)
            finally:
                os.close(walked.fd)
            at = where / str(index)
            at.mkdir(mode=0o700)
            livemount.stage(tree, at)
            instead[value] = dataclasses.replace(m, source=str(at)).entry(None)
        every = [str(v) for v in container.handle.get_config_item(mounts.ENTRY_KEY) or []]
        missing = set(instead) - set(every)
        if missing:
            raise MountError(f"LXC does not read lxcprov's mount entry {sorted(missing)[0]!r}")
        faults.stop_if("start-staged")  # staged, LXC not yet started (crash tests)
        yield [(mounts.ENTRY_KEY, "")] + [(mounts.ENTRY_KEY, instead.get(v, v)) for v in every]
    finally:
        livemount.unstage(where)
        for directory in (mine, mine.parent):  # when empty: no start of theirs under way
            with contextlib.suppress(OSError):
                directory.rmdir()


def _ids(owner: mounts.Owner | None) -> str:
    if owner is None:
        return "none"
    return ":".join("none" if i is None else str(i) for i in owner)


def _userns_fd(container: lxc.Container, root: tuple[int, int], owner: mounts.Owner) -> int:
    # Pinned and opened under the pins lock: a destroy of the pin's last other user
    # cannot release it in between (lxcprov.system.usernspins).
    return usernspins.opened(container.lxcpath, lambda: _pinned(container, root, owner))


def _check_idmap(m: Mount, container: lxc.Container, root: tuple[int, int] | None,
                 source_fd: int) -> None:  # fmt: skip
    if root is None or m.owner is None:
        return
    fd = _userns_fd(container, root, m.owner)
    try:
        why = livemount.probe_idmap(source_fd, fd)
    finally:
        os.close(fd)
    if why:
        raise MountError(
            f"{m.source} cannot be mounted with the container's ids ({why}): its files would "
            "show as nobody inside",
            hint="put the directory on a filesystem with idmapped mounts (ext4, xfs, btrfs, "
            "tmpfs), or accept nobody-owned files with --no-idmap (give them to the "
            f"container's ids with chown {root[0]}+UID to make them usable)",
        )


def before_unprivileged(container: lxc.Container, root: tuple[int, int]) -> list[str]:
    """convert to unprivileged, before the new map is written: while the config still says
    privileged, each share is written idmapped through the new root (mount add's default;
    a privileged container's entry says nothing of idmaps, its root being the host's), so
    the choice is in the entries before the map that reads them changes: read as an
    unprivileged container's, an entry without idmap= is a plain bind (--no-idmap).
    The owner each passes through is recorded now, and said (the start judges the source
    again, and refuses another owner). Nothing when the config is
    unprivileged already (a convert finishing a killed one, or from another map): its
    entries say what they are, and start rewrites their paths."""
    if containerfs.map_root(container) is not None:
        return []
    wanted = [dataclasses.replace(m, owner=m.owner or _owner_now(m.source))
              for m in listing(container)]  # fmt: skip
    if wanted:
        _write(container, wanted, root)
    return [f"{m.source} is shared idmapped (uid:gid passed through: {_ids(m.owner)})"
            for m in wanted]  # fmt: skip


def after_privileged(container: lxc.Container) -> None:
    """convert to privileged, once the map is gone: each share's entry written as a plain
    bind (no idmap=, which only an unprivileged container's start may use), so that even a
    plain lxc-start before lxcprov's next start reads no user namespace into it."""
    wanted = listing(container)
    if wanted and containerfs.map_root(container) is None:
        _write(container, wanted)


def _write(
    container: lxc.Container, wanted: list[Mount], root: tuple[int, int] | None = None
) -> None:
    root = root or containerfs.map_root(container)

    def path(m: Mount) -> str | None:
        return None if root is None else _idmap_path(container, root, m)

    text = lxcconf.read(container.config_path)
    lines = lxcconf.set_section_values(
        lxcconf.parse(text), mounts.ENTRY_KEY, [m.entry(path(m)) for m in sorted(wanted)]
    )
    new = lxcconf.render(lines)
    if new != text:
        lxcconf.write(container.config_path, new)


@contextlib.contextmanager
def _init(container: lxc.Container) -> Iterator[int]:
    """A pidfd of the running container's init, pinned once for the command (a pid reused
    by another process never receives its mounts). liblxc named the pid before the pidfd
    pinned it: once pinned, it is asked again."""
    pid = int(container.handle.init_pid)
    pidfd = livemount.pin(pid)
    try:
        if int(container.handle.init_pid) != pid:
            raise MountError(
                f"{container.name} stopped or restarted while lxcprov pinned its init",
                hint="run the command again",
            )
        yield pidfd
    finally:
        os.close(pidfd)


def not_mounted(container: lxc.Container) -> list[Mount]:
    """The shares of a running container that are not mounted in it now: a live `mount
    add` killed between its config and its mount (its next start mounts them), or one
    unmounted from inside. [] when it is stopped, or stopped meanwhile."""
    wanted = listing(container)
    if not wanted or not container.running():
        return []
    try:
        with _init(container) as pidfd:
            return [m for m in wanted if not livemount.mounted_in(pidfd, m.target)]
    except LxcprovError:
        return []


def add_again(container: lxc.Container, m: Mount, prog: str = "lxcprov") -> str:
    """The `mount add` that makes this share as it is listed (and mounts it now)."""
    words = [prog, "mount", "add", container.name, m.source, m.target]
    if m.ro:
        words.append("--ro")
    if not m.idmap and containerfs.map_root(container) is not None:
        words.append("--no-idmap")
    return shlex.join(words)


def _live(container: lxc.Container, target: str) -> bool:
    with _init(container) as pidfd:
        return livemount.mounted_in(pidfd, target)


def _make_targets(container: lxc.Container, wanted: list[Mount]) -> None:
    """Create the mount points through the jail (a symlink in the container's tree cannot
    point them outside it); LXC's create=dir then finds them there. A target through a
    symlink inside is refused before anything is written: LXC refuses it at every start
    ("was a symbolic link!"), and a live mount would land where the link points while
    `mount ls` looked for it at the path given."""
    with workspace.opened(container) as ws:
        for m in wanted:
            real = ws.rootfs.resolve(m.target)
            if real != m.target:
                raise MountError(
                    f"{m.target} in {container.name} goes through a symlink (it is {real} "
                    "there): LXC does not mount onto a path through a symlink",
                    hint=f"give the real path: {real}",
                )
            ws.mkdir(m.target)


def _live_add(container: lxc.Container, m: Mount, root: tuple[int, int] | None, pidfd: int,
              source_fd: int) -> str:  # fmt: skip
    """Mount the directory judged (source_fd) into the running container; "" when done,
    else why it waits for a restart."""
    try:
        with workspace.opened(container) as ws:
            ws.mkdir(m.target)
        fd = _userns_fd(container, root, m.owner) if root and m.owner else None
        try:
            tree = livemount.detached(source_fd, ro=m.ro, userns_fd=fd)
        finally:
            if fd is not None:
                os.close(fd)
        if root is None:
            livemount.attach(pidfd, tree, m.target)
        else:
            with _lock_dir(container) as lock_at:
                livemount.attach(pidfd, tree, m.target, lock_at=lock_at)
    except (OSError, LxcprovError) as exc:
        return getattr(exc, "message", str(exc))
    return ""


@contextlib.contextmanager
def _lock_dir(container: lxc.Container) -> Iterator[Path]:
    """An empty directory a live mount passes through to have its flags locked (in a
    mount namespace of a child's own: nothing is ever mounted on it here)."""
    at = sharestage.live_dir(container.lxcpath, container.name)
    for directory in (STAGE.parent, STAGE, at.parent):
        directory.mkdir(mode=0o711, exist_ok=True)
    at.mkdir(mode=0o700, exist_ok=True)
    faults.stop_if("mount-live-lock")  # a killed one leaves it: sharestage.clear_left
    try:
        yield at
    finally:
        with contextlib.suppress(OSError):
            at.rmdir()


def add(container: lxc.Container, m: Mount) -> Result:
    lxc.require_root()
    targets.refuse_base(container, "mount add")
    with locks.container(container.lxcpath, container.name, "mount add"):
        recovery.refuse_incomplete(container)
        container.require()
        root = containerfs.map_root(container)
        walked = _opened(m, root, container.lxcpath)
        try:
            m = _owned(m, walked, root)
            _check_idmap(m, container, root, walked.fd)
            current = listing(container)
            running = container.running()
            same = [c for c in current if c == m and c.owner == m.owner]
            if same and not (running and not _live(container, m.target)):
                return Result(m, "no change", "already mounted there")
            replaced = [c for c in current if c.target == m.target and c not in same]
            if not container.running():
                _make_targets(container, [m])
                _write(container, [c for c in current if c.target != m.target] + [m])
                return Result(m, "changed", "mounted at the next start")
            _make_targets(container, [m])  # refused through a symlink before the write
            _write(container, [c for c in current if c.target != m.target] + [m])
            faults.stop_if("mount-live")  # in the config, not yet in the running container
            with _init(container) as pidfd:
                if replaced:
                    livemount.detach(pidfd, m.target)
                why = _live_add(container, m, root, pidfd, walked.fd)
        finally:
            os.close(walked.fd)
        if why:
            return Result(m, "needs restart", why)
        return Result(m, "changed", "mounted in the running container")


def remove(container: lxc.Container, target: str) -> Result:
    lxc.require_root()
    path = mounts.check_target(target)
    with locks.container(container.lxcpath, container.name, "mount rm"):
        container.require()
        current = listing(container)
        found = [m for m in current if m.target == path]
        if not found:
            raise InvalidArgumentError(
                f"nothing of lxcprov's is mounted on {path} in {container.name}",
                hint=f"lxcprov mount ls {container.name}",
            )
        _write(container, [m for m in current if m.target != path])
        usernspins.release_unnamed(container.lxcpath)  # its last share through a pin
        if container.running():
            try:
                with _init(container) as pidfd:
                    livemount.detach(pidfd, path)
            except LxcprovError as exc:
                return Result(found[0], "needs restart", exc.message)
            return Result(found[0], "removed", "unmounted in the running container")
        return Result(found[0], "removed")


def replace_all(container: lxc.Container, wanted: list[Mount]) -> list[Result]:
    """`set mounts=...`: exactly these mounts (adds, replaces and removes as needed)."""
    current = {m.target: m for m in listing(container)}
    results = [add(container, m) for m in wanted]
    keep = {m.target for m in wanted}
    results += [remove(container, t) for t in sorted(current) if t not in keep]
    return results


def write_new(container: lxc.Container, wanted: list[Mount]) -> None:
    """`new --mount`: the checks that need the container's map, then its config entries
    (it is not running yet: LXC mounts them when it starts)."""
    root = containerfs.map_root(container)
    judged = []
    for m in wanted:
        walked = _opened(m, root, container.lxcpath)
        try:
            judged.append(_owned(m, walked, root))
            _check_idmap(judged[-1], container, root, walked.fd)
        finally:
            os.close(walked.fd)
    _make_targets(container, judged)
    _write(container, judged)


def check_new(specs: list[Mount], lxcpath: Path | None = None) -> None:
    """For `new --mount`, before anything is made: sources and targets that can work (the
    lxcpath is judged here when given, and in any case by write_new before the start)."""
    targets = [m.target for m in specs]
    if len(set(targets)) != len(targets):
        raise InvalidArgumentError("two --mount on one path inside the container")
    for m in specs:
        os.close(_opened(m, None, lxcpath).fd)


# -- who can write a mounted directory (issue 23) -------------------------------------------


_BLOCK = idmap.BLOCK  # writers() has a parameter named idmap


@dataclass(frozen=True)
class Writers:
    """Who inside can write a host directory mounted into a container, and how to change it."""

    who: str  # "uid 1000, group 1000" / "no one"
    fix: str  # the command that lets the container's root (or its users) write there

    def as_text(self) -> str:
        return f"writable inside by: {self.who}; {self.fix}"


def writers(
    source: str, st: os.stat_result, root: tuple[int, int] | None, idmap: bool, ro: bool
) -> Writers | None:
    """Who inside may write source (owner, group and mode as st says), for a container
    whose root is host uid/gid root (None: privileged, root is root: nothing to say)."""
    if root is None:
        return None
    if ro:
        return Writers("no one (read-only)", "drop --ro to write")
    uid, gid = st.st_uid, st.st_gid
    passed = mounts.passed_ids(uid, gid)  # what a share of it passes through

    def inside(host_id: int, base: int, through: int | None) -> int | None:
        """The id inside a host id shows as (None: nobody)."""
        if idmap:
            return mounts.shown_inside(host_id, base, _BLOCK, through)
        return host_id - base if base <= host_id < base + 65536 else None

    found: list[str] = []
    owner_in, group_in = inside(uid, root[0], passed[0]), inside(gid, root[1], passed[1])
    # Through an idmapped mount the kernel refuses every write to an inode whose owner or
    # group has no id inside (HAS_UNMAPPED_ID): a 1001:0 directory takes nobody's files.
    if not (idmap and (owner_in is None or group_in is None)):
        if st.st_mode & stat.S_IWUSR and owner_in is not None:
            found.append("root" if owner_in == 0 else f"uid {owner_in}")
        if st.st_mode & stat.S_IWGRP and group_in is not None:
            found.append(f"group {group_in}")
        if st.st_mode & stat.S_IWOTH:
            found.append("everyone but root" if idmap else "everyone")
    who = ", ".join(found) or "no one"
    quoted = shlex.quote(source)
    if idmap:
        low, high = mounts.USER_IDS.start, mounts.USER_IDS.stop - 1
        fix = (
            f"for uid N inside: chown N:G {quoted} before mount add (N and G {low}-{high}: a"
            f" share passes only its directory's owner and group through, as the same ids;"
            f" the container's other ids are host {root[0]}+N); root inside creates nothing"
            f" on an idmapped mount (it is no host id there): for root, mount it with"
            f" --no-idmap after chown -R"
            f" {root[0]}:{root[1]} {quoted}"
        )
    else:
        fix = f"for root inside: chown -R {root[0]}:{root[1]} {quoted}"
    return Writers(who, fix)


def who_can_write(container: lxc.Container, m: Mount) -> str:
    """One line for `mount add`: who inside can write the directory, and what changes it."""
    try:
        st = os.stat(m.source)
    except OSError:
        return ""
    found = writers(m.source, st, containerfs.map_root(container), m.idmap, m.ro)
    return "" if found is None else found.as_text()
