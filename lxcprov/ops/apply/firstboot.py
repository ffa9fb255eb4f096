"""A document's files and first-boot commands, carried out in one container.

Files are written through the rootfs jail (lxcprov.ops.workspace: a symlink planted in the
container cannot send a write to the host), atomically, owned by the container's ids.
Commands run inside with `lxc-attach` (`/bin/sh -c`, a clean environment, as `lxcprov
exec`), one after the other; each one's output goes to the container's first-boot log on
the host, and only a command that exited 0 is recorded as done. A command that fails
stops the ones after it: the next `apply` starts again at the failed one. A command killed
after it finished but before its record was written runs again next time (at least once,
never skipped); first-boot commands should be safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.engine.apply.document import CommandSpec, FileSpec
from lxcprov.engine.apply.files import plan_file
from lxcprov.errors import ApplyError
from lxcprov.ops import lifecycle, workspace
from lxcprov.ops.apply import observe
from lxcprov.system import applystate, containerfs, faults, lxc, run


@dataclass(frozen=True)
class Written:
    path: str
    changed: bool
    reason: str


def write_files(container: lxc.Container, files: tuple[FileSpec, ...]) -> list[Written]:
    """Write what differs, in one opening of the rootfs; the comparison is made again
    here, against the files as they are now (the plan may be older)."""
    done: list[Written] = []
    root = containerfs.map_root(container)
    with workspace.opened(container) as ws:
        passwd = group = ""
        if any(f.owner for f in files):
            passwd = ws.rootfs.read_text("/etc/passwd") or ""
            group = ws.rootfs.read_text("/etc/group") or ""
        for f in files:
            change = plan_file(f, observe.file_now(ws.rootfs, f.path, root), passwd, group)
            if change.problem:
                raise ApplyError(f"{container.name}: {change.problem}")
            if change.change:
                ws.write_file(f.path, f.data, change.mode, change.uid, change.gid)
            done.append(Written(f.path, change.change, change.reason))
    return done


@dataclass(frozen=True)
class Ran:
    ok: bool
    exit_code: int
    last_line: str


def run_command(container: lxc.Container, command: CommandSpec, number: int) -> Ran:
    """Run one command inside; logged, and recorded as done when it exits 0."""
    faults.stop_if(f"apply-command-{number}")
    argv = lifecycle.exec_argv(container, ["/bin/sh", "-c", command.run])
    result = run.output_of(argv, timeout=command.timeout)
    directory = container.lxcpath / container.name
    code: int | str = result.returncode if result.returncode >= 0 else "killed (timeout)"
    applystate.log(directory, command.run, code, result.stdout)
    lines = [ln for ln in result.stdout.split("\n") if ln.strip()]
    last = lines[-1].strip()[-200:] if lines else ""
    if result.returncode != 0:
        return Ran(False, result.returncode, last)
    faults.stop_if(f"apply-ran-{number}")  # it ran; its record is not written yet
    state = applystate.load(directory)
    if command.id not in state.done:
        ran = (*state.ran, applystate.Ran(command.id, command.run, applystate.now()))
        applystate.save(directory, applystate.ApplyState(state.groups, ran))
    return Ran(True, 0, last)


def record_groups(container: lxc.Container, groups: tuple[str, ...]) -> None:
    directory = container.lxcpath / container.name
    state = applystate.load(directory)
    applystate.save(directory, applystate.ApplyState(tuple(groups), state.ran))
