"""Undo what a killed command left, and remove a container whatever state it is in.

A command that makes something writes a journal ahead of each step (lxcprov.system.journal).
When that command is gone and its journal is still there, the container is incomplete;
`destroy --force`, `doctor --fix` and `new` of the same name call `undo()`, which stops
the orphaned template run, unmounts what was left mounted, removes the half-made
container (even one whose config was never written), and gives back the static addresses
it claimed. `remove()` is the same for any container lxcprov may remove: what `destroy`
runs. Both are called with the container's lock held.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import network
from lxcprov.errors import (
    DestroyFailedError,
    IncompleteContainerError,
    LxcprovError,
    NoSuchContainerError,
    StateFileError,
)
from lxcprov.ops import idmaps, settle
from lxcprov.system import (
    containerfs,
    diskimage,
    faults,
    hostnet,
    journal,
    locks,
    lxc,
    monitors,
    netintent,
    sharestage,
    templatecache,
    usernspins,
)

# The journal detail of `set disk=` (lxcprov.ops.disk): DISK_DETAIL + the directory the
# files move from into an image, or DISK_DETAIL + DISK_RESIZE + the image's mount point.
DISK_DETAIL = "disk:"
# The journal detail of a `set` (or apply) that moves the container's network
# (lxcprov.ops.settings): NET_DETAIL + the assignments as JSON. Killed, it is finished by
# doctor --fix, which runs the same assignments again.
NET_DETAIL = "network:"
DISK_RESIZE = "resize:"


@dataclass
class Removed:
    """What removing a container did, one line each (for the user and for tests)."""

    done: list[str] = field(default_factory=list)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def kill_group(pgid: int, pgid_start: int) -> list[int]:
    """Kill what is left of a template run's process group (never a reused id's group).

    The leader may be gone while its children (debootstrap) go on: they keep the group's
    id. A member that started before the leader cannot be one of its children.
    """
    if pgid <= 1:
        return []
    victims = [
        pid
        for pid in _group_members(pgid)
        if (start := journal.process_start(pid)) is not None and start >= pgid_start
    ]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Until each has exited: gone, or a zombie (it has closed its files, so the template's
    # lock it held is free). One in uninterruptible sleep (disk I/O on a loaded host) dies
    # only once that ends: a CI run saw more than 5 s.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(journal.exited(pid) for pid in victims):
        time.sleep(0.05)
    return victims


def forget_clone(lxcpath: Path, base: str, name: str) -> None:
    """Drop name from base's lxc_snapshots (liblxc's list of a base's clones)."""
    path = lxcpath / base / "lxc_snapshots"
    try:
        words = path.read_text().split("\n")
    except OSError:
        return
    pairs = [(words[i], words[i + 1]) for i in range(0, len(words) - 1, 2)]
    kept = [(p, n) for p, n in pairs if not (n == name and Path(p) == lxcpath)]
    if kept != pairs:
        text = "".join(f"{p}\n{n}\n" for p, n in kept)
        if text:
            path.write_text(text)
        else:
            path.unlink()


def _base_of(container: lxc.Container) -> str:
    """The base a snapshot clone was made from (from its rootfs path), or ""."""
    with contextlib.suppress(LxcprovError):
        found = containerfs.layout(container.config())
        if found.storage == "overlay":
            lower = Path(found.lower)
            if lower.parent.parent == container.lxcpath:
                return lower.parent.name
    return ""


def _liblxc_may_destroy(container: lxc.Container) -> bool:
    """Whether liblxc's destroy may be given the container. It removes a dir rootfs by its
    path and follows a symlink there: given `rootfs -> HOSTDIR` (what a hostile archive
    once had GNU tar write) it emptied that host directory (measured). A container whose
    rootfs is reached through a symlink below its own directory is removed by _remove_dir
    alone, which never follows one."""
    found = containerfs.layout(container.config())
    if found.storage != "dir":
        return True
    directory = container.lxcpath / container.name
    path = Path(found.path)
    if not path.is_relative_to(directory):
        return not path.is_symlink()
    here = directory
    for part in path.relative_to(directory).parts:
        here = here / part
        if here.is_symlink():
            return False
    return True


def _remove_dir(container: lxc.Container, removed: Removed) -> None:
    directory = container.lxcpath / container.name
    if not directory.exists():
        return
    left = containerfs.mounts_under(directory)
    if left:
        raise DestroyFailedError(
            f"{container.name}: something is still mounted in {directory}: "
            + ", ".join(str(p) for p in left),
            hint="unmount it (lxcprov never deletes through a mount), then run this again",
        )
    shutil.rmtree(directory)
    removed.done.append(f"removed {directory}")


