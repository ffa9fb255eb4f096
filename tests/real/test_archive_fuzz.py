"""A differential fuzz of `import` (issue 22): archives of random trees, each member's
header written at random as ustar (name or prefix/name), GNU (long names 'L', long links
'K'), PAX (path, linkpath, size, uid, mtime records; global headers; GNU sparse 1.0) or
two of them at once that disagree (a GNU long name and a PAX path), with hostile names,
links out of the tree, links under symlinks, devices, duplicates, bad owners, lying
sizes, truncation and bytes after the end. Seeded, and bounded (CASES archives, about a
minute here).

For each archive, exactly one of:
- refused with one line (an lxcprov error; nothing of the destination written when the
  first reading refuses, the destination removed by the CLI's rollback otherwise);
- the tree on disk (paths, types, link targets, owners, modes, contents, device numbers,
  hard links) is the tree the checks approved: every member Checker.check() passed, as the
  first reading (tarball.entries) read it, and nothing else.
And nothing outside the destination changes: a sentinel host directory that symlinks, hard
links and names aim at keeps its digest, and nothing appears beside the destination.

Most archives go through the import's own two readings below the CLI
(lxcprov.ops.import_archive.check and write_trees, what `import` runs); every CLI_EVERY-th
through `lxcprov import` itself, into a private lxcpath.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lxcprov.engine import archive
from lxcprov.engine.archive import SnapshotEntry
from lxcprov.errors import ArchiveError, LxcprovError
from lxcprov.ops import import_archive
from lxcprov.system import tarball
from tests import tarcraft as tc
from tests.real.harness import Lxc, var_tmp
from tests.real.treedigest import digest

pytestmark = pytest.mark.real

SEED = int(os.environ.get("LXCPROV_FUZZ_SEED", "22"))
CASES = 2400
CLI_EVERY = 120
MAP, ROOT = tc.MAP, tc.ROOT
OTHER = "1200000000:65536"  # a snapshot's own map
DEVICES = [(1, 3), (1, 5), (5, 2), (0, 0), (4, 1), (5, 1), (8, 0), (136, 2), (10, 200)]


@dataclass
class Spec:
    """One member as the generator means it (the headers may say otherwise)."""

    name: str
    kind: bytes  # tar type flag
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    uid: int = ROOT
    gid: int = ROOT
    major: int = 0
    minor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    sparse: list[tuple[int, int]] | None = None  # data runs of a GNU sparse 1.0 file
    realsize: int = 0


class Fuzz:
    """One archive's generator. hostile: how often a member is made wrong on purpose (a
    bad name, owner, type, link, setuid bit, a duplicate); 0 for about a third of the
    archives, whose every member a careful checker takes, whatever their headers."""

    def __init__(self, rng: random.Random, sentinel: Path) -> None:
        self.rng, self.sentinel = rng, sentinel
        self.hostile = 0.0 if rng.random() < 0.35 else rng.choice([0.01, 0.03, 0.08, 0.2])

    def bad(self) -> bool:
        return self.rng.random() < self.hostile

    # -- trees ------------------------------------------------------------------------

    def component(self, i: int) -> str:
        r = self.rng
        if self.bad():
            return r.choice(["..", ".", "", "c" * 256, "new\nline", "a/b/../.."])
        name = r.choice(["a", "b", "etc", "dev", "usr", "x" * r.randint(90, 120),
                         "y" * r.randint(140, 200), "ü", "sp ace", "passwd", "shadow"])  # fmt: skip
        return name + ("" if r.random() < 0.5 else f"-{i}") if r.random() < 0.95 else "z" * 255

    def owner(self, base: int) -> int:
        r = self.rng
        if not self.bad():
            return base + r.choice([0, 0, 1, 1000, 65534])
        return r.choice([0, base + 65536, (1 << 32) - 1, (1 << 32) - 2, -1, 5, 1 << 40])

    def target(self, names: list[str]) -> str:
        r = self.rng
        if self.bad():
            return r.choice(["x" * 5000, ""])
        return r.choice([str(self.sentinel), f"{self.sentinel}/file0", "/", "/etc/shadow",
                         "../" * r.randint(1, 12) + self.sentinel.name,
                         "../" * r.randint(1, 8), "etc/passwd", r.choice(names),
                         "/" + r.choice(names)])  # fmt: skip

    def tree(self, root: str, base: int) -> list[Spec]:
        r = self.rng
        specs = [Spec(root + r.choice(["", "", "/"]), b"5", mode=0o755, uid=base, gid=base)]
        dirs, names, files = [root], [root], list[str]()
        for i in range(r.randint(0, 30)):
            parent = r.choice(names) if self.bad() else r.choice(dirs)
            name = f"{parent}/{self.component(i)}"
            if self.bad():
                name = r.choice([f"/{name}", f"{root}/../{name}", f"{root}//x", "config",
                                 "snapshots/nope/rootfs/x", "lxcprov/manifest.json",
                                 r.choice(names)])  # fmt: skip
            if name in names and not self.bad():
                continue
            kinds = [b"5", b"0", b"2", b"1", b"6", b"3", b"4", b"7"]
            kind = r.choices(kinds, [20, 30, 15, 8, 4, 8, 2, 2])[0]
            if self.bad():
                kind = r.choice([b"V", b"M", b"S", b"x", b"g", b"Z", b"4"])
            spec = Spec(name, kind, uid=self.owner(base), gid=self.owner(base))
            spec.mode = r.choice([0o644, 0o755, 0o600, 0o1777, 0o000, 0o100644, 0o777])
            if self.bad() or base == 0:
                spec.mode = r.choice([0o4755, 0o2755, 0o7777, spec.mode])
            if kind in (b"0", b"7"):
                spec.data = r.randbytes(r.choice([0, 1, 100, 511, 512, 513, 3000]))
                if r.random() < 0.1:
                    self.sparsify(spec)
            elif kind == b"2":
                spec.linkname = self.target(names)
            elif kind == b"1":
                if not files and not self.bad():
                    continue
                spec.linkname = r.choice(files) if files and not self.bad() else self.target(names)
            elif kind in (b"3", b"4"):
                spec.major, spec.minor = r.choice(DEVICES)
                if self.bad():
                    spec.major = r.choice([4096, 1 << 20, -1])
            if r.random() < 0.1 and (kind in (b"0", b"5") or self.bad()):
                spec.xattrs = self.xattrs(base)
            specs.append(spec)
            names.append(name)
            (dirs if kind == b"5" else files).append(name)
        return specs

    def sparsify(self, spec: Spec) -> None:
        r = self.rng
        runs, at, data = [], 0, b""
        for _ in range(r.randint(1, 3)):
            at += r.choice([0, 100, 4096, 70000])
            n = r.choice([0, 10, 512, 5000])
            runs.append((at, n))
            data += r.randbytes(n)
            at += n
        spec.sparse, spec.data, spec.realsize = runs, data, at + r.choice([0, 10, 9000])

    def xattrs(self, base: int) -> dict[str, bytes]:
        r = self.rng
        v3 = (
            (0x03000001).to_bytes(4, "little")
            + bytes(16)
            + r.choice([base, 0, base + 7]).to_bytes(4, "little")
        )
        v2 = (0x02000001).to_bytes(4, "little") + bytes(16)
        if self.bad():
            key = r.choice(["security.capability", "bogus", "user.", "system.posix_acl_access"])
            return {key: r.choice([v3, v2, b"value", b""])}
        if base == 0 or r.random() < 0.5:
            return {"user.note": r.randbytes(r.randint(0, 40)), "trusted.x": b"t"}
        return {"security.capability": v3[:20] + base.to_bytes(4, "little")}

    # -- headers ----------------------------------------------------------------------

    def encode(self, s: Spec) -> bytes:
        """The member's headers: its name and link each carried by one of the ways tar has
        (the header's field, ustar's prefix, a GNU 'L'/'K' record, a PAX record), at times
        with a second way that says something else. Python's tarfile takes a GNU record
        given after a PAX header and a PAX record given after a GNU one (GNU tar the PAX
        record either way); in a sound archive the name tarfile takes is the sound one."""
        r = self.rng
        size, payload = len(s.data), s.data
        records: dict[str, bytes | str] = {}
        name, link = s.name, s.linkname
        if s.sparse is not None:
            runs = f"{len(s.sparse)}\n" + "".join(f"{o}\n{n}\n" for o, n in s.sparse)
            payload = tc.pad(runs.encode()) + s.data
            size = len(payload)
            records.update({"GNU.sparse.major": "1", "GNU.sparse.minor": "0"})
            records.update({"GNU.sparse.name": name, "GNU.sparse.realsize": str(s.realsize)})
            name = f"./GNUSparseFile.0/{name.rpartition('/')[2]}"[:100]  # GNU tar's own
        for key, value in s.xattrs.items():
            records[f"SCHILY.xattr.{key}"] = value
        before: list[bytes] = []  # GNU records before the PAX header
        after: list[bytes] = []  # and after it
        head_name, prefix, gnu = name[:100], "", False
        tail = name.rpartition("/")[2]
        ways = ["L", "pax"] + (["field"] if len(name.encode()) <= 100 else [])
        if s.sparse is None and 0 < len(tail.encode()) <= 100 and len(name) - len(tail) <= 156:
            ways.append("prefix")
        way = r.choice(ways) if s.sparse is None else "sparse"  # GNU.sparse.name names it
        if way == "prefix":
            prefix, head_name = name[: -len(tail) - 1], tail
        elif way == "L":
            (before if r.random() < 0.5 else after).append(tc.gnu_long(name))
            gnu = True
        elif way == "pax":
            records["path"] = name
        head_link = link[:100]
        if link:
            lways = ["K", "pax"] + (["field"] if len(link.encode()) <= 100 else [])
            lway = r.choice(lways)
            if lway == "K":
                (before if r.random() < 0.5 else after).append(tc.gnu_long(link, b"K"))
                gnu = True
            elif lway == "pax":
                records["linkpath"] = link
        if r.random() < 0.3:
            self.disagree(s, way, records, before, after)
        if self.bad():
            records["size"] = str(size + r.choice([-512, -1, 1, 512, 10**12]))
        if self.bad():
            odd = r.choice(["-1", "1e30", "nan", "99999999999999999999", "x"])
            records[r.choice(["uid", "gid", "mtime"])] = odd
        if r.random() < 0.05:
            records["mtime"] = r.choice(["1700000000.123456789", "0", "-5", "nan", "1e30"])
        out = b"".join(before) + (tc.pax(records) if records else b"") + b"".join(after)
        if self.bad():
            out = (
                tc.pax({r.choice(["path", "uid", "mtime", "comment"]): "rootfs/g"}, kind=b"g") + out
            )
        header = tc.header(head_name, s.kind, size=size, mode=s.mode, uid=s.uid, gid=s.gid,
                           linkname=head_link, devmajor=s.major, devminor=s.minor,
                           prefix=prefix, gnu=gnu and not prefix)  # fmt: skip
        return out + header + (tc.pad(payload) if s.kind in (b"0", b"7") else b"")

    def disagree(self, s: Spec, way: str, records: dict[str, bytes | str], before: list[bytes],
                 after: list[bytes]) -> None:  # fmt: skip
        """A second name (or link) the other reader takes: GNU tar's PAX record where
        tarfile takes a GNU one, or the reverse."""
        r = self.rng
        other = r.choice(["rootfs", "rootfs/etc", "../x", str(self.sentinel),
                          self.sentinel.name, s.name + "-alt"])  # fmt: skip
        if way == "L" and s.sparse is None:
            if self.bad():
                records["path"] = other  # where tarfile then takes the PAX path
                after[:] = [*before, *after]
                before.clear()
            else:
                records["path"] = other  # GNU tar's name: tarfile takes the L record
                before[:] = [*before, *after]
                after.clear()
        elif s.linkname and "linkpath" not in records:
            records["linkpath"] = other
            k = tc.gnu_long(s.linkname, b"K")
            if self.bad():
                after.append(k)  # tarfile then takes... the PAX linkpath
            else:
                before.append(k)  # tarfile takes the K record, GNU tar the PAX linkpath

    def archive(self) -> tuple[bytes, archive.Manifest, bool]:
        """The compressed archive, its manifest, and whether to pass --privileged."""
        r = self.rng
        ids = r.choices([MAP, "privileged"], [85, 15])[0]
        base = 0 if ids == "privileged" else ROOT
        snaps: tuple[SnapshotEntry, ...] = ()
        specs = self.tree("rootfs", base)
        if r.random() < 0.25:
            sids = r.choice([MAP, OTHER, "privileged"])
            snaps = (SnapshotEntry("s1", "2026-01-01T00:00:00+00:00", sids),)
            sbase = {MAP: ROOT, OTHER: 1200000000, "privileged": 0}[sids]
            specs += self.tree("snapshots/s1/rootfs", sbase)
        if self.bad():
            specs.insert(r.randint(1, len(specs)), r.choice(specs))  # a duplicate
        meta = tc.manifest(ids=ids, snapshots=snaps, name=f"fz{r.randint(0, 9999)}")
        body = b"".join(self.encode(s) for s in specs)
        try:
            raw = tc.lxcprov_archive(body, meta=meta)
        except ArchiveError:  # unreadable: the checksums of what reads, then the damage
            raw = tc.lxcprov_archive(b"", meta=meta)[:-1024] + body + bytes(1024)
        if self.bad():
            raw = raw[: r.randint(0, len(raw))]  # truncated
        elif self.bad():
            raw += r.choice([b"\0" * 512, b"trailing junk", bytes(3 << 20)])
        data = tc.zstd(raw)
        if self.bad():
            data = data[: r.randint(0, len(data))]
        return data, meta, r.random() < 0.8


# -- the tree the checks approve, and the tree on disk ------------------------------------

Entry = tuple[object, ...]


def approved(raw: bytes) -> dict[str, Entry]:
    """The tree the first reading approves: every member Checker.check() passes, as
    tarball.entries reads it; hard links as what they name (plus the name they share)."""
    checker = archive.Checker()
    tree: dict[str, Entry] = {}
    for entry in tarball.entries(io.BytesIO(raw)):
        m = entry.member
        ok = checker.check(m)
        if m.name == archive.MANIFEST:
            data = entry.digest(checker.keep(m))[1]
            assert data is not None
            checker.manifest = archive.parse_manifest(data)
            for s in checker.manifest.snapshots:
                tree["snapshots"] = ("dir", 0o700, 0, 0, "")
                tree[f"snapshots/{s.name}"] = ("dir", 0o700, 0, 0, "")
        if not ok:
            continue
        if m.kind == "hardlink":
            target = tree[m.linkname]
            group = target[5] if len(target) > 5 else m.linkname
            tree[m.linkname] = (*target[:5], group)
            tree[m.name] = (*target[:5], group)
            continue
        body: object = ""
        if m.kind == "file":
            content = bytearray(m.size if m.sparse is not None else 0)
            for offset, chunk in entry.content():
                content[offset : offset + len(chunk)] = chunk
            body = hashlib.sha256(content).hexdigest()
        elif m.kind == "symlink":
            body = m.linkname
        elif m.kind in ("chardev", "blockdev"):
            body = f"{m.devmajor}:{m.devminor}"
        mode = 0o777 if m.kind == "symlink" else m.mode
        tree[m.name] = (m.kind, mode, m.uid, m.gid, body)
    checker.finish()
    return tree


_KIND = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "symlink",
         stat.S_IFIFO: "fifo", stat.S_IFCHR: "chardev", stat.S_IFBLK: "blockdev"}  # fmt: skip


def on_disk(dest: Path, skip: tuple[str, ...] = ()) -> dict[str, Entry]:
    tree: dict[str, Entry] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in [*dirnames, *filenames]:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, dest)
            if rel.startswith(skip):
                continue
            st = os.lstat(p)
            kind = _KIND[stat.S_IFMT(st.st_mode)]
            body: object = ""
            if kind == "file":
                with open(p, "rb") as fh:
                    body = hashlib.sha256(fh.read()).hexdigest()
            elif kind == "symlink":
                body = os.readlink(p)
            elif kind in ("chardev", "blockdev"):
                body = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            tree[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body)
            if kind != "dir" and st.st_nlink > 1:
                inodes.setdefault(st.st_ino, []).append(rel)
    return tree | {rel: (*tree[rel], sorted(group)) for group in inodes.values() for rel in group}


def same_links(expected: dict[str, Entry]) -> dict[str, Entry]:
    """Hard-link groups named by their sorted members (as on_disk names them)."""
    groups: dict[object, list[str]] = {}
    for rel, e in expected.items():
        if len(e) > 5:
            groups.setdefault(e[5], []).append(rel)
    return {rel: (*e[:5], sorted(groups[e[5]])) if len(e) > 5 else e
            for rel, e in expected.items()}  # fmt: skip


# -- the test -----------------------------------------------------------------------------


@pytest.fixture
def sentinel() -> Iterator[Path]:
    with var_tmp("lxcprov-fuzz-sentinel-") as path:
        (path / "sub").mkdir()
        for i in range(3):
            (path / f"file{i}").write_text(f"sentinel {i}\n")
            (path / "sub" / f"deep{i}").write_text("deep\n")
        yield path


def _one_line(exc: LxcprovError) -> None:
    assert "\n" not in exc.message and exc.message, repr(exc.message)


def _below_cli(data: bytes, meta: archive.Manifest, privileged: bool, work: Path) -> str:
    """The import's two readings into work/dest; what happened, for the tally."""
    dest = work / "dest"
    raw = _unzstd(data)
    spool = tarball.Spooled(work)
    try:
        fh = io.BytesIO(data)
        head = fh.read(4)
        try:
            kind = tarball.compression_of(head, "fuzz")
            checked = import_archive.check(
                fh, spool, kind, head, lambda _n: None, room=import_archive.Room.of(work),
                limits=archive.Limits(), max_ratio=import_archive.MAX_RATIO,
                privileged=privileged, command="lxcprov import fuzz",
            )  # fmt: skip
        except LxcprovError as exc:
            _one_line(exc)
            assert not dest.exists(), "the first reading refused: nothing written"
            return "refused"
        expected = same_links(approved(raw))  # what the checks passed, the same reading
        dest.mkdir(mode=0o700)
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            import_archive.write_trees(checked, spool, kind, fd, lambda _n: None)
        except LxcprovError as exc:  # a filesystem that says no (an xattr it refuses)
            _one_line(exc)
            assert "cannot write" in exc.message, exc.message
            return "failed writing"
        finally:
            os.close(fd)
        assert on_disk(dest) == expected
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with import_archive.pinned_trees(fd, checked.manifest) as pinned:
                snaps = checked.manifest.snapshots
                assert set(pinned) == {"rootfs", *(archive.snapshot_root(s.name) for s in snaps)}
        finally:
            os.close(fd)
        return "written"
    finally:
        spool.close()
        if dest.exists():
            shutil.rmtree(dest)


