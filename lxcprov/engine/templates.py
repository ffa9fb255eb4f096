"""What lxcprov knows about each LXC template, in one table.

Adding a template is adding an entry; a template not listed still works with generic
defaults (`--release R` is passed as the template's `--release R`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.errors import InvalidArgumentError


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    # How the template takes a release; None when it has no notion of one.
    release_option: str | None = "--release"
    default_release: str | None = None
    # The template fetches from somewhere other than Debian's mirror (cannot work offline).
    needs_internet: bool = False


TEMPLATES: dict[str, TemplateInfo] = {
    t.name: t
    for t in (
        TemplateInfo("busybox", release_option=None),
        TemplateInfo("debian", default_release="bookworm"),
        TemplateInfo("devuan", default_release="chimaera", needs_internet=True),
        TemplateInfo("ubuntu", default_release="jammy", needs_internet=True),
        TemplateInfo("alpine", needs_internet=True),
        TemplateInfo("download", release_option="--release", needs_internet=True),
    )
}


def info(template: str) -> TemplateInfo:
    return TEMPLATES.get(template, TemplateInfo(template))


def template_args(template: str, release: str | None, extra: list[str]) -> list[str]:
    """The arguments after `--` for lxc-create."""
    t = info(template)
    args: list[str] = []
    release = release or t.default_release
    if release:
        if t.release_option is None:
            raise InvalidArgumentError(
                f"template {template!r} has no releases", hint="drop --release"
            )
        args += [t.release_option, release]
    return args + extra