def _release(owner: str, removed: Removed) -> None:
    """Give back every static address the container holds, on every managed bridge.

    Looked up by owner in the address books, not in the container's own files: those
    may be what is broken.
    """
    for bridge in sorted(hostnet.settings.load_config().bridges):
        try:
            held = owner in hostnet.address_book(bridge)
            ports = [f for f in hostnet.list_forwards(bridge)[bridge] if f.owner == owner]
            if hostnet.forget(bridge, owner):
                if held:
                    removed.done.append(f"released its address on {bridge}")
                if ports:
                    removed.done.append("unpublished " + ", ".join(f.label() for f in ports))
        except LxcprovError as exc:
            # An address book lxcprov cannot read is never rewritten; the removal goes on
            # and says so (doctor reports the entry once the book is fixed).
            removed.done.append(f"could not check the address book of {bridge}: {exc.message}")


def remove(
    container: lxc.Container,
    *,
    stop: bool,
    entry: journal.Entry | None = None,
    keep_network: bool = False,
) -> Removed:
    """Remove a container: stop it (when stop), kill what a killed command left running,
    unmount what it left mounted, destroy it, give back its static address, drop its
    journal. Works on half-made containers (no config, a config LXC cannot load).

    keep_network (`apply --replace`, which makes the container again at once under the
    same name): its address, MAC reservation and published ports stay in the bridges'
    books, and the journal stays too, so a replace killed half-way is still a container
    `destroy --force` and the next `apply` know about."""
    assert locks.held(container.lxcpath, container.name)
    container.refuse_running_elsewhere()  # --force cannot stop it from here either
    removed = Removed()
    if entry is None:
        entry = _journal_or_none(container, stop=stop, removed=removed)
    killed = entry is not None
    if entry is not None:
        _end_killed_command(container, entry, removed)
    else:
        entry = _begin_removal(container, stop=stop)
    for point in containerfs.unmount_stale(container):
        removed.done.append(f"unmounted {point}")
    base = _destroy(container, entry.base if entry else "", stop=stop, removed=removed)
    removed.done += diskimage.detach(container.lxcpath / container.name)
    _remove_dir(container, removed)
    faults.stop_if("destroy-files-gone")  # its files gone, its books and clone entry not yet
    lxc.create_config_path(container).unlink(missing_ok=True)
    if base:
        forget_clone(container.lxcpath, base, container.name)
    # What a start killed mid-way left staged: nothing else would take it, the name gone.
    if sharestage.clear_left(container.lxcpath, container.name):
        removed.done.append("unstaged the shares a killed start left")
    if keep_network:
        removed.done.append("kept its address, MAC and published ports for the new one")
        return removed
    owner = network.owner_of(container.name, str(container.lxcpath))
    _release(owner, removed)
    # Its shares' user namespaces, when no other container names them (the last user
    # releases a pin: lxcprov.system.usernspins).
    for pin in usernspins.release_unnamed(container.lxcpath):
        removed.done.append(f"released the pinned user namespace {pin}")
    if idmaps.release_isolated(owner):
        removed.done.append("gave its isolated block of ids back")
    if killed:
        removed.done.append("removed the journal of the command that was killed")
    journal.drop(journal.path_for(container.lxcpath, container.name))
    return removed


# How long the cleanup of a killed template run waits for the template's lock (seconds).
TEMPLATE_LOCK_WAIT = 10.0


def _journal_or_none(
    container: lxc.Container, *, stop: bool, removed: Removed
) -> journal.Entry | None:
    """The journal a killed command left; with stop (--force), one that cannot be read is
    taken as none and goes with the container: every writer of it holds the lock we hold,
    so it is no live command's, and its hint sends the user to destroy --force."""
    try:
        return journal.read(container.lxcpath, container.name)
    except StateFileError as exc:
        if not stop:
            raise
        removed.done.append(f"its journal could not be read ({exc.message}): it goes too")
        return None


