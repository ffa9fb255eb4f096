"""`lxcprov apply FILE` / `apply -` and `lxcprov export-spec`: containers as a file.

(`apply-worker` is apply's own child process for one container: hidden, it reads its job
on stdin and writes its report as JSON on stdout.)
"""

from __future__ import annotations

import json
import sys
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
else:
    tomlout = lazy.module("lxcprov.engine.apply.tomlout")
    export = lazy.module("lxcprov.ops.apply.export")
    many = lazy.module("lxcprov.ops.apply.many")
    one = lazy.module("lxcprov.ops.apply.one")
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
    data = report.as_dict(diff=True)
    entries = data["containers"]
    assert isinstance(entries, list)
    counts: dict[str, int] = {}
    for entry in entries:
        status = str(entry["status"])
        counts[status] = counts.get(status, 0) + 1
        name = shown(str(entry["name"]))
        actions = entry["actions"]
        changing = [a for a in actions if a.get("change") or a.get("blocked")]
        if not changing and status in ("ok",):
            extra = ""
            if verbose:
                extra = ": " + "; ".join(shown(_label(a)) for a in actions)
            err.print(f"[green]{name}[/]: ok, nothing to change ({len(actions)} checked){extra}")
            continue
        colour = {"failed": "red", "changed": "green", "would change": "yellow",
                  "blocked": "yellow"}.get(status, "")  # fmt: skip
        err.print(f"[bold {colour}]{name}[/]: {status}" if colour else f"{name}: {status}")
        for a in actions if verbose else changing:
            outcome = a.get("status", "planned" if a.get("change") else "no change")
            if a.get("blocked"):
                outcome = "blocked"
            style = _STATUS.get(outcome, "")
            detail = f" ({shown(str(a['detail']))})" if a.get("detail") else ""
            text = f"  {shown(_label(a))}: [{style}]{outcome}[/]{detail}" if style else (
                f"  {shown(_label(a))}: {outcome}{detail}")  # fmt: skip
            err.print(text)
            if a.get("blocked"):
                err.print(f"    [yellow]{shown(str(a['blocked']))}[/]")
            if diff and a.get("diff") and a.get("change"):
                from lxcprov.engine.lines import split_lines

                for line in split_lines(str(a["diff"])):
                    colour = "green" if line.startswith("+") else (
                        "red" if line.startswith("-") else "dim")  # fmt: skip
                    err.print(f"    [{colour}]{shown(line)}[/]")
        if entry.get("error"):
            err.print(f"  [red]error:[/] {shown(str(entry['error']))}")
            if entry.get("hint"):
                err.print(f"  [dim]hint:[/] {shown(str(entry['hint']))}")
        if entry.get("root_password"):
            err.print(f"  root password (shown once): {shown(str(entry['root_password']))}")
    total = len(entries)
    seconds = f"{report.seconds:.1f} s"
    blocked = counts.get("blocked", 0)
    if blocked:
        needs = "needs" if blocked == 1 else "need"
        err.print(f"[yellow]{plural(blocked, 'container')} {needs} --replace[/] for what "
                  "only a new rootfs gives (template, release, template_args, privileged, "
                  "isolated)")  # fmt: skip
    if report.check:
        n = counts.get("would change", 0)
        if n:
            changes = plural(int(str(data["changes"])), "change")
            err.print(f"check: {n} of {plural(total, 'container')} would change "
                      f"({changes}); nothing was changed ({seconds})")  # fmt: skip
        else:
            err.print(f"check: nothing to change, {all_match(total)} ({seconds})")
        return
    if not report.changed and not report.failed:
        err.print(f"[green]nothing to change[/]: {all_match(total)} ({seconds})")
        return
    parts = [f"{counts[s]} {s}" for s in ("changed", "failed", "blocked", "ok") if counts.get(s)]
    err.print(", ".join(parts) + f" ({seconds})")


def _label(action: dict[str, object]) -> str:
    kind = str(action["kind"])
    key = str(action.get("key", ""))
    reason = str(action.get("reason", ""))
    if kind == "run":
        return f"first boot: {action.get('after', '')} ({reason})"
    if kind == "file":
        return f"file {key} ({reason})"
    if kind == "setting":
        return f"{key}: {reason}"
    if kind in ("create", "replace") and action.get("after"):
        return f"{kind}: {reason} ({action.get('after', '')})"
    return f"{kind} {key}: {reason}" if key and kind not in ("publish", "mounts") else (
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
