"""What `apply` keeps next to a container: its groups and the first-boot commands that ran.

`<lxcpath>/<name>/lxcprov-apply.json` is on the host, beside the LXC config, never in the
rootfs: the container's root cannot forge or erase the record of what ran, and the
record goes with the container when it is destroyed (or replaced, which runs the
commands again on the new rootfs). Each command's output is appended to
`lxcprov-first-boot.log` there (0600: it is whatever the container printed).
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lxcprov.errors import StateFileError
from lxcprov.system import statefile

STATE_FILE = "lxcprov-apply.json"
LOG_FILE = "lxcprov-first-boot.log"
# The most of one command's output the log keeps (its end, where errors are).
MAX_LOGGED = 1024 * 1024


@dataclass(frozen=True)
class Ran:
    id: str
    command: str
    at: str  # when it finished (UTC, ISO 8601)


@dataclass(frozen=True)
class ApplyState:
    groups: tuple[str, ...] = ()
    ran: tuple[Ran, ...] = ()

    @property
    def done(self) -> frozenset[str]:
        return frozenset(r.id for r in self.ran)


def path_for(container_dir: Path) -> Path:
    return container_dir / STATE_FILE


def log_path(container_dir: Path) -> Path:
    return container_dir / LOG_FILE


def load(container_dir: Path) -> ApplyState:
    path = path_for(container_dir)
    data = statefile.read_json(path)
    if data is None:
        return ApplyState()
    hint = f"fix or remove {path} (removing it runs the first-boot commands again)"
    if not isinstance(data, dict):
        raise StateFileError(f"{path} must hold a JSON object", hint=hint)
    statefile.check_keys(data, {"groups", "ran"}, path)
    groups = statefile.field(data, "groups", list, path) or []
    ran_raw = statefile.field(data, "ran", list, path) or []
    if not all(isinstance(g, str) for g in groups):
        raise StateFileError(f"{path}: `groups` must be a list of strings", hint=hint)
    ran = []
    for i, item in enumerate(ran_raw):
        if not isinstance(item, dict):
            raise StateFileError(f"{path}: ran[{i}] must be an object", hint=hint)
        statefile.check_keys(item, {"id", "command", "at"}, path, f"ran[{i}]")
        fields = [statefile.field(item, k, str, path, f"ran[{i}]") for k in ("id", "command", "at")]
        if None in fields:
            raise StateFileError(f"{path}: ran[{i}] needs id, command and at", hint=hint)
        ran.append(Ran(*(str(f) for f in fields)))
    return ApplyState(tuple(groups), tuple(ran))


def save(container_dir: Path, state: ApplyState) -> None:
    data = {
        "groups": list(state.groups),
        "ran": [{"id": r.id, "command": r.command, "at": r.at} for r in state.ran],
    }
    statefile.write_text(path_for(container_dir), json.dumps(data, indent=2) + "\n", mode=0o600)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def log(container_dir: Path, command: str, exit_code: int | str, output: str) -> None:
    """Append one command's run to the log (header, its output's end, the exit code)."""
    kept = output[-MAX_LOGGED:]
    cut = "[... earlier output not kept ...]\n" if len(output) > len(kept) else ""
    text = f"==> {now()} {json.dumps(command)}\n{cut}{kept}"
    if text and not text.endswith("\n"):
        text += "\n"
    text += f"<== exit {exit_code}\n"
    path = log_path(container_dir)
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        with os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
    except OSError as exc:
        raise statefile.write_error(path, exc) from None
