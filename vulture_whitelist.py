"""What vulture (scripts/codecheck) cannot see being used: names that Python, the standard
library, click or the kernel call or read by name, never lxcprov's own code. Each says
who uses it. A name that nothing uses is removed, never added here.

Functions registered by a decorator (typer's @app.command and @app.callback, the recipe
actions' @action, which the registry then finds by name) are not listed: pyproject's
[tool.vulture] ignores what those decorators register. This file is read by vulture only;
it is never imported.
"""

from lxcprov.cli import bashcomplete, helptext
from lxcprov.engine import archive, recipes
from lxcprov.system import hostnet, livemount, metricshttp, tarball

# click's BashComplete.source() formats this class attribute into the completion script.
bashcomplete.Bash.source_template
# click calls it to list a group's commands in --help; Group overrides it.
helptext.Group.format_commands
# Written into an export's manifest by asdict() (Manifest.to_json) and read back by
# parse_manifest: a note for people of the base a clone was flattened from.
archive.Manifest.flattened_from
# PEP 562: Python calls a package's __getattr__ for a name it has not loaded yet (both
# packages load their submodules on first use).
recipes.__getattr__
hostnet.__getattr__
# A field of struct mount_attr: the kernel reads it in mount_setattr(2).
livemount._MountAttr.attr_set
# tarfile calls TarInfo._proc_gnusparse_10 by name for a GNU sparse 1.0 member; _Bounded
# overrides it to bound the sparse map.
tarball._Bounded._proc_gnusparse_10
# io.BufferedReader calls readinto on the raw pipe tarfile reads through.
tarball._Pipe.readinto
# `new`'s parameters reach newrequest.request_of through locals(): typer needs them as the
# function's parameters (they are the options' one declaration), and `new` reads them as one
# mapping, so no statement names these three.
_new_locals: dict[str, object] = {}
_new_locals.names_and_args
_new_locals.no_start
_new_locals.no_base
# http.server reads these class attributes and calls do_GET and log_message by name.
metricshttp._Server.daemon_threads
metricshttp._Server.address_family
metricshttp._Handler.version_string
metricshttp._Handler.protocol_version
metricshttp._Handler.do_GET
metricshttp._Handler.log_message
