"""Container commands: new, fix, console, start, stop, destroy, ls, exec."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, each, lazy
from lxcprov.cli.common import JsonOpt, NameArg, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.errors import (
    InvalidArgumentError,
    StartFailedError,
    TemplateFailedError,
    did_you_mean,
    plural,
)
from lxcprov.ops.defaults import DEFAULT_BOOT_TIMEOUT, START_LOGIN_TIMEOUT

if TYPE_CHECKING:
    from rich.status import Status

    from lxcprov.cli import doctor as doctor_cli
    from lxcprov.cli import render
    from lxcprov.ops import (
        attach,
        autostart,
        batch,
        halt,
        lifecycle,
        listing,
        progress,
        recovery,
        request,
        settings,
    )
    from lxcprov.ops import convert as convert_op
    from lxcprov.ops import fix as fix_op
    from lxcprov.ops import guided as guided_mod
    from lxcprov.ops import new as new_op
    from lxcprov.ops.access import Access
    from lxcprov.ops.outcome import Outcome
    from lxcprov.ops.request import NewRequest
    from lxcprov.system import run
else:
    doctor_cli = lazy.module("lxcprov.cli.doctor")
    render = lazy.module("lxcprov.cli.render")
    attach = lazy.module("lxcprov.ops.attach")
    autostart = lazy.module("lxcprov.ops.autostart")
    halt = lazy.module("lxcprov.ops.halt")
    batch = lazy.module("lxcprov.ops.batch")
    lifecycle = lazy.module("lxcprov.ops.lifecycle")
    listing = lazy.module("lxcprov.ops.listing")
    settings = lazy.module("lxcprov.ops.settings")
    convert_op = lazy.module("lxcprov.ops.convert")
    fix_op = lazy.module("lxcprov.ops.fix")
    guided_mod = lazy.module("lxcprov.ops.guided")
    new_op = lazy.module("lxcprov.ops.new")
    progress = lazy.module("lxcprov.ops.progress")
    request = lazy.module("lxcprov.ops.request")
    run = lazy.module("lxcprov.system.run")


PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--root-password-file",
        metavar="FILE",
        help="File whose first line becomes root's password (only a SHA-512 hash is stored).",
    ),
]
SshKey = Annotated[
    list[Path] | None,
    typer.Option(
        "--ssh-key",
        metavar="KEY.pub",
        help="Public key file for root's authorized_keys (repeatable).",
    ),
]
RecipeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--recipe",
        metavar="RECIPE",
        help="Run only this recipe (repeatable).",
        autocompletion=complete.recipes,
    ),
]
SkipOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--skip-recipe",
        metavar="RECIPE",
        help="Do not run this recipe (repeatable).",
        autocompletion=complete.recipes,
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Plan only: print the diffs, change nothing.")
]
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Also show each step that changes nothing, and why."),
]
NewVerbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Show the template's output as it runs (else only when it fails), and each "
        "recipe step that changes nothing.",
    ),
]


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


def _split_names(words: list[str]) -> tuple[list[str], list[str]]:
    """NAME... and the template arguments after `--` (click merges both into one list)."""
    argv = sys.argv
    tail = len(argv) - argv.index("--") - 1 if "--" in argv else 0
    cut = len(words) - tail
    return words[:cut], words[cut:]


def new(
    names_and_args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME... [-- TEMPLATE_ARGS...]",
            help="Container name(s) (each also its hostname), then template arguments after --.",
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            "-t",
            metavar="TEMPLATE",
            help="LXC template, e.g. debian, busybox (asked if missing).",
            autocompletion=complete.templates,
        ),
    ] = None,
    release: Annotated[
        str | None,
        typer.Option(
            "--release",
            "-r",
            metavar="RELEASE",
            help="The distribution's release, e.g. bookworm or trixie (default: the template's).",
        ),
    ] = None,
    network: Annotated[
        str,
        typer.Option(
            "--network", metavar="bridge|none", help="bridge (default) or none (loopback only)."
        ),
    ] = "bridge",
    bridge: Annotated[
        str | None,
        typer.Option(
            "--bridge",
            metavar="BRIDGE",
            help="Bridge for --network bridge (default: the configured one).",
            autocompletion=complete.bridges,
        ),
    ] = None,
    ip: Annotated[
        str | None,
        typer.Option(
            "--ip",
            metavar="ADDR[/PREFIX]|auto",
            help="Static IPv4 address, or auto (a free one); default: DHCP.",
        ),
    ] = None,
    root_password_file: PasswordFile = None,
    ssh_key: SshKey = None,
    recipe: RecipeOpt = None,
    skip_recipe: SkipOpt = None,
    no_start: Annotated[
        bool, typer.Option("--no-start", help="Create and fix, do not start.")
    ] = False,
    dry_run: DryRun = False,
    keep_on_failure: Annotated[
        bool, typer.Option("--keep-on-failure", help="Keep a container whose set-up failed.")
    ] = False,
    boot_timeout: Annotated[
        float,
        typer.Option(
            "--boot-timeout", metavar="SECONDS", help="How long to wait for the login prompt."
        ),
    ] = DEFAULT_BOOT_TIMEOUT,
    no_base: Annotated[
        bool,
        typer.Option("--no-base", help="Run the template for this container; no cached base."),
    ] = False,
    privileged: Annotated[
        bool,
        typer.Option(
            "--privileged",
            help="uid 0 inside is uid 0 on the host: its root can do what host root can "
            "(LXC calls this not root-safe). Default: unprivileged.",
        ),
    ] = False,
    isolated: Annotated[
        bool,
        typer.Option(
            "--isolated", help="Unprivileged with host ids no other container shares (a copy)."
        ),
    ] = False,
    count: Annotated[
        int | None,
        typer.Option("--count", metavar="N", help="Make NAME1..NAMEn from one NAME.", min=1),
    ] = None,
    timings: Annotated[
        bool, typer.Option("--timings", help="Show how long each phase took.")
    ] = False,
    verbose: NewVerbose = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Try a template `lxcprov templates` says cannot work here."),
    ] = False,
    memory: Annotated[
        str | None, typer.Option("--memory", metavar="SIZE", help="Memory limit, e.g. 512M.")
    ] = None,
    swap: Annotated[
        str | None,
        typer.Option("--swap", metavar="SIZE", help="Swap on top of memory, e.g. 256M."),
    ] = None,
    cpus: Annotated[
        str | None,
        typer.Option(
            "--cpus", metavar="N|CPUSET", help="CPU count (quota) or cpuset, e.g. 2 or 0-1."
        ),
    ] = None,
    cpu_weight: Annotated[
        str | None,
        typer.Option("--cpu-weight", metavar="N", help="CPU weight 1-10000 (100 normal)."),
    ] = None,
    autostart: Annotated[
        str | None,
        typer.Option(
            "--autostart",
            metavar="yes|no",
            help="yes: started at boot (lxcprov.service) and by lxcprov start --all.",
        ),
    ] = None,
    mount: Annotated[
        list[str] | None,
        typer.Option(
            "--mount",
            help="A host directory inside: HOST_DIR:CONTAINER_DIR[:ro] (repeatable).",
            metavar="HOST_DIR:CONTAINER_DIR[:ro]",
        ),
    ] = None,
    publish: Annotated[
        list[str] | None,
        typer.Option(
            "--publish",
            help="Publish a port: HOST_PORT:CONTAINER_PORT, optionally ADDR: before and /udp "
            "after (repeatable).",
            metavar="[ADDR:]HOST_PORT[:CONTAINER_PORT][/udp]",
        ),
    ] = None,
    json_out: JsonOpt = False,
    json_lines: Annotated[
        bool,
        typer.Option(
            "--json-lines",
            help='Stdout: {"phase": ...} and {"output": ...} lines while it works, '
            'then {"result": the --json document}.',
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Only check the request; print the one-line command."),
    ] = False,
) -> None:
    """Create containers from a template, fix them, start them, wait for their login prompt."""
    names, template_args = _split_names(names_and_args or [])
    limits = {
        k: v
        for k, v in (
            ("memory", memory), ("swap", swap), ("cpus", cpus),
            ("cpu-weight", cpu_weight), ("autostart", autostart),
        )
        if v is not None
    }  # fmt: skip
    if (check or json_lines) and (len(names) != 1 or template is None or count is not None):
        raise InvalidArgumentError(
            "--check and --json-lines take one NAME and --template (nothing is asked)",
            hint="lxcprov new web1 --template debian --check",
        )
    if not names or template is None:
        guided = _guided(names, template, release, root_password_file, ssh_key, network,
                         bridge, ip, limits)  # fmt: skip
        try:
            _new_one(
                guided.request, dry_run=dry_run, json_out=json_out, timings=timings, verbose=verbose
            )
        finally:
            guided.cleanup()
        return
    if count is not None:
        if len(names) != 1:
            raise InvalidArgumentError(
                "--count takes one NAME prefix", hint="lxcprov new web --count 5"
            )
        names = [f"{names[0]}{i}" for i in range(1, count + 1)]
    if not names:
        raise InvalidArgumentError("no container name given", hint="lxcprov new NAME -t debian")
    reqs = [
        request.NewRequest(
            name=name,
            template=template,
            lxcpath=options.path(),
            release=release,
            template_args=template_args or [],
            network=network,
            bridge=bridge,
            ip=ip,
            access=_access(root_password_file, ssh_key),
            only=recipe or [],
            skip=skip_recipe or [],
            start=not no_start,
            dry_run=dry_run,
            keep_on_failure=keep_on_failure,
            boot_timeout=boot_timeout,
            use_base=not no_base,
            force=force,
            privileged=privileged,
            isolated=isolated,
            settings=limits,
            mounts=mount or [],
            publish=publish or [],
        )
        for name in names
    ]
    if check:
        command = guided_mod.check(reqs[0])
        if json_out:
            emit_json({"ok": True, "name": reqs[0].name, "command": command})
        err.print(f"[green]{shown(reqs[0].name)} can be made[/]: {shown(command)}")
        return
    if len(reqs) > 1 or count is not None:
        if dry_run:
            raise InvalidArgumentError("--dry-run takes one container", hint="drop the others")
        _new_many(reqs, json_out=json_out, timings=timings)
        return
    _new_one(reqs[0], dry_run=dry_run, json_out=json_out, timings=timings, verbose=verbose,
             json_lines=json_lines)  # fmt: skip


def _guided(
    names: list[str],
    template: str | None,
    release: str | None,
    password_file: Path | None,
    ssh_key: list[Path] | None,
    network: str,
    bridge: str | None,
    ip: str | None,
    limits: dict[str, str],
) -> guided_mod.Guided:
    """Ask for what `new` was not given (on a terminal), else fail naming it."""
    if len(names) > 1:
        raise InvalidArgumentError("several names need --template", hint="add -t TEMPLATE")
    given = guided_mod.Given(
        name=names[0] if names else None,
        template=template,
        release=release,
        password_file=password_file,
        ssh_keys=ssh_key or [],
        # Left at its default with no bridge or address given: ask.
        network=None if network == "bridge" and not bridge and not ip else network,
        bridge=bridge,
        ip=ip,
        settings=limits,
    )
    return guided_mod.resolve(given, options.path())


def _new_one(
    req: NewRequest,
    *,
    dry_run: bool,
    json_out: bool,
    timings: bool,
    verbose: bool = False,
    json_lines: bool = False,
) -> Outcome:
    name = req.name
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
    render.next_steps(outcome)
    doctor_cli.show_remaining(outcome.container.name, outcome.remaining)
    return outcome


def _preload_new() -> None:
    """Import once, before the children are forked, what each `new` needs (rich's
    rendering, the orchestration, pyroute2, the recipe engine): they start with it done."""
    import importlib

    for module in ("rich.console", "lxcprov.ops.new", "lxcprov.cli.render",
                   "lxcprov.cli.doctor", "lxcprov.system.hostnet.api", "pyroute2",
                   "lxcprov.engine.recipes.engine", "lxcprov.engine.recipes.loader"):  # fmt: skip
        importlib.import_module(module)


def _lxcprov_here(words: list[str]) -> int:
    """`lxcprov WORDS` in this process (a fork made by batch): what `python -m lxcprov`
    would do, from a fresh stderr console on the child's own stderr."""
    from lxcprov import cli
    from lxcprov.cli import common

    common.fresh_console()
    sys.argv = ["lxcprov", *words]
    cli.main()
    return 0


