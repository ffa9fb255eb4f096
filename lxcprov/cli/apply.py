"""`lxcprov apply FILE` / `apply -` and `lxcprov export-spec`: containers as a file.

(`apply-worker` is apply's own child process for one container: hidden, it reads its job
on stdin and writes its report as JSON on stdout.)
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, lazy
from lxcprov.cli.common import JsonOpt, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import ApplyError, plural
from lxcprov.ops.defaults import DEFAULT_APPLY_JOBS, DEFAULT_BOOT_TIMEOUT

if TYPE_CHECKING:
    from lxcprov.engine.apply import tomlout
    from lxcprov.ops.apply import export, many, one
    from lxcprov.ops.apply import rows as rows_
else:
    tomlout = lazy.module("lxcprov.engine.apply.tomlout")
    export = lazy.module("lxcprov.ops.apply.export")
    many = lazy.module("lxcprov.ops.apply.many")
    one = lazy.module("lxcprov.ops.apply.one")
    rows_ = lazy.module("lxcprov.ops.apply.rows")
_STATUS = {"done": "green", "needs restart": "yellow", "failed": "red", "blocked": "yellow",
           "not done": "dim", "no change": "dim"}  # fmt: skip


def apply(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="The document (TOML), or - for JSON on stdin.")
    ],
    check: Annotated[
        bool, typer.Option("--check", help="Show the plan; change nothing (exit 0).")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Show old -> new of settings and file diffs.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Remove containers lxcprov made that the file does not name."),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Make a new rootfs where template, release or ids differ (MAC and address kept).",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", metavar="N", min=1, help="Containers converged at a time."),
    ] = DEFAULT_APPLY_JOBS,
    boot_timeout: Annotated[
        float,
        typer.Option(
            "--boot-timeout", metavar="SECONDS", help="How long a new container may take to boot."
        ),
    ] = DEFAULT_BOOT_TIMEOUT,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show what is already in place, and why.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Make the containers what a document says: create, change in place, or report."""
    stdin_text = sys.stdin.read() if file == "-" else None
    req = many.Request(file, options.path(), stdin_text, check, prune, replace, jobs,
                       boot_timeout)  # fmt: skip
    report = many.apply(req, lambda msg: err.print(f"[bold blue]==>[/] {shown(msg)}"))
    if json_out:
        emit_json(report.as_dict(diff=diff))
    _show(report, diff=diff, verbose=verbose)
    if report.failed:
        raise ApplyError(
            f"{len(report.failed)} of {plural(len(report.plan.containers), 'container')} failed: "
            + ", ".join(report.failed),
            hint="what was done stays done; fix the cause and run the same apply again",
        )


def all_match(total: int) -> str:
    """What a run that changes nothing says of the document's containers."""
    if total == 0:
        return "the document names no container"
    if total == 1:
        return "its one container matches the document"
    return f"all {total} containers match the document"


def _show(report: many.Report, *, diff: bool, verbose: bool) -> None:
    rows = report.rows()
    for row in rows:
        for line in _container_lines(row, diff=diff, verbose=verbose):
            err.print(line)
    for line in _summary_lines(report, rows):
        err.print(line)


def _container_lines(row: rows_.ContainerRow, *, diff: bool, verbose: bool) -> list[str]:
    """One container: a line when it matches, else its status and its actions."""
    name = shown(row.name)
    if not row.changing and row.status == "ok":
        extra = ""
        if verbose:
            extra = ": " + "; ".join(shown(_label(a)) for a in row.actions)
        return [f"[green]{name}[/]: ok, nothing to change ({len(row.actions)} checked){extra}"]
    colour = {"failed": "red", "changed": "green", "would change": "yellow",
              "blocked": "yellow"}.get(row.status, "")  # fmt: skip
    lines = [f"[bold {colour}]{name}[/]: {row.status}" if colour else f"{name}: {row.status}"]
    for a in row.actions if verbose else row.changing:
        lines += _action_lines(a, diff=diff)
    if row.error:
        lines.append(f"  [red]error:[/] {shown(row.error)}")
        if row.hint:
            lines.append(f"  [dim]hint:[/] {shown(row.hint)}")
    if row.root_password:
        lines.append(f"  root password (shown once): {shown(row.root_password)}")
    return lines


