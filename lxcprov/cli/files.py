"""`lxcprov push` and `lxcprov pull`: files and directories into and out of a container."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from lxcprov.cli import lazy, streams
from lxcprov.cli.common import MIB, JsonOpt, NameArg, emit_json, err, options, shown_name
from lxcprov.cli.helptext import examples
from lxcprov.errors import InvalidArgumentError, plural

if TYPE_CHECKING:
    from lxcprov.ops import files
else:
    files = lazy.module("lxcprov.ops.files")


def _report(done: files.Copied, verb: str, json_out: bool) -> None:
    if json_out:
        emit_json({"name": done.name, "source": done.source, "target": done.target,
                   "files": done.files, "directories": done.dirs, "symlinks": done.links,
                   "bytes": done.bytes, "skipped": done.skipped,
                   "seconds": round(done.seconds, 3)})  # fmt: skip
    what = plural(done.files, "file")
    if done.dirs:
        what += f", {plural(done.dirs, 'directory', 'directories')}"
    if done.links:
        what += f", {plural(done.links, 'symlink')}"
    rate = done.bytes / MIB / max(done.seconds, 1e-6)
    err.print(f"[green]{verb} {shown_name(done.source)} -> {shown_name(done.target)}[/] ({what}, "
              f"{done.bytes / MIB:.1f} MiB, {done.seconds:.1f} s, {rate:.0f} MiB/s)")  # fmt: skip
    if done.skipped:
        err.print(f"[yellow]note:[/] skipped {len(done.skipped)} (only files, directories and "
                  "symlinks are copied):")  # fmt: skip
        for line in done.skipped[:10]:
            err.print(f"  {shown_name(line)}")
        if len(done.skipped) > 10:
            err.print(f"  ... and {len(done.skipped) - 10} more (--json lists them all)")


def push(
    name: NameArg,
    host_path: Annotated[
        str,
        typer.Argument(
            metavar="HOST_PATH|-", help="A file or a directory (copied whole), or - for stdin."
        ),
    ],
    container_path: Annotated[
        str,
        typer.Argument(
            metavar="CONTAINER_PATH",
            help="Where inside (an existing directory: into it, as cp does).",
        ),
    ],
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            metavar="MODE",
            help="Octal mode of the files (default: the source's; 0644 from stdin).",
        ),
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner",
            metavar="USER[:GROUP]",
            help="Owner inside, names from the container's /etc/passwd and /etc/group "
            "or numbers (default: its root).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Copy a host file, directory or stdin into a container (running or stopped).

    What lands inside is written whole or not at all, owned by the container's root or
    --owner; symlinks inside are followed inside the container, never out of it.
    """
    done = files.push(options.container(name), host_path, container_path, mode=mode,
                      owner=owner)  # fmt: skip
    _report(done, "pushed", json_out)


def pull(
    name: NameArg,
    container_path: Annotated[
        str, typer.Argument(metavar="CONTAINER_PATH", help="A file or a directory inside.")
    ],
    host_path: Annotated[
        str,
        typer.Argument(
            metavar="HOST_PATH|-",
            help="Where on the host (an existing directory: into it, as cp does), or - for "
            "stdout (a file only).",
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Copy a file or a directory out of a container (running or stopped).

    The copy is root's, with the container's permission bits less setuid, setgid and
    sticky; an existing file is replaced, an existing directory is never merged into;
    stdout is never a terminal.
    FIFOs, devices and sockets are refused (skipped and listed in a directory).
    """
    if host_path == "-":
        if json_out:
            raise InvalidArgumentError("--json and - both want stdout", hint="give a HOST_PATH")
        streams.require_stdout("the file")
        if os.isatty(1):
            # The container's bytes, raw, would be a terminal's escape sequences: lxcprov
            # shows a container's text escaped or not at all.
            raise InvalidArgumentError(
                "not writing a container's file to a terminal",
                hint="pipe it (| less) or give a HOST_PATH",
            )
    done = files.pull(options.container(name), container_path, host_path)
    _report(done, "pulled", json_out)


def register(app: typer.Typer) -> None:
    app.command(
        epilog=examples(
            "lxcprov push web1 ./site /var/www",
            "lxcprov push web1 app.conf /etc/app.conf --mode 0640 --owner root:www-data",
            "lxcprov push web1 - /root/notes.txt < notes.txt",
        )
    )(push)
    app.command(
        epilog=examples(
            "lxcprov pull web1 /var/log/syslog .",
            "lxcprov pull web1 /etc ./web1-etc",
            "lxcprov pull web1 /etc/os-release - | head -3",
        )
    )(pull)
