"""The distro registry: templates by name, families recognised from a rootfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.engine import distros
from lxcprov.engine.facts import gather
from lxcprov.errors import InvalidArgumentError
from lxcprov.system.rootfs import Rootfs
from tests.trees import TREES


def test_templates_and_their_arguments() -> None:
    debian = distros.template("debian")
    assert distros.template_args(debian, None, []) == ["--release", "bookworm"]
    assert distros.template_args(debian, "trixie", ["--packages=x"]) == [
        "--release", "trixie", "--packages=x"
    ]  # fmt: skip
    busybox = distros.template("busybox")
    assert distros.template_args(busybox, None, []) == []
    with pytest.raises(InvalidArgumentError, match="has no releases"):
        distros.template_args(busybox, "1.0", [])
    unknown = distros.template("gentoo")
    assert unknown.name == "gentoo" and distros.template_args(unknown, "x", []) == [
        "--release",
        "x",
    ]
    assert distros.family_of_template("ubuntu").name == "debian"
    assert distros.family_of_template("gentoo") is distros.GENERIC


def test_every_template_belongs_to_one_family() -> None:
    names = [t.name for t in distros.known_templates()]
    assert len(names) == len(set(names))
    assert {"debian", "busybox", "alpine", "centos"} <= set(names)


@pytest.mark.parametrize(
    ("kind", "family", "distro", "getty"),
    [
        ("debian-systemd", "debian", "debian", "/sbin/getty"),
        ("debian-sysvinit", "debian", "debian", "/sbin/getty"),
        ("busybox", "busybox", "busybox", "/bin/getty"),
        ("alpine-openrc-noautodev", "alpine", "alpine", "/sbin/getty"),
        ("centos-systemd", "centos", "centos", "/sbin/agetty"),
    ],
)
def test_families_are_recognised_from_the_rootfs(
    tmp_path: Path, kind: str, family: str, distro: str, getty: str
) -> None:
    build, config = TREES[kind]
    build(tmp_path)
    with Rootfs(tmp_path) as rootfs:
        facts = gather("c", rootfs, config)
    assert (facts.family, facts.distro, facts.getty) == (family, distro, getty)
