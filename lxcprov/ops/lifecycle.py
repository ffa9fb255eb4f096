"""The everyday container commands: list, start, stop, destroy, console, exec.

Each checks root and the container, does its work, and returns what the CLI shows.
`console` and `exec` hand the terminal over to LXC's own tools (the CLI execs the argv).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxcprov.errors import ContainerProblemsError, LxcprovError, StartFailedError
from lxcprov.ops import doctor, mounts, recovery, settings
from lxcprov.ops.doctor import Finding
from lxcprov.ops.new import login_tty
from lxcprov.system import cgroups, containerfs, hostnet, journal, locks, lxc

# What `exec` runs commands with: a clean environment with a usual PATH.
EXEC_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Row:
    name: str
    # RUNNING, STOPPED (LXC's states); CREATING (an lxcprov command is making it),
    # INCOMPLETE (that command was killed), BROKEN (LXC cannot load its config).
    state: str
    ipv4: list[str]
    problem: str = ""  # for INCOMPLETE and BROKEN: what is wrong and what to run
    privileged: bool | None = None  # None: not known (a container that cannot be read)
    ipv6: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)  # published: "8080->80/tcp"
    memory: str | None = None  # the memory limit with units (None: none, or not known)
    autostart: bool | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "state": self.state, "ipv4": self.ipv4,
                                  "ipv6": self.ipv6, "ports": self.ports,
                                  "privileged": self.privileged, "memory": self.memory,
                                  "autostart": self.autostart}  # fmt: skip
        if self.problem:
            out["problem"] = self.problem
        return out


def _ports(lxcpath: Path) -> dict[str, list[str]]:
    """Published ports by container name (one read per managed bridge)."""
    found: dict[str, list[str]] = {}
    with contextlib.suppress(LxcprovError):  # a broken forwards file: doctor says so
        for found_list in hostnet.list_forwards().values():
            for f in found_list:
                name, _, path = f.owner.partition("@")
                if path == str(lxcpath):
                    where = f"{f.host_addr}:" if f.host_addr else ""
                    found.setdefault(name, []).append(
                        f"{where}{f.host_port}->{f.container_port}/{f.proto}"
                    )
    return found


def _row(c: lxc.Container, entry: journal.Entry | None, host: cgroups.CgroupHost) -> Row:
    if entry is not None and entry.running:
        return Row(c.name, "CREATING", [], f"{entry.describe()}")
    if entry is not None:
        why = f"left half-made by {entry.describe()}: lxcprov destroy --force {c.name}"
        return Row(c.name, "INCOMPLETE", [], why)
    try:
        state, ipv4, ipv6 = c.summary()
        row = Row(c.name, state, ipv4, privileged=not c.idmap(), ipv6=ipv6)
    except LxcprovError as exc:
        return Row(c.name, "BROKEN", [], exc.message)
    try:
        memory, auto = settings.brief(c, host)
    except (LxcprovError, OSError):
        return row  # its state is known; its limits are not (None): still a row of its own
    return replace(row, memory=memory, autostart=auto)


def listing(lxcpath: Path) -> list[Row]:
    """Every container (bases aside) with its state and IPv4 addresses.

    One container that cannot be read is a row of its own, never the end of the list.
    """
    names = {c.name for c in lxc.list_containers(lxcpath)}
    names |= {n for n in journal.names(lxcpath) if not n.startswith(lxc.BASE_PREFIX)}
    rows = []
    host = cgroups.detect()
    ports = _ports(lxcpath)
    for name in sorted(names):
        c = lxc.Container(name, lxcpath)
        try:
            entry = journal.read(lxcpath, name)
        except LxcprovError as exc:
            rows.append(Row(name, "BROKEN", [], exc.message))
            continue
        row = _row(c, entry, host)
        rows.append(replace(row, ports=ports.get(name, [])) if name in ports else row)
    return rows


def watch(
    lxcpath: Path,
    on_change: Callable[[list[Row]], None],
    interval: float = 1.0,
    *,
    rows: Callable[[Path], list[Row]] = listing,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call on_change with the listing now and again each time it differs, until interrupted.

    One process looks every interval seconds (a look at a few containers takes
    milliseconds; starting lxcprov to look takes 0.4 s): a page or a terminal stays live
    without re-running `ls`. A new address counts as a change, so DHCP leases show.
    """
    last: list[Row] | None = None
    while True:
        now = rows(lxcpath)
        if now != last:
            on_change(now)
            last = now
        sleep(interval)


