"""Crafted archives are refused with nothing written: not in the lxcpath, not where their
entries point, not even a lock or a spool file. And an archive's LXC config cannot run
hooks on the host or mount host paths into the container.

The archive rows of issue 22, one test each, built byte by byte (tests/tarcraft.py):
row 1 (one reading of an archive; a rollback never follows a symlink), row 2 (privilege
only with --privileged; LXC's common config always), row 6 (limits before anything is
written), row 9 (devices of an unprivileged archive), row 11 (export refuses what import
refuses)."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lxcprov.engine import archive
from lxcprov.engine.archive import Manifest, SnapshotEntry
from lxcprov.system import tarball
from tests import tarcraft as tc
from tests.real.harness import Lxc, destroy_all, var_tmp, wait_for_fault
from tests.real.test_snapshots import map_root
from tests.real.treedigest import Entry, digest

pytestmark = pytest.mark.real

MAP = "1100000000:65536"
ROOT = 1100000000


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside the lxcpath that hostile entries aim at."""
    with var_tmp("lxcprov-test-target-") as path:
        yield path


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
    assert len(proc.stderr.strip().splitlines()) <= 3, proc.stderr  # phase, error, hint
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


def test_the_manifests_words_are_ones_lxcprov_reads_back(
    lxcpath: Lxc, outside: Path, tmp_path: Path
) -> None:
    """Review of issue 22, row 13: a snapshot made "\ud800" (a lone surrogate: JSON takes
    it, TOML and UTF-8 do not) was imported, then `lxcprov snapshots` could not read the
    record; the import refuses what the reader would, with one rule (snapstore.is_time),
    before anything is written. The manifest's own time went into a comment line of the
    new config: with a newline in it, the archive wrote an lxc.hook that `start` ran as
    host root (on the code before)."""
    # Fine archives but for the manifest's words: a rootfs, and the snapshot's tree.
    body = tc.header("rootfs/", b"5", mode=0o755) + tc.header("snapshots/s1/rootfs/", b"5",
                                                               mode=0o755)  # fmt: skip
    hooked = outside / "hook-ran"
    cases = {
        "surrogate": (tc.manifest(name="sg1", snapshots=(SnapshotEntry("s1", "\ud800", MAP),)),
                      "not Unicode"),
        "not-a-time": (tc.manifest(name="tm1", snapshots=(SnapshotEntry("s1", "t", MAP),)),
                       "no time it was made"),
        "hook": (tc.manifest(name="hk1", snapshots=(SnapshotEntry("s1", "2026-01-01", MAP),),
                             created=f"2026-01-01\nlxc.hook.pre-start = /bin/touch {hooked} #"),
                 "no time it was made"),
    }  # fmt: skip
    for label, (meta, needle) in cases.items():
        _refused(lxcpath, tc.write(tmp_path / f"{label}.tar.zst", body, meta=meta), needle)
    assert not hooked.exists()
    fine = tc.manifest(name="ok1", snapshots=(SnapshotEntry("s1", "2026-02-03T04:05:06", MAP),))
    lxcpath.cli("import", str(tc.write(tmp_path / "fine.tar.zst", body, meta=fine)))
    listed = json.loads(lxcpath.cli("snapshots", "ok1", "--json").stdout)
    assert [(s["name"], s["created"]) for s in listed] == [("s1", "2026-02-03T04:05:06")]


# -- issue 22 -------------------------------------------------------------------------


def _fill(directory: Path) -> dict[str, Entry]:
    """A host directory full of files (what a hostile archive aims at), and its digest."""
    (directory / "sub").mkdir()
    for i in range(5):
        (directory / f"file{i}").write_text(f"host file {i}\n")
        (directory / "sub" / f"deep{i}").write_text("deep\n")
    return digest(directory)


def _one_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def _gnu_long_name_then_pax_path(outside: Path) -> bytes:
    """Python's tarfile reads rootfs/ and rootfs/x -> outside; GNU tar reads rootfs/ and
    then rootfs -> outside (its PAX path wins over the GNU long name, tarfile's the other
    way round)."""
    return (tc.header("rootfs/", b"5", mode=0o755)
            + tc.gnu_long("rootfs/x") + tc.pax({"path": "rootfs"})
            + tc.header("rootfs", b"2", linkname=str(outside), mode=0o777)
            # rootfs/etc to tarfile, somewhere harmless to GNU tar (which would not make a
            # directory through its `rootfs` symlink, and stop).
            + tc.gnu_long("rootfs/etc") + tc.pax({"path": "lxcprov/elsewhere"})
            + tc.header("rootfs/etc", b"5", mode=0o755))  # fmt: skip


