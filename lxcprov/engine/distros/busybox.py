"""busybox: one static binary, init included; no os-release, no package manager."""

from lxcprov.engine.distros.family import Family, Template

FAMILY = Family(
    "busybox",
    templates=(
        Template(
            "busybox",
            summary="busybox on the host; under a second, no network needed",
            release_option=None,
            needs_internet=False,
            host_tools=("busybox",),
        ),
    ),
    os_ids=("busybox",),
    # The template writes no os-release: a busybox init is how its rootfs is recognised.
    unnamed_init="busybox",
    getty_programs=("/bin/getty", "/sbin/getty"),
    renew_on_clone=("machine-id",),  # no sshd in the template
)