def _begin_removal(container: lxc.Container, *, stop: bool) -> journal.Entry:
    """The removal's own journal, written before anything goes (a refusal comes first):
    killed at any instant after, the name stays known (`ls` shows it INCOMPLETE) and
    `destroy --force` finishes, giving back its address, MAC and ports, which are released
    after its files are gone (bench/chaos.py, seed 2027, saw a killed destroy leave them
    for a name nothing knew any more), and taking it off its base's clone list, which the
    journal names because the config that says it may be gone by then."""
    if not stop:
        _refuse_running(container)
    jr = journal.Journal.begin(container.lxcpath, container.name, journal.REMOVAL, creating=True,
                               phase="remove")  # fmt: skip
    with contextlib.suppress(LxcprovError):
        if container.exists():
            jr.update(base=_base_of(container))
    return jr.entry


def _refuse_running(container: lxc.Container) -> None:
    """A removal without stop is refused, before it begins, while the container runs."""
    try:
        running = container.exists() and container.running()
    except LxcprovError:  # a config LXC cannot load: running while its monitor is
        running = bool(monitors.monitor_pids(container.lxcpath, container.name))
    if running:
        raise DestroyFailedError(
            f"{container.name} is running",
            hint=f"stop it first, or: lxcprov destroy --force {container.name}",
        )


def _end_killed_command(container: lxc.Container, entry: journal.Entry, removed: Removed) -> None:
    """What a killed command left going: a snapshot command ended in place (a frozen
    container cannot stop), its template run's processes, the template cache it half made."""
    if entry.command in settle.COMMANDS:
        removed.done += settle.settle(container, entry)
    killed: list[int] = []
    if entry.pgid:
        killed = kill_group(entry.pgid, entry.pgid_start)
        for pid in killed:
            removed.done.append(f"killed the template run's process {pid}")
    if entry.template:
        # Just killed: a member that left the group may still be letting go of the lock.
        wait = TEMPLATE_LOCK_WAIT if killed else 0.0
        for path in templatecache.remove_new(entry.template, entry.partials, wait=wait):
            removed.done.append(f"removed the template cache its run left half-made: {path}")


def _destroy(container: lxc.Container, base: str, *, stop: bool, removed: Removed) -> str:
    """Stop (when stop; refused while running otherwise) and destroy a container liblxc
    can load; returns the base it was cloned from (base, when the journal named it)."""
    try:
        defined = container.exists()
    except LxcprovError:
        # A config LXC cannot load: removed by hand afterwards, once it no longer runs
        # (lxc-stop cannot open it, and its directory must not go from under it).
        _end_unloadable(container, stop=stop, removed=removed)
        defined = False
    if not defined:
        return base
    base = base or _base_of(container)
    if container.running():
        if not stop:
            raise DestroyFailedError(
                f"{container.name} is running",
                hint=f"stop it first, or: lxcprov destroy --force {container.name}",
            )
        container.stop()
    # Its disk image unmounted first: liblxc then removes an empty directory, not each
    # file through the mount.
    removed.done += diskimage.detach(container.lxcpath / container.name)
    try:
        if _liblxc_may_destroy(container):
            container.destroy()
            removed.done.append(f"destroyed {container.name}")
    except LxcprovError:
        pass  # what liblxc could not remove is removed afterwards
    return base


def _end_unloadable(container: lxc.Container, *, stop: bool, removed: Removed) -> None:
    if not monitors.monitor_pids(container.lxcpath, container.name):
        return
    if not stop:
        raise DestroyFailedError(
            f"{container.name} is running (with a config LXC cannot load)",
            hint=f"lxcprov destroy --force {container.name}",
        )
    for pid in monitors.kill(container.lxcpath, container.name):
        removed.done.append(f"killed its init {pid} (LXC cannot load its config to stop it)")
    if monitors.monitor_pids(container.lxcpath, container.name):
        raise DestroyFailedError(
            f"{container.name} still runs after its init was killed",
            hint=f"try again in a moment: lxcprov destroy --force {container.name}",
        )


