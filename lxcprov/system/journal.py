"""What a command is doing to a container, written ahead so the next command can undo it.

A command that makes something (today: `new`, and the build of a base) starts a journal
at `<lxcpath>/.lxcprov/journal/<name>.toml` while it holds the container's lock, and
records each thing *before* it does it: the phase it is in, that it is creating the
container, the static addresses it claims, the process group of a template run, the
overlay it mounts. It removes the journal when it is done (or when it undid its work
after an error). A journal that is still there and whose process is gone means the
command was killed: `ls` shows the container as incomplete, doctor explains it, and
`destroy --force`, `doctor --fix` or the same `new` again undo what it recorded
(lxcprov.ops.recovery).

A process is identified by its pid and its start time, so a reused pid is never taken
for the command that wrote the journal.

LXCPROV_FAULT_AT=PHASE (tests only) stops the command at the start of that phase, after
the journal says so: the tests kill it there with SIGKILL, at every phase in turn.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxcprov.errors import ContainerBusyError, StateFileError
from lxcprov.system import faults, locks, statefile

FAULT_ENV = faults.FAULT_ENV


def journal_dir(lxcpath: Path) -> Path:
    return locks.state_dir(lxcpath) / "journal"


def path_for(lxcpath: Path, name: str) -> Path:
    return journal_dir(lxcpath) / f"{name}.toml"


def process_start(pid: int) -> int | None:
    """The start time of pid (clock ticks since boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _zombie(pid: int) -> bool:
    """pid has exited and waits to be reaped (its parent died too, and PID 1 has not
    reaped it yet): it can do no more work, and its locks are already released."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] in ("Z", "X")


def exited(pid: int) -> bool:
    """pid has exited: no such process, or a zombie (its files, and locks, are closed)."""
    return process_start(pid) is None or _zombie(pid)


def alive(pid: int, start: int) -> bool:
    return pid > 0 and process_start(pid) == start and not _zombie(pid)


# The command a removal's journal names (destroy, and what removes a clone or a base).
REMOVAL = "destroy"


def left_as(command: str) -> str:
    """What a killed command left (one whose container is not kept), in words."""
    return "half-removed" if command == REMOVAL else "half-made"


@dataclass(frozen=True)
class Claim:
    bridge: str
    owner: str


@dataclass(frozen=True)
class Entry:
    """A journal as read back."""

    path: Path
    name: str
    command: str
    argv: tuple[str, ...]
    pid: int
    pid_start: int
    started: str
    phase: str
    creating: bool  # this command is creating the container (it did not exist)
    base: str = ""  # the base a clone is made from
    claims: tuple[Claim, ...] = ()
    pgid: int = 0  # process group of a template run
    pgid_start: int = 0
    mounts: tuple[str, ...] = ()
    detail: str = ""  # what the command is about, for its own recovery (convert: the target)
    # A template run: the template, and the partial caches there were before it started
    # (what appears besides them is the run's own: system/templatecache.py).
    template: str = ""
    partials: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        """The command that wrote it is still at work."""
        return alive(self.pid, self.pid_start)

    @property
    def changes_existing(self) -> bool:
        """The command changes a container that stays what it is meanwhile (set,
        snapshot, restore, convert): `ls` and `stats` show it as LXC does, and say who is
        at work on it."""
        return not self.creating and self.command != REMOVAL

    @property
    def busy_state(self) -> str:
        """The state `ls` and `stats` give its container while the command is at work and
        it cannot be read as LXC's (CHANGING: a changing one that cannot be read then)."""
        if self.command == REMOVAL:
            return "DESTROYING"
        return "CREATING" if self.creating else "CHANGING"

    def left_by(self) -> str:
        """What the killed command left, and which it was, in words."""
        return f"left {left_as(self.command)} by {self.describe()}"

    def describe(self) -> str:
        who = f"`lxcprov {self.command}` (pid {self.pid}, started {self.started})"
        return f"{who} in phase {self.phase}"


def _render(e: Entry) -> str:
    def q(value: object) -> str:
        return json.dumps(value)  # a JSON string or list of strings is valid TOML

    lines = [
        "# Written by lxcprov while a command works on this container; see",
        "# lxcprov/system/journal.py. Removed when the command ends.",
        f"name = {q(e.name)}",
        f"command = {q(e.command)}",
        f"argv = {q(list(e.argv))}",
        f"pid = {e.pid}",
        f"pid_start = {e.pid_start}",
        f"started = {q(e.started)}",
        f"phase = {q(e.phase)}",
        f"creating = {'true' if e.creating else 'false'}",
        f"base = {q(e.base)}",
        f"pgid = {e.pgid}",
        f"pgid_start = {e.pgid_start}",
        f"mounts = {q(list(e.mounts))}",
        f"detail = {q(e.detail)}",
        f"template = {q(e.template)}",
        f"partials = {q(list(e.partials))}",
    ]
    for c in e.claims:
        lines += ["", "[[claims]]", f"bridge = {q(c.bridge)}", f"owner = {q(c.owner)}"]
    return "\n".join(lines) + "\n"


_KEYS = {"name", "command", "argv", "pid", "pid_start", "started", "phase", "creating", "base",
         "pgid", "pgid_start", "mounts", "claims", "detail", "template",
         "partials"}  # fmt: skip


def read(lxcpath: Path, name: str) -> Entry | None:
    """The journal of name, or None; a journal that does not parse is a one-line error."""
    path = path_for(lxcpath, name)
    data = statefile.read_toml(path)
    if data is None:
        return None
    statefile.check_keys(data, _KEYS, path)

    def need(key: str, kind: type[object]) -> object:
        value = statefile.field(data, key, kind, path)
        if value is None:
            raise StateFileError(f"{path}: `{key}` is missing", hint=_hint(name))
        return value

    argv = need("argv", list)
    mounts = need("mounts", list)
    raw_claims = statefile.field(data, "claims", list, path) or []
    claims = []
    for i, c in enumerate(raw_claims):
        if not isinstance(c, dict):
            raise StateFileError(f"{path}: claims[{i}] must be a table", hint=_hint(name))
        bridge = statefile.field(c, "bridge", str, path, f"claims[{i}]")
        owner = statefile.field(c, "owner", str, path, f"claims[{i}]")
        if bridge is None or owner is None:
            raise StateFileError(f"{path}: claims[{i}] needs bridge and owner", hint=_hint(name))
        claims.append(Claim(bridge, owner))
    if need("name", str) != name:
        raise StateFileError(f"{path}: it is the journal of another container", hint=_hint(name))
    return Entry(
        path=path,
        name=name,
        command=str(need("command", str)),
        argv=tuple(str(a) for a in argv),  # type: ignore[attr-defined]
        pid=int(need("pid", int)),  # type: ignore[call-overload]
        pid_start=int(need("pid_start", int)),  # type: ignore[call-overload]
        started=str(need("started", str)),
        phase=str(need("phase", str)),
        creating=bool(need("creating", bool)),
        base=str(statefile.field(data, "base", str, path) or ""),
        claims=tuple(claims),
        pgid=int(statefile.field(data, "pgid", int, path) or 0),
        pgid_start=int(statefile.field(data, "pgid_start", int, path) or 0),
        mounts=tuple(str(m) for m in mounts),  # type: ignore[attr-defined]
        detail=str(statefile.field(data, "detail", str, path) or ""),
        template=str(statefile.field(data, "template", str, path) or ""),
        partials=tuple(str(p) for p in statefile.field(data, "partials", list, path) or []),
    )


def _hint(name: str) -> str:
    return f"lxcprov destroy --force {name} removes what is left (the journal included)"


def names(lxcpath: Path) -> list[str]:
    """Containers that have a journal (commands at work, or killed)."""
    directory = journal_dir(lxcpath)
    try:
        return sorted(p.stem for p in directory.glob("*.toml"))
    except OSError:
        return []


@dataclass
class Journal:
    """The journal of the command this process runs on one container."""

    entry: Entry
    _fault: str = field(default_factory=lambda: os.environ.get(FAULT_ENV, ""))

    @classmethod
    def begin(
        cls, lxcpath: Path, name: str, command: str, *, creating: bool, phase: str = "start"
    ) -> Journal:
        """Start a journal; the caller holds the container's lock."""
        assert locks.held(lxcpath, name), "a journal is written under the container's lock"
        pid = os.getpid()
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        entry = Entry(
            path_for(lxcpath, name), name, command, tuple(sys.argv[1:]), pid,
            process_start(pid) or 0, now, phase, creating,
        )  # fmt: skip
        journal = cls(entry)
        sweep_temps(entry.path)  # a killed writer's, before this one writes
        if creating:
            sweep_orphan_temps(lxcpath)
        # The first write makes the file whole or not at all: killed here, a command
        # leaves no temp file of a name that may never exist.
        statefile.create_text(entry.path, _render(entry), mode=0o600)
        if journal._fault == phase:
            faults.stop_if(phase)  # written, and a test may stop us right here
        return journal

    def _save(self) -> None:
        statefile.write_text(self.entry.path, _render(self.entry), mode=0o600)

    def update(self, **changes: object) -> None:
        self.entry = replace(self.entry, **changes)  # type: ignore[arg-type]
        self._save()

    def phase(self, phase: str) -> None:
        """Record the phase about to start (and stop there if a test asked for it)."""
        self.update(phase=phase)
        if self._fault == phase:
            faults.stop_if(phase)

    def claim(self, bridge: str, owner: str) -> None:
        self.update(claims=(*self.entry.claims, Claim(bridge, owner)))

    def end(self) -> None:
        drop(self.entry.path)


def drop(path: Path) -> None:
    """A journal ends: the file goes, with any temp file of it a killed writer left (a
    `snapshot` killed inside an update left one that its recovery kept: bench/chaos.py,
    seed 2027). Under the container's lock, as every write of it."""
    statefile.remove(path)
    sweep_temps(path)


def sweep_temps(path: Path) -> None:
    """Remove what a writer of this journal killed between its temp file and its rename
    left (statefile.write_text's `.NAME.toml.XXXXXXXX.tmp`: nothing reads it, nothing else
    removed it; found by bench/chaos.py). Only under the container's lock, which every
    writer of the journal holds: no live writer's temp file is taken."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        tmp.unlink(missing_ok=True)


# statefile.write_text's temp file of a journal: `.NAME.toml.XXXXXXXX.tmp`.
_TEMP = re.compile(r"\.(?P<name>.+)\.toml\.[0-9a-f]+\.tmp")


def sweep_orphan_temps(lxcpath: Path) -> None:
    """Remove the journal temp files of names no command holds. A `new` killed inside its
    first journal write (before the rename) left `.NAME.toml.XXXXXXXX.tmp` of a name that
    then has no journal and no container: no later command names it, so sweep_temps never
    runs for it (found by bench/chaos.py). Every command that creates a container calls
    this: each name's lock taken without waiting, a held one being a live writer's."""
    for tmp in journal_dir(lxcpath).glob(".*.tmp"):
        found = _TEMP.fullmatch(tmp.name)
        if found is None:
            continue
        with (
            contextlib.suppress(ContainerBusyError),
            locks.container(lxcpath, found["name"], "sweep", wait=0),
        ):
            tmp.unlink(missing_ok=True)