def test_row1_what_is_written_is_what_was_checked(
    lxcpath: Lxc, outside: Path, tmp_path: Path
) -> None:
    """A GNU long name followed by a PAX path: one name to the checks, another to GNU tar,
    which made `rootfs` a symlink to a host directory; the identity step then wrote there,
    and the rollback emptied it. One reader: the tree written is the tree checked."""
    before = _fill(outside)
    path = tc.write(tmp_path / "trick.tar.zst", _gnu_long_name_then_pax_path(outside))
    # The archive really is read two ways: GNU tar would make the rootfs the link.
    listing = subprocess.run(["tar", "--zstd", "-tvf", str(path)], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    assert f" rootfs -> {outside}" in listing, listing
    proc = lxcpath.cli("import", str(path), "trick1", check=False)
    assert digest(outside) == before, "nothing outside the container changed"
    assert proc.returncode == 0, proc.stderr
    root = lxcpath.path / "trick1/rootfs"
    assert stat.S_ISDIR(os.lstat(root).st_mode), "the rootfs is a directory, as checked"
    assert os.readlink(root / "x") == str(outside), "and its member x the checked symlink"
    assert (root / "etc/hostname").read_text().strip() == "trick1"
    lxcpath.cli("destroy", "--force", "trick1")
    assert digest(outside) == before

    # The same with a GNU long link ('K') and a PAX linkpath: tarfile takes the K link.
    body = (tc.header("rootfs/", b"5", mode=0o755)
            + tc.gnu_long("../../etc", b"K") + tc.pax({"linkpath": str(outside)})
            + tc.header("rootfs/y", b"2", linkname="z"))  # fmt: skip
    done = json.loads(lxcpath.cli("import", str(tc.write(tmp_path / "k.tar.zst", body)),
                                  "trick2", "--json").stdout)  # fmt: skip
    assert done["name"] == "trick2"
    assert os.readlink(lxcpath.path / "trick2/rootfs/y") == "../../etc"


def test_row1_a_killed_import_is_removed_without_following_a_symlinked_rootfs(
    lxcpath: Lxc, outside: Path, tmp_path: Path
) -> None:
    """A failed or killed import is removed with nothing outside it touched, even when its
    rootfs is a symlink to a host directory full of files (what GNU tar made of the
    archive above): liblxc's destroy followed it and emptied the directory."""
    before = _fill(outside)
    path = tc.write(tmp_path / "trick.tar.zst", _gnu_long_name_then_pax_path(outside))
    proc = subprocess.Popen([sys.executable, "-m", "lxcprov", "import", str(path), "half1"],
                            env=lxcpath.env(LXCPROV_FAULT_AT="identity"), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_for_fault(proc, "identity", "import", 120)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    root = lxcpath.path / "half1/rootfs"
    if not root.is_symlink():  # what this lxcprov wrote: make it what GNU tar made
        shutil.rmtree(root)
        root.symlink_to(outside)
    killed = digest(outside)  # (GNU tar made rootfs/etc in it: this lxcprov did not)
    lxcpath.cli("destroy", "--force", "half1")
    assert not (lxcpath.path / "half1").exists()
    assert digest(outside) == killed, "the host directory behind the symlink is untouched"
    assert killed == before, "and the import wrote nothing there"


def test_row1_a_rollback_removes_only_what_the_import_wrote(
    lxcpath: Lxc, outside: Path, tmp_path: Path
) -> None:
    """A write that fails half-way (an ACL the kernel refuses) after symlinks to a host
    directory were written: the import stops with one line and removes its directory, and
    nothing behind those symlinks. Its hint says so: never "nothing was written" once the
    writing began (review of issue 22, row 14)."""
    before = _fill(outside)
    body = (tc.header("rootfs/", b"5", mode=0o755)
            + tc.header("rootfs/x", b"2", linkname=str(outside))
            + tc.header("rootfs/etc", b"2", linkname=str(outside))
            + tc.header("rootfs/up", b"2", linkname="../../../../../../..")
            + tc.pax({"SCHILY.xattr.system.posix_acl_access": b"\x02\x00\x00\x00junk"})
            + tc.member("rootfs/f", data=b"x"))  # fmt: skip
    proc = lxcpath.cli("import", str(tc.write(tmp_path / "acl.tar.zst", body)), "roll1",
                       check=False)  # fmt: skip
    error = _one_error(proc)
    assert "cannot write 'rootfs/f'" in error, error
    assert "nothing was written" not in proc.stderr, proc.stderr
    hint = [ln for ln in proc.stderr.splitlines() if ln.startswith("hint:")]
    assert hint == ["hint: it stopped while writing and removed all it had written; use an "
                    "archive made by `lxcprov export`"], proc.stderr  # fmt: skip
    assert not (lxcpath.path / "roll1").exists()
    assert digest(outside) == before


def test_row2_privilege_is_never_imported_silently(lxcpath: Lxc, tmp_path: Path) -> None:
    """An archive that says privileged needs --privileged; and whatever its config says,
    the container includes LXC's common config (device deny list, seccomp, dropped
    capabilities) and gets no lxc.autodev = 0 and no autostart."""
    config = "lxc.autodev = 0\nlxc.start.auto = 1\nlxc.cap.drop = \nlxc.tty.max = 2\n"
    body = (tc.header("rootfs/", b"5", mode=0o755, uid=0, gid=0)
            + tc.member("rootfs/sh", data=b"x", mode=0o4755, uid=0, gid=0)
            + tc.header("rootfs/sda", b"4", devmajor=8, mode=0o666, uid=0, gid=0))  # fmt: skip
    path = tc.write(tmp_path / "priv.tar.zst", body, meta=tc.manifest(ids="privileged",
                                                                       config=config))  # fmt: skip
    before = _everything(lxcpath.path)
    error = _one_error(lxcpath.cli("import", str(path), check=False))
    assert "privileged container" in error and "root on this host" in error, error
    proc = lxcpath.cli("import", str(path), check=False)
    assert f"lxcprov import {path} --privileged" in proc.stderr, proc.stderr
    assert _everything(lxcpath.path) == before, "nothing written"

    done = json.loads(lxcpath.cli("import", str(path), "--privileged", "--json").stdout)
    assert done["privileged"] is True
    assert {"lxc.autodev = 0", "lxc.start.auto = 1", "lxc.cap.drop ="} <= {
        d.strip() for d in done["dropped_config"]}  # fmt: skip
    text = (lxcpath.path / "evil1/config").read_text()
    assert "lxc.include = /usr/share/lxc/config/common.conf" in text
    assert "autodev" not in text and "start.auto" not in text and "lxc.cap.drop" not in text
    assert "lxc.tty.max = 2" in text
    # An unprivileged archive with an empty config gets common.conf too.
    body = tc.header("rootfs/", b"5", mode=0o755)
    path = tc.write(tmp_path / "plain.tar.zst", body, meta=tc.manifest(name="plain1", config=""))
    lxcpath.cli("import", str(path))
    text = (lxcpath.path / "plain1/config").read_text()
    assert "lxc.include = /usr/share/lxc/config/common.conf" in text
    assert "userns.conf" not in text  # it would empty the device cgroup lists


def test_an_archive_names_no_more_ttys_than_lxcprov_makes(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    """lxc.tty.max = 99999999 in an archive is not taken (LXC makes a pty pair for each
    at start); a config that says so anyway (the admin's own) is read as 63 ttys: doctor
    and fix --dry-run go through at most that many, in bounded memory. On the code before,
    the import took it and both died of a MemoryError (review of issue 22, row 6)."""
    huge = "lxc.tty.max = 99999999"
    body = tc.header("rootfs/", b"5", mode=0o755)
    path = tc.write(tmp_path / "ttys.tar.zst", body,
                    meta=tc.manifest(name="tt0", config=f"lxc.arch = amd64\n{huge}\n"))  # fmt: skip
    done = json.loads(lxcpath.cli("import", str(path), "--json").stdout)
    assert huge in [d.strip() for d in done["dropped_config"]], done
    assert "lxc.tty.max" not in (lxcpath.path / "tt0/config").read_text()

    lxcpath.cli("new", "tt1", "-t", "busybox", "--network", "none", "--no-start",
                "--root-password-file", str(password_file[0]))  # fmt: skip
    with (lxcpath.path / "tt1/config").open("a") as fh:
        fh.write(f"{huge}\n")

    def bounded(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["prlimit", "--as=1500000000", sys.executable, "-m", "lxcprov",
                               *args], env=lxcpath.env(), capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    doctor = bounded("doctor", "tt1", "--json")
    assert json.loads(doctor.stdout)["container"]["name"] == "tt1"
    named = {int(n) for n in re.findall(r"tty([0-9]+)", doctor.stdout)}
    assert max(named) == 63, sorted(named)
    planned = bounded("fix", "tt1", "--dry-run").stderr
    assert "+tty63::respawn:" in planned and "tty64" not in planned, planned
    assert "dry run: 1 change planned, none made" in planned


@pytest.fixture
def small_lxcpath() -> Iterator[Lxc]:
    """A private lxcpath on a 32 MiB tmpfs of its own (room for little)."""
    path = Path(tempfile.mkdtemp(prefix="lxcprov-test-small-", dir="/var/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0711", "lxcprov-test", str(path)],
                   check=True)  # fmt: skip
    try:
        yield Lxc(path)
    finally:
        destroy_all(path)
        subprocess.run(["umount", str(path)], check=False)
        path.rmdir()


class _Joined:
    """The concatenation of parts as a stream (read(n) as a pipe would give it)."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self.parts, self.buf = parts, b""

    def read(self, size: int = -1) -> bytes:
        while len(self.buf) < max(size, 1):
            part = next(self.parts, None)
            if part is None:
                break
            self.buf += part
        out, self.buf = self.buf[:size], self.buf[size:]
        return out


def _zero_file_archive(path: Path, name: str, size: int) -> Path:
    """An archive whose rootfs holds one file of size zeros (streamed, never in memory)."""

    def members() -> Iterator[bytes]:
        yield tarball.file_member(archive.MANIFEST, tc.manifest().to_json(), 1_700_000_000)
        yield tc.header("rootfs/", b"5", mode=0o755) + tc.header(name, size=size)
        zeros, left = bytes(1 << 20), size + (-size % 512)
        while left:
            yield zeros[: min(left, len(zeros))]
            left -= min(left, len(zeros))

    sums = {
        r.member.name: r.sha256 for r in tarball.members(_Joined(iter([*members(), bytes(1024)])))
    }
    last = tarball.file_member(archive.CHECKSUMS, archive.render_checksums(sums), 1_700_000_000)
    with open(path, "wb") as out:
        zstd = subprocess.Popen(["zstd", "-q", "-c"], stdin=subprocess.PIPE, stdout=out)
        assert zstd.stdin is not None
        for part in itertools.chain(members(), [last, bytes(1024)]):
            zstd.stdin.write(part)
        zstd.stdin.close()
        assert zstd.wait() == 0
    return path


def test_row6_a_bomb_is_refused_before_it_is_written(
    small_lxcpath: Lxc, lxcpath: Lxc, tmp_path: Path
) -> None:
    """Member count, bytes on disk against the lxcpath's free space, expansion ratio: each
    refused with one line from the headers or the first megabytes, nothing written."""
    small = small_lxcpath
    # 48 MiB of zeros into a 32 MiB filesystem: refused at the file's header.
    big = _zero_file_archive(tmp_path / "big.tar.zst", "rootfs/big", 48 << 20)
    assert big.stat().st_size < 1 << 20
    before = _everything(small.path)
    error = _one_error(small.cli("import", str(big), check=False))
    assert "needs more than" in error and "to spare" in error, error
    assert _everything(small.path) == before
    assert shutil.disk_usage(small.path).used < 1 << 20, "not even a spool left"
    # 200 MiB of zeros in a 16 KiB archive: a bomb, refused once 64 MiB came out of it.
    bomb = _zero_file_archive(tmp_path / "bomb.tar.zst", "rootfs/zeros", 200 << 20)
    proc = lxcpath.cli("import", str(bomb), check=False)
    assert "expands more than 100 times" in _one_error(proc) and "--max-ratio 0" in proc.stderr
    assert not (lxcpath.path / "evil1").exists()
    done = lxcpath.cli("import", str(bomb), "--max-ratio", "0")
    assert "evil1 imported" in done.stderr, "the limit can be lifted"
    # Too many members, too many bytes: the limits of the command line.
    many = b"".join(tc.header(f"rootfs/f{i}") for i in range(60))
    path = tc.write(tmp_path / "many.tar.zst", tc.header("rootfs/", b"5", mode=0o755) + many,
                    meta=tc.manifest(name="many1"))  # fmt: skip
    error = _one_error(lxcpath.cli("import", str(path), "--max-members", "50", check=False))
    assert "more than 50 members" in error, error
    error = _one_error(lxcpath.cli("import", str(big), "big1", "--max-size", "10M", check=False))
    assert "more than 10485760 bytes on disk" in error, error
    assert not (lxcpath.path / "many1").exists() and not (lxcpath.path / "big1").exists()


def test_row9_an_unprivileged_archive_brings_no_host_devices(lxcpath: Lxc, tmp_path: Path) -> None:
    """The host's virtual consoles (c 4:N) and console (c 5:1) at 0666 with lxc.autodev = 0
    would be the host's terminals inside: left out (listed), autodev not taken; the nodes
    a container needs are written."""

    def archive(name: str, nodes: dict[str, tuple[int, int]], extra: bytes = b"") -> Path:
        body = tc.header("rootfs/", b"5", mode=0o755) + tc.header("rootfs/dev/", b"5", mode=0o755)
        for node, (major, minor) in nodes.items():
            body += tc.header(f"rootfs/dev/{node}", b"3", devmajor=major, devminor=minor,
                              mode=0o666)  # fmt: skip
        meta = tc.manifest(name=name, config="lxc.autodev = 0\n")
        return tc.write(tmp_path / f"{name}.tar.zst", body + extra, meta=meta)

    needed = {"null": (1, 3), "ptmx": (5, 2)}
    path = archive("dev1", {"tty1": (4, 1), "console": (5, 1), **needed})
    done = json.loads(lxcpath.cli("import", str(path), "--json").stdout)
    dev = lxcpath.path / "dev1/rootfs/dev"
    assert sorted(os.listdir(dev)) == ["null", "ptmx"], "no host console in its files"
    assert "autodev" not in (lxcpath.path / "dev1/config").read_text()
    assert "lxc.autodev = 0" in done["dropped_config"]
    assert {ln.split(" ")[0] for ln in done["left_out"]} == {"rootfs/dev/tty1",
                                                             "rootfs/dev/console"}  # fmt: skip
    # Other nodes no container needs are left out too (not refused), and links to them.
    others = {"ttyS0": (4, 64), "pts0": (136, 0), "mem": (1, 1)}
    extra = (tc.header("rootfs/dev/mem-link", b"1", linkname="rootfs/dev/mem")
             + tc.header("rootfs/sdb", b"4", devmajor=8, devminor=16, mode=0o666))  # fmt: skip
    done = json.loads(lxcpath.cli("import", str(archive("dev2", others | needed, extra)),
                                  "--json").stdout)  # fmt: skip
    left = {ln.split(" ")[0] for ln in done["left_out"]}
    assert left == {"rootfs/dev/ttyS0", "rootfs/dev/pts0", "rootfs/dev/mem",
                    "rootfs/dev/mem-link", "rootfs/sdb"}, done["left_out"]  # fmt: skip
    assert sorted(os.listdir(lxcpath.path / "dev2/rootfs/dev")) == ["null", "ptmx"]
    assert not (lxcpath.path / "dev2/rootfs/sdb").exists()


def test_row11_export_refuses_what_import_refuses(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    """A file of an unprivileged container with a host-root (v2) file capability, set from
    the host: import refuses it, so export refuses it too, in the same words, and writes
    nothing. Taken off, the export is one its import takes."""
    pw = password_file[0]
    lxcpath.cli("new", "cap1", "-t", "busybox", "--network", "none", "--no-start",
                "--root-password-file", str(pw))  # fmt: skip
    root = map_root(lxcpath, "cap1")
    v2 = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # cap_net_raw, host root's
    with lxcpath.mounted("cap1") as tree:
        tool = tree / "bin/capped"
        tool.write_bytes(b"#!/bin/sh\n")
        os.chown(tool, root, root)
        os.setxattr(tool, "security.capability", v2)
    out = tmp_path / "cap1.tar.zst"
    refused = _one_error(lxcpath.cli("export", "cap1", str(out), check=False))
    assert "a file capability that is not its container root's" in refused, refused
    assert "'rootfs/bin/capped'" in refused
    assert not out.exists() and list(tmp_path.glob("*cap1*")) == []

    # The import of such a member says the very same.
    label = f"{root}:65536"
    body = (tc.header("rootfs/", b"5", mode=0o755, uid=root, gid=root)
            + tc.header("rootfs/bin/", b"5", mode=0o755, uid=root, gid=root)
            + tc.pax({"SCHILY.xattr.security.capability": v2})
            + tc.member("rootfs/bin/capped", data=b"#!/bin/sh\n", mode=0o755, uid=root,
                        gid=root))  # fmt: skip
    path = tc.write(tmp_path / "crafted.tar.zst", body, meta=tc.manifest(ids=label))
    assert _one_error(lxcpath.cli("import", str(path), check=False)) == refused

    with lxcpath.mounted("cap1") as tree:
        os.removexattr(tree / "bin/capped", "security.capability")
    lxcpath.cli("export", "cap1", str(out))
    lxcpath.cli("import", str(out), "cap2")
