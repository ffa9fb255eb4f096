"""What every action group uses: placeholders, opt-outs, and planning a whole-file change."""

from __future__ import annotations

import posixpath
import re

from lxcprov.engine.recipes.actions.registry import Context, Skip
from lxcprov.engine.recipes.model import Change, Planned, changed, unchanged

OPT_OUT_PREFIX = ".lxcprov-ignore."

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(text: str, values: dict[str, object]) -> str:
    """Replace {fact} placeholders; braces that name no fact are left alone."""
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text
    )


def check_opt_out(ctx: Context, path: str) -> None:
    """Skip when the admin put `.lxcprov-ignore.<file>` next to the file (as Proxmox does)."""
    real = ctx.rootfs.resolve(path)
    marker = posixpath.join(posixpath.dirname(real), OPT_OUT_PREFIX + posixpath.basename(real))
    if ctx.rootfs.exists(marker):
        raise Skip(f"{real} is opted out by {marker}")


def target(ctx: Context, path: str, *, only_if_exists: bool = False) -> str:
    """The step's rendered path, unless the file is missing (only_if_exists) or opted out."""
    rendered = render(path, ctx.facts)
    if only_if_exists and not ctx.rootfs.exists(rendered):
        raise Skip(f"{rendered} does not exist")
    check_opt_out(ctx, rendered)
    return rendered


def file_change(
    ctx: Context,
    path: str,
    new: str,
    *,
    mode: int | None,
    secret: bool = False,
    terminals: tuple[str, ...] = (),
) -> Planned:
    """The file at path holding exactly new (and mode, when given)."""
    real = ctx.rootfs.resolve(path)
    old = ctx.rootfs.read_text(real)
    info = ctx.rootfs.info(real)
    mode_differs = mode is not None and info is not None and (info.mode & 0o7777) != mode
    if old == new and not mode_differs:
        return unchanged(f"{real} is already as wanted")
    change = Change(real, "file", old, new, mode=mode, secret=secret, terminals=terminals)
    ctx.rootfs.stage(change)
    return changed(change)
