"""Values the shells complete: container names, templates, recipes, bridges, setting keys.

Each runs on every TAB, so each reads as little as it can and never fails: a completion
that raises prints a traceback into the user's command line.

What is offered comes from directories others can write (a container's name is a
directory in the lxcpath, an interface name can be almost anything) and the shell puts it
on the user's command line as is: bash inserts it unquoted, zsh evaluates what lxcprov
prints, fish splits it at newlines. So a value is offered only when it is a plain word no
shell reads specially (`safe`), and a container only when its name is one lxcprov takes;
anything else (`a;touch /tmp/x`, `$(id)`, a quote, a newline) is left out, never escaped.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import typer

TEMPLATES = Path("/usr/share/lxc/templates")
# Letters, digits and `_ . = -`, not first a dash (an option) or a dot: nothing a shell
# expands, splits, quotes or globs, nothing that ends a command. Matched whole.
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*")


def safe(values: Iterable[str]) -> list[str]:
    """The values that can go on a command line as they are (the others are left out)."""
    return [v for v in values if _WORD.fullmatch(v)]


def _container_name(name: str) -> bool:
    from lxcprov.errors import LxcprovError
    from lxcprov.system import lxc

    try:
        lxc.check_name(name)
    except LxcprovError:
        return False
    return True


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
        return safe(
            sorted(
                p.name
                for p in path.iterdir()
                if p.name.startswith(incomplete)
                and not p.name.startswith(("lxcprov-base-", "."))
                and _container_name(p.name)
                and (p / "config").is_file()
            )
        )
    return []


def templates(incomplete: str) -> list[str]:
    with contextlib.suppress(OSError):
        return safe(
            sorted(
                p.name.removeprefix("lxc-")
                for p in TEMPLATES.iterdir()
                if p.name.startswith("lxc-" + incomplete)
            )
        )
    return []


def recipes(incomplete: str) -> list[str]:
    with contextlib.suppress(Exception):
        from lxcprov.engine import recipes as engine

        return safe(r.name for r in engine.load_all() if r.name.startswith(incomplete))
    return []


def bridges(incomplete: str) -> list[str]:
    """Bridges lxcprov manages and bridges the kernel has."""
    found: set[str] = set()
    with contextlib.suppress(Exception):
        from lxcprov.system.hostnet import settings

        found.update(settings.load_config().bridges)
    with contextlib.suppress(OSError):
        found.update(p.name for p in Path("/sys/class/net").iterdir() if (p / "bridge").is_dir())
    return safe(sorted(b for b in found if b.startswith(incomplete)))


def setting_keys(incomplete: str) -> list[str]:
    """`set` takes KEY=VALUE: complete the KEY= part."""
    if "=" in incomplete:
        return []
    with contextlib.suppress(Exception):
        from lxcprov.engine.settings_table import SETTINGS

        return safe(f"{k}=" for k in sorted(SETTINGS) if k.startswith(incomplete))
    return []


# -- snapshots and setting values (issue 23) ----------------------------------------------


def _snapshots_of(ctx: typer.Context, name: str, incomplete: str) -> list[str]:
    """A snapshot is a directory of the container's: plain words only, as for names."""
    path = _lxcpath(ctx)
    if path is None or not name or "/" in name:
        return []
    with contextlib.suppress(OSError):
        return safe(
            sorted(
                p.name
                for p in (path / name / "snapshots").iterdir()
                if p.name.startswith(incomplete) and not p.name.startswith(".") and p.is_dir()
            )
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
        return safe(f"{key}={v}" for v in offered if v.startswith(value))
    return []


def names_or_settings(ctx: typer.Context, incomplete: str) -> list[str]:
    """`set NAME... KEY=VALUE...`: container names, then settings and their values."""
    if "=" in incomplete:
        return setting_values(incomplete)
    return containers(ctx, incomplete) + setting_keys(incomplete)
