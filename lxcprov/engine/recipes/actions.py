"""The step actions recipes are made of, registered in one table.

An action looks at the (staged) rootfs and the facts and returns the changes that would
make its step true, or a reason why it has nothing to do. It never writes: the engine
applies. Every action is idempotent by construction: it compares wanted with present.
"""

from __future__ import annotations

import datetime
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxcprov.engine.recipes import managed
from lxcprov.engine.recipes.model import Change
from lxcprov.engine.recipes.staging import StagedRootfs
from lxcprov.errors import InvalidArgumentError
from lxcprov.system import passwords

OPT_OUT_PREFIX = ".lxcprov-ignore."


@dataclass
class Secrets:
    """What the user handed over for root access; never written anywhere in plain text."""

    root_password: str | None = None
    ssh_keys: list[str] = field(default_factory=list)


@dataclass
class Context:
    rootfs: StagedRootfs
    facts: dict[str, object]
    secrets: Secrets


class Skip(Exception):
    """Raised by an action that has nothing to do, with the reason."""


Planner = Callable[[Context, dict[str, Any]], list[Change]]
ACTIONS: dict[str, tuple[Planner, set[str], set[str]]] = {}


def action(
    name: str, required: set[str], optional: set[str] | None = None
) -> Callable[[Planner], Planner]:
    """Register an action with the parameters it requires and those it accepts."""

    def register(fn: Planner) -> Planner:
        ACTIONS[name] = (fn, required, optional or set())
        return fn

    return register


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(text: str, values: dict[str, object]) -> str:
    """Replace {fact} placeholders; braces that name no fact are left alone."""
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text
    )


def _check_opt_out(ctx: Context, path: str) -> None:
    real = ctx.rootfs.resolve(path)
    marker = posixpath.join(posixpath.dirname(real), OPT_OUT_PREFIX + posixpath.basename(real))
    if ctx.rootfs.exists(marker):
        raise Skip(f"{real} is opted out by {marker}")


def _mode(params: dict[str, Any], default: int | None = None) -> int | None:
    raw = params.get("mode")
    if raw is None:
        return default
    return int(str(raw), 8)


def _file_change(
    ctx: Context, path: str, new: str, *, mode: int | None, secret: bool = False
) -> list[Change]:
    real = ctx.rootfs.resolve(path)
    old = ctx.rootfs.read_text(real)
    info = ctx.rootfs.info(real)
    mode_differs = mode is not None and info is not None and (info.mode & 0o7777) != mode
    if old == new and not mode_differs:
        return []
    change = Change(real, "file", old, new, mode=mode, secret=secret)
    ctx.rootfs.stage(change)
    return [change]


def _target(ctx: Context, p: dict[str, Any]) -> str:
    """The step's rendered path, unless the file is missing (only_if_exists) or opted out."""
    path = render(p["path"], ctx.facts)
    if p.get("only_if_exists") and not ctx.rootfs.exists(path):
        raise Skip(f"{path} does not exist")
    _check_opt_out(ctx, path)
    return path


@action("file", {"path", "content"}, {"mode", "only_if_exists"})
def plan_file(ctx: Context, p: dict[str, Any]) -> list[Change]:
    """A whole file that lxcprov owns (a systemd drop-in, /etc/hostname)."""
    path = _target(ctx, p)
    return _file_change(ctx, path, render(p["content"], ctx.facts), mode=_mode(p))


def _expand(lines: list[str], facts: dict[str, object]) -> list[str]:
    """Render lines; a line with {n} is repeated for every LXC tty."""
    out: list[str] = []
    ttys = int(str(facts.get("ttys", 0)))
    for line in lines:
        if "{n}" in line:
            out.extend(render(line, {**facts, "n": n}) for n in range(1, ttys + 1))
        else:
            out.append(render(line, facts))
    return out