def undo(container: lxc.Container, entry: journal.Entry) -> Removed:
    """Undo the work of a killed command, as its journal says (only what it made)."""
    if entry.command == "convert":
        # Its files may be half shifted: only `convert` knows how to finish or roll back.
        raise IncompleteContainerError(
            f"{container.name} is half converted: {entry.describe()} was killed",
            hint=f"finish it: lxcprov convert {container.name} "
            f"--{'privileged' if entry.detail == 'privileged' else 'unprivileged'} "
            "(the other flag rolls it back)",
        )
    if entry.creating:
        return remove(container, stop=True, entry=entry)
    removed = Removed()
    for point in containerfs.unmount_stale(container):
        removed.done.append(f"unmounted {point}")
    if entry.command in settle.COMMANDS:
        removed.done += settle.settle(container, entry)
    if entry.detail.startswith(DISK_DETAIL):  # a killed `set disk=`: ended, nothing lost
        removed.done += _settle_disk(container, entry.detail.removeprefix(DISK_DETAIL))
    for claim in entry.claims:  # addresses it claimed for a container that exists: undone
        try:
            if claim.owner in hostnet.address_book(claim.bridge):
                hostnet.release_address(claim.bridge, claim.owner)
                removed.done.append(f"released the address it claimed on {claim.bridge}")
        except LxcprovError as exc:
            removed.done.append(
                f"could not check the address book of {claim.bridge}: {exc.message}"
            )
    journal.drop(entry.path)
    return removed


def _settle_disk(container: lxc.Container, what: str) -> list[str]:
    """A move into an image: committed or put back. A resize: the image checked
    (`e2fsck -f -y`), then mounted again, its filesystem grown to the file's size."""
    directory = container.lxcpath / container.name
    if not what.startswith(DISK_RESIZE):
        return diskimage.settle(directory, Path(what))
    point = Path(what.removeprefix(DISK_RESIZE))
    done = diskimage.check_unmounted(directory, point)
    if containerfs.attach_disk(container):
        done.append(f"mounted its disk image at {point} again")
    return done


def leftover(lxcpath: Path, name: str) -> journal.Entry | None:
    """The journal of a killed command on name (None when there is none or it still runs)."""
    entry = journal.read(lxcpath, name)
    if entry is None or entry.running:
        return None
    return entry


def refuse_incomplete(container: lxc.Container) -> None:
    """Stop a command (start, fix, set) on a container a killed command left half-made."""
    entry = leftover(container.lxcpath, container.name)
    if entry is not None:
        said = (
            f"{container.name}: {entry.describe()} was killed"
            if kept(entry)
            else f"{container.name} was left {journal.left_as(entry.command)}: "
            f"{entry.describe()} was killed"
        )
        if entry.detail.startswith(DISK_DETAIL):
            said += " while it changed its disk limit"
        if entry.detail.startswith(NET_DETAIL):
            said += " while it moved its network"
        raise IncompleteContainerError(said, hint=advice(container.name, entry))
    # Before a command uses its files or starts it: its disk image, if a reboot
    # unmounted it, mounted again (every command that uses a container's files asks here).
    if journal.read(container.lxcpath, container.name) is None:
        containerfs.attach_disk(container)


def kept(entry: journal.Entry) -> bool:
    """Whether a killed command's container is kept, its work ended in place or finished
    (a snapshot command, restore, `set disk=`, convert), not removed: it was whole before
    the command began, and no file of it is lost."""
    return (
        entry.command in settle.COMMANDS
        or entry.command == "convert"
        or entry.detail.startswith(DISK_DETAIL)
        or entry.detail.startswith(NET_DETAIL)
    )


def fix_for(name: str, entry: journal.Entry, prog: str = "lxcprov") -> tuple[str, str]:
    """What to run after a killed command, and what it does: the one place start, ls and
    doctor take it from. A container that was whole before the command is never
    destroyed for it."""
    quoted = shlex.quote(name)
    if entry.command == "convert":
        flag = "--privileged" if entry.detail == "privileged" else "--unprivileged"
        return f"{prog} convert {quoted} {flag}", "finishes it; the other flag rolls it back"
    if kept(entry):
        return f"{prog} doctor {quoted} --fix", "ends it; no file is lost"
    if entry.command == journal.REMOVAL:
        return f"{prog} destroy --force {quoted}", "finishes removing it"
    return f"{prog} destroy --force {quoted}", "removes it; then make it again"


def advice(name: str, entry: journal.Entry) -> str:
    command, does = fix_for(name, entry)
    return f"{command} ({does})"


def known(container: lxc.Container) -> bool:
    """Whether lxcprov may remove it: a container, or a directory lxcprov left half-made."""
    directory = container.lxcpath / container.name
    if journal.path_for(container.lxcpath, container.name).exists():
        return True
    if netintent.path_for(directory).exists():
        return True
    try:
        return container.exists()
    except LxcprovError:
        return (directory / "config").exists()


def require_known(container: lxc.Container) -> None:
    if not known(container):
        raise NoSuchContainerError(f"no container {container.name!r} in {container.lxcpath}")