def _new_many(reqs: list[NewRequest], *, json_out: bool, timings: bool) -> None:
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

    settings.check(reqs[0].settings)  # once here, not once per child process
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
            in_process=_lxcprov_here,
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
        access=_access(root_password_file, ssh_key),
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


def console(
    name: NameArg,
    tty: Annotated[
        int | None,
        typer.Option("--tty", metavar="N", help="Terminal number; 0 is the console."),
    ] = None,
) -> None:
    """Attach this terminal to the container's login prompt (Ctrl-a q leaves).

    It says first what waits there: a login prompt (type the user name, root, then
    Enter), a session someone left, or nothing (no getty: lxcprov doctor says why).
    """
    container = options.container(name)
    container.require()  # `console nosuch` says no such container, terminal or not
    attach.require_terminal(os.isatty(0), name)
    argv = attach.console_argv(container, tty)
    number = int(argv[-1])
    where = f"tty{number}" if number else "the console"
    found = attach.terminal(container, number)
    if found.state == "prompt":
        err.print(f"a login prompt waits on {where}: type the user name (root), then Enter")
    elif found.state == "session":
        err.print(f"{where} has a session open ({shown(found.program)}): Enter shows its prompt")
    elif found.state == "nothing":
        err.print(
            f"[yellow]nothing answers on {where}:[/] no getty runs there; see why with: "
            f"lxcprov doctor {shown(name)}"
        )
    else:
        err.print(f"attached to {where}: press Enter to see what answers")
    run.replace_process(argv)


