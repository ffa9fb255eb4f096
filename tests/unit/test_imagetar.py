"""What of an image's members becomes a rootfs (lxcprov.engine.imagetar), and what an
image reference names (lxcprov.engine.imageref)."""

from __future__ import annotations

import pytest

from lxcprov.engine import imageref, imagetar
from lxcprov.errors import ArchiveError, InvalidArgumentError
from lxcprov.system.tarball import Member


def _m(name: str, kind: str = "file", **kw: object) -> Member:
    return Member(name, kind, 0, 0o644, 0, 0, **kw)  # type: ignore[arg-type]


def _judge(*names: tuple[str, str], layers: bool = False) -> imagetar.Judge:
    judge = imagetar.Judge(layers=layers)
    for name, kind in names:
        judge.judge(_m(name, kind, linkname="/x" if kind == "symlink" else ""))
    return judge


def test_names_are_relative_to_the_rootfs_with_a_leading_dot_slash_dropped() -> None:
    judge = imagetar.Judge()
    assert judge.judge(_m(".", "dir")).action == "skip"
    assert judge.judge(_m("/", "dir")).action == "skip"  # umoci's top
    assert judge.judge(_m("./etc", "dir")).member.name == "rootfs/etc"  # type: ignore[union-attr]
    assert judge.judge(_m("etc/passwd")).member.name == "rootfs/etc/passwd"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("../x", "component"),
        ("./a/../../x", "component"),
        ("/etc/x", "absolute"),
        ("a//b", "component"),
    ],
)
def test_names_that_would_leave_the_rootfs_are_refused(name: str, said: str) -> None:
    with pytest.raises(ArchiveError, match=said):
        imagetar.Judge().judge(_m(name))


def test_nothing_is_written_under_a_symlink_or_before_its_directory() -> None:
    judge = _judge(("./out", "symlink"))
    with pytest.raises(ArchiveError, match="under the symlink"):
        judge.judge(_m("./out/passwd"))
    with pytest.raises(ArchiveError, match="not in the image before it"):
        judge.judge(_m("./nowhere/passwd"))


def test_owners_outside_a_containers_ids_are_refused() -> None:
    judge = imagetar.Judge()
    with pytest.raises(ArchiveError, match="outside the ids"):
        judge.judge(Member("x", "file", 0, 0o644, 65536, 0))


def test_devices_are_left_out_unless_needed_or_privileged() -> None:
    disk = _m("sda", "blockdev", devmajor=8)
    null = _m("null", "chardev", devmajor=1, devminor=3)
    judge = imagetar.Judge()
    assert judge.judge(disk).action == "skip" and "sda (device b 8:0" in judge.left_out[0]
    assert judge.judge(null).action == "write"
    assert imagetar.Judge(privileged=True).judge(disk).action == "write"


def test_a_hard_link_names_an_earlier_file_and_follows_a_left_out_one() -> None:
    judge = _judge(("bin", "dir"), ("bin/busybox", "file"), ("sda", "blockdev"))
    step = judge.judge(_m("bin/sh", "hardlink", linkname="./bin/busybox"))
    assert step.member is not None and step.member.linkname == "rootfs/bin/busybox"
    assert judge.judge(_m("sdb", "hardlink", linkname="sda")).action == "skip"
    with pytest.raises(ArchiveError, match="not an earlier member"):
        judge.judge(_m("x", "hardlink", linkname="bin"))


def test_only_xattrs_that_stay_inside_the_container_are_kept() -> None:
    xattrs = (("security.capability", b"c"), ("security.selinux", b"s"),
              ("trusted.overlay.redirect", b"/etc"), ("user.a", b"1"))  # fmt: skip
    judge = imagetar.Judge()
    step = judge.judge(_m("x", xattrs=xattrs))
    assert step.member is not None
    assert [k for k, _ in step.member.xattrs] == ["security.capability", "user.a"]
    assert judge.dropped_xattrs == 2


def test_whiteouts_remove_what_layers_below_made_and_only_that() -> None:
    judge = _judge(("etc", "dir"), ("etc/a", "file"), ("etc/b", "file"), ("etc/d", "dir"),
                   ("etc/d/x", "file"), layers=True)  # fmt: skip
    judge.begin_layer()
    assert judge.judge(_m("etc/.wh.a")).paths == ("rootfs/etc/a",)
    assert judge.judge(_m("etc/.wh.d")).paths == ("rootfs/etc/d",)
    assert "rootfs/etc/d/x" not in judge.kinds
    assert judge.judge(_m("etc/.wh.gone")).action == "skip"
    judge.judge(_m("etc/c"))
    step = judge.judge(_m("etc/.wh..wh..opq"))
    assert step.paths == ("rootfs/etc/b",)  # c is this layer's own
    with pytest.raises(ArchiveError, match="component"):
        judge.judge(_m("../.wh.etc"))
    with pytest.raises(ArchiveError, match="no name"):
        judge.judge(_m("etc/.wh..."))


def test_a_whiteout_under_a_symlink_is_refused() -> None:
    judge = _judge(("etc", "symlink"), layers=True)
    with pytest.raises(ArchiveError, match="under the symlink"):
        judge.judge(_m("etc/.wh.passwd"))


def test_a_later_member_replaces_an_earlier_one() -> None:
    judge = _judge(("etc", "dir"), ("etc/a", "file"), layers=True)
    judge.begin_layer()
    assert judge.judge(_m("etc", "dir")).action == "update"
    step = judge.judge(_m("etc/a", "symlink", linkname="/x"))
    assert step.action == "write" and step.replace


def test_a_plain_tarball_has_no_whiteouts() -> None:
    judge = _judge(("etc", "dir"))
    assert judge.judge(_m("etc/.wh.a")).action == "write"


@pytest.mark.parametrize(
    ("text", "kind", "want"),
    [
        ("/srv/rootfs.tar.xz", "tarball", {"path": "/srv/rootfs.tar.xz"}),
        ("oci:/srv/layout:v1", "oci", {"path": "/srv/layout", "tag": "v1"}),
        ("oci:/srv/layout", "oci", {"path": "/srv/layout", "tag": ""}),
        ("docker://127.0.0.1:5000/app/hello:1", "docker",
         {"registry": "127.0.0.1:5000", "repo": "app/hello", "tag": "1"}),
        ("docker://registry.example/x", "docker", {"tag": "latest"}),
    ],
)  # fmt: skip
def test_image_references(text: str, kind: str, want: dict[str, str]) -> None:
    ref = imageref.parse(text)
    assert ref.kind == kind
    assert {k: getattr(ref, k) for k in want} == want


def test_loopback_registries_are_plain_http_and_others_are_not() -> None:
    assert imageref.parse("docker://127.0.0.1:5000/a:1").loopback
    assert imageref.parse("docker://localhost:5000/a:1").loopback
    assert not imageref.parse("docker://registry.example/a:1").loopback


@pytest.mark.parametrize("text", ["rootfs.zip", "docker://", "oci:", "docker://x/Y:1"])
def test_what_is_no_image_reference_is_one_line(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        imageref.parse(text)
