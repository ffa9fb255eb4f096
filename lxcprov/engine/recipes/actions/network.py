"""Actions on the container's own network configuration (the distro's way of doing it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxcprov.engine.recipes import managed
from lxcprov.engine.recipes.actions.common import check_opt_out, file_change
from lxcprov.engine.recipes.actions.files import disable
from lxcprov.engine.recipes.actions.registry import Context, action
from lxcprov.engine.recipes.model import Planned

_STANZA = re.compile(r"^(iface|auto|allow-\S+|mapping|source|source-directory|rename)\b")


@dataclass(frozen=True)
class IfupdownParams:
    iface: str = "eth0"
    path: str = "/etc/network/interfaces"


@action("ifupdown-iface", IfupdownParams, "network")
def plan_ifupdown_iface(ctx: Context, p: IfupdownParams) -> Planned:
    """eth0 in /etc/network/interfaces as lxcprov decided: dhcp, static, or not at all.

    Other stanzas (lo, the user's own) are kept; an IPv4 stanza for the same interface
    (the template's `iface eth0 inet dhcp`) is switched off, not deleted.
    """
    iface = p.iface
    check_opt_out(ctx, p.path)
    old = ctx.rootfs.read_text(p.path) or ""
    before, _block, after = managed.split(old)
    user = before + after
    off: set[int] = set()
    in_ours = False
    for i, line in enumerate(user):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if _STANZA.match(line):
            in_ours = words[:3] == ["iface", iface, "inet"]
            if in_ours or (words[0] in ("auto", "allow-hotplug") and words[1:] == [iface]):
                off.add(i)
        elif in_ours:
            off.add(i)  # an option line of the stanza being switched off
    mode = ctx.facts.get("net_mode")
    ours: list[str] = []
    if mode == "dhcp":
        ours = [f"auto {iface}", f"iface {iface} inet dhcp"]
    elif mode == "static":
        ours = [
            f"auto {iface}",
            f"iface {iface} inet static",
            f"    address {ctx.facts['net_address']}",
            f"    gateway {ctx.facts['net_gateway']}",
        ]
    kept = disable(user, off)
    text = managed.with_block("\n".join(kept) + "\n" if kept else "", ours)
    return file_change(ctx, p.path, text, mode=None)
