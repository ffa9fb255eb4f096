"""Alpine: busybox init running OpenRC (synthetic trees in tests; its template needs the net)."""

from lxcprov.engine.distros.family import Family, Template

FAMILY = Family(
    "alpine",
    templates=(Template("alpine", summary="downloads from Alpine's mirror"),),
    os_ids=("alpine",),
    getty_programs=("/sbin/getty", "/bin/getty"),
)
