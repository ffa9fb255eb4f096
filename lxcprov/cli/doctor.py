"""`lxcprov doctor [NAME]`: what stops a container from booting, networking or logging in.

Also the renderer other commands use to print remaining findings and next steps (at
the end of `new` and `fix`, and when `start` fails): one engine, one way of saying it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, lazy
from lxcprov.cli.common import emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import plural

if TYPE_CHECKING:
    from lxcprov.ops import doctor
    from lxcprov.ops.doctor import Finding, FixReport
else:
    doctor = lazy.module("lxcprov.ops.doctor")

_STYLE = {"error": "bold red", "warning": "yellow", "info": "blue"}


def show_findings(findings: list[Finding], *, verbose: bool = True) -> None:
    """Each finding: severity and message, why it matters, and the command that fixes it."""
    for f in findings:
        err.print(f"[{_STYLE[f.severity]}]{f.severity}[/] [dim]{f.id}[/] {shown(f.message)}")
        if verbose:
            err.print(f"    [dim]why:[/] {shown(f.why)}")
        err.print(f"    [dim]fix:[/] {shown(f.fix)}")


def show_fix_report(report: FixReport) -> None:
    for line in report.applied:
        err.print(f"[green]fixed:[/] {shown(line)}")
    for id_, reason in report.skipped:
        err.print(f"[yellow]not fixed:[/] {id_}: {shown(reason)}")
    for note in report.notes:
        err.print(f"[yellow]note:[/] {shown(note)}")


def _summary(findings: list[Finding], what: str) -> None:
    n_err = len(doctor.errors(findings))
    n_warn = sum(1 for f in findings if f.severity == "warning")
    if not findings:
        err.print(f"[green]{shown(what)}: no problems found[/]")
    else:
        err.print(f"{shown(what)}: {plural(n_err, 'error')}, {plural(n_warn, 'warning')}")


def show_remaining(name: str, left: list[Finding]) -> None:
    """For the end of `new` and `fix`: what doctor still finds, and what to do next."""
    if not left:
        return
    err.print(f"[bold]doctor[/] still finds on {shown(name)}:")
    show_findings(left, verbose=False)
    err.print(f"fix them all with: lxcprov doctor {shown(name)} --fix")


def doctor_cmd(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="Container to check (default: only the host).",
            autocompletion=complete.containers,
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Findings as JSON on stdout.")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the fixes, then check again.")] = False,
    root_password_file: Annotated[
        Path | None,
        typer.Option(
            "--root-password-file",
            metavar="FILE",
            help="For --fix of root-locked: root's new password.",
        ),
    ] = None,
    ssh_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--ssh-key",
            metavar="KEY.pub",
            help="For --fix of root-locked: a public key (repeatable).",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--bridge-address",
            metavar="ADDR/PREFIX",
            help="For --fix: address/prefix of a bridge it makes.",
        ),
    ] = None,
    uplink: Annotated[
        str | None,
        typer.Option(
            "--uplink", metavar="IFACE", help="For --fix: interface a new bridge NATs out of."
        ),
    ] = None,
    nat: Annotated[
        bool | None, typer.Option("--nat/--no-nat", help="For --fix: NAT on a bridge it makes.")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="ID",
            help="For --fix: fix only the findings with this id (repeatable).",
        ),
    ] = None,
) -> None:
    """Check the host (and a container): what is wrong, why, and the command that fixes it.

    Exit code 0 when no error remains.
    """
    from lxcprov.ops.access import Access

    container = options.container(name) if name else None
    access = Access(root_password_file, ssh_key or [])
    net = doctor.NetOptions(address, uplink, nat)
    run = doctor.examine(container, fix=fix, access=access, net=net, lxcpath=options.path(),
                         only=tuple(only or ()))  # fmt: skip
    if json_out:
        data = doctor.findings_json(
            run.findings, host=run.host, container=container, report=run.report, before=run.before
        )
        emit_json(data)
    else:
        if run.report is not None:
            show_findings(run.before, verbose=False)
            show_fix_report(run.report)
            err.print("[bold]after the fixes:[/]")
        show_findings(run.findings)
        _summary(run.findings, name or "host")
    if doctor.errors(run.findings):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(
        "doctor",
        epilog=examples("lxcprov doctor", "lxcprov doctor web", "lxcprov doctor web --fix"),
    )(doctor_cmd)