@action("lines", {"path", "lines"}, {"mode", "only_if_exists"})
def plan_lines(ctx: Context, p: dict[str, Any]) -> list[Change]:
    """Lines that must be in a shared file: kept in lxcprov's marked section, never twice."""
    path = _target(ctx, p)
    old = ctx.rootfs.read_text(path) or ""
    present = {managed.normalise(line) for line in managed.outside(old)}
    wanted: list[str] = []
    for line in _expand(list(p["lines"]), ctx.facts):
        if managed.normalise(line) not in present and line not in wanted:
            wanted.append(line)
    return _file_change(ctx, path, managed.with_block(old, wanted), mode=_mode(p))


@action("absent", {"path"})
def plan_absent(ctx: Context, p: dict[str, Any]) -> list[Change]:
    """A file lxcprov wrote for a setting that no longer applies (never a directory)."""
    path = render(p["path"], ctx.facts)
    real = ctx.rootfs.resolve(path, follow_final=False)
    info = ctx.rootfs.info(real, follow_final=False)
    if info is None:
        return []
    if info.is_dir:
        raise Skip(f"{real} is a directory: left as it is")
    before = ctx.rootfs.read_text(real) if info.is_file else ctx.rootfs.readlink(real)
    return [Change(real, "remove", before or "", "")]


@action("symlink", {"path", "target"})
def plan_symlink(ctx: Context, p: dict[str, Any]) -> list[Change]:
    path = render(p["path"], ctx.facts)
    target = render(p["target"], ctx.facts)
    real = ctx.rootfs.resolve(path, follow_final=False)
    current = ctx.rootfs.readlink(real)
    if current == target:
        return []
    info = ctx.rootfs.info(real, follow_final=False)
    if info is not None and not info.is_symlink:
        raise Skip(f"{real} exists and is not a symlink: left as it is")
    change = Change(real, "symlink", current, target)
    ctx.rootfs.stage(change)
    return [change]


@action("chardev", {"path", "major", "minor"}, {"mode"})
def plan_chardev(ctx: Context, p: dict[str, Any]) -> list[Change]:
    path = render(p["path"], ctx.facts)
    real = ctx.rootfs.resolve(path, follow_final=False)
    if ctx.rootfs.info(real, follow_final=False) is not None:
        return []
    major, minor = int(render(str(p["major"]), ctx.facts)), int(render(str(p["minor"]), ctx.facts))
    return [Change(real, "chardev", None, f"c {major} {minor}", mode=_mode(p, 0o620))]


# -- inittab -------------------------------------------------------------------------------

_TTY_TOKEN = re.compile(r"^(?:/dev/)?(tty\d+|console)$")
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
    for index, line in enumerate(text.splitlines()):
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
                    (m.group(1) for tok in process.split() if (m := _TTY_TOKEN.match(tok))),
                    None,
                )
        entries.append(InittabEntry(index, ident, act, process, device))
    return entries


def _is_getty(process: str) -> bool:
    program = posixpath.basename(process.split()[0]) if process.split() else ""
    return program in {"getty", "agetty", "mingetty", "mgetty", "fgetty"} or program.endswith(
        "getty"
    )


