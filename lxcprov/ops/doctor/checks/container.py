"""One container, not started: the host parts it needs, its config, its ids, then its
rootfs (console, terminals, hostname, network, root access, recipes pending)."""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.engine.facts import Facts
from lxcprov.errors import plural
from lxcprov.ops.doctor.checks.bridge import bridge_findings
from lxcprov.ops.doctor.checks.config import apparmor, cgroup_keys
from lxcprov.ops.doctor.checks.devices import devices_missing
from lxcprov.ops.doctor.checks.disk import disk_findings
from lxcprov.ops.doctor.checks.forwards import forward_findings, own_ports_unruled
from lxcprov.ops.doctor.checks.host import host_essentials
from lxcprov.ops.doctor.checks.ids import ids_findings
from lxcprov.ops.doctor.checks.nesting import nesting_findings
from lxcprov.ops.doctor.checks.shares import shares_not_mounted
from lxcprov.ops.doctor.checks.text import q as _q
from lxcprov.ops.doctor.checks.text import recipe_flags as _recipe_flags
from lxcprov.ops.doctor.model import Finding, FindingId, Severity
from lxcprov.ops.doctor.views import ContainerView, HostView

# Recipes of these roles have findings of their own; any other pending recipe is reported
# as recipe-pending. "boot" (masked block-device generators) only makes a boot faster: a
# container made before it boots as well without it, so it is no finding at all.
_OWN_ROLES = (
    "console", "tty-devices", "root-terminals", "hostname", "network", "root-access", "boot"
)  # fmt: skip


def check_container(view: ContainerView, host: HostView, prog: str = "lxcprov") -> list[Finding]:
    """The host parts this container needs, then the container itself (not started): its
    bridges, config and ids, then (when its rootfs can be read) what the recipes of each
    role would still change, its published ports, and any other recipe pending."""
    out = host_essentials(host, prog)
    for link in view.links():
        need_dhcp = view.net.mode == "dhcp" and link == view.net.bridge
        out += bridge_findings(host.bridge(link), host, prog, need_dhcp=need_dhcp,
                               subject=view.name)  # fmt: skip
    out += cgroup_keys(view, host)
    out += apparmor(view, host)
    out += ids_findings(view, prog)
    out += disk_findings(view, prog)
    out += _rootfs_missing(view, prog)
    out += devices_missing(view, prog)
    out += shares_not_mounted(view)
    for link in view.links():
        out += own_ports_unruled(host.bridge(link), view, prog)
    if not view.rootfs_exists or view.facts is None:
        return out
    fix = _Fix(view.name, f"{prog} fix {_q(view.name)}")
    out += _console(view, view.facts, fix)
    out += _identity(view, fix)
    out += _root_access(view, fix)
    out += forward_findings(view, prog)
    out += nesting_findings(view, prog)
    out += _other_recipes(view, fix)
    return out


@dataclass(frozen=True)
class _Fix:
    """A finding of the container that `lxcprov fix --recipe ...` fixes."""

    name: str
    command: str  # `lxcprov fix NAME`

    def finding(
        self,
        id_: FindingId,
        severity: Severity,
        message: str,
        why: str,
        recipes: tuple[str, ...],
        *,
        after: str = "",  # what the fix command needs after its recipe flags
        secret: bool = False,
        terminals: tuple[str, ...] = (),
    ) -> Finding:
        fix = f"{self.command} {_recipe_flags(recipes)}{after}"
        return Finding(id_, severity, "container", self.name, message, why, fix,
                       "recipe" if recipes else "manual", recipes=recipes,
                       needs_secret=secret, terminals=terminals)  # fmt: skip


def _rootfs_missing(view: ContainerView, prog: str) -> list[Finding]:
    if view.rootfs_exists is not False:
        return []
    return [Finding("rootfs-missing", "error", "container", view.name,
                    f"the rootfs {view.rootfs_path} does not exist",
                    "there is nothing to boot: lxc-start fails",
                    f"{prog} destroy {_q(view.name)}  # then create it again with {prog} new",
                    blocks_start=True)]  # fmt: skip


