"""`lxcprov new`: its options, declared once (the typer parameters of new()), and what it
does with them: one request per NAME (lxcprov.cli.newrequest), then guided questions,
--check, one container or many at once (lxcprov.cli.newrun)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import complete, lazy, newrequest, newrun
from lxcprov.cli.common import JsonOpt, emit_json, err, options, shown
from lxcprov.cli.helptext import examples
from lxcprov.cli.newrequest import Values, setting_option
from lxcprov.cli.recipe_options import DryRun, PasswordFile, RecipeOpt, SkipOpt, SshKey
from lxcprov.errors import InvalidArgumentError
from lxcprov.ops.defaults import DEFAULT_BOOT_TIMEOUT

if TYPE_CHECKING:
    from lxcprov.ops import guided as guided_mod
    from lxcprov.ops.request import NewRequest
else:
    guided_mod = lazy.module("lxcprov.ops.guided")

NewVerbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Show the template's output as it runs (else only when it fails), and each "
        "recipe step that changes nothing.",
    ),
]

# More than one host runs (a bridge takes 1023 ports; pids run out near 3000 systemd
# containers at Debian's defaults): a larger --count is refused before anything is made.
MAX_COUNT = 10000


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
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            metavar="REF",
            help="Make it from an image instead of a template: a rootfs tarball (.tar, "
            ".tar.gz, .tar.xz, .tar.zst), oci:DIR[:TAG] or docker://REGISTRY/REPO:TAG "
            "(cached as a base; docs/images.md).",
        ),
    ] = None,
    pull: Annotated[
        bool,
        typer.Option("--pull", help="With --image docker://...: fetch the image again."),
    ] = False,
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
        # At most MAX_COUNT: the names and requests are made before the host's limits
        # are asked, and ten million of them filled the memory first (outside review).
        typer.Option(
            "--count", metavar="N", help="Make NAME1..NAMEn from one NAME.", min=1, max=MAX_COUNT
        ),
    ] = None,
    timings: Annotated[
        bool, typer.Option("--timings", help="Show how long each phase took.")
    ] = False,
    verbose: NewVerbose = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Try a template `lxcprov templates` says cannot work here."),
    ] = False,
    memory: Annotated[str | None, setting_option("memory")] = None,
    swap: Annotated[str | None, setting_option("swap")] = None,
    cpus: Annotated[str | None, setting_option("cpus")] = None,
    cpu_weight: Annotated[str | None, setting_option("cpu-weight")] = None,
    autostart: Annotated[str | None, setting_option("autostart")] = None,
    nesting: Annotated[
        bool,
        typer.Option(
            "--nesting",
            help="Docker and Podman can run containers inside; still unprivileged "
            "(set NAME nesting=yes later does the same).",
        ),
    ] = False,
    disk: Annotated[str | None, setting_option("disk")] = None,
    mount: Annotated[
        list[str] | None,
        typer.Option(
            "--mount",
            help="A host directory inside: HOST_DIR:CONTAINER_DIR[:ro] (repeatable).",
            metavar="HOST_DIR:CONTAINER_DIR[:ro]",
        ),
    ] = None,
    device: Annotated[
        list[str] | None,
        typer.Option(
            "--device",
            help="A host device inside: tun, fuse, kvm, gpu, usb:BUS-PORT or /dev/PATH "
            "(repeatable; see `lxcprov device add`).",
            metavar="DEVICE",
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
    user_data: Annotated[
        Path | None,
        typer.Option(
            "--user-data",
            metavar="FILE",
            help="A #cloud-config file: given to cloud-init where the container has it, "
            "else applied by lxcprov (docs/cloud-config.md).",
        ),
    ] = None,
    user_data_lenient: Annotated[
        bool,
        typer.Option(
            "--user-data-lenient",
            help="Ignore (and list) --user-data keys lxcprov does not apply, instead of refusing.",
        ),
    ] = False,
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
    _new(locals())


def _split_names(words: list[str]) -> tuple[list[str], list[str]]:
    """NAME... and the template arguments after `--` (click merges both into one list)."""
    argv = sys.argv
    tail = len(argv) - argv.index("--") - 1 if "--" in argv else 0
    cut = len(words) - tail
    return words[:cut], words[cut:]


def _new(values: Values) -> None:
    names, template_args = _split_names(values["names_and_args"] or [])
    one_line = values["check"] or values["json_lines"]
    made_from = values["template"] or values["image"]
    if one_line and (len(names) != 1 or made_from is None or values["count"] is not None):
        raise InvalidArgumentError(
            "--check and --json-lines take one NAME and --template (nothing is asked)",
            hint="lxcprov new web1 --template debian --check",
        )
    if not names or made_from is None:
        _guided(names, values)
        return
    reqs = [
        newrequest.request_of(values, name, template_args, options.path())
        for name in _names(names, values["count"])
    ]
    json_out, timings = values["json_out"], values["timings"]
    if values["check"]:
        _check(reqs[0], json_out=json_out)
    elif len(reqs) > 1 or values["count"] is not None:
        if values["dry_run"]:
            raise InvalidArgumentError("--dry-run takes one container", hint="drop the others")
        newrun.new_many(reqs, json_out=json_out, timings=timings)
    else:
        newrun.new_one(reqs[0], dry_run=values["dry_run"], json_out=json_out, timings=timings,
                       verbose=values["verbose"], json_lines=values["json_lines"])  # fmt: skip


def _names(names: list[str], count: int | None) -> list[str]:
    """The containers' names: as given, or NAME1..NAMEn with --count."""
    if count is not None:
        if len(names) != 1:
            raise InvalidArgumentError(
                "--count takes one NAME prefix", hint="lxcprov new web --count 5"
            )
        return [f"{names[0]}{i}" for i in range(1, count + 1)]
    return names