@action("inittab-getty", {"console", "tty"}, {"path", "syntax", "id_prefix"})
def plan_inittab_getty(ctx: Context, p: dict[str, Any]) -> list[Change]:
    """Exactly one respawning getty on the console and on tty1..N, in this init's syntax.

    A getty the user or template already has on a terminal is kept. A non-getty that holds
    a terminal we need (busybox's `console::askfirst:/bin/sh`) and gettys on terminals LXC
    does not provide are switched off with a marker, not deleted.
    """
    path = render(p.get("path", "/etc/inittab"), ctx.facts)
    _check_opt_out(ctx, path)
    syntax = str(p.get("syntax", "sysvinit"))
    old = ctx.rootfs.read_text(path)
    if old is None:
        raise Skip(f"{path} does not exist")
    ttys = int(str(ctx.facts["ttys"]))
    wanted = ["console", *(f"tty{n}" for n in range(1, ttys + 1))]

    before, _block, after = managed.split(old)
    user_lines = before + after  # our previous block is recomputed from scratch
    entries = parse_inittab("\n".join(user_lines), syntax)
    disable: set[int] = set()
    held: set[str] = set()
    for entry in entries:
        if entry.device is None:
            continue
        if entry.device in wanted and _is_getty(entry.process) and entry.device not in held:
            held.add(entry.device)
        elif entry.device in wanted or (
            _is_getty(entry.process) and re.fullmatch(r"tty\d+", entry.device)
        ):
            # A shell on the console, a second getty on one terminal, or a getty on a
            # tty LXC does not create: each would fight the login prompt or spin.
            disable.add(entry.index)
    ids = {e.ident for e in entries}
    prefix = str(p.get("id_prefix", "lx"))
    ours: list[str] = []
    for device in wanted:
        if device in held:
            continue
        n = "0" if device == "console" else device.removeprefix("tty")
        ident = f"{prefix}{n}"
        while ident in ids:
            ident += "x"
        ids.add(ident)
        template = p["console"] if device == "console" else p["tty"]
        ours.append(render(template, {**ctx.facts, "n": n, "id": ident}))
    kept = [managed.DISABLED + ln if i in disable else ln for i, ln in enumerate(user_lines)]
    text = managed.with_block("\n".join(kept) + "\n" if kept else "", ours)
    return _file_change(ctx, path, text, mode=None)


# -- root access ---------------------------------------------------------------------------


def _days_since_epoch() -> int:
    return (datetime.datetime.now(datetime.UTC).date() - datetime.date(1970, 1, 1)).days


@action("root-password", set(), set())
def plan_root_password(ctx: Context, p: dict[str, Any]) -> list[Change]:
    """root's shadow entry carries a SHA-512 hash of the given password."""
    password = ctx.secrets.root_password
    if password is None:
        raise Skip("no root password given (--root-password-file)")
    changes: list[Change] = []
    passwd = ctx.rootfs.read_text("/etc/passwd") or ""
    new_passwd_lines = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if fields[0] == "root" and len(fields) >= 7 and fields[1] != "x":
            fields[1] = "x"  # the hash lives in /etc/shadow, not here
            line = ":".join(fields)
        new_passwd_lines.append(line)
    if not any(line.startswith("root:") for line in new_passwd_lines):
        raise Skip("/etc/passwd has no root entry")
    changes += _file_change(ctx, "/etc/passwd", "\n".join(new_passwd_lines) + "\n", mode=None)

    shadow = ctx.rootfs.read_text("/etc/shadow") or ""
    lines = shadow.splitlines()
    for i, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] == "root":
            if len(fields) > 1 and passwords.verify(password, fields[1]):
                break
            fields += [""] * (9 - len(fields))
            fields[1] = passwords.hash_password(password)
            fields[2] = str(_days_since_epoch())
            lines[i] = ":".join(fields)
            break
    else:
        lines.append(f"root:{passwords.hash_password(password)}:{_days_since_epoch()}:0:99999:7:::")
    info = ctx.rootfs.info("/etc/shadow")
    # Never leave password hashes world-readable (busybox's template makes shadow 0644).
    mode = 0o640 if info is None else (info.mode & 0o7777) & ~0o007
    changes += _file_change(ctx, "/etc/shadow", "\n".join(lines) + "\n", mode=mode, secret=True)
    return changes


_KEY_TYPES = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-\S+|sk-\S+)\s+\S+")


def parse_public_keys(text: str, source: str) -> list[str]:
    keys = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not keys:
        raise InvalidArgumentError(f"{source} holds no SSH public key")
    for key in keys:
        if not _KEY_TYPES.match(key):
            raise InvalidArgumentError(
                f"{source} does not look like an SSH public key: {key[:30]}...",
                hint="give the .pub file, for example ~/.ssh/id_ed25519.pub",
            )
    return keys


