"""The everyday container commands: start, restart and destroy (stop: halt.py; console
and exec: attach.py; ls: listing.py).

Each checks root and the container, does its work, and returns what the CLI shows.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from lxcprov.engine import appimage
from lxcprov.errors import ContainerProblemsError, NotReadyError, StartFailedError
from lxcprov.ops import dependents, doctor, halt, mounts, recovery, targets
from lxcprov.ops import network as netops
from lxcprov.ops.attach import console_argv as console_argv
from lxcprov.ops.attach import exec_argv as exec_argv
from lxcprov.ops.attach import login_tty
from lxcprov.ops.doctor import Finding
from lxcprov.ops.halt import stop as stop
from lxcprov.ops.halt import stop_all as stop_all
from lxcprov.system import containerfs, faults, locks, lxc, lxcfs, netintent, sharestage

# Between the stop and the start of a restart (LXCPROV_FAULT_AT, tests only).
FAULT_RESTART = "restart-stopped"


@dataclass
class Started:
    state: str
    warnings: list[Finding] = field(default_factory=list)  # doctor's errors that did not block
    login_tty: int | None = None  # where the login prompt showed (None: not waited for)
    notes: list[str] = field(default_factory=list)
    already: bool = False  # it was running before: nothing was done
    at: float = 0.0  # time.time() when it was started (a stop after that is another's)


def _locked(container: lxc.Container, command: str) -> contextlib.AbstractContextManager[None]:
    return locks.container(container.lxcpath, container.name, command)


def start(container: lxc.Container, *, login_timeout: float | None = None) -> Started:
    """Start it; refuse with doctor's words when lxc-start would fail anyway, and explain a
    failed start with doctor's findings rather than LXC's raw message.

    With login_timeout, a container lxcprov made (its getty is lxcprov's) is waited for
    until its login prompt shows, as `new` does: a `console` right after then finds login
    ready for the user name (typed earlier, it reaches a getty that flushes it). The wait is
    outside the lock. No prompt in time is a note, not a failure; a stop meanwhile is an
    error naming who stopped it, or a note when that command started it again."""
    lxc.require_root()
    with _locked(container, "start"):
        started = _start(container)
    _wait_for_login(container, started, login_timeout, "start")
    return started


def restart(container: lxc.Container, *, login_timeout: float | None = None) -> Started:
    """Stop it (clean shutdown, then kill) and start it again, under one hold of its lock:
    no other command comes in between. A stopped container is just started."""
    lxc.require_root()
    with _locked(container, "restart"):
        recovery.refuse_incomplete(container)
        container.require()
        container.refuse_running_elsewhere()  # before the stop: its start would be refused
        if container.running():
            halt.stop(container)
        faults.stop_if(FAULT_RESTART)
        started = _start(container)
    _wait_for_login(container, started, login_timeout, "restart")
    return started


def _wait_for_login(
    container: lxc.Container, started: Started, timeout: float | None, command: str
) -> None:
    """Wait for the login prompt of a container lxcprov made, as `new` does, outside the
    lock; not when it was running already (its prompt was printed long ago) or when
    doctor found no getty on that terminal (nothing would come: the finding says why)."""
    if (
        timeout is None
        or started.already
        or not netintent.path_for(container.lxcpath / container.name).exists()
    ):
        return
    config = container.config()
    if appimage.kind_of(config) == appimage.APPLICATION:
        return  # an image's entrypoint: no login prompt ever comes
    ttys = config.get("lxc.tty.max", "0")
    tty = login_tty(int(ttys) if ttys.isdigit() else 0)
    where = f"tty{tty}" if tty else "console"
    if any(where in f.terminals for f in started.warnings):
        started.notes.append(f"no login prompt will show on {where}: no getty runs there")
        return
    try:
        lxc.wait_for_login(container, tty, timeout)
        started.login_tty = tty
    except NotReadyError as exc:
        # The start itself succeeded: a prompt that never came is said, not failed.
        started.notes.append(exc.message)
        started.state = container.state()
    except StartFailedError:
        _after_stop_meanwhile(container, started, command)


def _after_stop_meanwhile(container: lxc.Container, started: Started, command: str) -> None:
    """It stopped while it booted: another command's doing (after this one let go of the
    lock) or its own init's. Wait for that command to finish, then say what it left: running
    again (another restart) is this command's success too; stopped is a failure that names
    who stopped it, never a success that happens to print STOPPED."""
    with locks.container(container.lxcpath, container.name, command):
        state = container.state()
        # Whoever stopped it last since this start left a note: the one that counts, even
        # if it let go long ago, or if another command held the lock in between.
        who = locks.stopped_since(container.lxcpath, container.name, started.at)
    name = container.name
    if state != "RUNNING":
        raise StartFailedError(
            f"{name} stopped while booting: "
            + (f"{who} stopped it" if who else "another command stopped it, or its init ended"),
            hint=f"start it again with: lxcprov start {name}; if it stops by itself, "
            f"watch its boot with: lxcprov console {name} --tty 0",
        )
    # Running again: the command that restarted it waits for its prompt (one reader gets it).
    started.state = state
    started.notes.append(f"{name} was stopped while booting by {who or 'another command'}, "
                         "which started it again and waits for its login prompt")  # fmt: skip


def _start(container: lxc.Container) -> Started:
    targets.refuse_base(container, "start")
    recovery.refuse_incomplete(container)
    container.require()
    if container.running():
        # A start killed once LXC had started it left its staged shares: the container
        # has its copies, the host's staged ones go.
        sharestage.clear_left(container.lxcpath, container.name)
        return Started(container.state(), already=True)
    # A killed command's overlay mount: starting with its upper mounted twice is undefined.
    containerfs.unmount_stale(container)
    mounts.ensure_userns(container)  # what its idmapped mounts go through (gone at reboot)
    said = lxcfs.ensure()  # its own memory and CPUs in /proc (LXC's hook binds lxcfs)
    # Errors, and a device it was given that the host lost (it starts without it: said).
    found = [f for f in doctor.remaining(container)
             if f.severity == "error" or f.id == "device-missing"]  # fmt: skip
    blockers = doctor.start_blockers(found)
    if blockers:
        raise ContainerProblemsError(
            f"{container.name} cannot start: " + "; ".join(f.message for f in blockers),
            hint=f"lxcprov doctor {container.name} --fix",
            details=doctor.as_details(found),
        )
    notes = netops.guard_at_start(container)  # its port, MAC and address on its bridge
    at = time.time()
    try:
        with mounts.staged(container) as defines:  # shares LXC binds with flags locked
            container.start(defines)
            faults.stop_if("start-started")  # started, its staged shares not yet gone
    except StartFailedError as exc:
        exc.details = doctor.as_details(doctor.remaining(container)) or [
            f"doctor finds nothing wrong with {container.name}'s configuration"
        ]
        raise
    return Started(container.state(), found, notes=([said] if said else []) + notes, at=at)


def destroy(container: lxc.Container, *, force: bool = False) -> recovery.Removed:
    """Remove the container and its rootfs, and give its static address back.

    Also what a killed lxcprov command left half-made: with --force it always succeeds on
    anything lxcprov made (an orphaned template run is stopped, a leftover mount unmounted,
    a directory without a config removed, its address released).
    """
    lxc.require_root()
    with _locked(container, "destroy"):
        recovery.require_known(container)
        also = dependents.refuse_or_remove(container, force=force)
        removed = recovery.remove(container, stop=force)
        removed.done[:0] = also
        return removed