NamesOpt = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="NAME...",
        help="Containers: names, or shell patterns as in ls ('web*').",
        autocompletion=complete.containers,
    ),
]
NamesArg = Annotated[
    list[str],
    typer.Argument(
        metavar="NAME...",
        help="Containers: names, or shell patterns as in ls ('web*').",
        autocompletion=complete.containers,
    ),
]


def _say_started(name: str, started: lifecycle.Started) -> None:
    doctor_cli.show_findings(started.warnings)
    for note in started.notes:
        err.print(f"[yellow]note:[/] {shown(note)}")
    if started.already:
        err.print(f"{shown(name)} is already running")
        return
    err.print(f"[green]{shown(name)} is {started.state}[/]")
    if started.login_tty is not None:
        where = f"tty{started.login_tty}" if started.login_tty else "the console"
        err.print(f"login prompt seen on {where}")


def _started_json(name: str, started: lifecycle.Started) -> dict[str, object]:
    return {"name": name, "state": started.state, "login_tty": started.login_tty,
            "already_running": started.already,
            "warnings": [f.as_dict() for f in started.warnings]}  # fmt: skip


def start(
    names: NamesOpt = None,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Start every autostart=yes container, their network first."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Start containers, each until its login prompt shows (or, with --all, the autostart
    ones, network first). One already running is left as it is."""
    if all_:
        if names:
            raise InvalidArgumentError(
                "give NAME... or --all, not both", hint="lxcprov start --all"
            )
        result = autostart.start_all(options.path(), lambda msg: err.print(f"==> {shown(msg)}"))
        if json_out:
            emit_json({"ok": result.ok, "containers": [
                {"name": i.name, "status": i.status, "detail": i.detail} for i in result.containers
            ]})  # fmt: skip
        for item in result.containers:
            err.print(f"{shown(item.name)}: {shown(item.status)} {shown(item.detail)}")
        if not result.ok:
            raise StartFailedError("some autostart containers did not start")
        return
    if not names:
        raise InvalidArgumentError("start needs NAME... or --all", hint="lxcprov start web1")
    each.for_each(
        names,
        lambda c: lifecycle.start(c, login_timeout=START_LOGIN_TIMEOUT),
        _say_started,
        _started_json,
        verb="start",
        json_out=json_out,
    )


def restart(names: NamesArg, json_out: JsonOpt = False) -> None:
    """Stop containers (clean shutdown, then kill after 30 s) and start them again, each
    until its login prompt shows; a stopped one is just started."""
    each.for_each(
        names,
        lambda c: lifecycle.restart(c, login_timeout=START_LOGIN_TIMEOUT),
        _say_started,
        _started_json,
        verb="restart",
        json_out=json_out,
    )


def stop(
    names: NamesOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Stop every running container (at host shutdown).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Stop containers, all at once (clean shutdown, then kill after 30 s)."""
    if all_:
        if names:
            raise InvalidArgumentError("give NAME... or --all, not both", hint="lxcprov stop --all")
        err.print("stopping every running container (clean shutdowns, at once)")
        failed = False
        stopped = list(halt.stop_all(options.path()))
        if json_out:
            emit_json([{"name": who, "state": state} for who, state in stopped])
        for who, state in stopped:
            err.print(f"{shown(who)} is {shown(state)}")
            failed = failed or state.startswith("not stopped")
        if failed:
            raise StartFailedError("some containers did not stop")
        return
    if not names:
        raise InvalidArgumentError("stop needs NAME... or --all", hint="lxcprov stop web1")

    def announced() -> None:
        # Said once the names are known good (a pattern that matches nothing is refused).
        if each.several(names):
            err.print("stopping them at once (clean shutdowns; each killed if not down in 30 s)")
        else:
            err.print(f"stopping {shown(names[0])} (a clean shutdown; killed if not down in 30 s)")

    each.for_each(
        names,
        halt.stop,
        lambda name, state: err.print(f"{shown(name)} is {state}"),
        lambda name, state: {"name": name, "state": state},
        verb="stop",
        json_out=json_out,
        at_once=halt.AT_ONCE,
        before=announced,
    )


