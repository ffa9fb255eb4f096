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
