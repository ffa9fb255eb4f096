"""The shape of a distribution family and of one of its LXC templates."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Literal

from lxcprov.errors import InvalidArgumentError

# What a clone gets anew so that it never shares its base's identity.
Identity = Literal["machine-id", "ssh-host-keys"]

DEFAULT_GETTYS = ("/sbin/getty", "/bin/getty", "/usr/sbin/getty", "/sbin/agetty")


@dataclass(frozen=True)
class Template:
    """One LXC template (/usr/share/lxc/templates/lxc-NAME)."""

    name: str
    summary: str  # what it needs and how long it takes, as guided `new` shows it
    # How the template takes a release; None when it has no notion of one.
    release_option: str | None = "--release"
    default_release: str | None = None
    releases: tuple[str, ...] = ()  # offered by guided `new`
    # It fetches from somewhere other than Debian's mirror (cannot work offline).
    needs_internet: bool = True
    host_tools: tuple[str, ...] = ()  # programs it runs on the host

    def usable(self) -> bool:
        """Whether it can work here: its host tools are installed and it needs no internet."""
        return not self.needs_internet and all(shutil.which(t) for t in self.host_tools)


def template_args(t: Template, release: str | None, extra: list[str]) -> list[str]:
    """The arguments after `--` for lxc-create."""
    args: list[str] = []
    release = release or t.default_release
    if release:
        if t.release_option is None:
            raise InvalidArgumentError(
                f"template {t.name!r} has no releases", hint="drop --release"
            )
        args += [t.release_option, release]
    return args + extra


@dataclass(frozen=True)
class Family:
    name: str
    templates: tuple[Template, ...]
    # os-release ID or ID_LIKE values that mark a rootfs of this family.
    os_ids: tuple[str, ...] = ()
    # The distro fact when the rootfs has no os-release (matched by init instead).
    unnamed_init: str = ""
    getty_programs: tuple[str, ...] = DEFAULT_GETTYS  # preferred first
    renew_on_clone: tuple[Identity, ...] = ("machine-id", "ssh-host-keys")

    def matches(self, os_release: dict[str, str], init: str) -> bool:
        ids = {os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()} - {""}
        if ids:
            return bool(ids & set(self.os_ids))
        return bool(self.unnamed_init) and init == self.unnamed_init


GENERIC = Family("generic", templates=())
