"""Synthetic rootfs trees shaped like what each template leaves behind (as measured)."""

from __future__ import annotations

import os
from pathlib import Path

from lxcprov.system.rootfs import Rootfs

# Rootfs handles opened by tests through opened(); tests/conftest.py closes them after each.
OPENED: list[Rootfs] = []


def opened(root: Path) -> Rootfs:
    """A Rootfs of root that stays open for the rest of the test (closed after it)."""
    OPENED.append(Rootfs(root))
    return OPENED[-1]


def write(root: Path, path: str, text: str, mode: int = 0o644) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)
    return target


def link(root: Path, path: str, target: str) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)


DEBIAN_INITTAB = """id:3:initdefault:
si::sysinit:/etc/init.d/rcS
l2:2:wait:/etc/init.d/rc 2
z6:6:respawn:/sbin/sulogin
1:2345:respawn:/sbin/getty 38400 console
c1:12345:respawn:/sbin/getty 38400 tty1 linux
c2:12345:respawn:/sbin/getty 38400 tty2 linux
c3:12345:respawn:/sbin/getty 38400 tty3 linux
c4:12345:respawn:/sbin/getty 38400 tty4 linux
c5:12345:respawn:/sbin/getty 38400 tty5 linux
p6::ctrlaltdel:/sbin/init 6
"""


def _debian_base(root: Path) -> None:
    write(root, "/etc/os-release", 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian 12"\n')
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write(root, "/etc/shadow", "root:*:20000:0:99999:7:::\n", 0o640)
    write(root, "/etc/hostname", "template-name\n")
    write(root, "/etc/hosts", "127.0.0.1   localhost\n127.0.1.1   template-name\n")
    write(root, "/etc/network/interfaces", "auto eth0\niface eth0 inet dhcp\n")
    write(root, "/usr/sbin/ifup", "#!/bin/sh\n", 0o755)
    write(root, "/sbin/getty", "", 0o755)
    write(root, "/etc/login.defs", "# shadow's defaults\nLOGIN_RETRIES\t\t5\nLOGIN_TIMEOUT\t\t60\n")
    (root / "root").mkdir(mode=0o700, exist_ok=True)


def debian_systemd(root: Path) -> Path:
    """Debian bookworm from lxc-debian: merged /usr, systemd, dangling getty wants links."""
    _debian_base(root)
    write(root, "/usr/lib/systemd/systemd", "", 0o755)
    write(root, "/usr/lib/systemd/system/getty@.service", "[Unit]\nConditionPathExists=/dev/tty0\n")
    write(root, "/usr/lib/systemd/system/console-getty.service", "[Unit]\n")
    link(root, "/lib", "usr/lib")
    link(root, "/sbin/init", "/lib/systemd/systemd")
    write(root, "/etc/inittab", DEBIAN_INITTAB)
    wants = "/etc/systemd/system/getty.target.wants"
    for n in range(1, 5):
        link(root, f"{wants}/getty@tty{n}.service", "../getty@.service")
    return root


def debian_sysvinit(root: Path) -> Path:
    _debian_base(root)
    write(root, "/sbin/init", "\x7fELF sysvinit", 0o755)
    write(root, "/etc/inittab", DEBIAN_INITTAB)
    # sysvinit-core's own copy, installed as /etc/inittab when there is none.
    write(root, "/usr/share/sysvinit/inittab", DEBIAN_INITTAB)
    return root


def busybox(root: Path) -> Path:
    """lxc-busybox: init is a hard link of busybox, empty shadow, a shell on the console."""
    write(root, "/bin/busybox", "\x7fELF busybox", 0o755)
    (root / "sbin").mkdir(parents=True, exist_ok=True)
    os.link(root / "bin/busybox", root / "sbin/init")
    link(root, "/bin/getty", "busybox")
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    write(root, "/etc/shadow", "", 0o644)
    write(
        root,
        "/etc/inittab",
        "::sysinit:/etc/init.d/rcS\n"
        "tty1::respawn:/bin/getty -L tty1 115200 vt100\n"
        "console::askfirst:/bin/sh\n",
    )
    return root


def alpine_openrc(root: Path) -> Path:
    """Alpine: busybox init running OpenRC, /sbin/getty, /etc/securetty."""
    write(root, "/etc/os-release", "ID=alpine\nVERSION_ID=3.20.0\n")
    write(root, "/bin/busybox", "\x7fELF busybox", 0o755)
    link(root, "/sbin/init", "/bin/busybox")
    link(root, "/sbin/getty", "/bin/busybox")
    write(root, "/sbin/openrc", "", 0o755)
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/ash\n")
    write(root, "/etc/shadow", "root:!::0:::::\n", 0o640)
    write(root, "/etc/securetty", "console\ntty1\n")
    write(
        root,
        "/etc/inittab",
        "::sysinit:/sbin/openrc sysinit\n"
        "tty1::respawn:/sbin/getty 38400 tty1\n"
        "tty2::respawn:/sbin/getty 38400 tty2\n"
        "tty3::respawn:/sbin/getty 38400 tty3\n"
        "tty4::respawn:/sbin/getty 38400 tty4\n"
        "tty5::respawn:/sbin/getty 38400 tty5\n"
        "tty6::respawn:/sbin/getty 38400 tty6\n",
    )
    return root


def centos_systemd(root: Path) -> Path:
    """A systemd distro without merged-/usr links, units only under /usr/lib."""
    write(root, "/etc/os-release", 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\n')
    write(root, "/usr/lib/systemd/systemd", "", 0o755)
    write(root, "/usr/lib/systemd/system/getty@.service", "[Unit]\n")
    link(root, "/sbin/init", "../usr/lib/systemd/systemd")
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write(root, "/etc/shadow", "root:!!:20000:0:99999:7:::\n", 0o000)
    write(root, "/etc/securetty", "console\n")
    return root


TREES = {
    "debian-systemd": (debian_systemd, {"lxc.tty.max": "4"}),
    "debian-sysvinit": (debian_sysvinit, {"lxc.tty.max": "4"}),
    "busybox": (busybox, {"lxc.tty.max": "5", "lxc.autodev": "1"}),
    "alpine-openrc-noautodev": (alpine_openrc, {"lxc.tty.max": "4", "lxc.autodev": "0"}),
    "centos-systemd": (centos_systemd, {"lxc.tty.max": "2"}),
}


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under root with its mode and content or link target, to compare trees."""
    out: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if p.is_symlink():
                out[str(p.relative_to(root))] = (st.st_mode, os.readlink(p))
            elif p.is_file():
                out[str(p.relative_to(root))] = (st.st_mode, p.read_text(errors="replace"))
            else:
                out[str(p.relative_to(root))] = (st.st_mode, f"rdev={st.st_rdev}")
    return out
