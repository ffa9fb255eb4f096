"""Read-only observations about a container: its rootfs and the LXC config keys we need.

Facts decide which recipe steps run. Nothing here writes anything; everything in the
rootfs is read through the jail (lxcprov.system.rootfs), so a hostile symlink cannot make us
read host files either.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

from lxcprov.engine import distros
from lxcprov.engine.distros.family import DEFAULT_GETTYS
from lxcprov.engine.lines import split_lines
from lxcprov.system.netintent import NetIntent, from_config
from lxcprov.system.rootfs import Rootfs

Init = Literal["systemd", "sysvinit", "busybox", "openrc", "unknown"]
NetStyle = Literal["ifupdown", "networkd", "busybox", "unknown"]

# lxc.tty.max when the config does not say (LXC's own default is 0 ttys).
DEFAULT_TTYS = 0
# The most ttys lxcprov sets or believes: LXC allocates one pty pair per tty, and the
# recipes and doctor go through each; a config (an archive's, an admin's) may say more.
MAX_TTYS = 63


@dataclass(frozen=True)
class Facts:
    name: str
    # The hostname (lxc.uts.name); the container's name unless `set hostname=` changed it.
    hostname: str = ""
    distro: str = "unknown"
    family: str = "generic"  # the lxcprov.engine.distros family the rootfs belongs to
    distro_like: tuple[str, ...] = ()
    version: str = ""
    init: Init = "unknown"
    ttys: int = DEFAULT_TTYS
    autodev: bool = True
    has_securetty: bool = False
    net_style: NetStyle = "unknown"
    # "busybox" or "sysvinit": how /etc/inittab lines look for this init, whether or not
    # there is one now ("" when the init reads none).
    inittab_syntax: str = ""
    # Where the distro's systemd units live (/usr/lib/systemd/system or /lib/...).
    systemd_units: str = "/usr/lib/systemd/system"
    # The getty program inittab lines should run.
    getty: str = "/sbin/getty"
    # The network lxcprov decided for the container (see lxcprov.system.netintent).
    net_mode: str = "none"
    net_bridge: str = ""
    net_address: str = ""
    net_gateway: str = ""
    net_dns: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The names a recipe's `when` expression and templates can use."""
        return {
            "name": self.name,
            "hostname": self.hostname or self.name,
            "distro": self.distro,
            "family": self.family,
            "distro_like": list(self.distro_like),
            "version": self.version,
            "init": self.init,
            "ttys": self.ttys,
            "autodev": self.autodev,
            "has_securetty": self.has_securetty,
            "net_style": self.net_style,
            "inittab_syntax": self.inittab_syntax,
            "systemd_units": self.systemd_units,
            "getty": self.getty,
            "net_mode": self.net_mode,
            "net_bridge": self.net_bridge,
            "net_address": self.net_address,
            "net_gateway": self.net_gateway,
            "net_dns": self.net_dns,
            **self.extra,
        }


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in split_lines(text):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            continue
        values[key.strip()] = parts[0] if parts else ""
    return values


def _same_file(rootfs: Rootfs, a: str, b: str) -> bool:
    """True when two rootfs paths are the same inode (busybox installs init as a hard link)."""
    ra, rb = rootfs.resolve(a), rootfs.resolve(b)
    if ra == rb:
        return rootfs.exists(ra)
    ia, ib = rootfs.info(ra), rootfs.info(rb)
    return ia is not None and ib is not None and (ia.dev, ia.ino) == (ib.dev, ib.ino)


def detect_init(rootfs: Rootfs) -> Init:
    init = rootfs.resolve("/sbin/init")
    if init.endswith("/systemd"):
        return "systemd"
    if init.endswith("/openrc-init") or (
        rootfs.exists("/sbin/openrc") and rootfs.exists("/etc/inittab")
    ):
        return "openrc"
    if init.endswith("/busybox") or any(
        _same_file(rootfs, "/sbin/init", bb) for bb in ("/bin/busybox", "/usr/bin/busybox")
    ):
        return "busybox"
    # sysvinit's /sbin/init is a program of its own; its package also ships the inittab
    # it installs when there is none, so a removed /etc/inittab still says sysvinit.
    if rootfs.exists("/sbin/init") and any(
        rootfs.exists(p) for p in ("/etc/inittab", "/usr/share/sysvinit/inittab")
    ):
        return "sysvinit"
    return "unknown"


def detect_net_style(rootfs: Rootfs, init: Init) -> NetStyle:
    if init == "busybox":
        return "busybox"
    if rootfs.exists("/etc/network/interfaces") and (
        rootfs.exists("/sbin/ifup") or rootfs.exists("/usr/sbin/ifup")
    ):
        return "ifupdown"
    if init == "systemd" and rootfs.exists("/lib/systemd/systemd-networkd"):
        return "networkd"
    return "unknown"


def tty_count(value: str) -> int:
    """lxc.tty.max as lxcprov takes it: a number from 0 to MAX_TTYS (larger ones capped,
    so no plan or check goes through millions of terminals a file named)."""
    try:
        n = int(value.strip() or DEFAULT_TTYS)
    except ValueError:
        return DEFAULT_TTYS
    return min(max(n, 0), MAX_TTYS)


def gather(
    name: str, rootfs: Rootfs, config: dict[str, str], net: NetIntent | None = None
) -> Facts:
    """Facts for a container from its rootfs and its (flattened) LXC config."""
    net = net or from_config(config)
    os_release = parse_os_release(
        rootfs.read_text("/etc/os-release") or rootfs.read_text("/usr/lib/os-release") or ""
    )
    init = detect_init(rootfs)
    ttys = tty_count(config.get("lxc.tty.max", ""))
    autodev = config.get("lxc.autodev", "1").strip() not in ("0", "false")
    busybox_init = init == "busybox" or any(
        _same_file(rootfs, "/sbin/init", bb) for bb in ("/bin/busybox", "/usr/bin/busybox")
    )
    inittab_syntax = ""
    if busybox_init:
        inittab_syntax = "busybox"  # busybox's init reads one, and has defaults without
    elif init == "sysvinit" or rootfs.exists("/etc/inittab"):
        inittab_syntax = "sysvinit"
    units = next(
        (
            d
            for d in ("/usr/lib/systemd/system", "/lib/systemd/system")
            if rootfs.exists(f"{d}/getty@.service")
        ),
        "/usr/lib/systemd/system",
    )
    family = distros.for_rootfs(os_release, init)
    candidates = list(dict.fromkeys(family.getty_programs + DEFAULT_GETTYS))
    getty = next((g for g in candidates if rootfs.exists(g)), candidates[0])
    distro = os_release.get("ID", "") or (family.name if family.unnamed_init else "")
    return Facts(
        family=family.name,
        name=name,
        hostname=config.get("lxc.uts.name", "").strip().strip('"') or name,
        distro=distro or "unknown",
        distro_like=tuple(os_release.get("ID_LIKE", "").split()),
        version=os_release.get("VERSION_ID", ""),
        init=init,
        ttys=ttys,
        autodev=autodev,
        has_securetty=rootfs.exists("/etc/securetty"),
        net_style=detect_net_style(rootfs, init),
        inittab_syntax=inittab_syntax,
        systemd_units=units,
        getty=getty,
        net_mode=net.mode,
        net_bridge=net.bridge,
        net_address=net.address,
        net_gateway=net.gateway,
        net_dns=net.dns,
    )
