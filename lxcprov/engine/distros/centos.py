"""CentOS-like systemd distributions (RHEL, Fedora, Rocky, Alma); tested on synthetic trees."""

from lxcprov.engine.distros.family import Family, Template

FAMILY = Family(
    "centos",
    templates=(
        Template("centos", summary="downloads from CentOS's mirror"),
        Template("fedora", summary="downloads from Fedora's mirror"),
    ),
    os_ids=("centos", "rhel", "fedora", "rocky", "almalinux"),
    getty_programs=("/sbin/agetty", "/usr/sbin/agetty"),
)
