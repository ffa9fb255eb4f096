"""Where `new`'s options meet NewRequest, and nowhere else.

`new` (lxcprov.cli.new) declares its options once, as typer parameters. Here its parsed
values become requests (request_of), and a request becomes its one-line command again
(spell: guided `new` and `new --check` show it), spelled from the options `new` declares,
so no flag name is written twice. tests/unit/test_new_options.py parses every option
through the real CLI and checks both directions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lxcprov.cli.recipe_options import access_of
from lxcprov.engine import settings_words

if TYPE_CHECKING:
    from typer._click.core import Parameter

    from lxcprov.ops.request import NewRequest

# `new`'s parameters by name, as typer hands them to it.
Values = Mapping[str, Any]

# The `lxcprov set` settings `new` takes as options (--memory 512M is memory=512M); their
# help is the settings' own wording (lxcprov.engine.settings_words).
SETTINGS = ("memory", "swap", "cpus", "cpu-weight", "autostart", "disk")


def setting_option(setting: str) -> Any:
    """The typer option of one setting (Any: typer.Option's declared type is its default)."""
    return typer.Option(
        f"--{setting}",
        metavar=settings_words.SUMMARIES[setting][1],
        help=settings_words.option_help(setting),
    )


def _param(setting: str) -> str:
    return setting.replace("-", "_")  # cpu-weight -> new's parameter cpu_weight


def settings_of(values: Values) -> dict[str, str]:
    found = {s: values[_param(s)] for s in SETTINGS if values[_param(s)] is not None}
    # --nesting is a flag (off is the default, never a word to write): nesting=yes.
    return found | ({"nesting": "yes"} if values["nesting"] else {})


def request_of(values: Values, name: str, template_args: list[str], lxcpath: Path) -> NewRequest:
    """The request one NAME of a parsed `new` makes."""
    from lxcprov.ops.request import NewRequest

    return NewRequest(
        name=name,
        template=values["template"] or "",
        lxcpath=lxcpath,
        release=values["release"],
        template_args=template_args,
        network=values["network"],
        bridge=values["bridge"],
        ip=values["ip"],
        access=access_of(values["root_password_file"], values["ssh_key"]),
        only=values["recipe"] or [],
        skip=values["skip_recipe"] or [],
        start=not values["no_start"],
        dry_run=values["dry_run"],
        keep_on_failure=values["keep_on_failure"],
        boot_timeout=values["boot_timeout"],
        use_base=not values["no_base"],
        force=values["force"],
        privileged=values["privileged"],
        isolated=values["isolated"],
        settings=settings_of(values),
        mounts=values["mount"] or [],
        devices=values["device"] or [],
        publish=values["publish"] or [],
        user_data=None if values["user_data"] is None else str(values["user_data"]),
        user_data_lenient=values["user_data_lenient"],
        image=values["image"],
        pull=values["pull"],
    )


def values_of(req: NewRequest) -> dict[str, object]:
    """request_of's inverse: the option values that make req (its name and template
    arguments are positional)."""
    unknown = [s for s in req.settings if s not in (*SETTINGS, "nesting")]
    if req.mac is not None or unknown:
        # Only callers in one process set these (`apply --replace` keeps a MAC): `new` has
        # no option for them, so its command line would silently drop them.
        raise ValueError(f"no `new` option for {'mac' if req.mac else unknown[0]}")
    values: dict[str, object] = {
        "template": req.template or None,
        "image": req.image,
        "pull": req.pull,
        "release": req.release,
        "network": req.network,
        "bridge": req.bridge,
        "ip": req.ip,
        "root_password_file": req.access.password_file,
        "ssh_key": req.access.ssh_key_files,
        "recipe": req.only,
        "skip_recipe": req.skip,
        "no_start": not req.start,
        "dry_run": req.dry_run,
        "keep_on_failure": req.keep_on_failure,
        "boot_timeout": req.boot_timeout,
        "no_base": not req.use_base,
        "force": req.force,
        "privileged": req.privileged,
        "isolated": req.isolated,
        "mount": req.mounts,
        "device": req.devices,
        "publish": req.publish,
        "user_data": None if req.user_data is None else Path(req.user_data),
        "user_data_lenient": req.user_data_lenient,
    }
    values.update({_param(s): req.settings.get(s) for s in SETTINGS})
    values["nesting"] = req.settings.get("nesting", "no") == "yes"
    return values


def spell(req: NewRequest, params: Sequence[Parameter]) -> list[str]:
    """The `new` command line (the words after `lxcprov`) that makes req, its options in
    the order `new --help` lists them, each spelled as declared in params."""
    from typer.core import TyperOption

    values = values_of(req)
    words = ["new", req.name]
    for param in params:
        if not isinstance(param, TyperOption) or param.name not in values:
            continue
        flag, value = max(param.opts, key=len), values[param.name]
        if param.is_flag:
            words += [flag] if value else []
        elif param.multiple:
            words += [word for item in value for word in (flag, str(item))]  # type: ignore[attr-defined]
        elif value is not None and value != param.default:
            words += [flag, _number(value) if isinstance(value, float) else str(value)]
    if req.template_args:
        words += ["--", *req.template_args]
    return words


def _number(value: float) -> str:
    """A float as typed back (`120`, `1.5`, `100000000`): %g would round 1e8 to 1e+08's
    six digits, another timeout than the one asked."""
    return str(int(value)) if value.is_integer() else repr(value)
