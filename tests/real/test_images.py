"""new --image: rootfs tarballs and OCI images as cached bases, hostile images refused or
neutralized as `import` does, a killed unpack and two builders of one image."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.real.harness import Lxc, plain_busybox, wait_for_fault

pytestmark = pytest.mark.real


def _busybox_tar(lxc: Lxc, out: Path, compress: str = "-J") -> Path:
    """A rootfs tarball of a busybox container made by plain lxc-create (owners as the
    image has them: root's 0)."""
    plain_busybox(lxc, "src")
    flags = [compress] if compress else []
    subprocess.run(["tar", "-C", str(lxc.rootfs("src")), "--numeric-owner", *flags, "-c",
                    "-f", str(out), "."], check=True)  # fmt: skip
    subprocess.run(["lxc-destroy", "-P", str(lxc.path), "-n", "src"], check=True)
    return out


def _new(lxc: Lxc, name: str, image: str, pw: Path, *extra: str, check: bool = True
         ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return lxc.cli("new", name, "--image", image, "--network", "none",
                   "--root-password-file", str(pw), "--json", *extra, check=check)  # fmt: skip


def _images(lxc: Lxc) -> list[dict[str, object]]:
    return list(json.loads(lxc.cli("images", "--json").stdout))


def test_a_rootfs_tarball_boots_and_its_second_new_is_a_clone(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    image = _busybox_tar(lxcpath, tmp_path / "busybox.tar.xz")
    first = json.loads(_new(lxcpath, "img1", str(image), password_file[0]).stdout)
    second = json.loads(_new(lxcpath, "img2", str(image), password_file[0]).stdout)
    assert first["base"].startswith("lxcprov-base-image-") and first["base"] == second["base"]
    assert "build_base" in first["timings"] and "build_base" not in second["timings"]
    assert second["clone_method"] == "overlayfs snapshot"
    assert lxcpath.attach("img2", "hostname").stdout.strip() == "img2"
    # Unprivileged: the image's root-owned files belong to the map's root on the host.
    busybox = lxcpath.path / first["base"] / "rootfs" / "bin" / "busybox"
    assert busybox.stat().st_uid >= 65536
    (cached,) = _images(lxcpath)
    assert cached["reference"] == str(image) and cached["kind"] == "system"
    assert str(cached["digest"]).startswith("sha256:") and cached["used_by"] == ["img1", "img2"]
    refused = lxcpath.cli("images", "rm", str(image), check=False)
    assert refused.returncode != 0 and "used by img1, img2" in refused.stderr
    lxcpath.cli("destroy", "--force", "img1", "img2")
    lxcpath.cli("images", "rm", str(cached["digest"])[:15])
    assert _images(lxcpath) == [] and not (lxcpath.path / first["base"]).exists()


def _append(tarball: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(tarball, "a", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(data) if data else None)


def _info(name: str, kind: bytes = tarfile.REGTYPE, **kw: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in kw.items():
        setattr(info, key, value)
    return info


HOSTILE: dict[str, tuple[list[tuple[tarfile.TarInfo, bytes]], str]] = {
    "dotdot": ([(_info("./../o28-escaped"), b"x")], "has an empty, `.` or `..` component"),
    "absolute": ([(_info("/tmp/o28-escaped"), b"x")], "is an absolute or empty path"),
    "through-a-symlink": (
        [(_info("./o28-out", tarfile.SYMTYPE, linkname="/tmp"), b""),
         (_info("./o28-out/o28-escaped"), b"x")],
        "is under the symlink",
    ),
    "owner-outside-the-map": ([(_info("./o28-far", uid=70000), b"x")],
                              "outside the ids a container maps"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_tarball_is_refused_in_one_line_and_nothing_is_kept(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str], case: str
) -> None:
    image = _busybox_tar(lxcpath, tmp_path / "hostile.tar", compress="")
    members, said = HOSTILE[case]
    _append(image, members)
    proc = _new(lxcpath, "bad", str(image), password_file[0], check=False)
    assert proc.returncode != 0
    assert said in proc.stderr and "Traceback" not in proc.stderr
    assert not Path("/tmp/o28-escaped").exists()
    assert _images(lxcpath) == [] and lxcpath.names() == []
    assert not [p for p in lxcpath.path.iterdir() if p.name.startswith("lxcprov-base-")]


def test_setuid_files_devices_and_outward_symlinks_are_neutralized_as_import_does(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    image = _busybox_tar(lxcpath, tmp_path / "odd.tar", compress="")
    _append(image, [
        (_info("./o28-suid", mode=0o4755), b"#!/bin/sh\n"),
        (_info("./o28-sda", tarfile.BLKTYPE, devmajor=8, devminor=0), b""),
        (_info("./o28-null", tarfile.CHRTYPE, devmajor=1, devminor=3), b""),
        (_info("./o28-root", tarfile.SYMTYPE, linkname="/"), b""),
    ])  # fmt: skip
    made = json.loads(_new(lxcpath, "odd", str(image), password_file[0], "--no-start").stdout)
    rootfs = lxcpath.path / made["base"] / "rootfs"
    suid = (rootfs / "o28-suid").stat()
    assert suid.st_mode & 0o4000 and suid.st_uid >= 65536  # setuid to the container's root
    assert not (rootfs / "o28-sda").exists()  # a disk: left out
    assert os.major((rootfs / "o28-null").stat().st_rdev) == 1  # null: kept, as import does
    assert os.readlink(rootfs / "o28-root") == "/"  # written as it is, never followed


def test_a_killed_unpack_is_incomplete_and_images_rm_removes_it(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    image = _busybox_tar(lxcpath, tmp_path / "busybox.tar.gz", compress="-z")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lxcprov", "new", "k1", "--image", str(image),
         "--network", "none", "--root-password-file", str(password_file[0])],
        env=lxcpath.env(LXCPROV_FAULT_AT="unpacking"), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_fault(proc, "unpacking", "new --image", timeout=300)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (half,) = _images(lxcpath)
    assert half["incomplete"] is True
    base = str(half["base"])
    assert (lxcpath.path / base / "rootfs").is_dir()
    lxcpath.cli("images", "rm", base)
    assert not (lxcpath.path / base).exists() and _images(lxcpath) == []
    lxcpath.cli("destroy", "--force", "k1")
    assert lxcpath.names() == []


def test_two_news_of_one_new_image_build_one_base(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    image = _busybox_tar(lxcpath, tmp_path / "busybox.tar.zst", compress="--zstd")
    argv: Callable[[str], list[str]] = lambda n: [  # noqa: E731
        sys.executable, "-m", "lxcprov", "new", n, "--image", str(image), "--network",
        "none", "--root-password-file", str(password_file[0]), "--no-start", "--json"]  # fmt: skip
    procs = [subprocess.Popen(argv(n), env=lxcpath.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in ("r1", "r2")]  # fmt: skip
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    made = [json.loads(o[0]) for o in outs]
    assert made[0]["base"] == made[1]["base"]
    assert sorted("build_base" in m["timings"] for m in made) == [False, True]
    (cached,) = _images(lxcpath)
    assert cached["used_by"] == ["r1", "r2"]
