"""The `download` template: prebuilt images from images.linuxcontainers.org, any distro."""

from lxcprov.engine.distros.family import Family, Template

# Its images are of many distributions; the rootfs tells which (for_rootfs), so this family
# only describes the template.
FAMILY = Family(
    "download",
    templates=(
        Template("download", summary="downloads a prebuilt image from linuxcontainers.org"),
    ),
)
