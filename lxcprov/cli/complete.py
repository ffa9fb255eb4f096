"""Values the shells complete: container names, templates, recipes, bridges, setting keys.

Each runs on every TAB, so each reads as little as it can and never fails: a completion
that raises prints a traceback into the user's command line.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import typer

TEMPLATES = Path("/usr/share/lxc/templates")


def _lxcpath(ctx: typer.Context) -> Path | None:
    given = ctx.find_root().params.get("lxcpath") or os.environ.get("LXCPROV_LXCPATH")
    if given:
        return Path(given)
    with contextlib.suppress(Exception):
        from lxcprov.system import lxc

        return lxc.default_lxcpath()
    return None


def containers(ctx: typer.Context, incomplete: str) -> list[str]:
    """Container names in the lxcpath (a directory with a config; bases left out)."""
    path = _lxcpath(ctx)
    if path is None:
        return []
    with contextlib.suppress(OSError):
        return sorted(
            p.name
            for p in path.iterdir()
            if p.name.startswith(incomplete)
            and not p.name.startswith(("lxcprov-base-", "."))
            and (p / "config").is_file()
        )
    return []


def templates(incomplete: str) -> list[str]:
    with contextlib.suppress(OSError):
        return sorted(
            p.name.removeprefix("lxc-")
            for p in TEMPLATES.iterdir()
            if p.name.startswith("lxc-" + incomplete)
        )
    return []


def recipes(incomplete: str) -> list[str]:
    with contextlib.suppress(Exception):
        from lxcprov.engine import recipes as engine

        return [r.name for r in engine.load_all() if r.name.startswith(incomplete)]
    return []


def bridges(incomplete: str) -> list[str]:
    """Bridges lxcprov manages and bridges the kernel has."""
    found: set[str] = set()
    with contextlib.suppress(Exception):
        from lxcprov.system.hostnet import settings

        found.update(settings.load_config().bridges)
    with contextlib.suppress(OSError):
        found.update(p.name for p in Path("/sys/class/net").iterdir() if (p / "bridge").is_dir())
    return sorted(b for b in found if b.startswith(incomplete))


def setting_keys(incomplete: str) -> list[str]:
    """`set` takes KEY=VALUE: complete the KEY= part."""
    if "=" in incomplete:
        return []
    with contextlib.suppress(Exception):
        from lxcprov.engine.settings_table import SETTINGS

        return [f"{k}=" for k in sorted(SETTINGS) if k.startswith(incomplete)]
    return []


# -- snapshots and setting values (issue 23) ----------------------------------------------


def _snapshots_of(ctx: typer.Context, name: str, incomplete: str) -> list[str]:
    path = _lxcpath(ctx)
    if path is None or not name or "/" in name:
        return []
    with contextlib.suppress(OSError):
        return sorted(
            p.name
            for p in (path / name / "snapshots").iterdir()
            if p.name.startswith(incomplete) and not p.name.startswith(".") and p.is_dir()
        )
    return []


def snapshots(ctx: typer.Context, incomplete: str) -> list[str]:
    """The snapshots of the container named before this word (restore NAME SNAP)."""
    return _snapshots_of(ctx, str(ctx.params.get("name") or ""), incomplete)


def snapshot_words(ctx: typer.Context, incomplete: str) -> list[str]:
    """`snapshot NAME... [SNAP]` or `snapshot rm NAME SNAP`."""
    words = list(ctx.params.get("words") or [])
    if words[:1] == ["rm"]:
        if len(words) == 2:
            return _snapshots_of(ctx, words[1], incomplete)
        return containers(ctx, incomplete) if len(words) == 1 else []
    return containers(ctx, incomplete) + (
        ["rm"] if not words and "rm".startswith(incomplete) else []
    )


def setting_values(incomplete: str) -> list[str]:
    """`KEY=` completes to the values worth offering for KEY."""
    key, sep, value = incomplete.partition("=")
    if not sep:
        return setting_keys(incomplete)
    with contextlib.suppress(Exception):
        from lxcprov.engine.settings_table import SETTINGS

        setting = SETTINGS.get(key)
        offered = list(setting.values) if setting else []
        if key == "bridge":
            offered += bridges(value)
        return [f"{key}={v}" for v in offered if v.startswith(value)]
    return []


def names_or_settings(ctx: typer.Context, incomplete: str) -> list[str]:
    """`set NAME... KEY=VALUE...`: container names, then settings and their values."""
    if "=" in incomplete:
        return setting_values(incomplete)
    return containers(ctx, incomplete) + setting_keys(incomplete)