def _running(container: lxc.Container) -> lxc.Container:
    lxc.require_root()
    container.require()
    if not container.running():
        raise StartFailedError(
            f"{container.name} is not running",
            hint=f"start it with: lxcprov start {container.name}",
        )
    return container


def console_argv(container: lxc.Container, tty: int | None) -> list[str]:
    """lxc-console on the container's login terminal (tty1, or the console without ttys)."""
    _running(container)
    if tty is None:
        ttys = container.config().get("lxc.tty.max", "0")
        tty = login_tty(int(ttys) if ttys.isdigit() else 0)
    return ["lxc-console", "-P", str(container.lxcpath), "-n", container.name, "-t", str(tty)]


def exec_argv(container: lxc.Container, command: list[str]) -> list[str]:
    """lxc-attach running command inside, with a clean environment."""
    _running(container)
    path = str(container.lxcpath)
    return ["lxc-attach", "-P", path, "-n", container.name, "--clear-env", "--set-var", EXEC_PATH,
            "--", *command]  # fmt: skip


@dataclass
class Started:
    state: str
    warnings: list[Finding] = field(default_factory=list)  # doctor's errors that did not block


def _details(findings: list[Finding]) -> list[str]:
    return [f"{f.severity} {f.id}: {f.message} (fix: {f.fix})" for f in findings]


def _locked(container: lxc.Container, command: str) -> contextlib.AbstractContextManager[None]:
    return locks.container(container.lxcpath, container.name, command)


def start(container: lxc.Container) -> Started:
    """Start it; refuse with doctor's words when lxc-start would fail anyway, and explain a
    failed start with doctor's findings rather than LXC's raw message."""
    lxc.require_root()
    with _locked(container, "start"):
        return _start(container)


def _start(container: lxc.Container) -> Started:
    recovery.refuse_incomplete(container)
    container.require()
    # A killed command's overlay mount: starting with its upper mounted twice is undefined.
    containerfs.unmount_stale(container)
    mounts.ensure_userns(container)  # what its idmapped mounts go through (gone at reboot)
    found = [f for f in doctor.remaining(container) if f.severity == "error"]
    blockers = doctor.start_blockers(found)
    if blockers:
        raise ContainerProblemsError(
            f"{container.name} cannot start: " + "; ".join(f.message for f in blockers),
            hint=f"lxcprov doctor {container.name} --fix",
            details=_details(found),
        )
    try:
        container.start()
    except StartFailedError as exc:
        exc.details = _details(doctor.remaining(container)) or [
            f"doctor finds nothing wrong with {container.name}'s configuration"
        ]
        raise
    return Started(container.state(), found)


def stop(container: lxc.Container) -> str:
    """Stop it (clean shutdown, then kill after 30 s); returns the state after."""
    lxc.require_root()
    with _locked(container, "stop"):
        container.require()
        container.stop()
        return container.state()


def destroy(container: lxc.Container, *, force: bool = False) -> recovery.Removed:
    """Remove the container and its rootfs, and give its static address back.

    Also what a killed lxcprov command left half-made: with --force it always succeeds on
    anything lxcprov made (an orphaned template run is stopped, a leftover mount unmounted,
    a directory without a config removed, its address released).
    """
    lxc.require_root()
    with _locked(container, "destroy"):
        recovery.require_known(container)
        return recovery.remove(container, stop=force)
