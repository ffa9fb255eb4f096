"""`lxcprov set NAME KEY=VALUE...` and `lxcprov show NAME`: settings without lxc.conf."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, each, lazy
from lxcprov.cli.common import JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import InvalidArgumentError

if TYPE_CHECKING:
    from lxcprov.ops import settings
else:
    settings = lazy.module("lxcprov.ops.settings")
_COLOURS = {"changed": "green", "no change": "dim", "needs restart": "yellow"}


def set_(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME... KEY=VALUE...",
            help="Containers (names, or patterns as in ls), then settings, e.g. memory=512M "
            "cpus=1 autostart=yes (lxcprov show lists them). A word with = is a setting.",
            autocompletion=complete.names_or_settings,
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Change settings (memory, swap, cpus, cpu-weight, autostart, hostname, ttys, ...)."""
    names = [w for w in words if "=" not in w]
    assignments = [w for w in words if "=" in w]
    usage = InvalidArgumentError(
        "set takes NAME... and KEY=VALUE...", hint="lxcprov set web1 memory=512M cpus=1"
    )
    if not names:
        raise usage
    # Every name is a container, and every setting valid, before the first one changes.
    settings.check_names(options.path(), words)
    if not assignments:
        raise usage
    if each.several(names):
        settings.check_words(assignments)

    def say(name: str, results: list[settings.Result]) -> None:
        prefix = f"{shown(name)}: " if each.several(names) else ""
        for r in results:
            colour = _COLOURS[r.status]
            extra = f" ({shown(r.detail)})" if r.detail else ""
            err.print(f"{prefix}{r.setting} = {shown(r.value)}: [{colour}]{r.status}[/]{extra}")
        if any(r.status == "needs restart" for r in results):
            err.print(f"restart to apply: lxcprov restart {shown(name)}")
        elif all(r.status == "no change" for r in results):
            err.print(f"{prefix}nothing to change")

    each.for_each(
        names,
        lambda c: settings.set_words(c, assignments),
        say,
        lambda name, results: {"name": name, "results": [r.as_dict() for r in results]},
        verb="set",
        json_out=json_out,
        single_json=lambda results: [r.as_dict() for r in results],
    )


def show(
    name: NameArg,
    json_out: JsonOpt = False,
) -> None:
    """The container's settings (with units) and the raw keys of its LXC config."""
    view = settings.show(options.container(name))
    if json_out:
        emit_json(view.as_dict())
        return
    err.print(f"[bold]{shown(name)}[/] ({shown(view.state)}; host {shown(view.cgroup)})")
    width = max(len(k) for k in view.settings)
    for key, value in view.settings.items():
        print(f"{key:<{width}}  {value}")
    if view.usage is not None:
        from lxcprov.cli import usage_view

        print(f"{'usage':<{width}}  {usage_view.summary(view.usage)}")
    err.print("[bold]config keys[/] (lxcprov set changes the ones above; the rest is yours)")
    for key, value in view.raw:
        print(f"  {key} = {value}")


def register(app: typer.Typer) -> None:
    app.command(
        "set",
        epilog=examples(
            "lxcprov set web memory=512M cpus=2",
            "lxcprov set web autostart=yes",
            "lxcprov set web disk=10G",
            "lxcprov set web1 web2 'db*' memory=1G",
        ),
    )(set_)
    app.command(epilog=examples("lxcprov show web", "lxcprov show web --json"))(show)
