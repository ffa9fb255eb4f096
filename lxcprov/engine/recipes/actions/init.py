"""Actions on the init system's own configuration: gettys in /etc/inittab, systemd masks."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from lxcprov.engine.lines import split_lines
from lxcprov.engine.recipes import managed
from lxcprov.engine.recipes.actions.common import check_opt_out, file_change, render
from lxcprov.engine.recipes.actions.files import disable
from lxcprov.engine.recipes.actions.registry import Context, Skip, action
from lxcprov.engine.recipes.model import Change, Planned, changed, unchanged

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
    current = ctx.rootfs.read_text(path)
    # No inittab, or one without a single entry: the init runs no rc scripts and no getty
    # (busybox falls back to shells without a password, sysvinit waits for a runlevel on
    # the console). Start from what the init itself would use; none of it runs now.
    dead = current is None or not parse_inittab(current, p.syntax)
    old = (current or "") + _init_default(ctx, p.syntax, path) if dead else current or ""
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
    missing = tuple(d for d in wanted if dead or (d not in held and d not in served))
    return file_change(ctx, path, text, mode=None, terminals=missing)


# What busybox's init does without /etc/inittab (init/init.c, parse_inittab()), less the
# shells it would start on the console and tty2..4 without asking for a password: the
# gettys this action adds take their place.
_BUSYBOX_DEFAULT = """\
# Written by lxcprov: there was no /etc/inittab (or it had no entries). These are the
# entries busybox's init uses without one, gettys in place of its password-less shells.
::sysinit:/etc/init.d/rcS
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
::shutdown:/sbin/swapoff -a
::restart:/sbin/init
"""
# The inittab Debian's sysvinit-core installs when there is none (its postinst copies it).
SYSVINIT_DEFAULT = "/usr/share/sysvinit/inittab"


def _init_default(ctx: Context, syntax: str, path: str) -> str:
    """The entries the init uses when its inittab is missing or empty, as file text."""
    if syntax == "busybox":
        return _BUSYBOX_DEFAULT
    shipped = ctx.rootfs.read_text(SYSVINIT_DEFAULT)
    if shipped is None or not parse_inittab(shipped, syntax):
        raise Skip(
            f"{path} has no entries, and there is no {SYSVINIT_DEFAULT} to start from: "
            "reinstall the init's package (apt-get install --reinstall sysvinit-core)"
        )
    return shipped if shipped.endswith("\n") else shipped + "\n"


@dataclass(frozen=True)
class UnmaskParams:
    path: str


# Where a unit file masks a unit: a symlink to /dev/null, or an empty file (systemd's
# null_or_empty()).
_NULL = "/dev/null"


@action("unmask", UnmaskParams, "init")
def plan_unmask(ctx: Context, p: UnmaskParams) -> Planned:
    """A systemd unit masked at path (`systemctl mask` made it) is unmasked: the link to
    /dev/null, or the empty file, is removed, as `systemctl unmask` does. Anything else
    at path (a unit of the admin's own) is left alone."""
    path = render(p.path, ctx.facts)
    check_opt_out(ctx, path)
    real = ctx.rootfs.resolve(path, follow_final=False)
    info = ctx.rootfs.info(real, follow_final=False)
    if info is None:
        return unchanged(f"{real} is not masked")
    if info.is_symlink:
        link = ctx.rootfs.readlink(real) or ""
        if posixpath.normpath(link) != _NULL:
            return unchanged(f"{real} is not masked (it points to {link})")
        return changed(Change(real, "remove", link, ""))
    if info.is_file and (ctx.rootfs.read_text(real) or "").strip() == "":
        return changed(Change(real, "remove", "", ""))
    return unchanged(f"{real} is not masked")