def _console(view: ContainerView, facts: Facts, fix: _Fix) -> list[Finding]:
    """Whether a getty answers on each terminal, their device nodes, root's terminals."""
    out: list[Finding] = []
    pending = view.pending
    getty = view.pending_for("console")
    if view.getty_missing:
        out.append(fix.finding(
            "console-empty", "error", f"no getty answers on {', '.join(view.getty_missing)}",
            f"lxc-console shows an empty screen there: nobody can log in "
            f"({facts.init} init, lxc.tty.max = {facts.ttys})",
            getty, terminals=view.getty_missing,
        ))  # fmt: skip
    elif getty:
        changes = "; ".join(c for r in getty for c in pending[r])
        out.append(fix.finding(
            "getty-config-pending", "warning", f"the console set-up is incomplete ({changes})",
            "a terminal may get two gettys (passwords echo) or none after an upgrade", getty,
        ))  # fmt: skip
    nodes = view.pending_for("tty-devices")
    if nodes:
        paths = ", ".join(p for r in nodes for p in _paths(pending[r]))
        out.append(fix.finding(
            "tty-nodes-missing", "error", f"the device nodes {paths} are missing",
            "lxc.autodev is off, so LXC has no /dev/ttyN to put its terminals on: "
            "lxc-console shows nothing",
            nodes,
        ))  # fmt: skip
    terminals = view.pending_for("root-terminals")
    if terminals:
        out.append(fix.finding(
            "securetty-missing", "warning",
            "/etc/securetty does not list the console and every LXC tty",
            "pam_securetty refuses root on a terminal the file does not list", terminals,
        ))  # fmt: skip
    return out


def _identity(view: ContainerView, fix: _Fix) -> list[Finding]:
    """Its hostname and its own network configuration, against its name and network."""
    out: list[Finding] = []
    name = view.name
    host_name = view.pending_for("hostname")
    if host_name:
        if view.hostname is not None and view.hostname != name:
            message = f"/etc/hostname says {view.hostname!r}, the container is {name!r}"
        else:
            message = f"{name} does not resolve: /etc/hostname or /etc/hosts lacks it"
        out.append(fix.finding(
            "hostname-mismatch", "warning", message,
            "sudo and other tools wait on a DNS lookup of a hostname that resolves nowhere",
            host_name,
        ))  # fmt: skip
    net = view.pending_for("network")
    if net:
        changes = "; ".join(c for r in net for c in view.pending[r])
        out.append(fix.finding(
            "network-config-pending", "warning",
            f"the container's own network configuration does not match its "
            f"{view.net.mode} network ({changes})",
            "its boot may wait for DHCP or for an eth0 that does not exist, or miss its address",
            net,
        ))  # fmt: skip
    return out


_ROOT_STATES = {
    "locked": "root's password is locked",
    "empty": "root's password is empty",
    "absent": "root has no entry in /etc/shadow",
}


def _root_access(view: ContainerView, fix: _Fix) -> list[Finding]:
    """Whether anyone can log in: a root password or an authorized SSH key."""
    if view.root_hash == "set" or view.root_keys:
        return []
    return [fix.finding(
        "root-locked", "error",
        f"{_ROOT_STATES[view.root_hash]} and root has no authorized SSH key",
        "nobody can log in: not on the console, not over SSH",
        view.role_recipes.get("root-access", ()),
        after=" --root-password-file FILE  # or --ssh-key KEY.pub", secret=True,
    )]  # fmt: skip


def _other_recipes(view: ContainerView, fix: _Fix) -> list[Finding]:
    """Admin recipes with changes pending, beyond the roles that have findings of their own."""
    own = {r for role in _OWN_ROLES for r in view.role_recipes.get(role, ())}
    return [fix.finding(
        "recipe-pending", "info",
        f"recipe {recipe} has {plural(len(view.pending[recipe]), 'change')} pending",
        "an admin recipe that applies to this container has not been applied", (recipe,),
    ) for recipe in sorted(set(view.pending) - own)]  # fmt: skip


def _paths(descriptions: tuple[str, ...]) -> list[str]:
    return [d.split()[-1] for d in descriptions]
