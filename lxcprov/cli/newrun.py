"""Running `new`: one container with its progress and report, or many at once (each a
child process that gets its request as data), and how each child runs its request."""

from __future__ import annotations

import collections
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from lxcprov.cli import lazy
from lxcprov.cli.common import emit_json, err, shown
from lxcprov.errors import StartFailedError, TemplateFailedError, plural

if TYPE_CHECKING:
    from rich.status import Status

    from lxcprov.cli import doctor as doctor_cli
    from lxcprov.cli import render
    from lxcprov.ops import batch, progress, settings
    from lxcprov.ops import new as new_op
    from lxcprov.ops.outcome import Outcome
    from lxcprov.ops.request import NewRequest
else:
    doctor_cli = lazy.module("lxcprov.cli.doctor")
    render = lazy.module("lxcprov.cli.render")
    batch = lazy.module("lxcprov.ops.batch")
    settings = lazy.module("lxcprov.ops.settings")
    new_op = lazy.module("lxcprov.ops.new")
    progress = lazy.module("lxcprov.ops.progress")

# The hidden command a child of `new --count` runs when it cannot be a fork (another
# thread runs): it reads its request as JSON on stdin.
WORKER = "new-worker"


def worker_argv(lxcpath: Path) -> list[str]:
    """A fresh lxcprov that makes one request read from stdin (batch.Child.argv)."""
    return [*batch.PYTHON_M, "--lxcpath", str(lxcpath), WORKER]


def run_request(req: NewRequest) -> None:
    """What a child of `new --count` does with its request: make it, report in JSON."""
    new_one(req, dry_run=req.dry_run, json_out=True, timings=False)


def _child(req: NewRequest) -> int:
    """A child forked by batch: run_request as `lxcprov` would run it (errors as one line
    and a hint, their exit code), from a fresh stderr console on its own stderr."""
    from lxcprov.cli import common, guard

    common.fresh_console()
    guard.guarded(lambda: run_request(req))
    return 0


# The template's last lines, shown when it fails (without -v nothing of it is shown while
# it runs: its chatter, `update-rc.d: error: ...` included, looked like failures).
_TEMPLATE_TAIL: collections.deque[str] = collections.deque(maxlen=200)


def _progress(
    status: Status | None, *, events: bool = False, verbose: bool = False
) -> progress.Progress:
    def phase(msg: str) -> None:
        err.print(f"[bold blue]==>[/] {shown(msg)}")
        if status is not None:
            status.update(shown(msg))
        if events:
            _event({"phase": msg})

    def line(text: str) -> None:
        _TEMPLATE_TAIL.append(text)
        if verbose:  # the template's own output, dim under our progress lines
            err.print(f"    [dim]{shown(text)}[/]", soft_wrap=True)
        if events:
            _event({"output": text})

    return progress.Progress(phase=phase, line=line)


def _show_template_tail() -> None:
    if _TEMPLATE_TAIL:
        err.print(f"[dim]the template's last {plural(len(_TEMPLATE_TAIL), 'line')}:[/]")
        for text in _TEMPLATE_TAIL:
            err.print(f"    [dim]{shown(text)}[/]", soft_wrap=True)


def _event(data: dict[str, object]) -> None:
    """One line of --json-lines (a page shows progress from these as they come)."""
    print(json.dumps(data, sort_keys=True, default=str), flush=True)


def new_one(
    req: NewRequest,
    *,
    dry_run: bool,
    json_out: bool,
    timings: bool,
    verbose: bool = False,
    json_lines: bool = False,
) -> Outcome:
    # A spinner only where someone watches: rich's Status redraws from a thread of its own
    # (and imports its Live) even when stderr is a log or a pipe, where nothing is drawn.
    spinner = err.status("working", spinner="dots") if err.is_terminal else None
    with spinner or contextlib.nullcontext() as status:
        try:
            outcome = new_op.new(req, _progress(status, events=json_lines, verbose=verbose))
        except TemplateFailedError:
            if not verbose:
                _show_template_tail()
            raise
    if json_lines:
        _event({"result": render.outcome_data(outcome, dry_run=dry_run)})
    elif json_out:
        emit_json(render.outcome_data(outcome, dry_run=dry_run))
    if outcome.plan is not None:
        render.show_plan(outcome.plan, diffs=dry_run, verbose=verbose)
    if dry_run:
        planned = len(outcome.plan.changes) if outcome.plan else 0
        err.print(f"dry run: nothing was created ({plural(planned, 'change')} planned)")
        return outcome
    _say_made(req, outcome, timings=timings)
    render.next_steps(outcome)
    doctor_cli.show_remaining(outcome.container.name, outcome.remaining)
    return outcome


