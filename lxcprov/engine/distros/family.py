"""The shape of a distribution family and of one of its LXC templates."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Literal

from lxcprov.errors import InvalidArgumentError, did_you_mean

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
        return not self.why_not()

    def why_not(self) -> str:
        """Why it cannot work here ("" when it can)."""
        missing = [t for t in self.host_tools if not shutil.which(t)]
        if missing:
            return f"it needs {', '.join(missing)} on this host (apt-get install {missing[0]})"
        if self.needs_internet:
            return "it needs the internet beyond Debian's mirror"
        return ""


def template_args(t: Template, release: str | None, extra: list[str]) -> list[str]:
    """The arguments after `--` for lxc-create."""
    args: list[str] = []
    if release and t.releases and release not in t.releases:
        near = did_you_mean(release, t.releases)
        if near:  # a near miss is a typo; a release far from all known ones may be new
            raise InvalidArgumentError(
                f"unknown release {release!r} of {t.name}{near}",
                hint="releases: " + ", ".join(t.releases),
            )
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
