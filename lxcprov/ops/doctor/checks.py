"""Pure judgements: a host view and a container view in, findings out.

Nothing here reads the machine; lxcprov.doctor.views observes. Each finding names the
exact command that fixes it (`prog` is how the user calls lxcprov, with -P when the
lxcpath is not the default one).
"""

from __future__ import annotations

import dataclasses
import re
import shlex

from lxcprov.engine import idmap
from lxcprov.errors import plural
from lxcprov.ops.doctor.model import Finding, Scope, Severity
from lxcprov.ops.doctor.views import BridgeView, ContainerView, HostView
from lxcprov.system import lxc, lxcfs
from lxcprov.system.journal import Entry

# LXC needs these namespaces for a system container; user and cgroup ones are optional.
REQUIRED_NAMESPACES = ("mnt", "uts", "ipc", "pid", "net")

# What stops working without a controller, in the words a user would notice.
CONTROLLER_USE = {
    "memory": "memory limits (lxc.cgroup*.memory.*) are refused and memory use is not accounted",
    "cpu": "CPU shares and quotas cannot be set",
    "cpuset": "containers cannot be pinned to CPUs",
    "pids": "the number of processes cannot be limited (a fork bomb reaches the host)",
    "devices": "device rules are not enforced: the container may open any host device",
    "freezer": "lxc-freeze does not work and stops are less reliable",
    "io": "disk I/O cannot be limited",
}
_V1_WANTED = ("memory", "cpu", "cpuset", "pids", "devices", "freezer")
_V2_WANTED = ("memory", "cpu", "cpuset", "pids", "io")
# lxc.cgroup.* keys that are settings of LXC itself, not controller files.
_NOT_CONTROLLERS = {"dir", "relative", "keep", "pattern"}

# Every finding id doctor can report (docs/doctor.md explains each; the JSON schema lists them).
FINDING_IDS = (
    "not-root",
    "lxc-missing",
    "lxc-too-old",
    "python3-lxc-missing",
    "namespace-missing",
    "cgroup-missing",
    "cgroup-controller-unavailable",
    "apparmor-parser-missing",
    "inotify-instances-low",
    "bridge-missing",
    "not-a-bridge",
    "bridge-down",
    "no-dhcp-server",
    "nat-missing",
    "ip-forward-off",
    "forward-blocked",
    "rootfs-missing",
    "console-empty",
    "getty-config-pending",
    "tty-nodes-missing",
    "securetty-missing",
    "hostname-mismatch",
    "network-config-pending",
    "root-locked",
    "recipe-pending",
    "cgroup-controller-missing",
    "cgroup-legacy-key",
    "apparmor-profile-missing",
    "apparmor-not-enforced",
    "doctor-failed",
    "incomplete-container",
    "container-busy",
    "address-stale",
    "subuid-missing",
    "privileged-container",
    "idmap-too-small",
    "rootfs-owner-mismatch",
    "forward-mismatch",
    "forward-waiting",
    "autostart-not-at-boot",
    "lxcfs-missing",
    "lxcfs-not-running",
    "lxcfs-dead",
)

# Recipes of these roles have findings of their own; any other pending recipe is reported
# as recipe-pending.
_OWN_ROLES = ("console", "tty-devices", "root-terminals", "hostname", "network", "root-access")


def _recipe_flags(names: tuple[str, ...]) -> str:
    return " ".join(f"--recipe {r}" for r in names)


def _q(text: str) -> str:
    return shlex.quote(text)


# -- host ----------------------------------------------------------------------------------