def _check(req: NewRequest, *, json_out: bool) -> None:
    """`new --check`: what `new` checks before it makes anything, then the command."""
    command = shell_command(guided_mod.check(req))
    if json_out:
        emit_json({"ok": True, "name": req.name, "command": command})
    err.print(f"[green]{shown(req.name)} can be made[/]: {shown(command)}")


def _guided(names: list[str], values: Values) -> None:
    """Ask for what `new` was not given (on a terminal), else fail naming it; then say
    the one-line command and make the container."""
    if len(names) > 1:
        raise InvalidArgumentError("several names need --template", hint="add -t TEMPLATE")
    network, bridge, ip = values["network"], values["bridge"], values["ip"]
    given = guided_mod.Given(
        name=names[0] if names else None,
        template=values["template"],
        release=values["release"],
        password_file=values["root_password_file"],
        ssh_keys=values["ssh_key"] or [],
        # Left at its default with no bridge or address given: ask.
        network=None if network == "bridge" and not bridge and not ip else network,
        bridge=bridge,
        ip=ip,
        settings=newrequest.settings_of(values),
    )
    guided = guided_mod.resolve(given, options.path())
    for req in (guided.request, guided.shown):  # asked nothing about: kept as given
        req.user_data = None if values["user_data"] is None else str(values["user_data"])
        req.user_data_lenient = values["user_data_lenient"]
    try:
        sys.stderr.write("The same in one line (next time, or in a script):\n")
        sys.stderr.write(f"  {shell_command(guided.shown, guided.setup_bridge)}\n")
        sys.stderr.flush()
        newrun.new_one(guided.request, dry_run=values["dry_run"], json_out=values["json_out"],
                       timings=values["timings"], verbose=values["verbose"])  # fmt: skip
    finally:
        guided.cleanup()


def shell_command(req: NewRequest, setup_bridge: str | None = None) -> str:
    """The one line that makes req, as a shell takes it (after `net setup` when guided
    `new` just ran that for the bridge)."""
    command = shlex.join(["lxcprov", *newrequest.spell(req, _command().params)])
    if setup_bridge:
        return f"lxcprov net setup --bridge {setup_bridge} && {command}"
    return command


def _command() -> typer.core.TyperCommand:
    """`new` as click sees it (its options as declared above)."""
    alone = typer.Typer(add_completion=False, rich_markup_mode=None)
    alone.command()(new)
    command = typer.main.get_command(alone)
    assert isinstance(command, typer.core.TyperCommand)
    return command


def worker() -> None:
    """A child of `new --count` in a fresh interpreter: makes the request it reads as JSON
    on stdin, and reports in JSON on stdout."""
    from lxcprov.ops.request import NewRequest

    newrun.run_request(NewRequest.from_json(sys.stdin.read()))


def register(app: typer.Typer) -> None:
    app.command(
        epilog=examples(
            "lxcprov new web -t debian --root-password-file pw.txt",
            "lxcprov new app -t debian --ip auto --memory 512M --publish 8080:80",
            "lxcprov new data -t debian --disk 10G",
            "lxcprov new node -t busybox --count 5",
            "lxcprov new web -t busybox --memory 256M --check",
        )
    )(new)
    app.command(newrun.WORKER, hidden=True)(worker)
