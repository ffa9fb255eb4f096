"""What `lxcprov new` is asked to make: one request, as data.

The CLI builds it from `new`'s options (lxcprov.cli.newrequest, the one place that knows
them); many containers at once hand each child its request (lxcprov.ops.batch: the object
itself in a fork, its JSON on stdin in a fresh interpreter). Nothing here knows a flag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lxcprov.errors import InvalidArgumentError
from lxcprov.ops.access import Access
from lxcprov.ops.defaults import DEFAULT_BOOT_TIMEOUT


@dataclass
class NewRequest:
    name: str
    template: str
    lxcpath: Path
    release: str | None = None
    template_args: list[str] = field(default_factory=list)
    network: str = "bridge"  # or "none"
    bridge: str | None = None
    ip: str | None = None  # ADDR[/PREFIX] or "auto"; None: DHCP
    access: Access = field(default_factory=Access)
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    start: bool = True
    dry_run: bool = False
    keep_on_failure: bool = False
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    use_base: bool = True
    privileged: bool = False  # uid 0 inside is uid 0 on the host (not the default)
    isolated: bool = False  # unprivileged with a block of ids of its own
    force: bool = False  # try a template that `templates` says cannot work here
    # lxcprov set's settings (memory=512M, ttys=2, ...) applied before the first start.
    settings: dict[str, str] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)  # HOST_DIR:CONTAINER_DIR[:ro]
    devices: list[str] = field(default_factory=list)  # tun, fuse, usb:1-2, /dev/PATH
    publish: list[str] = field(default_factory=list)  # [ADDR:]HOST_PORT[:CONTAINER_PORT][/udp]
    # The veth's MAC; None: a random one (`apply --replace` keeps a container's MAC, so
    # its DHCP lease and reservation stay; `new` has no option for it).
    mac: str | None = None
    # A #cloud-config file on the host (lxcprov.ops.userdata reads it where `new` runs),
    # and whether keys lxcprov does not apply are ignored (listed) instead of refused.
    user_data: str | None = None
    user_data_lenient: bool = False
    # An image to make it from instead of a template (lxcprov.ops.images): a rootfs
    # tarball, oci:DIR[:TAG] or docker://REGISTRY/REPO:TAG; pull: fetch a registry's again.
    image: str | None = None
    pull: bool = False

    def to_json(self) -> str:
        """The request as JSON (paths as strings; the files are read by whoever runs it)."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["lxcpath"] = str(self.lxcpath)
        data["access"] = {
            "password_file": None
            if self.access.password_file is None
            else str(self.access.password_file),
            "ssh_key_files": [str(k) for k in self.access.ssh_key_files],
        }
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NewRequest:
        """The request to_json wrote (a batch child's stdin). Checked as strictly as the
        CLI's parse: every field known, of its type, and no field missing that has no
        default; a wrong one is one line, never a traceback or a silently other request.
        The values themselves are then checked by `new` as any request's are."""
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _bad(f"it is not JSON ({exc})") from None
        except (ValueError, RecursionError) as exc:  # 4300 digits, or nested past the stack
            raise _bad(f"it is not a request's JSON: {str(exc)[:80]}") from None
        if not isinstance(data, dict):
            raise _bad("it is not a JSON object")
        unknown = sorted(set(data) - set(_KINDS))
        missing = sorted(k for k in _REQUIRED if k not in data)
        if unknown or missing:
            raise _bad("; ".join(
                ([f"unknown field {', '.join(unknown)}"] if unknown else [])
                + ([f"no {', '.join(missing)}"] if missing else [])
            ))  # fmt: skip
        for key, value in data.items():
            if not _KINDS[key](value):
                raise _bad(f"{key} is not {_KIND_WORDS[key]}: {json.dumps(value)[:80]}")
        lxcpath = Path(data.pop("lxcpath"))
        if not lxcpath.is_absolute():
            raise _bad(f"lxcpath {str(lxcpath)!r} is not an absolute path")
        access = data.pop("access", {"password_file": None, "ssh_key_files": []})
        password = access["password_file"]
        return cls(
            **data,
            lxcpath=lxcpath,
            access=Access(
                None if password is None else Path(password),
                [Path(k) for k in access["ssh_key_files"]],
            ),
        )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One value a key: JSON allows a key twice (the last wins), a request does not."""
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} given twice")
    return dict(pairs)


def _bad(why: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"not a request of lxcprov new: {why}",
        hint="new-worker reads what `lxcprov new --count` hands its children; use lxcprov new",
    )


def _str(v: object) -> bool:
    return isinstance(v, str)


def _opt_str(v: object) -> bool:
    return v is None or isinstance(v, str)


def _bool(v: object) -> bool:
    return isinstance(v, bool)


def _number(v: object) -> bool:
    """A JSON number a float holds (an integer of 400 digits is not one)."""
    if not isinstance(v, int | float) or isinstance(v, bool):
        return False
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _strs(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _str_map(v: object) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in (*v, *v.values()))


def _access(v: object) -> bool:
    return (
        isinstance(v, dict)
        and set(v) == {"password_file", "ssh_key_files"}
        and _opt_str(v["password_file"])
        and _strs(v["ssh_key_files"])
    )


# What each field of the JSON must be: one check and its words for the error.
_CHECKS = {
    "str": (_str, "a string"),
    "str | None": (_opt_str, "a string or null"),
    "bool": (_bool, "true or false"),
    "float": (_number, "a number"),
    "list[str]": (_strs, "a list of strings"),
    "dict[str, str]": (_str_map, "an object of strings"),
    "Path": (_str, "a string"),
    "Access": (_access, "{password_file, ssh_key_files}"),
}
_KINDS = {f.name: _CHECKS[str(f.type)][0] for f in fields(NewRequest)}
_KIND_WORDS = {f.name: _CHECKS[str(f.type)][1] for f in fields(NewRequest)}
_REQUIRED = ("name", "template", "lxcpath")
