"""hostnet.link (sysfs) against netlink's view of the same real links: `new` decides on
the first, so it must say what the second says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lxcprov.system import hostnet

from .hostnet_lab import NetLab, free_subnet, gateway, sh, unique

pytestmark = pytest.mark.real


def _netlink(name: str) -> tuple[bool, bool] | None:
    state = hostnet.bridge_state(name)
    return None if state is None else (state.is_bridge, state.up)


def _sysfs(name: str) -> tuple[bool, bool] | None:
    link = hostnet.link(name)
    return None if link is None else (link.is_bridge, link.up)


def test_link_says_what_netlink_says_of_a_bridge_a_plain_link_and_no_link(lab: NetLab) -> None:
    bridge = lab.bridge()
    sh("ip", "link", "add", bridge, "type", "bridge")
    plain, peer = unique("lxptd"), unique("lxptp")  # a veth end: a plain link
    lab.links.append(plain)
    sh("ip", "link", "add", plain, "type", "veth", "peer", "name", peer)
    assert _sysfs(bridge) == _netlink(bridge) == (True, False)  # made down
    assert _sysfs(plain) == _netlink(plain) == (False, False)
    sh("ip", "link", "set", bridge, "up")
    sh("ip", "link", "set", plain, "up")
    assert _sysfs(bridge) == _netlink(bridge) == (True, True)
    assert _sysfs(plain) == _netlink(plain) == (False, True)
    sh("ip", "link", "del", plain)  # its peer goes with it
    assert _sysfs(plain) is None and _netlink(plain) is None
    assert _sysfs(peer) is None and _netlink(peer) is None


def test_a_managed_bridge_is_decided_on_without_netlink(lab: NetLab) -> None:
    # The decision of `new` on a bridge lxcprov manages reads sysfs and net.toml only: the
    # 0.15 s pyroute2 import stays off its path (the host check runs during the boot).
    bridge = lab.bridge()
    lab.cli("setup", "--bridge", bridge, "--address", gateway(free_subnet()), "--no-nat")
    probe = (
        "import sys\n"
        "from lxcprov.ops import network\n"
        f"b = network.observe_bridge({bridge!r})\n"
        "print(b.exists, b.is_bridge, b.managed is not None, 'pyroute2' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=lab.env(), capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "True", "True", "False"], done.stdout + done.stderr
