"""The everyday container commands: list, start, stop, destroy, console, exec.

Each checks root and the container, does its work, and returns what the CLI shows.
`console` and `exec` hand the terminal over to LXC's own tools (the CLI execs the argv).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.errors import ContainerProblemsError, StartFailedError
from lxcprov.ops import doctor
from lxcprov.ops import network as netops
from lxcprov.ops.doctor import Finding
from lxcprov.ops.new import login_tty
from lxcprov.system import lxc

# What `exec` runs commands with: a clean environment with a usual PATH.
EXEC_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Row:
    name: str
    state: str
    ipv4: list[str]

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "state": self.state, "ipv4": self.ipv4}


def listing(lxcpath: Path) -> list[Row]:
    """Every container (bases aside) with its state and IPv4 addresses."""
    return [Row(c.name, *c.summary()) for c in lxc.list_containers(lxcpath)]


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


def start(container: lxc.Container) -> Started:
    """Start it; refuse with doctor's words when lxc-start would fail anyway, and explain a
    failed start with doctor's findings rather than LXC's raw message."""
    lxc.require_root()
    container.require()
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
    container.require()
    container.stop()
    return container.state()


def destroy(container: lxc.Container, *, force: bool = False) -> None:
    """Remove the container and its rootfs, and give its static address back."""
    lxc.require_root()
    container.require()
    if container.running() and not force:
        raise StartFailedError(
            f"{container.name} is running",
            hint=f"stop it first, or: lxcprov destroy --force {container.name}",
        )
    intent = netops.current_of(container).intent
    container.destroy()
    netops.release(intent)
