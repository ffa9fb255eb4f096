"""Crafted archives are refused with nothing written: not in the lxcpath, not where their
entries point, not even a lock or a spool file. And an archive's LXC config cannot run
hooks on the host or mount host paths into the container."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lxcprov.engine import archive
from lxcprov.engine.archive import Manifest
from lxcprov.system import tarball
from tests.real.harness import Lxc

pytestmark = pytest.mark.real

MAP = "1100000000:65536"
ROOT = 1100000000


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside the lxcpath that hostile entries aim at."""
    path = Path(tempfile.mkdtemp(prefix="lxcprov-test-target-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _info(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **kw: object) -> tuple[
    tarfile.TarInfo, bytes
]:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.uid = info.gid = ROOT
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = int(time.time())
    for key, value in kw.items():
        setattr(info, key, value)
    return info, data


Members = list[tuple[tarfile.TarInfo, bytes]]


def build(
    path: Path,
    members: Members,
    *,
    manifest: Manifest | None = None,
    tamper: Callable[[Members], None] | None = None,
) -> None:
    """An archive with a correct manifest and checksums around members (tamper changes
    members after the checksums were computed)."""
    manifest = manifest or Manifest(name="evil1", created="2026-01-01T00:00:00+00:00", ids=MAP,
                                    config="lxc.arch = amd64\n")  # fmt: skip
    head = [_info(archive.MANIFEST, data=manifest.to_json())]
    body = [*head, _info("rootfs", tarfile.DIRTYPE), *members]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in body:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    raw.seek(0)
    sums = {r.member.name: r.sha256 for r in tarball.members(raw)}
    if tamper is not None:
        tamper(body)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in [*body, _info(archive.CHECKSUMS, data=archive.render_checksums(sums))]:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    path.write_bytes(subprocess.run(["zstd", "-q", "-c"], input=out.getvalue(),
                                    capture_output=True, check=True).stdout)  # fmt: skip


def _everything(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _refused(lxc: Lxc, archive_path: Path, needle: str) -> None:
    before = _everything(lxc.path)
    proc = lxc.cli("import", str(archive_path), check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert "nothing was written" in proc.stderr
    assert _everything(lxc.path) == before, "nothing written in the lxcpath"


def test_crafted_archives_are_refused_and_nothing_is_written(
    lxcpath: Lxc, outside: Path, tmp_path: Path
) -> None:
    lxcpath.path.joinpath(".lxcprov").mkdir()
    tag = secrets.token_hex(4)
    escape = f"../../{outside.name}/escaped-{tag}"
    cases: list[tuple[str, Members, str]] = [
        ("dotdot", [_info(f"rootfs/{escape}", data=b"x")], "`..`"),
        ("dotdot-top", [_info(escape, data=b"x")], "`..`"),
        ("absolute", [_info(f"{outside}/absolute-{tag}", data=b"x")], "absolute"),
        # An absolute symlink, then a file under it: GNU tar would write through it.
        ("symlink", [_info("rootfs/evil", tarfile.SYMTYPE, linkname=str(outside)),
                     _info(f"rootfs/evil/planted-{tag}", data=b"x")], "under the symlink"),
        ("relative-symlink", [_info("rootfs/up", tarfile.SYMTYPE, linkname="../../.."),
                              _info("rootfs/up/x", data=b"x")], "under the symlink"),
        ("device-outside", [_info(f"sda-{tag}", tarfile.BLKTYPE, devmajor=8, devminor=0)],
         "outside the container"),
        ("hardlink-out", [_info("rootfs/shadow", tarfile.LNKTYPE, linkname="/etc/shadow")],
         "hard link"),
        ("setuid-host-root", [_info("rootfs/sh", data=b"x", uid=0, mode=0o4755)],
         "a way to root on the host"),
        ("block-device", [_info("rootfs/sda", tarfile.BLKTYPE, devmajor=8, devminor=0)],
         "the device 8:0"),
    ]  # fmt: skip
    for label, members, needle in cases:
        path = tmp_path / f"{label}.tar.zst"
        build(path, members)
        _refused(lxcpath, path, needle)

    def flip(body: Members) -> None:
        info, data = body[-1]
        body[-1] = (info, data.replace(b"root", b"evil"))

    path = tmp_path / "checksum.tar.zst"
    build(path, [_info("rootfs/etc", tarfile.DIRTYPE),
                 _info("rootfs/etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n")],
          tamper=flip)  # fmt: skip
    _refused(lxcpath, path, "wrong checksum")

    # A newer format, a plain tarball, a truncated one, a file that is no archive.
    manifest = json.loads(Manifest("evil1", "t", MAP, "").to_json())
    manifest["version"] = 99
    path = tmp_path / "newer.tar.zst"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info, data = _info(archive.MANIFEST, data=json.dumps(manifest).encode())
        tf.addfile(info, io.BytesIO(data))
    path.write_bytes(subprocess.run(["zstd", "-q", "-c"], input=raw.getvalue(),
                                    capture_output=True, check=True).stdout)  # fmt: skip
    _refused(lxcpath, path, "version 99")
    plain = tmp_path / "plain.tar.gz"
    subprocess.run(["tar", "-czf", str(plain), "-C", "/etc", "hostname"], check=True)
    _refused(lxcpath, plain, "not an lxcprov export")
    whole = tmp_path / "whole.tar.zst"
    build(whole, [_info("rootfs/etc", tarfile.DIRTYPE)])
    cut = tmp_path / "cut.tar.zst"
    cut.write_bytes(whole.read_bytes()[:-40])
    _refused(lxcpath, cut, "")
    junk = tmp_path / "junk.tar.zst"
    junk.write_bytes(b"not an archive at all")
    _refused(lxcpath, junk, "neither zstd nor gzip")

    assert os.listdir(outside) == [], "nothing landed where the entries pointed"
    # The archive that is fine apart from all that imports (the checks are not too strict).
    ok = lxcpath.cli("import", str(whole), "fine1", check=False)
    assert ok.returncode == 0 and "fine1 imported" in ok.stderr, ok.stderr


def test_an_archive_cannot_bring_hooks_or_host_mounts(
    lxcpath: Lxc, password_file: tuple[Path, str], outside: Path
) -> None:
    """What a hostile host could put in a container's config before exporting it."""
    pw = password_file[0]
    lxcpath.cli("new", "cfg1", "-t", "busybox", "--network", "none", "--no-start",
                "--root-password-file", str(pw))  # fmt: skip
    hooked = outside / "hook-ran"
    (outside / "secret").write_text("host secret\n")
    config = lxcpath.path / "cfg1" / "config"
    config.write_text(config.read_text() + f"lxc.hook.pre-start = /bin/touch {hooked}\n"
                      f"lxc.mount.entry = {outside} mnt none bind,create=dir 0 0\n"
                      "lxc.apparmor.profile = unconfined\n")  # fmt: skip
    archive_path = outside / "cfg1.tar.gz"
    lxcpath.cli("export", "cfg1", str(archive_path))
    lxcpath.cli("destroy", "--force", "cfg1")
    done = json.loads(lxcpath.cli("import", str(archive_path), "--json").stdout)
    dropped = " ".join(done["dropped_config"])
    assert "lxc.hook.pre-start" in dropped and str(outside) in dropped
    assert "lxc.apparmor.profile = unconfined" in dropped
    text = config.read_text()
    assert "lxc.hook" not in text and str(outside) not in text and "unconfined" not in text
    lxcpath.cli("start", "cfg1")
    assert not hooked.exists(), "the archive's hook did not run on the host"
    seen = lxcpath.attach("cfg1", "cat", "/mnt/secret")
    assert seen.returncode != 0 and "host secret" not in seen.stdout
