"""`lxcprov mount add | rm | ls`, `new --mount` and `set mounts=`: host directories inside.

The config is the record (lxcprov's section of it, see lxcprov.engine.mounts). A running
container gets the mount at once (lxcprov.system.livemount), else at its next start.
Before anything is written: the source is an existing directory that is none of the
directories never shared (the host's system directories, the lxcpath, lxcprov's state and
configuration, their parents: lxcprov.engine.mounts.refusal, judged with symlinks
resolved), the target is an absolute path that is no system directory, every directory
above the source is traversable by an unprivileged container's root (or one line names
the one that is not), and the filesystem can be idmapped (or one line says what
--no-idmap would mean). Every lxcprov start judges the sources again (a symlink on the
way may have moved) and brings lxcprov's entries to the current form.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxcprov.engine import idmap, mounts
from lxcprov.engine.mounts import Mount
from lxcprov.errors import InvalidArgumentError, LxcprovError, MountError
from lxcprov.ops import recovery, workspace
from lxcprov.system import containerfs, faults, livemount, locks, lxc, lxcconf, subids
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


def _traversable(path: Path, uid: int, gid: int) -> bool:
    st = path.stat()
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


def check_source(m: Mount, owner: tuple[int, int] | None, lxcpath: Path) -> None:
    """The source is a directory that may be shared and that the container's root can
    reach (one line if not)."""
    path = Path(m.source)
    try:
        if not path.is_dir():
            raise InvalidArgumentError(
                f"{m.source} is not a directory" if path.exists() else f"{m.source} does not exist",
                hint="give an existing host directory",
            )
    except PermissionError:
        raise InvalidArgumentError(f"{m.source} cannot be read") from None
    check_shareable(m.source, lxcpath)
    if owner is None:
        return  # a privileged container's root is host root: it reaches anything
    for directory in [*reversed(path.parents), path]:
        if not _traversable(directory, *owner):
            raise InvalidArgumentError(
                f"{directory} is not traversable by the container's root (host uid "
                f"{owner[0]}), so {m.source} cannot be mounted into it",
                hint=f"chmod o+x {directory}  (or: setfacl -m u:{owner[0]}:x {directory})",
            )


def userns_path(container: lxc.Container, owner: tuple[int, int]) -> Path:
    """Where the user namespace this container's mounts are idmapped through is pinned.

    Named for its map (host user ids through, see mounts.share_map): a namespace pinned
    by an older lxcprov at `<uid>-<gid>` mapped every id 1-65535 through and is not used
    again (start moves lxcprov's entries off it; it goes at the next reboot)."""
    return locks.state_dir(container.lxcpath) / "userns" / f"{owner[0]}-{owner[1]}-users"


def _pinned(container: lxc.Container, owner: tuple[int, int]) -> Path:
    return livemount.pinned_userns(
        userns_path(container, owner),
        mounts.share_map(owner[0], idmap.BLOCK),
        mounts.share_map(owner[1], idmap.BLOCK),
    )


def ensure_userns(container: lxc.Container) -> None:
    """Before any start: judge the sources again (refused: one line, nothing starts),
    bring lxcprov's entries to the current form (nosuid,nodev, this lxcprov's namespace),
    and pin the namespace LXC idmaps the mounts through (after a reboot it is gone)."""
    current = listing(container)
    if not current:
        return
    for m in current:
        check_shareable(m.source, container.lxcpath)
    _write(container, current)
    owner = containerfs.map_root(container)
    if owner is not None and any(m.idmap for m in current):
        _pinned(container, owner)


def _userns_fd(container: lxc.Container, owner: tuple[int, int]) -> int:
    return os.open(_pinned(container, owner), os.O_RDONLY | os.O_CLOEXEC)


def _check_idmap(m: Mount, container: lxc.Container, owner: tuple[int, int] | None) -> None:
    if owner is None or not m.idmap:
        return
    fd = _userns_fd(container, owner)
    try:
        why = livemount.probe_idmap(m.source, fd)
    finally:
        os.close(fd)
    if why:
        raise MountError(
            f"{m.source} cannot be mounted with the container's ids ({why}): its files would "
            "show as nobody inside",
            hint="put the directory on a filesystem with idmapped mounts (ext4, xfs, btrfs, "
            "tmpfs), or accept nobody-owned files with --no-idmap (give them to the "
            f"container's ids with chown {owner[0]}+UID to make them usable)",
        )


def _write(container: lxc.Container, wanted: list[Mount]) -> None:
    owner = containerfs.map_root(container)
    path = str(userns_path(container, owner)) if owner is not None else None
    text = lxcconf.read(container.config_path)
    lines = lxcconf.set_section_values(
        lxcconf.parse(text), mounts.ENTRY_KEY, [m.entry(path) for m in sorted(wanted)]
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


def _live(container: lxc.Container, target: str) -> bool:
    with _init(container) as pidfd:
        return livemount.mounted_in(pidfd, target)


def _make_targets(container: lxc.Container, wanted: list[Mount]) -> None:
    """Create the mount points through the jail (a symlink in the container's tree cannot
    point them outside it); LXC's create=dir then finds them there."""
    with workspace.opened(container) as ws:
        for m in wanted:
            ws.mkdir(m.target)


def _live_add(container: lxc.Container, m: Mount, owner: tuple[int, int] | None, pidfd: int) -> str:
    """Mount into the running container; "" when done, else why it waits for a restart."""
    try:
        with workspace.opened(container) as ws:
            ws.mkdir(m.target)
        fd = _userns_fd(container, owner) if owner is not None and m.idmap else None
        try:
            tree = livemount.detached(m.source, ro=m.ro, userns_fd=fd)
        finally:
            if fd is not None:
                os.close(fd)
        livemount.attach(pidfd, tree, m.target)
    except (OSError, LxcprovError) as exc:
        return getattr(exc, "message", str(exc))
    return ""


def add(container: lxc.Container, m: Mount) -> Result:
    lxc.require_root()
    with locks.container(container.lxcpath, container.name, "mount add"):
        recovery.refuse_incomplete(container)
        container.require()
        owner = containerfs.map_root(container)
        check_source(m, owner, container.lxcpath)
        _check_idmap(m, container, owner)
        current = listing(container)
        running = container.running()
        if m in current and not (running and not _live(container, m.target)):
            return Result(m, "no change", "already mounted there")
        replaced = [c for c in current if c.target == m.target and c != m]
        if not container.running():
            _make_targets(container, [m])
            _write(container, [c for c in current if c.target != m.target] + [m])
            return Result(m, "changed", "mounted at the next start")
        _write(container, [c for c in current if c.target != m.target] + [m])
        faults.stop_if("mount-live")  # in the config, not yet in the running container
        with _init(container) as pidfd:
            if replaced:
                livemount.detach(pidfd, m.target)
            why = _live_add(container, m, owner, pidfd)
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
    owner = containerfs.map_root(container)
    for m in wanted:
        check_source(m, owner, container.lxcpath)
        _check_idmap(m, container, owner)
    _make_targets(container, wanted)
    _write(container, wanted)


def check_new(specs: list[Mount], lxcpath: Path | None = None) -> None:
    """For `new --mount`, before anything is made: sources and targets that can work (the
    lxcpath is judged here when given, and in any case by write_new before the start)."""
    targets = [m.target for m in specs]
    if len(set(targets)) != len(targets):
        raise InvalidArgumentError("two --mount on one path inside the container")
    for m in specs:
        if not Path(m.source).is_dir():
            raise InvalidArgumentError(f"--mount {m.spec()}: {m.source} is not a directory")
        check_shareable(m.source, lxcpath)


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

    def inside(host_id: int, base: int) -> int | None:
        """The id inside a host id shows as (None: nobody)."""
        if idmap:
            return mounts.shown_inside(host_id, base, _BLOCK)
        return host_id - base if base <= host_id < base + 65536 else None

    found: list[str] = []
    owner_in, group_in = inside(uid, root[0]), inside(gid, root[1])
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
            f"for uid N inside: chown N:G {quoted} (N and G {low}-{high}; its other ids are"
            f" host {root[0]}+N); root inside creates nothing on an idmapped mount (it is no host"
            f" id there): for root, mount it with --no-idmap after chown -R"
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