def host_essentials(host: HostView, prog: str) -> list[Finding]:
    """What every container needs from the host: root, LXC, namespaces, cgroups."""
    out: list[Finding] = []

    def add(id_: str, message: str, why: str, fix: str, *, severity: Severity = "error") -> None:
        out.append(Finding(id_, severity, "host", "host", message, why, fix, blocks_start=True))

    if not host.root:
        add(
            "not-root",
            "lxcprov is not running as root",
            "creating, starting and fixing system containers and bridges needs root; "
            "what doctor sees without it is incomplete",
            f"sudo {prog} doctor",
        )
    if host.lxc_version is None:
        add(
            "lxc-missing",
            "LXC is not installed (no lxc-create)",
            "lxcprov runs templates and containers through LXC's tools",
            "apt-get install lxc lxc-templates",
        )
    elif _major(host.lxc_version) is not None and (_major(host.lxc_version) or 0) < 3:
        add(
            "lxc-too-old",
            f"LXC {host.lxc_version} is older than 3.0",
            "lxcprov writes LXC 3 configuration keys (lxc.tty.max, lxc.net.N.*), "
            "which older LXC rejects",
            "apt-get install lxc  # from a release that ships LXC 4 or 5",
        )
    if host.python_lxc is None:
        add(
            "python3-lxc-missing",
            "python3-lxc is not importable by this Python",
            "lxcprov reads and starts containers through the python3-lxc bindings",
            "apt-get install python3-lxc  # and a venv made with --system-site-packages",
        )
    missing = [ns for ns in REQUIRED_NAMESPACES if ns not in host.namespaces]
    if missing:
        add(
            "namespace-missing",
            "the kernel lacks the namespaces " + ", ".join(missing),
            "LXC cannot isolate a container without them: lxc-start fails",
            "boot a kernel built with CONFIG_NAMESPACES and "
            + ", ".join(f"CONFIG_{ns.upper()}_NS" for ns in missing),
        )
    if host.cgroup.layout == "none":
        add(
            "cgroup-missing",
            "no cgroup filesystem is mounted",
            "LXC puts every container in a cgroup: lxc-start fails without one",
            "mount -t cgroup2 none /sys/fs/cgroup",
        )
    return out


def _major(version: str) -> int | None:
    m = re.match(r"(\d+)", version)
    return int(m.group(1)) if m else None


def missing_controllers(host: HostView) -> list[str]:
    cg = host.cgroup
    if cg.layout == "none":
        return []
    if cg.layout == "v2":
        return [c for c in _V2_WANTED if c not in cg.v2]
    return [c for c in _V1_WANTED if c not in cg.v1 and c not in cg.v2]


# Enough inotify instances for ~128 systemd containers.
INOTIFY_ENOUGH = 1024


def check_host(host: HostView, prog: str = "lxcprov") -> list[Finding]:
    """The whole host: essentials, cgroup controllers, AppArmor, and its bridges."""
    out = host_essentials(host, prog)
    missing = missing_controllers(host)
    if missing:
        if host.cgroup.layout == "v2":
            fix = "echo '" + " ".join(f"+{c}" for c in missing) + "' > "
            fix += "/sys/fs/cgroup/cgroup.subtree_control"
        else:
            fix = (
                "add cgroup_enable="
                + ",".join(missing)
                + " to GRUB_CMDLINE_LINUX in /etc/default/grub, then: update-grub && reboot"
            )
        out.append(
            Finding(
                "cgroup-controller-unavailable",
                "warning",
                "host",
                "host",
                f"cgroup {host.cgroup.layout} layout without the controllers " + ", ".join(missing),
                "; ".join(f"{c}: {CONTROLLER_USE[c]}" for c in missing),
                fix,
            )
        )
    if host.apparmor and not host.apparmor_parser:
        out.append(
            Finding(
                "apparmor-parser-missing",
                "warning",
                "host",
                "host",
                "AppArmor is enabled but apparmor_parser is not installed",
                "a container with lxc.apparmor.profile = generated (LXC's default) fails to "
                "start: LXC cannot load its profile",
                "apt-get install apparmor",
            )
        )
    if host.inotify_instances is not None and host.inotify_instances < INOTIFY_ENOUGH:
        about = host.inotify_instances // lxc.INOTIFY_PER_CONTAINER
        out.append(
            Finding(
                "inotify-instances-low",
                "warning",
                "host",
                "host",
                f"fs.inotify.max_user_instances is {host.inotify_instances}: about {about} "
                "systemd containers can boot at once",
                "each systemd container takes several inotify instances of root; past the "
                "limit the next one stops at boot (with the default 128: the 17th Debian one)",
                f"sysctl -w fs.inotify.max_user_instances={INOTIFY_ENOUGH} (and put it in "
                "/etc/sysctl.d/ to keep it)",
            )
        )
    out += _lxcfs(host, prog)
    out += stale_addresses(list(host.stale_addresses), prog)
    if host.subids_problem:
        out.append(
            Finding(
                "subuid-missing",
                "warning",
                "host",
                "host",
                host.subids_problem,
                "unprivileged containers (the default) need a range of root's subordinate ids: "
                "LXC maps their ids with newuidmap, which refuses ranges root is not given",
                f"{prog} new ...  # registers root:{idmap.DEFAULT_START}:{idmap.DEFAULT_COUNT} "
                "in both files the first time, when no other range is in the way",
            )
        )
    out += _boot(host, prog)
    for bridge in host.bridges:
        # The default bridge is what `new` uses without --network none: DHCP by default.
        need_dhcp = bridge.dhcp_wanted or not bridge.managed
        out += bridge_findings(bridge, host, prog, need_dhcp=need_dhcp, subject=None)
    return out


