"""Actions on files: a whole file, lines in a shared file, symlinks, device nodes, removal."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from lxcprov.engine.recipes import managed
from lxcprov.engine.recipes.actions.common import check_opt_out, file_change, render, target
from lxcprov.engine.recipes.actions.registry import (
    Context,
    Mode,
    NumberText,
    ParamError,
    Skip,
    action,
)
from lxcprov.engine.recipes.model import Change, Planned, changed, unchanged


@dataclass(frozen=True)
class FileParams:
    path: str
    content: str
    mode: Mode | None = None
    only_if_exists: bool = False


@action("file", FileParams, "files")
def plan_file(ctx: Context, p: FileParams) -> Planned:
    """A whole file that lxcprov owns (a systemd drop-in, /etc/hostname)."""
    path = target(ctx, p.path, only_if_exists=p.only_if_exists)
    return file_change(ctx, path, render(p.content, ctx.facts), mode=p.mode)


def expand(lines: list[str], facts: dict[str, object]) -> list[str]:
    """Render lines; a line with {n} is repeated for every LXC tty."""
    out: list[str] = []
    ttys = int(str(facts.get("ttys", 0)))
    for line in lines:
        if "{n}" in line:
            out.extend(render(line, {**facts, "n": n}) for n in range(1, ttys + 1))
        else:
            out.append(render(line, facts))
    return out


@dataclass(frozen=True)
class LinesParams:
    path: str
    lines: list[str]
    mode: Mode | None = None
    only_if_exists: bool = False


@action("lines", LinesParams, "files")
def plan_lines(ctx: Context, p: LinesParams) -> Planned:
    """Lines that must be in a shared file: kept in lxcprov's marked section, never twice."""
    path = target(ctx, p.path, only_if_exists=p.only_if_exists)
    old = ctx.rootfs.read_text(path) or ""
    present = {managed.normalise(line) for line in managed.outside(old)}
    wanted: list[str] = []
    for line in expand(p.lines, ctx.facts):
        if managed.normalise(line) not in present and line not in wanted:
            wanted.append(line)
    return file_change(ctx, path, managed.with_block(old, wanted), mode=p.mode)


@dataclass(frozen=True)
class AbsentParams:
    path: str


@action("absent", AbsentParams, "files")
def plan_absent(ctx: Context, p: AbsentParams) -> Planned:
    """A file lxcprov wrote for a setting that no longer applies (never a directory)."""
    path = render(p.path, ctx.facts)
    real = ctx.rootfs.resolve(path, follow_final=False)
    info = ctx.rootfs.info(real, follow_final=False)
    if info is None:
        return unchanged(f"{real} is already absent")
    if info.is_dir:
        raise Skip(f"{real} is a directory: left as it is")
    before = ctx.rootfs.read_text(real) if info.is_file else ctx.rootfs.readlink(real)
    return changed(Change(real, "remove", before or "", ""))


@dataclass(frozen=True)
class SymlinkParams:
    path: str
    target: str


@action("symlink", SymlinkParams, "files")
def plan_symlink(ctx: Context, p: SymlinkParams) -> Planned:
    """A symlink (a systemd wants link or mask), never replacing anything but a symlink."""
    path = render(p.path, ctx.facts)
    link_target = render(p.target, ctx.facts)
    real = ctx.rootfs.resolve(path, follow_final=False)
    current = ctx.rootfs.readlink(real)
    if current == link_target:
        return unchanged(f"{real} already points to {link_target}")
    info = ctx.rootfs.info(real, follow_final=False)
    if info is not None and not info.is_symlink:
        raise Skip(f"{real} exists and is not a symlink: left as it is")
    change = Change(real, "symlink", current, link_target)
    ctx.rootfs.stage(change)
    return changed(change)


@dataclass(frozen=True)
class PruneTtysParams:
    path: str  # with {n}: e.g. /etc/systemd/system/getty.target.wants/getty@tty{n}.service
    target: str  # only links that point here are removed (the ones the symlink step made)

    def __post_init__(self) -> None:
        name = posixpath.basename(self.path)
        if name.count("{n}") != 1 or "{n}" in posixpath.dirname(self.path):
            raise ParamError(f"`path` {self.path!r} must hold {{n}} once, in its file name")


