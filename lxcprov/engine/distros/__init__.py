"""Distribution families: what lxcprov knows about each template and the systems it makes.

One module per family, in the spirit of mkosi's distribution modules: its LXC templates
(release option, default release, what the template needs on the host, for guided
`new`), how to recognise its rootfs (os-release IDs) and the fact hints that follow
(getty programs, the distro name when there is no os-release), and what a clone of its
base must not share (its identity). Adding a family is adding a module and listing it in
FAMILIES below; a template no family names still works with generic defaults.
"""

from __future__ import annotations

from lxcprov.engine.distros import alpine, busybox, centos, debian, download
from lxcprov.engine.distros.family import (
    GENERIC,
    Family,
    Identity,
    Template,
    template_args,
)

FAMILIES: tuple[Family, ...] = (
    debian.FAMILY,
    busybox.FAMILY,
    alpine.FAMILY,
    centos.FAMILY,
    download.FAMILY,
)


def template(name: str) -> Template:
    """The template called name (generic defaults for a template no family knows)."""
    for family in FAMILIES:
        for t in family.templates:
            if t.name == name:
                return t
    return Template(name, summary="a template lxcprov has no notes on", needs_internet=False)


def family_of_template(name: str) -> Family:
    for family in FAMILIES:
        if any(t.name == name for t in family.templates):
            return family
    return GENERIC


def known_templates() -> list[Template]:
    return [t for family in FAMILIES for t in family.templates]


def for_rootfs(os_release: dict[str, str], init: str) -> Family:
    """The family a rootfs belongs to, from its os-release (and init, when it has none)."""
    for family in FAMILIES:
        if family.matches(os_release, init):
            return family
    return GENERIC


__all__ = [
    "FAMILIES",
    "GENERIC",
    "Family",
    "Identity",
    "Template",
    "family_of_template",
    "for_rootfs",
    "known_templates",
    "template",
    "template_args",
]
