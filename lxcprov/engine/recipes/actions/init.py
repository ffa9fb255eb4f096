"""Actions on the init system's own configuration: gettys in /etc/inittab."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from lxcprov.engine.lines import split_lines
from lxcprov.engine.recipes import managed
from lxcprov.engine.recipes.actions.common import check_opt_out, file_change, render
from lxcprov.engine.recipes.actions.files import disable
from lxcprov.engine.recipes.actions.registry import Context, Skip, action
from lxcprov.engine.recipes.model import Planned

_TTY_TOKEN = re.compile(r"(?:/dev/)?(tty\d+|console)")
_HOLDING_ACTIONS = {"respawn", "askfirst", "once", "wait"}


@dataclass(frozen=True)
class InittabEntry:
    index: int  # line number in the file (0-based)
    ident: str
    action: str
    process: str
    device: str | None


def parse_inittab(text: str, syntax: str) -> list[InittabEntry]:
    """The active entries of an inittab and the terminal each one holds, if any."""
    entries: list[InittabEntry] = []
    for index, line in enumerate(split_lines(text)):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(":", 3)
        if len(fields) != 4:
            continue
        ident, _runlevels, act, process = fields
        device: str | None = None
        if act in _HOLDING_ACTIONS:
            if syntax == "busybox":
                # busybox: the id field *is* the terminal; empty means the console.
                device = ident.removeprefix("/dev/") or "console"
            else:
                device = next(
                    (m.group(1) for tok in process.split() if (m := _TTY_TOKEN.fullmatch(tok))),
                    None,
                )
        entries.append(InittabEntry(index, ident, act, process, device))
    return entries


def is_getty(process: str) -> bool:
    program = posixpath.basename(process.split()[0]) if process.split() else ""
    return program in {"getty", "agetty", "mingetty", "mgetty", "fgetty"} or program.endswith(
        "getty"
    )


def getty_terminals(text: str, syntax: str) -> set[str]:
    """The terminals some active getty line of this inittab text holds."""
    return {e.device for e in parse_inittab(text, syntax) if e.device and is_getty(e.process)}


@dataclass(frozen=True)
class InittabGettyParams:
    console: str
    tty: str
    path: str = "/etc/inittab"
    syntax: str = "sysvinit"
    id_prefix: str = "lx"


@action("inittab-getty", InittabGettyParams, "init")
def plan_inittab_getty(ctx: Context, p: InittabGettyParams) -> Planned:
    """Exactly one respawning getty on the console and on tty1..N, in this init's syntax.

    A getty the user or template already has on a terminal is kept. A non-getty that holds
    a terminal we need (busybox's `console::askfirst:/bin/sh`) and gettys on terminals LXC
    does not provide are switched off with a marker, not deleted.
    """
    path = render(p.path, ctx.facts)
    check_opt_out(ctx, path)
    old = ctx.rootfs.read_text(path)
    if old is None:
        raise Skip(f"{path} does not exist")
    ttys = int(str(ctx.facts["ttys"]))
    wanted = ["console", *(f"tty{n}" for n in range(1, ttys + 1))]

    before, block, after = managed.split(old)
    user_lines = before + after  # our previous block is recomputed from scratch
    entries = parse_inittab("\n".join(user_lines), p.syntax)
    disabled: set[int] = set()
    held: set[str] = set()
    for entry in entries:
        if entry.device is None:
            continue
        if entry.device in wanted and is_getty(entry.process) and entry.device not in held:
            held.add(entry.device)
        elif entry.device in wanted or (
            is_getty(entry.process) and re.fullmatch(r"tty\d+", entry.device)
        ):
            # A shell on the console, a second getty on one terminal, or a getty on a
            # tty LXC does not create: each would fight the login prompt or spin.
            disabled.add(entry.index)
    ids = {e.ident for e in entries}
    ours: list[str] = []
    for device in wanted:
        if device in held:
            continue
        n = "0" if device == "console" else device.removeprefix("tty")
        ident = f"{p.id_prefix}{n}"
        while ident in ids:
            ident += "x"
        ids.add(ident)
        line_template = p.console if device == "console" else p.tty
        ours.append(render(line_template, {**ctx.facts, "n": n, "id": ident}))
    kept = disable(user_lines, disabled)
    text = managed.with_block("\n".join(kept) + "\n" if kept else "", ours)
    # Terminals that get a getty only from this change: not held by the user's lines,
    # nor by the block lxcprov wrote last time.
    served = getty_terminals("\n".join(block or []), p.syntax)
    missing = tuple(d for d in wanted if d not in held and d not in served)
    return file_change(ctx, path, text, mode=None, terminals=missing)