def _preload_new() -> None:
    """Import and read once, before the children are forked, what each `new` needs (rich's
    rendering, the orchestration, pyroute2, the address book's nftables and dnsmasq
    writers, the recipe engine and the recipes themselves): they start with it done.
    (Profiled children of `new --count 20` each spent 30 ms importing the writers and
    40 ms parsing the recipes before this.)"""
    import importlib

    for module in ("rich.console", "lxcprov.ops.new", "lxcprov.cli.render",
                   "lxcprov.cli.doctor", "lxcprov.system.hostnet.api", "pyroute2",
                   "lxcprov.system.hostnet.apply", "lxcprov.engine.recipes.engine",
                   "lxcprov.engine.recipes.loader"):  # fmt: skip
        importlib.import_module(module)
    from lxcprov.engine import recipes

    # Only a head start: a recipe file that does not load is each child's error to
    # report, with its line, whatever the reading here raised.
    with contextlib.suppress(Exception):
        recipes.load_all()


def new_many(reqs: list[NewRequest], *, json_out: bool, timings: bool) -> None:
    """Several containers at once, one line of progress each; failures reported per name."""

    seen: dict[str, str] = {}

    def show(items: list[batch.Item]) -> None:
        counts = {s: sum(1 for i in items if i.state == s) for s in ("running", "done", "failed")}
        status.update(
            f"waiting for {counts['running']} to reach their login prompt; "
            f"{counts['done']} ready, {counts['failed']} failed"
        )
        # One line per container and state, so a log (no terminal, no spinner) says it too.
        for i in items:
            if seen.get(i.name) != i.state and i.state in ("running", "done", "failed"):
                seen[i.name] = i.state
                word = {"running": "started", "done": "ready", "failed": "failed"}[i.state]
                err.print(f"[dim]{shown(i.name)}: {word}[/]")

    settings.check(
        reqs[0].settings, lxcpath=reqs[0].lxcpath
    )  # once here, not once per child process
    _preload_new()
    # A spinner redrawn by show() itself (batch calls it ten times a second): rich's own
    # status redraws from a thread, and with a thread running the children cannot be
    # forks of this process (batch then starts a fresh interpreter for each).
    from rich.live import Live
    from rich.spinner import Spinner

    from lxcprov.cli import common

    spinner = Spinner("dots", "starting")
    with Live(spinner, console=common.stderr_console(), auto_refresh=False, transient=True,
              redirect_stdout=False, redirect_stderr=False) as live:  # fmt: skip

        class _Status:
            @staticmethod
            def update(text: str) -> None:
                spinner.update(text=text)
                live.refresh()

        status = _Status()
        items = batch.new_many(
            reqs, show, warn=lambda msg: err.print(f"[yellow]warning:[/] {shown(msg)}"),
            child=batch.Child(run=_child, argv=worker_argv(reqs[0].lxcpath)),
        )  # fmt: skip
    if json_out:
        emit_json(
            [{"name": i.name, "ok": i.state == "done", "error": i.error or None,
              "seconds": round(i.seconds, 3), **i.result} for i in items]
        )  # fmt: skip
    for item in items:
        if item.state == "done":
            ips = ", ".join(item.result.get("ipv4") or []) or "no IPv4"
            line = f"[green]{shown(item.name)}[/] ready in {item.seconds:.1f} s, {ips}"
            if item.result.get("root_password"):
                line += f", root password {shown(item.result['root_password'])}"
            err.print(line)
            if timings:
                err.print(
                    "  " + ", ".join(f"{k} {v:.2f} s" for k, v in item.result["timings"].items())
                )
        else:
            err.print(f"[red]{shown(item.name)} failed[/]: {shown(item.error)}")
    failed = [i.name for i in items if i.state != "done"]
    if failed:
        raise StartFailedError(
            f"{len(failed)} of {plural(len(items), 'container')} failed: {', '.join(failed)}",
            hint=("the others are ready; " if len(failed) < len(items) else "")
            + "retry a failed one with lxcprov new NAME to see its whole story",
        )


def _say_made(req: NewRequest, outcome: Outcome, *, timings: bool) -> None:
    """What `new` made: state, kind, origin, time, where the prompt showed, its address."""
    name = req.name
    state = outcome.container.state()
    total = sum(outcome.timings.get(k, 0.0) for k in ("build_base", "create", "clone", "fixups"))
    total += outcome.timings.get("boot_to_ipv4", outcome.timings.get("boot_to_login", 0.0))
    origin = f"cloned from {outcome.base}" if outcome.base else f"template {req.template}"
    kind = "privileged" if outcome.privileged else "unprivileged"
    err.print(f"[green]{shown(name)} is {state}[/] ({kind}, {origin}, {total:.1f} s)")
    if outcome.privileged:
        err.print(
            "[yellow]note:[/] privileged: root in it is root on this host (a way out of the "
            f"container is a way to own the host); lxcprov convert {shown(name)} --unprivileged"
        )
    if timings:
        err.print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in outcome.timings.items()))
    if outcome.login_tty is not None:
        where = f"tty{outcome.login_tty}" if outcome.login_tty else "the console"
        err.print(f"login prompt seen on {where}")
    if outcome.ipv4:
        how = "DHCP" if outcome.network.mode == "dhcp" else "static"
        err.print(f"IPv4 {', '.join(outcome.ipv4)} ({how}, bridge {outcome.network.bridge})")
