"""new --image: rootfs tarballs and OCI images as cached bases, hostile images refused or
neutralized as `import` does, a killed unpack and two builders of one image."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.real.console import console, login_and_run
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


@pytest.mark.parametrize("remove", [("images", "rm"), ("destroy", "--force")])
def test_a_killed_unpack_is_incomplete_and_images_rm_or_destroy_removes_it(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str], remove: tuple[str, str]
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
    lxcpath.cli(*remove, base)
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


# -- OCI images: a layout built with umoci, a local registry -------------------------------


def _umoci(*args: str) -> None:
    subprocess.run(["umoci", *args], check=True, capture_output=True)


def _oci_busybox(lxc: Lxc, tmp: Path) -> Path:
    """An OCI layout (tag bb) of three layers made with umoci repack: a busybox rootfs,
    then /o28/a and /o28/b, then /o28/a removed again (a whiteout)."""
    plain_busybox(lxc, "src")
    layout, bundle = tmp / "layout", tmp / "bundle"
    _umoci("init", "--layout", str(layout))
    _umoci("new", "--image", f"{layout}:bb")

    def layer(change: Callable[[Path], object]) -> None:
        # umoci repack adds the bundle's changes since its unpack: one unpack a layer.
        _umoci("unpack", "--image", f"{layout}:bb", str(bundle))
        change(bundle / "rootfs")
        _umoci("repack", "--image", f"{layout}:bb", str(bundle))
        shutil.rmtree(bundle)

    layer(lambda root: subprocess.run(["cp", "-a", f"{lxc.rootfs('src')}/.", str(root)],
                                      check=True))  # fmt: skip
    subprocess.run(["lxc-destroy", "-P", str(lxc.path), "-n", "src"], check=True)

    def two(root: Path) -> None:
        (root / "o28").mkdir()
        for name in ("a", "b"):
            (root / "o28" / name).write_text(f"{name}\n")

    layer(two)
    layer(lambda root: (root / "o28/a").unlink())
    assert len(_manifest(layout)[0]["layers"]) == 3
    return layout


def _manifest(layout: Path, tag: str = "bb") -> tuple[dict[str, Any], Path]:
    index = json.loads((layout / "index.json").read_text())
    (desc,) = [m for m in index["manifests"]
               if m["annotations"]["org.opencontainers.image.ref.name"] == tag]  # fmt: skip
    path = layout / "blobs/sha256" / desc["digest"].removeprefix("sha256:")
    return json.loads(path.read_text()), path


def test_an_oci_layout_boots_with_its_layers_and_whiteouts_applied(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    layout = _oci_busybox(lxcpath, tmp_path)
    ref = f"oci:{layout}:bb"
    first = json.loads(_new(lxcpath, "oci1", ref, password_file[0]).stdout)
    assert lxcpath.attach("oci1", "ls", "/o28").stdout.split() == ["b"]
    second = json.loads(_new(lxcpath, "oci2", ref, password_file[0], "--no-start").stdout)
    assert first["base"] == second["base"] and "build_base" not in second["timings"]
    (cached,) = _images(lxcpath)
    manifest_path = _manifest(layout)[1]
    assert cached["reference"] == ref and cached["digest"] == f"sha256:{manifest_path.name}"


def test_a_tampered_layer_is_refused_in_one_line(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    layout = _oci_busybox(lxcpath, tmp_path)
    manifest = _manifest(layout)[0]
    blob = layout / "blobs/sha256" / manifest["layers"][1]["digest"].removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the same size, other bytes
    blob.write_bytes(bytes(data))
    proc = _new(lxcpath, "bad", f"oci:{layout}:bb", password_file[0], check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "its bytes do not match its digest" in proc.stderr
    assert _images(lxcpath) == [] and lxcpath.names() == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _registry(tmp: Path) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 (its own config and storage), stopped after."""
    port = _free_port()
    config = tmp / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp / 'registry'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(600):  # until it listens (or it ended)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, "docker-registry ended"
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def test_an_image_from_a_loopback_registry_and_no_registry_in_one_line(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    layout = _oci_busybox(lxcpath, tmp_path)
    with _registry(tmp_path) as registry:
        ref = f"docker://{registry}/o28/busybox:1"
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        f"oci:{layout}:bb", ref], check=True)  # fmt: skip
        made = json.loads(_new(lxcpath, "reg1", ref, password_file[0]).stdout)
        assert lxcpath.attach("reg1", "ls", "/o28").stdout.split() == ["b"]
    # Fetched once: the next `new` clones the cached image with no registry at all...
    again = json.loads(_new(lxcpath, "reg2", ref, password_file[0], "--no-start").stdout)
    assert again["base"] == made["base"]
    (cached,) = _images(lxcpath)
    assert cached["reference"] == ref and cached["used_by"] == ["reg1", "reg2"]
    table = lxcpath.cli("images").stdout.splitlines()  # a table on stdout, as ls prints
    assert table[0].split() == ["REFERENCE", "DIGEST", "SIZE", "KIND", "USED_BY"]
    assert table[1].split()[0] == ref and table[1].split()[-1] == "reg1,reg2"
    # ...and --pull asks the registry again, which is gone: one line.
    proc = _new(lxcpath, "reg3", ref, password_file[0], "--pull", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"cannot fetch {ref}" in proc.stderr
    assert "reg3" not in lxcpath.names()
    # Removing the image removes skopeo's copy of it too.
    lxcpath.cli("destroy", "--force", "reg1", "reg2")
    lxcpath.cli("images", "rm", ref)
    assert _images(lxcpath) == []
    assert list((lxcpath.path / ".lxcprov/images").iterdir()) == []
    # A fetch that fails leaves no folder behind (nothing would list or remove it).
    proc = _new(lxcpath, "reg4", f"docker://{registry}/o28/never:1", password_file[0],
                check=False)  # fmt: skip
    assert proc.returncode != 0 and f"cannot fetch docker://{registry}/o28/never:1" in proc.stderr
    assert list((lxcpath.path / ".lxcprov/images").iterdir()) == []


def _oci_app(lxc: Lxc, tmp: Path) -> Path:
    """A busybox application image (tag app, made with umoci): no /sbin/init; its
    entrypoint writes and prints a line naming its Env, WorkingDir and User, then waits."""
    plain_busybox(lxc, "src")
    layout, bundle = tmp / "app-layout", tmp / "app-bundle"
    _umoci("init", "--layout", str(layout))
    _umoci("new", "--image", f"{layout}:app")
    _umoci("unpack", "--image", f"{layout}:app", str(bundle))
    subprocess.run(["cp", "-a", f"{lxc.rootfs('src')}/.", str(bundle / "rootfs")], check=True)
    subprocess.run(["lxc-destroy", "-P", str(lxc.path), "-n", "src"], check=True)
    (bundle / "rootfs/sbin/init").unlink()
    (bundle / "rootfs/o28").mkdir()
    os.chown(bundle / "rootfs/o28", 1000, 1000)
    _umoci("repack", "--image", f"{layout}:app", str(bundle))
    # A PID 1 gets only the signals it handles: TERM (what `stop` sends) ends it at once.
    script = (
        'trap "exit 0" TERM; echo "$GREETING from $(pwd) as $(id -u):$(id -g)" | '
        "tee said; sleep 1000000 & wait"
    )
    _umoci("config", "--image", f"{layout}:app", "--config.entrypoint", "/bin/sh",
           "--config.entrypoint", "-c", "--config.cmd", script,
           "--config.env", "GREETING=o28 hello", "--config.workingdir", "/o28",
           "--config.user", "1000:1000")  # fmt: skip
    return layout


def test_an_application_image_runs_its_entrypoint_with_its_env_cwd_and_user(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    layout = _oci_app(lxcpath, tmp_path)
    made = json.loads(_new(lxcpath, "app1", f"oci:{layout}:app", password_file[0]).stdout)
    assert made["kind"] == "application" and made["state"] == "RUNNING"
    said = lxcpath.cli("exec", "app1", "--", "cat", "/o28/said").stdout
    assert said.strip() == "o28 hello from /o28 as 1000:1000"
    (row,) = json.loads(lxcpath.cli("ls", "--json").stdout)
    assert row["kind"] == "application"
    assert "application" in lxcpath.cli("ls").stdout + lxcpath.cli("ls").stderr
    (cached,) = _images(lxcpath)
    assert cached["kind"] == "application"
    # No recipe runs in it: no root password is made up (it would not work).
    bare = lxcpath.cli("new", "app2", "--image", f"oci:{layout}:app", "--network", "none",
                       "--json")  # fmt: skip
    assert json.loads(bare.stdout)["root_password"] is None
    assert "root password" not in bare.stderr
    lxcpath.cli("destroy", "--force", "app2")
    # Nothing would run a cloud-config at its first boot: refused, nothing made.
    cc = tmp_path / "cc.yaml"
    cc.write_text("#cloud-config\nruncmd: [touch /o28/ran]\n")
    refused = _new(lxcpath, "app3", f"oci:{layout}:app", password_file[0], "--user-data",
                   str(cc), check=False)  # fmt: skip
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "is an application image (no init): nothing would run the cloud-config" in (
        refused.stderr
    )
    assert "app3" not in lxcpath.names()
    # `console` still reaches it: its console is PID 1's terminal (no getty there).
    child = console(lxcpath, "app1", 0)
    try:
        lxcpath.cli("exec", "app1", "--", "sh", "-c", "echo o28-console-mark > /dev/console")
        child.expect("o28-console-mark")
        child.sendcontrol("a")
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    # It starts again as it was made: its entrypoint, no login prompt waited for.
    lxcpath.cli("stop", "app1")
    lxcpath.cli("start", "app1")
    assert lxcpath.attach("app1", "cat", "/proc/1/cmdline").stdout.startswith("/bin/sh\0-c\0")


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _add_layer(layout: Path, members: list[tuple[tarfile.TarInfo, bytes]], tag: str = "bb") -> None:
    """A layer of these members on top of the image tagged tag."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    _add_layer_bytes(layout, out.getvalue(), tag)


def _add_layer_bytes(layout: Path, layer: bytes, tag: str) -> None:
    """layer (an uncompressed tar) on top of the image tagged tag: its manifest, config and
    index rewritten as an image builder would, every digest right."""
    manifest, _ = _manifest(layout, tag)
    config_path = layout / "blobs/sha256" / manifest["config"]["digest"].removeprefix("sha256:")
    config = json.loads(config_path.read_text())
    config["rootfs"]["diff_ids"].append(f"sha256:{hashlib.sha256(layer).hexdigest()}")
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                               **_blob(layout, layer)})  # fmt: skip
    manifest["config"].update(_blob(layout, json.dumps(config).encode()))
    desc = _blob(layout, json.dumps(manifest).encode())
    index = json.loads((layout / "index.json").read_text())
    for m in index["manifests"]:
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag:
            m.update(desc)
    (layout / "index.json").write_text(json.dumps(index))


HOSTILE_LAYERS: dict[str, tuple[list[tuple[tarfile.TarInfo, bytes]], str]] = {
    "whiteout-of-dotdot": ([(_info("o28/.wh..."), b"")], "a whiteout of no name"),
    "whiteout-above-the-top": ([(_info("../.wh.etc"), b"")], "component"),
    "whiteout-through-a-symlink": (
        [(_info("o28-etc", tarfile.SYMTYPE, linkname="/etc"), b""),
         (_info("o28-etc/.wh.passwd"), b"")],
        "is under the symlink",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE_LAYERS))
def test_a_whiteout_that_would_leave_the_rootfs_is_refused(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str], case: str
) -> None:
    layout = _oci_busybox(lxcpath, tmp_path)
    members, said = HOSTILE_LAYERS[case]
    _add_layer(layout, members)
    proc = _new(lxcpath, "bad", f"oci:{layout}:bb", password_file[0], check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert said in proc.stderr
    assert Path("/etc/passwd").stat().st_size > 0
    assert _images(lxcpath) == [] and lxcpath.names() == []


def test_an_opaque_whiteout_empties_a_directory_of_the_layers_below(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    layout = _oci_busybox(lxcpath, tmp_path)
    _add_layer(layout, [(_info("o28", tarfile.DIRTYPE), b""), (_info("o28/c"), b"c\n"),
                        (_info("o28/.wh..wh..opq"), b"")])  # fmt: skip
    made = json.loads(_new(lxcpath, "opq", f"oci:{layout}:bb", password_file[0],
                           "--no-start").stdout)  # fmt: skip
    assert sorted(os.listdir(lxcpath.path / made["base"] / "rootfs/o28")) == ["c"]


@pytest.mark.bases("debian")
def test_a_debian_oci_image_with_systemd_boots_to_a_console_login(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    """An OCI image of a Debian rootfs with systemd (the run's Debian base, its owners
    back in the container's own ids, as an image has them): a system container."""
    (seed,) = lxcpath.path.glob("lxcprov-base-*/rootfs")
    host_root = seed.stat().st_uid

    def own_ids(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid, info.gid = info.uid - host_root, info.gid - host_root
        info.uname = info.gname = ""
        return info

    layer = tmp_path / "debian.tar"
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tf:
        tf.add(str(seed), arcname=".", filter=own_ids)
    layout = tmp_path / "debian-layout"
    _umoci("init", "--layout", str(layout))
    _umoci("new", "--image", f"{layout}:deb")
    _add_layer_bytes(layout, layer.read_bytes(), "deb")
    layer.unlink()
    made = json.loads(_new(lxcpath, "deb1", f"oci:{layout}:deb", password_file[0]).stdout)
    assert made["kind"] == "system" and made["login_tty"] == 1
    said = login_and_run(lxcpath, "deb1", password_file[1], "cat /proc/1/comm")
    assert said.strip() == "systemd"


def _set_config(layout: Path, tag: str, change: Callable[[dict[str, Any]], object]) -> None:
    """The image tagged tag with its config changed, every digest right (as a builder would)."""
    manifest, _ = _manifest(layout, tag)
    config_path = layout / "blobs/sha256" / manifest["config"]["digest"].removeprefix("sha256:")
    config = json.loads(config_path.read_text())
    change(config)
    manifest["config"].update(_blob(layout, json.dumps(config).encode()))
    desc = _blob(layout, json.dumps(manifest).encode())
    index = json.loads((layout / "index.json").read_text())
    for m in index["manifests"]:
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag:
            m.update(desc)
    (layout / "index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("brk", ["\r", "\x85", "\u2028"])
def test_an_image_config_cannot_write_a_config_line_of_its_own(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str], brk: str
) -> None:
    """The outside review's host escape: a WorkingDir holding \r and a hook line became
    `lxc.hook.pre-start = ...` in the container's config, run on the host as root."""
    layout = _oci_app(lxcpath, tmp_path)
    canary = tmp_path / "hook-ran"
    hook = f'lxc.hook.pre-start = /bin/sh -c "id > {canary}"'
    _set_config(layout, "app", lambda c: c["config"].update(WorkingDir=f"/{brk}{hook}"))
    proc = _new(lxcpath, "esc", f"oci:{layout}:app", password_file[0], check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "WorkingDir holds a control or line-break character" in proc.stderr, proc.stderr
    assert not canary.exists(), "the hook ran on the host"
    for config in lxcpath.path.glob("*/config"):
        assert "lxc.hook" not in config.read_text(), config