def _root_home(ctx: Context) -> str:
    for line in (ctx.rootfs.read_text("/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if fields[0] == "root" and len(fields) >= 6 and fields[5].startswith("/"):
            return fields[5]
    return "/root"


@action("authorized-keys", set(), set())
def plan_authorized_keys(ctx: Context, p: dict[str, Any]) -> list[Change]:
    if not ctx.secrets.ssh_keys:
        raise Skip("no SSH key given (--ssh-key)")
    home = _root_home(ctx)
    changes: list[Change] = []
    ssh_dir = posixpath.join(home, ".ssh")
    info = ctx.rootfs.info(ssh_dir)
    if info is None or (info.mode & 0o7777) != 0o700:
        before = None if info is None else f"directory mode {info.mode & 0o7777:04o}"
        change = Change(
            ctx.rootfs.resolve(ssh_dir), "mkdir", before, "directory mode 0700", mode=0o700
        )
        ctx.rootfs.stage(change)
        changes.append(change)
    changes += plan_lines(
        ctx,
        {
            "path": posixpath.join(ssh_dir, "authorized_keys"),
            "lines": ctx.secrets.ssh_keys,
            "mode": "600",
        },
    )
    return changes


# -- network configuration ------------------------------------------------------------------


def _disable_matching(lines: list[str], keep: set[int]) -> list[str]:
    return [managed.DISABLED + ln if i in keep else ln for i, ln in enumerate(lines)]


@action("disable-lines", {"path", "pattern"}, {"only_if_exists"})
def plan_disable_lines(ctx: Context, p: dict[str, Any]) -> list[Change]:
    """Switch off (prefix, never delete) active lines outside lxcprov's block that match."""
    path = render(p["path"], ctx.facts)
    old = ctx.rootfs.read_text(path)
    if old is None:
        raise Skip(f"{path} does not exist")
    _check_opt_out(ctx, path)
    pattern = re.compile(p["pattern"])
    before, block, after = managed.split(old)
    hits = {
        i
        for i, ln in enumerate(before + after)
        if not ln.lstrip().startswith("#") and pattern.search(ln)
    }
    if not hits:
        return []
    user = _disable_matching(before + after, hits)
    text = "\n".join(user[: len(before)])
    if block is not None:
        text = managed.with_block(text + "\n" if text else "", block)
    else:
        text = text + "\n" if text else ""
    if after:
        text += "\n".join(user[len(before) :]) + "\n"
    return _file_change(ctx, path, text, mode=None)


_STANZA = re.compile(r"^(iface|auto|allow-\S+|mapping|source|source-directory|rename)\b")


@action("ifupdown-iface", set(), {"iface", "path"})
def plan_ifupdown_iface(ctx: Context, p: dict[str, Any]) -> list[Change]:
    """eth0 in /etc/network/interfaces as lxcprov decided: dhcp, static, or not at all.

    Other stanzas (lo, the user's own) are kept; an IPv4 stanza for the same interface
    (the template's `iface eth0 inet dhcp`) is switched off, not deleted.
    """
    iface = str(p.get("iface", "eth0"))
    path = str(p.get("path", "/etc/network/interfaces"))
    _check_opt_out(ctx, path)
    old = ctx.rootfs.read_text(path) or ""
    before, _block, after = managed.split(old)
    user = before + after
    off: set[int] = set()
    in_ours = False
    for i, line in enumerate(user):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if _STANZA.match(line):
            in_ours = words[:3] == ["iface", iface, "inet"]
            if in_ours or (words[0] in ("auto", "allow-hotplug") and words[1:] == [iface]):
                off.add(i)
        elif in_ours:
            off.add(i)  # an option line of the stanza being switched off
    mode = ctx.facts.get("net_mode")
    ours: list[str] = []
    if mode == "dhcp":
        ours = [f"auto {iface}", f"iface {iface} inet dhcp"]
    elif mode == "static":
        ours = [
            f"auto {iface}",
            f"iface {iface} inet static",
            f"    address {ctx.facts['net_address']}",
            f"    gateway {ctx.facts['net_gateway']}",
        ]
    kept = _disable_matching(user, off)
    text = managed.with_block("\n".join(kept) + "\n" if kept else "", ours)
    return _file_change(ctx, path, text, mode=None)
