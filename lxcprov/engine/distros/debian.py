"""Debian and its derivatives made by lxc-templates (debian, devuan, ubuntu)."""

from lxcprov.engine.distros.family import Family, Template

FAMILY = Family(
    "debian",
    templates=(
        Template(
            "debian",
            summary="debootstrap and Debian's mirror; ~60 s the first time, then cached",
            default_release="bookworm",
            releases=("bookworm", "trixie", "bullseye"),
            needs_internet=False,  # Debian's mirror is reachable wherever apt works
            host_tools=("debootstrap",),
        ),
        Template("devuan", summary="downloads from Devuan's mirror", default_release="chimaera"),
        Template("ubuntu", summary="downloads from Ubuntu's mirror", default_release="jammy"),
    ),
    os_ids=("debian", "devuan", "ubuntu"),
    # agetty is /sbin/getty's sibling on Debian; both exist, getty is the one inittab uses.
    getty_programs=("/sbin/getty", "/sbin/agetty"),
)