@action("prune-ttys", PruneTtysParams, "files")
def plan_prune_ttys(ctx: Context, p: PruneTtysParams) -> Planned:
    """Links for ttys above lxc.tty.max (left by a larger `ttys=`) removed: a getty on a
    terminal LXC does not create fails at once, and systemd would start it again and again."""
    directory = render(posixpath.dirname(p.path), ctx.facts)
    head, tail = posixpath.basename(p.path).split("{n}")
    pattern = re.compile(re.escape(render(head, ctx.facts)) + r"([0-9]{1,6})" +
                         re.escape(render(tail, ctx.facts)))  # fmt: skip
    ttys = int(str(ctx.facts.get("ttys", 0)))
    removed: list[Change] = []
    for name in ctx.rootfs.listdir(directory):
        found = pattern.fullmatch(name)
        if not found or int(found.group(1)) <= ttys:
            continue
        real = ctx.rootfs.resolve(posixpath.join(directory, name), follow_final=False)
        current = ctx.rootfs.readlink(real)
        if current != render(p.target, ctx.facts):
            continue  # not the link the symlink step makes: the admin's, left as it is
        change = Change(real, "remove", current, "")
        ctx.rootfs.stage(change)
        removed.append(change)
    if not removed:
        return unchanged(f"no link in {directory} for a tty above tty{ttys}")
    return changed(*removed)


@dataclass(frozen=True)
class ChardevParams:
    path: str
    major: NumberText
    minor: NumberText
    mode: Mode | None = None


@action("chardev", ChardevParams, "files")
def plan_chardev(ctx: Context, p: ChardevParams) -> Planned:
    """A character device node, when nothing is at its path yet."""
    path = render(p.path, ctx.facts)
    real = ctx.rootfs.resolve(path, follow_final=False)
    if ctx.rootfs.info(real, follow_final=False) is not None:
        return unchanged(f"{real} already exists")
    try:
        major, minor = int(render(p.major, ctx.facts)), int(render(p.minor, ctx.facts))
    except ValueError:
        raise Skip(f"device numbers {p.major}/{p.minor} are not numbers here") from None
    mode = p.mode if p.mode is not None else 0o620
    return changed(Change(real, "chardev", None, f"c {major} {minor}", mode=mode))


@dataclass(frozen=True)
class DisableLinesParams:
    path: str
    pattern: str
    only_if_exists: bool = False

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ParamError(
                f"`pattern` {self.pattern!r} is not a regular expression: {exc}"
            ) from None


def disable(lines: list[str], indexes: set[int]) -> list[str]:
    """Switch lines off with lxcprov's marker (kept, so a user sees and can restore them)."""
    return [managed.DISABLED + ln if i in indexes else ln for i, ln in enumerate(lines)]


@action("disable-lines", DisableLinesParams, "files")
def plan_disable_lines(ctx: Context, p: DisableLinesParams) -> Planned:
    """Switch off (prefix, never delete) active lines outside lxcprov's block that match."""
    path = render(p.path, ctx.facts)
    old = ctx.rootfs.read_text(path)
    if old is None:
        raise Skip(f"{path} does not exist")
    check_opt_out(ctx, path)
    pattern = re.compile(p.pattern)
    before, block, after = managed.split(old)
    hits = {
        i
        for i, ln in enumerate(before + after)
        if not ln.lstrip().startswith("#") and pattern.search(ln)
    }
    if not hits:
        return unchanged(f"no active line of {path} matches {p.pattern!r}")
    user = disable(before + after, hits)
    text = "\n".join(user[: len(before)])
    if block is not None:
        text = managed.with_block(text + "\n" if text else "", block)
    else:
        text = text + "\n" if text else ""
    if after:
        text += "\n".join(user[len(before) :]) + "\n"
    return file_change(ctx, path, text, mode=None)