def _lxcfs(host: HostView, prog: str) -> list[Finding]:
    """lxcfs shows a container its own memory and CPUs in /proc; Debian's unit starts it
    only where systemd boots the host (lxcprov starts it before a container otherwise)."""
    why = (
        "inside a container free, top and /proc/meminfo show the host's memory and CPUs, "
        "not its limits (memory=, cpus=)"
    )
    if host.lxcfs == "absent":
        return [Finding("lxcfs-missing", "info", "host", "host",
                        "lxcfs is not installed", why, "apt-get install lxcfs")]  # fmt: skip
    if host.lxcfs == "stopped":
        return [Finding("lxcfs-not-running", "warning", "host", "host",
                        "lxcfs is installed but not running (nothing started it at boot)",
                        why + "; lxcprov starts it before it starts a container",
                        f"{prog} doctor --fix", "service")]  # fmt: skip
    if host.lxcfs == "dead":
        return [Finding("lxcfs-dead", "error", "host", "host",
                        f"lxcfs's mount at {lxcfs.MOUNT} is there but lxcfs is gone "
                        "(killed or crashed)",
                        "a container started since reads errors instead of /proc/meminfo "
                        "and /proc/uptime (free, top and uptime fail); lxcprov restarts it "
                        "before it starts a container, and containers running now need a "
                        "restart to see it again",
                        f"{prog} doctor --fix", "service")]  # fmt: skip
    return []


def bridge_findings(
    b: BridgeView, host: HostView, prog: str, *, need_dhcp: bool, subject: str | None
) -> list[Finding]:
    """Findings about one bridge, for the host (subject None) or for a container on it."""
    scope: Scope = "host" if subject is None else "container"
    who = subject or b.name
    on_it = f"{subject}" if subject else "containers on it"
    strong: Severity = "error" if subject is not None or b.managed else "warning"
    setup = f"{prog} net setup --bridge {_q(b.name)}"
    out: list[Finding] = []

    def add(
        id_: str,
        severity: Severity,
        message: str,
        why: str,
        fix: str,
        *,
        net: bool = True,
        dhcp: bool = False,
        blocks: bool = False,
    ) -> None:
        out.append(
            Finding(
                id_,
                severity,
                scope,
                who,
                message,
                why,
                fix,
                "net-setup" if net else "manual",
                bridge=b.name,
                dhcp=dhcp,
                blocks_start=blocks and subject is not None,
            )
        )

    if not b.exists:
        add(
            "bridge-missing",
            strong,
            f"bridge {b.name} does not exist",
            f"lxc-start fails for {on_it}: LXC cannot attach a veth to a missing bridge"
            if subject
            else "`lxcprov new` puts containers on it by default; without it only "
            "--network none works",
            setup,
            dhcp=need_dhcp,
            blocks=True,
        )
        if subject is not None and need_dhcp:
            add(
                "no-dhcp-server",
                "error",
                f"no DHCP server serves bridge {b.name}, and {subject} asks for an address by DHCP",
                "its boot waits for a DHCP answer nobody gives (minutes, or for ever), and "
                "it has no IPv4 address",
                f"{setup} --dhcp",
                dhcp=True,
            )
        return out
    if not b.is_bridge:
        add(
            "not-a-bridge",
            strong,
            f"{b.name} exists but is not a bridge",
            f"LXC cannot attach {on_it} to it",
            f"{setup}  # or name another bridge in lxc.net.0.link"
            if not b.managed
            else f"ip link del {_q(b.name)} && {setup}",
            net=False,
            blocks=True,
        )
        return out
    if not b.up:
        add(
            "bridge-down",
            strong,
            f"bridge {b.name} is down",
            f"{on_it} get no network traffic through it",
            setup if b.managed else f"ip link set dev {_q(b.name)} up",
            net=b.managed,
        )
    if need_dhcp and not b.dhcp_server:
        severity: Severity = "error" if subject is not None or b.dhcp_wanted else "warning"
        add(
            "no-dhcp-server",
            severity,
            f"no DHCP server serves bridge {b.name}"
            + (f", and {subject} asks for an address by DHCP" if subject else ""),
            "a container that asks for an address by DHCP waits for an answer nobody gives: "
            "its boot hangs and it has no IPv4 address",
            f"{setup} --dhcp",
            dhcp=True,
        )
    if b.managed and b.nat_wanted and not b.nat_present:
        add(
            "nat-missing",
            "warning",
            f"the NAT rule for bridge {b.name} is missing",
            f"{on_it} cannot reach anything beyond this host",
            setup,
        )
    if b.managed and b.nat_wanted and not host.ip_forward:
        add(
            "ip-forward-off",
            "warning",
            "IPv4 forwarding is off (net.ipv4.ip_forward = 0)",
            f"the host does not route for {on_it}: nothing beyond the host is reachable",
            setup,
        )
    for warning in b.forward_blocked:
        add(
            "forward-blocked",
            "warning",
            warning,
            f"a firewall drops forwarded packets: {on_it} cannot reach beyond the host",
            f"{prog} net status --bridge {_q(b.name)}  # then accept forwarding for "
            f"{b.name} in that firewall",
            net=False,
        )
    return out