def destroy(
    names: NamesArg,
    force: Annotated[
        bool,
        typer.Option("--force", "-f", help="Stop it first if running; remove a half-made one."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Remove containers and their rootfs."""

    def say(name: str, removed: recovery.Removed) -> None:
        for line in removed.done:
            err.print(f"  {shown(line)}")
        err.print(f"{shown(name)} destroyed")

    each.for_each(
        names,
        lambda c: lifecycle.destroy(c, force=force),
        say,
        lambda name, removed: {"name": name, "destroyed": True, "done": removed.done},
        verb="destroy",
        json_out=json_out,
    )


LS_COLUMNS = (
    "name", "state", "ipv4", "ipv6", "type", "memory", "snapshots", "ports", "autostart",
)  # fmt: skip
LS_STATES = ("RUNNING", "STOPPED", "FROZEN", "STARTING", "STOPPING", "BROKEN", "INCOMPLETE",
             "CREATING")  # fmt: skip


def _columns(text: str | None, rows: list[dict[str, object]]) -> list[str]:
    if text:
        wanted = [c.strip().lower() for c in text.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in LS_COLUMNS]
        if unknown:
            raise InvalidArgumentError(
                f"unknown column {unknown[0]!r}{did_you_mean(unknown[0], LS_COLUMNS)}",
                hint="columns: " + ", ".join(LS_COLUMNS),
            )
        return wanted
    # By default a column that would be empty for every row is left out.
    optional = {"ipv6", "ports", "memory", "snapshots", "autostart"}
    return [c for c in LS_COLUMNS if c not in optional or any(r.get(c) for r in rows)]


def ls(
    pattern: Annotated[
        str | None,
        typer.Argument(
            metavar="PATTERN",
            help="Only containers whose name matches this shell pattern, e.g. 'web*'.",
            autocompletion=complete.containers,
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="STATE",
            help="Only containers in this state: " + ", ".join(s.lower() for s in LS_STATES) + ".",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", metavar="table|csv|json|yaml", help="Output format."),
    ] = "table",
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            metavar="COLUMN,...",
            help="Columns to show, in order, from: " + ", ".join(LS_COLUMNS) + ".",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Short for --format json.")] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Stay, and show the list again each time it changes (json: a line)."
        ),
    ] = False,
) -> None:
    """List containers: name, state, addresses, type, memory limit, published ports."""
    from lxcprov.cli import table

    fmt = "json" if json_out else fmt.lower()
    if fmt not in table.FORMATS:
        raise InvalidArgumentError(
            f"unknown format {fmt!r}{did_you_mean(fmt, table.FORMATS)}",
            hint="table, csv, json or yaml",
        )
    if state is not None and state.upper() not in LS_STATES:
        raise InvalidArgumentError(
            f"unknown state {state!r}{did_you_mean(state.lower(), [s.lower() for s in LS_STATES])}",
            hint="states: " + ", ".join(s.lower() for s in LS_STATES),
        )
    if watch:
        listing.watch(
            options.path(), lambda rows: _ls_show(rows, fmt, state, columns, pattern, watch=True)
        )
        return
    _ls_show(listing.listing(options.path(), pattern=pattern), fmt, state, columns, pattern)


def _ls_show(
    rows: list[listing.Row],
    fmt: str,
    state: str | None,
    columns: str | None,
    pattern: str | None,
    *,
    watch: bool = False,
) -> None:
    from lxcprov.cli import table

    if state:
        rows = [r for r in rows if r.state == state.upper()]
    data = [r.as_dict() for r in rows]
    if fmt == "json" and watch:
        print(json.dumps(data, sort_keys=True), flush=True)  # one line per change
        return
    if fmt == "json":
        emit_json(data)
        return
    # One spelling of a state in every format: LXC's own (RUNNING), as lxc-ls shows it.
    cells = data
    chosen = _columns(columns, cells)
    if fmt == "csv":
        sys.stdout.write(table.as_csv(cells, chosen))  # type: ignore[arg-type]
    elif fmt == "yaml":
        sys.stdout.write(table.as_yaml(cells, chosen))  # type: ignore[arg-type]
    elif not rows:
        which = " ".join(
            part for part in (f"matching {pattern!r}" if pattern else "",
                              f"in state {state.upper()}" if state else "") if part
        )  # fmt: skip
        err.print(f"no containers{' ' + which if which else ''} in {options.path()}")
    else:
        sys.stdout.write(table.table(cells, chosen))  # type: ignore[arg-type]
    sys.stdout.flush()
    for r in rows:
        if r.problem:
            err.print(f"[yellow]{shown(r.name)}[/]: {shown(r.problem)}")


def exec_(
    name: NameArg,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[-- COMMAND...]",
            help="Command and arguments, after --; none: a login shell, as lxcprov shell.",
        ),
    ] = None,
) -> None:
    """Run a command inside a running container as root, in /; exits with its exit code.

    The environment is clean: PATH, root's HOME, USER, and your TERM.
    """
    command = list(command or [])
    if command and command[0] == "--":
        command = command[1:]  # click keeps the separator when interspersed args are off
    term = os.environ.get("TERM")
    run.replace_process(attach.exec_argv(options.container(name), command, term))


def shell(name: NameArg) -> None:
    """A login shell as root inside a running container (HOME, cwd home, your TERM), as
    `incus shell` and `pct enter` give."""
    run.replace_process(attach.shell_argv(options.container(name), os.environ.get("TERM")))


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


def _access(password_file: Path | None, keys: list[Path] | None) -> Access:
    from lxcprov.ops.access import Access

    return Access(password_file, keys or [])


def register(app: typer.Typer) -> None:
    app.command(
        epilog=examples(
            "lxcprov new web -t debian --root-password-file pw.txt",
            "lxcprov new app -t debian --ip auto --memory 512M --publish 8080:80",
            "lxcprov new node -t busybox --count 5",
            "lxcprov new web -t busybox --memory 256M --check",
        )
    )(new)
    app.command(
        epilog=examples("lxcprov fix old1 --dry-run", "lxcprov fix old1 --root-password-file pw")
    )(fix)
    app.command(epilog=examples("lxcprov console web", "lxcprov console web --tty 0"))(console)
    app.command(
        epilog=examples("lxcprov start web", "lxcprov start web1 web2 'db*'", "lxcprov start --all")
    )(start)
    app.command(epilog=examples("lxcprov restart web", "lxcprov restart 'web*'"))(restart)
    app.command(
        epilog=examples("lxcprov stop web", "lxcprov stop web1 web2", "lxcprov stop --all")
    )(stop)
    app.command(epilog=examples("lxcprov destroy web", "lxcprov destroy --force web 'test*'"))(
        destroy
    )
    app.command(
        "ls",
        epilog=examples(
            "lxcprov ls",
            "lxcprov ls 'web*' --state running --columns name,ipv4",
            "lxcprov ls --format csv",
            "lxcprov ls --watch --json",
        ),
    )(ls)
    app.command(
        epilog=examples("lxcprov convert old1 --unprivileged", "lxcprov convert db --privileged")
    )(convert)
    app.command(
        "exec",
        context_settings={"allow_interspersed_args": False},
        epilog=examples(
            "lxcprov exec web -- apt-get update",
            "lxcprov exec web -- sh -c 'ls /'",
            "lxcprov exec web",
        ),
    )(exec_)
    app.command(epilog=examples("lxcprov shell web"))(shell)