def _action_lines(a: rows_.ActionRow, *, diff: bool) -> list[str]:
    """One action: its label and outcome, why it is blocked, its diff (--diff)."""
    outcome = a.outcome
    style = _STATUS.get(outcome, "")
    detail = f" ({shown(a.detail)})" if a.detail else ""
    label = shown(_label(a))
    lines = [f"  {label}: [{style}]{outcome}[/]{detail}" if style else
             f"  {label}: {outcome}{detail}"]  # fmt: skip
    if a.blocked:
        lines.append(f"    [yellow]{shown(a.blocked)}[/]")
    if diff and a.diff and a.change:
        from lxcprov.engine.lines import split_lines

        for line in split_lines(a.diff):
            colour = "green" if line.startswith("+") else (
                "red" if line.startswith("-") else "dim")  # fmt: skip
            lines.append(f"    [{colour}]{shown(line)}[/]")
    return lines


def _summary_lines(report: many.Report, rows: list[rows_.ContainerRow]) -> list[str]:
    """The closing lines: what needs --replace, then the counts (or --check's answer)."""
    counts = Counter(row.status for row in rows)
    total = len(rows)
    seconds = f"{report.seconds:.1f} s"
    lines = []
    blocked = counts["blocked"]
    if blocked:
        needs = "needs" if blocked == 1 else "need"
        lines.append(f"[yellow]{plural(blocked, 'container')} {needs} --replace[/] for what "
                     "only a new rootfs gives (template, release, template_args, privileged, "
                     "isolated)")  # fmt: skip
    if report.check:
        n = counts["would change"]
        if n:
            changes = plural(report.changes, "change")
            lines.append(f"check: {n} of {plural(total, 'container')} would change "
                         f"({changes}); nothing was changed ({seconds})")  # fmt: skip
        else:
            lines.append(f"check: nothing to change, {all_match(total)} ({seconds})")
    elif not report.changed and not report.failed:
        lines.append(f"[green]nothing to change[/]: {all_match(total)} ({seconds})")
    else:
        parts = [f"{counts[s]} {s}" for s in ("changed", "failed", "blocked", "ok") if counts[s]]
        lines.append(", ".join(parts) + f" ({seconds})")
    return lines


def _label(action: rows_.ActionRow) -> str:
    kind, key, reason, after = action.kind, action.key, action.reason, action.after
    if kind == "run":
        return f"first boot: {after} ({reason})"
    if kind == "file":
        return f"file {key} ({reason})"
    if kind == "setting":
        return f"{key}: {reason}"
    if kind in ("create", "replace") and after:
        return f"{kind}: {reason} ({after})"
    return f"{kind} {key}: {reason}" if key and kind not in ("publish", "mounts", "devices") else (
        f"{kind}: {reason}")  # fmt: skip


def export_spec(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAME]...",
            help="Containers to describe (default: all).",
            autocompletion=complete.containers,
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="The document as JSON (what apply - reads).")
    ] = False,
) -> None:
    """Print the apply document of existing containers (apply of it changes nothing)."""
    found = export.export_spec(options.path(), names or [])
    for note in found.notes:
        err.print(f"[yellow]note:[/] {shown(note)}")
    if json_out:
        emit_json(found.document)
        return
    header = (
        f"lxcprov export-spec of {options.path()}\n"
        "Root access and files are not exported (they cannot be read back): apply leaves\n"
        "them as they are."
    )
    sys.stdout.write(tomlout.document(found.document, header))


def worker() -> None:
    """(apply's own worker: one container; job on stdin, report on stdout)"""
    job = one.Job.from_json(sys.stdin.read())

    def phase(msg: str) -> None:
        err.print(f"[bold blue]==>[/] {shown(msg)}")

    from lxcprov.ops.progress import Progress

    result = one.converge(job, options.path(), Progress(phase=phase))
    sys.stdout.write(json.dumps(result.as_dict()) + "\n")
    sys.stdout.flush()
    if result.status == "failed":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(
        "apply",
        epilog=examples(
            "lxcprov apply containers.toml --check --diff",
            "lxcprov apply containers.toml",
            "lxcprov export-spec > containers.toml && lxcprov apply containers.toml --check",
        ),
    )(apply)
    app.command(
        "export-spec",
        epilog=examples("lxcprov export-spec > containers.toml", "lxcprov export-spec web db"),
    )(export_spec)
    app.command("apply-worker", hidden=True)(worker)
