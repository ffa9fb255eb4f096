"""Random hostile rootfs trees for the `fix` fuzz (issue 22): what a template or a
container's root could leave at the paths the recipes read and write.

A tree starts as one of the synthetic template trees (tests/trees.py) and gets a few
mutations, each at a path the recipes use: symlinks (absolute or climbing out, to the
"host" sentinel directory beside the rootfs, to /proc, in loops, dangling, with targets
of ~4000 characters), FIFOs, character and block devices, sockets, hard links to the
sentinel's files (the sentinel lives on the same filesystem, under /var/tmp, so they can
be made), directories or files where the other is expected, hostile content (NUL bytes,
invalid UTF-8, 100 000-character lines, a 20 MiB sparse file), long names, mode 000.

The builder itself never writes outside the rootfs: every mutation first checks that each
directory above its path is a real directory (not a symlink planted by an earlier one),
and is skipped otherwise.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import stat
from pathlib import Path

from lxcprov.system.netintent import NetIntent
from tests.trees import TREES

# The paths the recipes and the facts read or write (recipes/*.toml, engine/facts.py,
# engine/recipes/actions/), `{n}` a tty number.
TARGETS = [
    "/etc/inittab",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/shadow",
    "/etc/passwd",
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/login.defs",
    "/etc/securetty",
    "/etc/resolv.conf",
    "/etc/network/interfaces",
    "/etc/init.d/rcS",
    "/etc/udhcpc/lxcprov.script",
    "/etc/systemd/network/20-lxcprov-eth0.network",
    "/etc/systemd/system/getty@.service.d/lxcprov-container.conf",
    "/etc/systemd/system/getty.target.wants/getty@tty{n}.service",
    "/etc/systemd/system/getty.target.wants/console-getty.service",
    "/etc/systemd/system/container-getty@{n}.service",
    "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
    "/root/.ssh/authorized_keys",
    "/root/.ssh",
    "/root",
    "/dev/tty{n}",
    "/sbin/init",
    "/sbin/getty",
    "/bin/busybox",
    "/lib/systemd/system",
    "/usr/lib/systemd/system/getty@.service",
    "/etc/systemd/system",
    "/etc/systemd",
    "/etc",
]
KINDS = [
    "abs-host",
    "climb-host",
    "abs-inside",
    "proc",
    "loop",
    "self-loop",
    "dangling",
    "long-target",
    "name-too-long",
    "fifo",
    "chardev",
    "blockdev",
    "socket",
    "hardlink-host",
    "dir",
    "binary",
    "long-line",
    "sparse",
    "long-name",
    "mode-000",
    "parent-abs-host",
    "parent-climb-host",
    "parent-file",
]
HOST_FILES = {
    "passwd": "root:x:0:0:HOST:/root:/bin/sh\n",
    "shadow": "root:HOSTHASH:1:::::\n",
    "hostname": "the-host\n",
    "hosts": "127.0.0.1 the-host\n",
    "inittab": "id:HOST:initdefault:\n",
    "login.defs": "HOST yes\n",
    "securetty": "host-tty\n",
    "systemd/system/getty.target.wants/keep": "host unit\n",
    "ssh/authorized_keys": "ssh-ed25519 HOSTKEY host\n",
    "udhcpc/lxcprov.script": "#!/bin/sh\nhost\n",
}
# Real host files whose content and metadata must not change (read only, never linked).
REAL_HOST = [
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/login.defs",
    "/etc/securetty",
    "/etc/inittab",
    "/etc/resolv.conf",
    "/root/.ssh/authorized_keys",
]


def make_host(host: Path) -> None:
    """The sentinel: files shaped like the host's, that nothing may change."""
    for rel, text in HOST_FILES.items():
        p = host / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o640 if rel == "shadow" else 0o644)


