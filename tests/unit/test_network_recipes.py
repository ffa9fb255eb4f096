"""The network recipes on synthetic trees, for every mode: the distro's own syntax, the
template's DHCP stanza switched off, a second run changes nothing, a mode change converges."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.engine.facts import gather
from lxcprov.engine.recipes import Secrets, apply, load_all, plan
from lxcprov.system.netintent import NetIntent
from lxcprov.system.rootfs import Rootfs
from tests.trees import busybox, debian_systemd, opened, write

DHCP = NetIntent("dhcp", "br0")
STATIC = NetIntent("static", "br0", "10.9.8.7/24", "10.9.8.1", "10.9.8.1")
NONE = NetIntent()


def _networkd_only(root: Path) -> Path:
    """A systemd distro with networkd and no ifupdown."""
    debian_systemd(root)
    (root / "usr/sbin/ifup").unlink()
    (root / "etc/network/interfaces").unlink()
    write(root, "/usr/lib/systemd/systemd-networkd", "", 0o755)
    write(root, "/usr/lib/systemd/system/systemd-networkd.service", "[Unit]\n")
    return root


BUILDERS = {"ifupdown": debian_systemd, "busybox": busybox, "networkd": _networkd_only}
CONFIG = {"lxc.tty.max": "2"}


def _run(rootfs: Rootfs, net: NetIntent) -> int:
    facts = gather("c1", rootfs, CONFIG, net)
    return len(apply(rootfs, plan(rootfs, facts, load_all(), Secrets())))


def _tree(tmp_path: Path, style: str) -> Rootfs:
    root = tmp_path / "rootfs"
    root.mkdir()
    BUILDERS[style](root)
    if style == "busybox":
        write(
            root, "/etc/init.d/rcS", "#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n/bin/udhcpc\n", 0o744
        )
    rootfs = opened(root)
    assert gather("c1", rootfs, CONFIG).net_style == style
    return rootfs


@pytest.mark.parametrize("style", sorted(BUILDERS))
@pytest.mark.parametrize("net", [DHCP, STATIC, NONE], ids=["dhcp", "static", "none"])
def test_each_mode_converges_and_reruns_are_noops(
    tmp_path: Path, style: str, net: NetIntent
) -> None:
    rootfs = _tree(tmp_path, style)
    _run(rootfs, net)
    assert _run(rootfs, net) == 0
    # Switching to another mode and back converges too.
    other = STATIC if net is not STATIC else DHCP
    _run(rootfs, other)
    _run(rootfs, net)
    assert _run(rootfs, net) == 0


def test_ifupdown_static_switches_the_template_stanza_off(tmp_path: Path) -> None:
    rootfs = _tree(tmp_path, "ifupdown")
    _run(rootfs, STATIC)
    text = rootfs.read_text("/etc/network/interfaces") or ""
    assert "#lxcprov-off# iface eth0 inet dhcp" in text and "#lxcprov-off# auto eth0" in text
    assert "iface eth0 inet static\n    address 10.9.8.7/24\n    gateway 10.9.8.1" in text
    assert rootfs.read_text("/etc/resolv.conf") == "nameserver 10.9.8.1\n"
    _run(rootfs, NONE)
    text = rootfs.read_text("/etc/network/interfaces") or ""
    assert "inet static" not in text and "BEGIN lxcprov" not in text


def test_busybox_rcs_never_blocks_on_dhcp(tmp_path: Path) -> None:
    rootfs = _tree(tmp_path, "busybox")
    _run(rootfs, DHCP)
    rcs = rootfs.read_text("/etc/init.d/rcS") or ""
    assert "#lxcprov-off# /bin/udhcpc" in rcs
    assert "udhcpc -b -t 5 -T 1 -A 3 -i eth0 -s /etc/udhcpc/lxcprov.script" in rcs
    # Its event script flushes IPv4 only: the IPv6 link-local address (router
    # solicitations, SLAAC) survives every DHCP event.
    script = rootfs.read_text("/etc/udhcpc/lxcprov.script") or ""
    assert script.startswith("#!/bin/sh\n") and "ip -4 addr flush" in script
    assert "ip addr flush" not in script
    _run(rootfs, STATIC)
    rcs = rootfs.read_text("/etc/init.d/rcS") or ""
    assert "ip addr add 10.9.8.7/24 dev eth0" in rcs and "udhcpc -b" not in rcs
    assert "ip route add default via 10.9.8.1" in rcs
    assert rootfs.read_text("/etc/udhcpc/lxcprov.script") is None


def test_networkd_unit_and_enablement(tmp_path: Path) -> None:
    rootfs = _tree(tmp_path, "networkd")
    _run(rootfs, DHCP)
    unit = rootfs.read_text("/etc/systemd/network/20-lxcprov-eth0.network") or ""
    assert "Name=eth0" in unit and "DHCP=ipv4" in unit
    link = "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
    assert rootfs.readlink(link) == "/usr/lib/systemd/system/systemd-networkd.service"
    _run(rootfs, STATIC)
    unit = rootfs.read_text("/etc/systemd/network/20-lxcprov-eth0.network") or ""
    assert "Address=10.9.8.7/24" in unit and "Gateway=10.9.8.1" in unit and "DHCP" not in unit

    _run(rootfs, NONE)
    assert not rootfs.exists("/etc/systemd/network/20-lxcprov-eth0.network")
