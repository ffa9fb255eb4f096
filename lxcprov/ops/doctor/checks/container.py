"""One container, not started: the host parts it needs, its config, its ids, then its
rootfs (console, terminals, hostname, network, root access, recipes pending)."""

from __future__ import annotations

import dataclasses

from lxcprov.errors import plural
from lxcprov.ops.doctor.checks.bridge import bridge_findings
from lxcprov.ops.doctor.checks.config import apparmor, cgroup_keys
from lxcprov.ops.doctor.checks.forwards import forward_findings
from lxcprov.ops.doctor.checks.host import host_essentials
from lxcprov.ops.doctor.checks.ids import ids_findings
from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.checks.text import recipe_flags as _recipe_flags
from lxcprov.ops.doctor.model import Finding, FindingId, Severity
from lxcprov.ops.doctor.views import ContainerView, HostView

# Recipes of these roles have findings of their own; any other pending recipe is reported
# as recipe-pending.
_OWN_ROLES = ("console", "tty-devices", "root-terminals", "hostname", "network", "root-access")


def check_container(view: ContainerView, host: HostView, prog: str = "lxcprov") -> list[Finding]:
    """The host parts this container needs, then the container itself (not started)."""
    out = host_essentials(host, prog)
    name = view.name
    fix_cmd = f"{prog} fix {_q(name)}"

    def add(
        id_: FindingId,
        severity: Severity,
        message: str,
        why: str,
        fix: str,
        *,
        recipes: tuple[str, ...] = (),
        secret: bool = False,
        blocks: bool = False,
    ) -> None:
        out.append(
            Finding(
                id_,
                severity,
                "container",
                name,
                message,
                why,
                fix,
                "recipe" if recipes else "manual",
                recipes=recipes,
                needs_secret=secret,
                blocks_start=blocks,
            )
        )

    for link in view.links():
        need_dhcp = view.net.mode == "dhcp" and link == view.net.bridge
        out += bridge_findings(host.bridge(link), host, prog, need_dhcp=need_dhcp, subject=name)
    out += cgroup_keys(view, host)
    out += apparmor(view, host)

    out += ids_findings(view, prog)
    if view.rootfs_exists is False:
        add(
            "rootfs-missing",
            "error",
            f"the rootfs {view.rootfs_path} does not exist",
            "there is nothing to boot: lxc-start fails",
            f"{prog} destroy {_q(name)}  # then create it again with {prog} new",
            blocks=True,
        )
    if not view.rootfs_exists or view.facts is None:
        return out
    facts = view.facts
    pending = view.pending
    getty = view.pending_for("console")
    if view.getty_missing:
        where = ", ".join(view.getty_missing)
        add(
            "console-empty",
            "error",
            f"no getty answers on {where}",
            f"lxc-console shows an empty screen there: nobody can log in "
            f"({facts.init} init, lxc.tty.max = {facts.ttys})",
            f"{fix_cmd} {_recipe_flags(getty)}",
            recipes=getty,
        )
        out[-1] = dataclasses.replace(out[-1], terminals=view.getty_missing)
    elif getty:
        changes = "; ".join(c for r in getty for c in pending[r])
        add(
            "getty-config-pending",
            "warning",
            f"the console set-up is incomplete ({changes})",
            "a terminal may get two gettys (passwords echo) or none after an upgrade",
            f"{fix_cmd} {_recipe_flags(getty)}",
            recipes=getty,
        )
    nodes = view.pending_for("tty-devices")
    if nodes:
        add(
            "tty-nodes-missing",
            "error",
            "the device nodes "
            + ", ".join(p for r in nodes for p in _paths(pending[r]))
            + " are missing",
            "lxc.autodev is off, so LXC has no /dev/ttyN to put its terminals on: "
            "lxc-console shows nothing",
            f"{fix_cmd} {_recipe_flags(nodes)}",
            recipes=nodes,
        )
    terminals = view.pending_for("root-terminals")
    if terminals:
        add(
            "securetty-missing",
            "warning",
            "/etc/securetty does not list the console and every LXC tty",
            "pam_securetty refuses root on a terminal the file does not list",
            f"{fix_cmd} {_recipe_flags(terminals)}",
            recipes=terminals,
        )
    host_name = view.pending_for("hostname")
    if host_name:
        if view.hostname is not None and view.hostname != name:
            message = f"/etc/hostname says {view.hostname!r}, the container is {name!r}"
        else:
            message = f"{name} does not resolve: /etc/hostname or /etc/hosts lacks it"
        add(
            "hostname-mismatch",
            "warning",
            message,
            "sudo and other tools wait on a DNS lookup of a hostname that resolves nowhere",
            f"{fix_cmd} {_recipe_flags(host_name)}",
            recipes=host_name,
        )
    net = view.pending_for("network")
    if net:
        add(
            "network-config-pending",
            "warning",
            f"the container's own network configuration does not match its "
            f"{view.net.mode} network ({'; '.join(c for r in net for c in pending[r])})",
            "its boot may wait for DHCP or for an eth0 that does not exist, or miss its address",
            f"{fix_cmd} {_recipe_flags(net)}",
            recipes=net,
        )
    if view.root_hash != "set" and not view.root_keys:
        state = {
            "locked": "root's password is locked",
            "empty": "root's password is empty",
            "absent": "root has no entry in /etc/shadow",
        }[view.root_hash]
        access = view.role_recipes.get("root-access", ())
        add(
            "root-locked",
            "error",
            f"{state} and root has no authorized SSH key",
            "nobody can log in: not on the console, not over SSH",
            f"{fix_cmd} {_recipe_flags(access)} --root-password-file FILE  # or --ssh-key KEY.pub",
            recipes=access,
            secret=True,
        )
    out += forward_findings(view, prog)
    own = {r for role in _OWN_ROLES for r in view.role_recipes.get(role, ())}
    for recipe in sorted(set(pending) - own):
        add(
            "recipe-pending",
            "info",
            f"recipe {recipe} has {plural(len(pending[recipe]), 'change')} pending",
            "an admin recipe that applies to this container has not been applied",
            f"{fix_cmd} --recipe {recipe}",
            recipes=(recipe,),
        )
    return out


def _paths(descriptions: tuple[str, ...]) -> list[str]:
    return [d.split()[-1] for d in descriptions]
