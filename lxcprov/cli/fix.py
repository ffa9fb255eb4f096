"""fix and convert: an existing container's files, by the recipes or shifted to another
id map (one made by plain lxc-create too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import lazy
from lxcprov.cli.common import JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.cli.recipe_options import (
    DryRun,
    PasswordFile,
    RecipeOpt,
    SkipOpt,
    SshKey,
    Verbose,
    access_of,
)
from lxcprov.errors import InvalidArgumentError, plural

if TYPE_CHECKING:
    from lxcprov.cli import doctor as doctor_cli
    from lxcprov.cli import render
    from lxcprov.ops import convert as convert_op
    from lxcprov.ops import fix as fix_op
    from lxcprov.ops import progress
else:
    doctor_cli = lazy.module("lxcprov.cli.doctor")
    render = lazy.module("lxcprov.cli.render")
    convert_op = lazy.module("lxcprov.ops.convert")
    fix_op = lazy.module("lxcprov.ops.fix")
    progress = lazy.module("lxcprov.ops.progress")


def fix(
    name: NameArg,
    root_password_file: PasswordFile = None,
    ssh_key: SshKey = None,
    recipe: RecipeOpt = None,
    skip_recipe: SkipOpt = None,
    dry_run: DryRun = False,
    verbose: Verbose = False,
    json_out: JsonOpt = False,
) -> None:
    """Apply the recipes to an existing container (for example one made by lxc-create)."""
    outcome = fix_op.fix(
        options.container(name),
        access=access_of(root_password_file, ssh_key),
        only=recipe or [],
        skip=skip_recipe or [],
        dry_run=dry_run,
    )
    if json_out:
        emit_json(render.outcome_data(outcome, dry_run=dry_run))
    assert outcome.plan is not None
    render.show_plan(outcome.plan, diffs=dry_run, verbose=verbose)
    if dry_run:
        err.print(f"dry run: {plural(len(outcome.plan.changes), 'change')} planned, none made")
    elif outcome.applied:
        err.print(f"[green]{plural(outcome.applied, 'change')} made[/]")
    for note in outcome.notes:
        err.print(f"[yellow]note:[/] {shown(note)}")
    if not dry_run:
        doctor_cli.show_remaining(outcome.container.name, outcome.remaining)


def convert(
    name: NameArg,
    unprivileged: Annotated[
        bool, typer.Option("--unprivileged", help="Shift its files into the shared id map.")
    ] = False,
    privileged: Annotated[
        bool, typer.Option("--privileged", help="Shift its files back to the host's own ids.")
    ] = False,
    isolated: Annotated[
        bool, typer.Option("--isolated", help="With --unprivileged: ids of its own.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Make a stopped container unprivileged (or privileged): its files are shifted."""
    if unprivileged == privileged:
        raise InvalidArgumentError(
            "say which: --unprivileged or --privileged",
            hint=f"lxcprov convert {name} --unprivileged",
        )
    shows = progress.Progress(phase=lambda msg: err.print(f"==> {shown(msg)}"))
    result = convert_op.convert(
        options.container(name), unprivileged=unprivileged, isolated=isolated, progress=shows
    )
    if json_out:
        emit_json({"name": result.name, "privileged": result.privileged, "ids": result.ids,
                   "done": result.done})  # fmt: skip
    for line in result.done:
        err.print(shown(line))


def register_fix(app: typer.Typer) -> None:
    app.command(
        epilog=examples("lxcprov fix old1 --dry-run", "lxcprov fix old1 --root-password-file pw")
    )(fix)


def register_convert(app: typer.Typer) -> None:
    app.command(
        epilog=examples("lxcprov convert old1 --unprivileged", "lxcprov convert db --privileged")
    )(convert)
