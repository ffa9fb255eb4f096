"""A container doctor cannot examine as it is: half-made by a killed command, busy with
another command, or not observable at all."""

from __future__ import annotations

import shlex

from lxcprov.ops import recovery
from lxcprov.ops.doctor.model import Finding
from lxcprov.system.journal import REMOVAL, Entry, left_as


def incomplete(name: str, entry: Entry, prog: str) -> Finding:
    """A container a killed lxcprov command left half-made (its journal is still there)."""
    command, does = recovery.fix_for(name, entry, prog)  # as start and ls say it
    fix = f"{command}  # {does}"
    if recovery.kept(entry):  # whole before the command: its work is ended, nothing lost
        what = f"{name} was left half-changed: {entry.describe()} was killed"
        why = (
            "the command's work was cut short; --fix (or the command again) ends it and "
            "keeps the container and its files; it must not be started as it is"
        )
    else:
        if entry.command == "new" and entry.argv:
            fix = f"{command} && lxcprov {shlex.join(entry.argv)}"
        what = f"{name} was left {left_as(entry.command)}: {entry.describe()} was killed"
        why = (
            "its recipes did not all run (root may be locked, a clone may share its base's "
            "SSH keys), a template run may still be going on, its address may be held; it "
            "must not be started as it is"
        )
        if entry.command == REMOVAL:
            why = (
                "its removal was cut short: some of its files may be gone, and its address, "
                "MAC, published ports and its base's clone entry may still be held"
            )
    return Finding("incomplete-container", "error", "container", name, what, why, fix, "undo",
                   blocks_start=True)  # fmt: skip


def busy(name: str, holder: str) -> Finding:
    return Finding(
        "container-busy",
        "info",
        "container",
        name,
        f"{name} is busy: {holder} is working on it",
        "doctor does not look at a container while another lxcprov command changes it",
        f"lxcprov doctor {shlex.quote(name)}  # again, once it is done",
    )


def unobservable(name: str, why: str) -> Finding:
    """What doctor says when it could not look at a container at all."""
    return Finding(
        "doctor-failed",
        "warning",
        "container",
        name,
        f"doctor could not check {name}: {why}",
        "the checks that follow a command could not run; the command itself worked",
        f"lxcprov doctor {shlex.quote(name)}",
    )