def _unzstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, capture_output=True,
                          check=False).stdout  # fmt: skip


def _through_cli(lxc: Lxc, data: bytes, meta: archive.Manifest, privileged: bool,
                 work: Path) -> str:  # fmt: skip
    path = work / "case.tar.zst"
    path.write_bytes(data)
    name = meta.name
    args = ["import", str(path), *(["--privileged"] if privileged else [])]
    try:
        proc = lxc.cli(*args, check=False)
    finally:
        path.unlink()
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, proc.stderr
        assert not (lxc.path / name).exists(), "a failed import removes what it wrote"
        return "refused (CLI)"
    # The identity step writes the hostname and network files under rootfs/etc.
    written = on_disk(lxc.path / name, skip=("rootfs/etc", "config", "lxcprov-"))
    expected = same_links(approved(_unzstd(data)))
    for rel, entry in expected.items():
        if rel.startswith(("rootfs/etc", "snapshots")):
            continue  # the identity step's files; snapshots shifted into this host's map
        assert written.get(rel, ("missing",))[:5] == entry[:5], rel
    lxc.cli("destroy", "--force", name)
    return "written (CLI)"


def test_differential_fuzz_of_import(lxcpath: Lxc, sentinel: Path) -> None:
    before = digest(sentinel)
    work = Path(tempfile.mkdtemp(prefix="lxcprov-fuzz-", dir="/var/tmp"))
    tally: dict[str, int] = {}
    try:
        rng = random.Random(SEED)
        for case in range(CASES):
            fuzz = Fuzz(rng, sentinel)
            data, meta, privileged = fuzz.archive()
            try:
                if case % CLI_EVERY == 0:
                    what = _through_cli(lxcpath, data, meta, privileged, work)
                else:
                    what = _below_cli(data, meta, privileged, work)
            except AssertionError as exc:
                raise AssertionError(f"case {case} (seed {SEED}): {exc}") from exc
            tally[what] = tally.get(what, 0) + 1
            assert digest(sentinel) == before, f"case {case} changed the sentinel"
            assert sorted(os.listdir(work)) == [], f"case {case} left {os.listdir(work)}"
    finally:
        shutil.rmtree(work)
    print(f"fuzz seed {SEED}: {tally}")
    # The generator reaches both outcomes, through both doors.
    assert tally.get("written", 0) > CASES // 10 and tally.get("refused", 0) > CASES // 10, tally
    assert tally.get("written (CLI)", 0) >= 2 and tally.get("refused (CLI)", 0) >= 2, tally