# -- container -----------------------------------------------------------------------------


def check_container(view: ContainerView, host: HostView, prog: str = "lxcprov") -> list[Finding]:
    """The host parts this container needs, then the container itself (not started)."""
    out = host_essentials(host, prog)
    name = view.name
    fix_cmd = f"{prog} fix {_q(name)}"

    def add(
        id_: str,
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
    out += _cgroup_keys(view, host)
    out += _apparmor(view, host)

    out += _ids_findings(view, prog)
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
    out += _forward_findings(view, prog)
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


def _boot(host: HostView, prog: str) -> list[Finding]:
    """Autostart containers come back after a reboot only if something runs
    `lxcprov start --all` at boot: lxcprov.service where systemd boots the host."""
    if not host.autostart or (host.boot_unit == "enabled" and prog == "lxcprov"):
        return []
    names = ", ".join(host.autostart)
    why = ("after a reboot they stay stopped, and lxcprov's bridges and published ports are "
           "not restored (plain lxc-autostart does not restore them)")  # fmt: skip
    if host.boot_unit == "no-systemd":
        message = f"autostart containers ({names}), and this host does not boot with systemd"
        fix = f"run `{prog} start --all` from the host's boot scripts (e.g. /etc/rc.local)"
    elif host.boot_unit == "disabled":
        message = f"autostart containers ({names}), but lxcprov.service is not enabled"
        fix = "systemctl enable lxcprov.service  # the lxcprov package installs it"
    else:  # enabled, for the default lxcpath only
        message = (f"autostart containers ({names}) in {host.lxcpath}: lxcprov.service "
                   "starts those of LXC's default lxcpath")  # fmt: skip
        fix = ("systemctl edit lxcprov.service  # [Service] "
               f"Environment=LXCPROV_LXCPATH={host.lxcpath}")  # fmt: skip
    return [Finding("autostart-not-at-boot", "warning", "host", "host", message, why, fix)]


def _forward_findings(view: ContainerView, prog: str) -> list[Finding]:
    """Each published port's rule, the container's reservation or static address, and the
    address it really has must agree, or the port leads nowhere."""
    out: list[Finding] = []
    mac = view.config.get("lxc.net.0.hwaddr", "").lower()
    static = view.net.address.split("/")[0] if view.net.mode == "static" else ""
    for fw in view.forwards:
        wrong = ""
        if view.net.mode == "none":
            wrong = "the container has no network"
        elif static and fw.address != static:
            wrong = f"the container's address is {static}"
        elif not static and fw.booked != fw.address:
            wrong = f"its DHCP reservation is {fw.booked or 'gone'}"
        elif not static and fw.mac != mac:
            wrong = f"the reservation is for MAC {fw.mac or '(none)'}, its veth has {mac}"
        if wrong:
            fix = f"{prog} forward add {_q(view.name)} {_port_args(fw.label)}  # again"
            message = f"published {fw.label} goes to {fw.address}, but {wrong}"
            why = "connections to the host port reach no container (or another one)"
            out.append(Finding("forward-mismatch", "error", "container", view.name, message,
                               why, fix))  # fmt: skip
        elif view.running_ipv4 is not None and fw.address not in view.running_ipv4:
            has = ", ".join(view.running_ipv4) or "no address"
            message = f"published {fw.label} goes to {fw.address}, the container has {has} now"
            why = ("it gets its reserved address at its next DHCP renewal or restart; until "
                   "then the port leads nowhere")  # fmt: skip
            fix = f"{prog} stop {_q(view.name)} && {prog} start {_q(view.name)}"
            out.append(Finding("forward-waiting", "warning", "container", view.name, message,
                               why, fix))  # fmt: skip
    return out


def _port_args(label: str) -> str:
    """`forward add` arguments from a label "[ADDR:]PORT/PROTO -> NAME:CPORT"."""
    host, _, rest = label.partition(" -> ")
    port, _, proto = host.partition("/")
    inside = rest.rpartition(":")[2]
    return f"{port} {inside}" + (" --udp" if proto == "udp" else "")


def incomplete(name: str, entry: Entry, prog: str) -> Finding:
    """A container a killed lxcprov command left half-made (its journal is still there)."""
    again = f" && lxcprov {shlex.join(entry.argv)}" if entry.command == "new" and entry.argv else ""
    fix = f"{prog} destroy --force {shlex.quote(name)}{again}"
    if entry.command == "convert":
        flag = "--privileged" if entry.detail == "privileged" else "--unprivileged"
        fix = f"{prog} convert {shlex.quote(name)} {flag}  # the other flag rolls it back"
    if entry.command in ("snapshot", "snapshot rm", "restore"):  # ended in place, kept
        fix = f"{prog} doctor {shlex.quote(name)} --fix"
    return Finding(
        "incomplete-container",
        "error",
        "container",
        name,
        f"{name} was left half-made: {entry.describe()} was killed",
        "its recipes did not all run (root may be locked, a clone may share its base's SSH "
        "keys), a template run may still be going on, its address may be held; it must not "
        "be started as it is",
        fix,
        "undo",
        blocks_start=True,
    )


def busy(name: str, holder: str) -> Finding:
    return Finding(
        "container-busy",
        "info",
        "container",
        name,
        f"{name} is busy: {holder} is working on it",
        "doctor does not look at a container while another lxcprov command changes it",
        f"lxcprov doctor {shlex.quote(name)}  # again, once it is done",
    )


def stale_addresses(host_stale: list[tuple[str, str, str]], prog: str) -> list[Finding]:
    """Static addresses whose container is gone (a killed `new`, a failed destroy)."""
    return [
        Finding(
            "address-stale",
            "warning",
            "host",
            bridge,
            f"{address} on {bridge} is still reserved for {owner}, which does not exist",
            "the address book holds it: no new container can get it, and its name still "
            "resolves through the bridge's DNS",
            f"{prog} doctor --fix  # gives it back",
            "release",
            bridge=bridge,
            owner=owner,
        )
        for bridge, owner, address in host_stale
    ]


def unobservable(name: str, why: str) -> Finding:
    """What doctor says when it could not look at a container at all."""
    return Finding(
        "doctor-failed",
        "warning",
        "container",
        name,
        f"doctor could not check {name}: {why}",
        "the checks that follow a command could not run; the command itself worked",
        f"lxcprov doctor {shlex.quote(name)}",
    )


def _ids_findings(view: ContainerView, prog: str) -> list[Finding]:
    """Privileged containers, maps too small for a distro, rootfs owners off the map."""
    out: list[Finding] = []
    name = view.name

    def add(id_: str, severity: Severity, message: str, why: str, fix: str) -> None:
        out.append(Finding(id_, severity, "container", name, message, why, fix,
                           blocks_start=id_ == "rootfs-owner-mismatch"))  # fmt: skip

    if view.ids is None:
        add(
            "privileged-container",
            "warning",
            f"{name} is privileged: uid 0 inside is uid 0 on the host",
            "whoever becomes root in it and gets out of it (a kernel bug, a mistake in its "
            "config) is root on this host; LXC calls privileged containers not root-safe",
            f"{prog} stop {_q(name)} && {prog} convert {_q(name)} --unprivileged",
        )
    elif view.ids.count < idmap.BLOCK:
        add(
            "idmap-too-small",
            "warning",
            f"{name}'s id map holds {view.ids.count} ids: uid 65534 (nobody) is outside it",
            "files and processes of nobody, nogroup and high system users cannot exist inside: "
            "package installs and daemons fail in odd ways",
            f"give it {idmap.BLOCK} ids: {prog} convert {_q(name)} --privileged && "
            f"{prog} convert {_q(name)} --unprivileged",
        )
    if view.rootfs_owner is not None and view.rootfs_exists:
        want = (0, 0) if view.ids is None else (view.ids.host_uid, view.ids.host_gid)
        if view.rootfs_owner != want:
            kind = "privileged" if view.ids is None else "unprivileged"
            add(
                "rootfs-owner-mismatch",
                "error",
                f"{name}'s rootfs is owned by {view.rootfs_owner[0]}:{view.rootfs_owner[1]} on "
                f"the host, but its map says root is {want[0]}:{want[1]}",
                "its files are not where its map puts them: inside, everything would belong "
                "to nobody and root could not even write /etc",
                f"{prog} convert {_q(name)} --{kind}  # shifts the files to match the map",
            )
    return out


def _paths(descriptions: tuple[str, ...]) -> list[str]:
    return [d.split()[-1] for d in descriptions]


def _cgroup_keys(view: ContainerView, host: HostView) -> list[Finding]:
    out: list[Finding] = []
    layout = host.cgroup.layout
    for key, _value in view.raw:
        parts = key.split(".")
        if len(parts) < 4 or parts[0] != "lxc" or parts[1] not in ("cgroup", "cgroup2"):
            continue
        controller = parts[2]
        if controller in _NOT_CONTROLLERS:
            continue
        drop = f"sed -i '/^{re.escape(key)}[[:space:]]*=/d' {_q(view.config_path)}"
        if parts[1] == "cgroup" and layout == "v2":
            out.append(
                Finding(
                    "cgroup-legacy-key",
                    "warning",
                    "container",
                    view.name,
                    f"{key} is a cgroup v1 key on a cgroup v2 host",
                    "LXC ignores lxc.cgroup.* on a pure cgroup v2 host: the limit is not applied",
                    f"{drop}  # and set it again as lxc.cgroup2.{controller}.*",
                )
            )
            continue
        if parts[1] == "cgroup":
            present = controller in host.cgroup.v1
        else:
            # Device rules under cgroup2 are a BPF program, not a controller.
            present = controller == "devices" or (
                layout in ("v2", "hybrid") and controller in host.cgroup.v2
            )
        if present or layout == "none":
            continue
        use = CONTROLLER_USE.get(controller, f"{controller} settings cannot be applied")
        out.append(
            Finding(
                "cgroup-controller-missing",
                "error",
                "container",
                view.name,
                f"{key} is set, but the host has no {controller} controller"
                + (" in its cgroup v2 hierarchy" if parts[1] == "cgroup2" else ""),
                f"lxc-start fails while setting it ({use})",
                f"{drop}  # or enable the {controller} controller on the host",
                blocks_start=True,
            )
        )
    return out


def _apparmor(view: ContainerView, host: HostView) -> list[Finding]:
    profile = next((v for k, v in reversed(view.raw) if k == "lxc.apparmor.profile"), "")
    if not profile or profile == "unconfined":
        return []
    set_generated = (
        f"sed -i 's/^lxc.apparmor.profile.*/lxc.apparmor.profile = generated/' "
        f"{_q(view.config_path)}"
    )
    if host.apparmor and profile == "generated" and not host.apparmor_parser:
        return [
            Finding(
                "apparmor-parser-missing",
                "error",
                "container",
                view.name,
                "lxc.apparmor.profile = generated, but apparmor_parser is not installed",
                "LXC cannot load the profile it generates: lxc-start fails",
                "apt-get install apparmor",
                blocks_start=True,
            )
        ]
    if host.apparmor and profile != "generated" and profile not in host.apparmor_profiles:
        return [
            Finding(
                "apparmor-profile-missing",
                "error",
                "container",
                view.name,
                f"AppArmor profile {profile} is not loaded",
                "lxc-start fails when it cannot switch to the profile the config names",
                f"apparmor_parser -r /etc/apparmor.d/{profile}  # or: {set_generated}",
                blocks_start=True,
            )
        ]
    if not host.apparmor and profile != "generated":
        return [
            Finding(
                "apparmor-not-enforced",
                "info",
                "container",
                view.name,
                f"lxc.apparmor.profile = {profile}, but this host has no AppArmor",
                "LXC starts the container unconfined: the profile protects nothing here",
                "apt-get install apparmor  # and enable it on the kernel command line "
                "(apparmor=1 security=apparmor)",
            )
        ]
    return []