def digest(top: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under top: type, mode, owner, size and content (or link target).
    Link counts and times are left out: a hard link replaced inside a rootfs lowers the
    count of the host inode, which is not a change to it."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                what: object = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = st.st_rdev
            out[str(p.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, what)
    return out


def real_host_digest() -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for path in REAL_HOST:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            out[path] = ("absent",)
            continue
        data = Path(path).read_bytes() if stat.S_ISREG(st.st_mode) else b""
        out[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_ino,
                     hashlib.sha256(data).hexdigest())  # fmt: skip
    return out


def _parents_are_dirs(root: Path, rel: str) -> bool:
    """Whether every directory above rel (inside root) is a real directory or missing."""
    cur = root
    for part in rel.strip("/").split("/")[:-1]:
        cur = cur / part
        try:
            st = cur.lstat()
        except FileNotFoundError:
            return True
        if not stat.S_ISDIR(st.st_mode):
            return False
    return True


def _clear(p: Path) -> None:
    """Remove whatever is at p, never following it."""
    try:
        st = p.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(p)
    else:
        p.unlink()


def _climb(host_path: Path) -> str:
    return "../" * 30 + str(host_path).lstrip("/")


def _mutate(rng: random.Random, root: Path, host: Path, rel: str, kind: str) -> bool:
    if kind.startswith("parent-"):
        parts = rel.strip("/").split("/")
        if len(parts) < 2:
            return False
        rel = "/" + "/".join(parts[: rng.randint(1, len(parts) - 1)])
    if not _parents_are_dirs(root, rel):
        return False
    p = root / rel.lstrip("/")
    _clear(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    host_file = host / rng.choice(sorted(HOST_FILES))
    host_dir = host / rng.choice(["", "systemd", "systemd/system", "ssh", "udhcpc"])
    if kind == "abs-host":
        os.symlink(str(host_file), p)
    elif kind == "climb-host":
        os.symlink(_climb(host_file), p)
    elif kind == "abs-inside":
        os.symlink(rng.choice(["/etc/shadow", "/etc/passwd", "/", "/etc"]), p)
    elif kind == "proc":
        os.symlink(rng.choice(["/proc/self/root" + str(host_file), "/proc/1/root/etc/passwd",
                               "../" * 30 + "proc/self/cwd"]), p)  # fmt: skip
    elif kind == "loop":
        os.symlink(p.name + ".loop", p)
        os.symlink(p.name, p.parent / (p.name + ".loop"))
    elif kind == "self-loop":
        os.symlink(p.name, p)
    elif kind == "dangling":
        os.symlink("/nonexistent/" + "x" * 10, p)
    elif kind == "long-target":
        os.symlink("/" + "/".join(["d" * 250] * 16), p)
    elif kind == "name-too-long":
        os.symlink("/etc/" + "x" * 300 + "/hostname", p)
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "chardev":
        os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, rng.choice([3, 5, 7])))
    elif kind == "blockdev":
        os.mknod(p, stat.S_IFBLK | 0o666, os.makedev(7, 0))
    elif kind == "socket":
        tmp = root / f".s{rng.randrange(10**6)}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(str(tmp))
        os.rename(tmp, p)
    elif kind == "hardlink-host":
        os.link(host_file, p)
    elif kind == "dir":
        p.mkdir()
        (p / "inside").write_text("x\n")
    elif kind == "binary":
        p.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))))
    elif kind == "long-line":
        p.write_text("root:" + "x" * 100_000 + ":0:0::/root:/bin/sh\n" + "\u2028\r\n" * 3)
    elif kind == "sparse":
        with p.open("wb") as fh:
            fh.truncate(20 * 1024**2)
    elif kind == "long-name":
        chain = p
        chain.mkdir()
        for _ in range(rng.randint(1, 14)):  # under PATH_MAX from the host side
            chain = chain / ("n" * 255)
            chain.mkdir()
        (chain / "f").write_text("deep\n")
    elif kind == "mode-000":
        p.write_text("root:x:0:0::/root:/bin/sh\n")
        p.chmod(0)
    elif kind == "parent-abs-host":
        os.symlink(str(host_dir), p)
    elif kind == "parent-climb-host":
        os.symlink(_climb(host_dir), p)
    elif kind == "parent-file":
        p.write_text("not a directory\n")
    return True


def build(seed: int, root: Path, host: Path) -> tuple[dict[str, str], NetIntent, list[str]]:
    """A hostile tree at root for seed: its LXC config, its network, what was done."""
    rng = random.Random(seed)
    kind = rng.choice(sorted(TREES))
    make, config = TREES[kind]
    root.mkdir()
    make(root)
    config = {**config, "lxc.autodev": rng.choice(["0", "1"])}
    done = [kind]
    for _ in range(rng.randint(1, 6)):
        rel = rng.choice(TARGETS).replace("{n}", str(rng.randint(1, 4)))
        what = rng.choice(KINDS)
        if _mutate(rng, root, host, rel, what):
            done.append(f"{what} at {rel}")
    net = rng.choice([
        NetIntent(),
        NetIntent("dhcp", "br0"),
        NetIntent("static", "br0", "10.200.0.5/24", "10.200.0.1", "10.200.0.1"),
    ])  # fmt: skip
    return config, net, done


# Paths a racer swaps while fix runs: directories on the way and files written.
RACED = ["/etc", "/etc/systemd/system", "/root/.ssh", "/root", "/etc/hostname", "/etc/hosts",
         "/etc/shadow", "/etc/udhcpc", "/etc/systemd"]  # fmt: skip
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd = -100
    libc.renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), _RENAME_EXCHANGE)


def racer(root: Path, host: Path, rel: str, seed: int) -> int | None:
    """A child that swaps what is at rel with a symlink to the host sentinel, without end
    (kill it); returns its pid. The symlink is absolute or climbing, by seed. None when
    rel is not a real file or directory below real directories (the racer, like the
    builder, never acts through a symlink an earlier mutation planted)."""
    p = root / rel.lstrip("/")
    if not _parents_are_dirs(root, rel):
        return None
    try:
        mode = p.lstat().st_mode
    except FileNotFoundError:
        return None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        return None
    alt = p.parent / f".{p.name}.race"
    target = host / ("" if stat.S_ISDIR(mode) else "shadow")
    os.symlink(str(target) if seed % 2 else _climb(target), alt)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child swaps until it is killed
        try:
            while True:
                _exchange(p, alt)
        finally:
            os._exit(0)
    return pid
