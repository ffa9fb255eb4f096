"""Every container finding: a fixture broken in exactly one way gives exactly that finding.

Healthy fixtures are synthetic template trees with every recipe applied; each test
breaks one thing and expects one finding with its exact fix command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lxcprov.ops.doctor import checks
from lxcprov.ops.doctor.views import CgroupView, ContainerView
from lxcprov.system.netintent import NetIntent
from tests.unit.doctor.fixtures import (
    BRIDGE,
    TREES,
    Box,
    bridge,
    healthy,
    host,
    host_with_bridge,
    ids,
    only,
)


@pytest.mark.parametrize("tree", sorted(TREES))
def test_healthy_containers_have_no_findings(tmp_path: Path, tree: str) -> None:
    assert ids(healthy(tmp_path, tree).findings()) == []


@pytest.mark.parametrize("tree", sorted(TREES))
def test_template_output_shows_console_network_hostname_and_root_problems(
    tmp_path: Path, tree: str
) -> None:
    found = set(ids(Box(tmp_path, tree).findings()))
    assert {"hostname-mismatch", "network-config-pending", "root-locked"} <= found
    assert found & {"console-empty", "getty-config-pending"}


# -- network ---------------------------------------------------------------------------------


def test_bridge_missing_for_a_static_container(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.net = NetIntent("static", BRIDGE, "10.9.9.5/24", "10.9.9.1")
    box.heal()
    f = only(box.findings(host(bridges=())))
    assert (f.id, f.severity, f.fix_kind, f.bridge) == (
        "bridge-missing",
        "error",
        "net-setup",
        BRIDGE,
    )
    assert f.fix == f"lxcprov net setup --bridge {BRIDGE}"
    assert f.blocks_start and not f.dhcp


def test_bridge_missing_for_a_dhcp_container_also_says_no_dhcp(tmp_path: Path) -> None:
    found = healthy(tmp_path).findings(host(bridges=()))
    assert ids(found) == ["bridge-missing", "no-dhcp-server"]
    assert found[1].fix == f"lxcprov net setup --bridge {BRIDGE} --dhcp"


def test_no_dhcp_server(tmp_path: Path) -> None:
    f = only(healthy(tmp_path).findings(host_with_bridge(dhcp_server=False)))
    assert (f.id, f.severity, f.dhcp) == ("no-dhcp-server", "error", True)
    assert f.fix == f"lxcprov net setup --bridge {BRIDGE} --dhcp"


def test_a_static_container_needs_no_dhcp(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.net = NetIntent("static", BRIDGE, "10.9.9.5/24", "10.9.9.1")
    box.heal()
    assert box.findings(host_with_bridge(dhcp_server=False, dhcp_wanted=False)) == []


def test_bridge_down(tmp_path: Path) -> None:
    f = only(healthy(tmp_path).findings(host_with_bridge(up=False)))
    assert (f.id, f.severity, f.fix) == (
        "bridge-down",
        "error",
        f"lxcprov net setup --bridge {BRIDGE}",
    )


def test_bridge_down_unmanaged_is_a_manual_fix(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    f = only(box.findings(host_with_bridge(up=False, managed=False, dhcp_wanted=False,
                                          nat_wanted=False)))  # fmt: skip
    assert (f.id, f.fix_kind, f.fix) == ("bridge-down", "manual", f"ip link set dev {BRIDGE} up")


def test_not_a_bridge(tmp_path: Path) -> None:
    f = only(healthy(tmp_path).findings(host_with_bridge(is_bridge=False)))
    assert (f.id, f.severity, f.blocks_start) == ("not-a-bridge", "error", True)
    assert f.fix == f"ip link del {BRIDGE} && lxcprov net setup --bridge {BRIDGE}"


def test_nat_missing_and_ip_forward_off_are_warnings(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    f = only(box.findings(host_with_bridge(nat_present=False)))
    assert (f.id, f.severity, f.fix) == (
        "nat-missing",
        "warning",
        f"lxcprov net setup --bridge {BRIDGE}",
    )
    f = only(box.findings(host(ip_forward=False)))
    assert (f.id, f.severity, f.fix) == (
        "ip-forward-off",
        "warning",
        f"lxcprov net setup --bridge {BRIDGE}",
    )


def test_forward_blocked(tmp_path: Path) -> None:
    f = only(
        healthy(tmp_path).findings(host_with_bridge(forward_blocked=("table ip filter drops",)))
    )
    assert (f.id, f.fix_kind) == ("forward-blocked", "manual")
    assert f.fix.startswith(f"lxcprov net status --bridge {BRIDGE}")


def test_network_config_pending(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.write("/etc/network/interfaces", "auto eth0\niface eth0 inet dhcp\n")
    f = only(box.findings())
    assert (f.id, f.severity, f.recipes) == (
        "network-config-pending",
        "warning",
        ("network-ifupdown",),
    )
    assert f.fix == "lxcprov fix c1 --recipe network-ifupdown"


# -- rootfs, console, ttys -------------------------------------------------------------------


def test_rootfs_missing(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.rootfs.rename(tmp_path / "elsewhere")
    f = only(box.findings())
    assert (f.id, f.severity, f.blocks_start) == ("rootfs-missing", "error", True)
    assert f.fix.startswith("lxcprov destroy c1")


def test_console_empty_systemd(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    (box.rootfs / "etc/systemd/system/getty.target.wants/getty@tty1.service").unlink()
    f = only(box.findings())
    assert (f.id, f.severity, f.recipes) == ("console-empty", "error", ("getty-systemd",))
    assert "tty1" in f.message and "tty2" not in f.message
    assert f.fix == "lxcprov fix c1 --recipe getty-systemd"


def test_console_empty_without_the_dropin_means_every_tty(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    (box.rootfs / "etc/systemd/system/getty@.service.d/lxcprov-container.conf").unlink()
    f = only(box.findings())
    assert f.id == "console-empty" and "tty1, tty2, tty3, tty4" in f.message


@pytest.mark.parametrize("tree", ["debian-sysvinit", "busybox"])
def test_console_empty_inittab(tmp_path: Path, tree: str) -> None:
    box = healthy(tmp_path, tree)
    box.write("/etc/inittab", "::sysinit:/etc/init.d/rcS\n" if tree == "busybox"
              else "si::sysinit:/etc/init.d/rcS\n")  # fmt: skip
    f = only(box.findings())
    assert (f.id, f.recipes) == ("console-empty", ("getty-inittab",))
    assert f.message == "no getty answers on console, tty1, tty2, tty3, tty4"
    assert f.fix == "lxcprov fix c1 --recipe getty-inittab"


def test_getty_config_pending(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    (box.rootfs / "etc/systemd/system/container-getty@2.service").unlink()
    f = only(box.findings())
    assert (f.id, f.severity) == ("getty-config-pending", "warning")
    assert f.fix == "lxcprov fix c1 --recipe getty-systemd"


def test_tty_nodes_missing(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.append_config("lxc.autodev = 0\n")
    f = only(box.findings())
    assert (f.id, f.severity, f.recipes) == ("tty-nodes-missing", "error", ("tty-nodes",))
    assert "/dev/tty1" in f.message and "/dev/tty4" in f.message
    assert f.fix == "lxcprov fix c1 --recipe tty-nodes"


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_tty_nodes_present_with_autodev_off(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra="lxc.autodev = 0\n")
    assert box.findings() == []


def test_securetty_missing(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.write("/etc/securetty", "console\n")
    f = only(box.findings())
    assert (f.id, f.severity, f.fix) == (
        "securetty-missing",
        "warning",
        "lxcprov fix c1 --recipe securetty",
    )


# -- identity and login ----------------------------------------------------------------------


def test_hostname_mismatch(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.write("/etc/hostname", "other\n")
    f = only(box.findings())
    assert (f.id, f.severity) == ("hostname-mismatch", "warning")
    assert f.message == "/etc/hostname says 'other', the container is 'c1'"
    assert f.fix == "lxcprov fix c1 --recipe hostname"


@pytest.mark.parametrize(
    "shadow",
    ["root:*:1::::::\n", "root:!:1::::::\n", "root:!!:1::::::\n", "root::1::::::\n",
     "root:!$6$salt$hash:1::::::\n", "daemon:*:1::::::\n", ""],
)  # fmt: skip
def test_root_locked(tmp_path: Path, shadow: str) -> None:
    box = healthy(tmp_path)
    box.write("/etc/shadow", shadow)
    f = only(box.findings())
    assert (f.id, f.severity, f.needs_secret, f.recipes) == (
        "root-locked", "error", True, ("root-access",)
    )  # fmt: skip
    assert f.fix.startswith("lxcprov fix c1 --recipe root-access --root-password-file FILE")


def test_root_locked_but_with_a_key_is_fine(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.write("/etc/shadow", "root:*:1::::::\n")
    box.write("/root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI x\n")
    assert box.findings() == []
    box.write("/root/.ssh/authorized_keys", "# no keys\n\n")
    assert ids(box.findings()) == ["root-locked"]


def test_recipe_pending_for_an_admin_recipe(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    admin = Path(os.environ["LXCPROV_CONFIG_DIR"]) / "recipes"
    admin.mkdir(parents=True)
    (admin / "motd.toml").write_text(
        'name = "motd"\nsummary = "a motd"\nscope = "base"\norder = 50\n\n'
        '[[steps]]\naction = "file"\npath = "/etc/motd"\ncontent = "hello\\n"\n'
    )
    f = only(box.findings())
    assert (f.id, f.severity, f.fix) == ("recipe-pending", "info", "lxcprov fix c1 --recipe motd")


# -- cgroups and AppArmor --------------------------------------------------------------------

V1_NO_MEMORY = CgroupView("hybrid", frozenset({"cpu", "cpuset", "devices", "freezer", "pids"}))


def test_cgroup_controller_missing_v1(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra="lxc.cgroup.memory.limit_in_bytes = 512M\n")
    assert box.findings() == []
    f = only(box.findings(host(cgroup=V1_NO_MEMORY)))
    assert (f.id, f.severity, f.blocks_start) == ("cgroup-controller-missing", "error", True)
    assert "memory limits" in f.why
    assert f.fix.startswith(
        f"sed -i '/^lxc\\.cgroup\\.memory\\.limit_in_bytes[[:space:]]*=/d' {box.config_path}"
    )


def test_cgroup2_key_on_a_hybrid_host_without_v2_controllers(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra="lxc.cgroup2.memory.max = 512M\n")
    f = only(box.findings())
    assert f.id == "cgroup-controller-missing" and "cgroup v2" in f.message
    v2 = CgroupView("v2", frozenset(), frozenset({"memory", "cpu", "cpuset", "pids", "io"}))
    assert box.findings(host(cgroup=v2)) == []


def test_cgroup_devices_and_lxc_settings_are_not_controllers(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra="lxc.cgroup2.devices.allow = c 1:3 rwm\n"
                                  "lxc.cgroup.dir.container = x\n")  # fmt: skip
    v2 = CgroupView("v2", frozenset(), frozenset({"memory", "cpu", "cpuset", "pids", "io"}))
    assert box.findings() == [] and box.findings(host(cgroup=v2)) == []


def test_cgroup_legacy_key_on_a_v2_host(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra="lxc.cgroup.memory.limit_in_bytes = 512M\n")
    v2 = CgroupView("v2", frozenset(), frozenset({"memory", "cpu", "cpuset", "pids", "io"}))
    f = only(box.findings(host(cgroup=v2)))
    assert (f.id, f.severity) == ("cgroup-legacy-key", "warning")


def test_config_includes_are_followed(tmp_path: Path) -> None:
    inc = tmp_path / "limits.conf"
    inc.write_text("lxc.cgroup.memory.limit_in_bytes = 1G\n")
    box = healthy(tmp_path, extra=f"lxc.include = {inc}\n")
    assert ids(box.findings(host(cgroup=V1_NO_MEMORY))) == ["cgroup-controller-missing"]


def test_apparmor_findings(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra="lxc.apparmor.profile = generated\n")
    assert box.findings() == []  # no AppArmor here: LXC's default profile is simply not used
    f = only(box.findings(host(apparmor=True, apparmor_parser=False)))
    assert (f.id, f.fix, f.blocks_start) == (
        "apparmor-parser-missing",
        "apt-get install apparmor",
        True,
    )
    assert box.findings(host(apparmor=True, apparmor_parser=True)) == []

    box.append_config("lxc.apparmor.profile = lxc-container-default-cgns\n")
    f = only(box.findings(host(apparmor=True, apparmor_parser=True)))
    assert f.id == "apparmor-profile-missing"
    assert f.fix.startswith("apparmor_parser -r /etc/apparmor.d/lxc-container-default-cgns")
    loaded = frozenset({"lxc-container-default-cgns"})
    assert box.findings(host(apparmor=True, apparmor_parser=True, apparmor_profiles=loaded)) == []
    f = only(box.findings())
    assert (f.id, f.severity) == ("apparmor-not-enforced", "info")


def test_unconfined_is_never_a_finding(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra="lxc.apparmor.profile = unconfined\n")
    assert box.findings(host(apparmor=True)) == box.findings() == []


def test_host_essentials_come_with_a_container(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    assert ids(box.findings(host(root=False))) == ["not-root"]


def test_fix_commands_name_a_private_lxcpath(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.write("/etc/hostname", "other\n")
    (f,) = checks.check_container(box.view(), host(), prog="lxcprov -P /var/tmp/x")
    assert f.fix == "lxcprov -P /var/tmp/x fix c1 --recipe hostname"


def test_a_container_on_two_bridges_checks_both(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra="lxc.net.1.type = veth\nlxc.net.1.link = br9\n")
    view: ContainerView = box.view()
    assert view.links() == [BRIDGE, "br9"]
    f = only(box.findings(host(bridges=(bridge(),))))
    assert (f.id, f.bridge) == ("bridge-missing", "br9")


def test_privileged_small_maps_and_owners_off_the_map(tmp_path: Path) -> None:
    box = healthy(tmp_path / "priv")
    text = box.config_path.read_text()
    box.config_path.write_text("\n".join(ln for ln in text.splitlines() if "idmap" not in ln))
    found = box.findings()
    f = only([f for f in found if f.id != "rootfs-owner-mismatch"])
    assert (f.id, f.severity) == ("privileged-container", "warning")
    assert "convert c1 --unprivileged" in f.fix
    mismatch = only([f for f in found if f.id == "rootfs-owner-mismatch"])
    assert mismatch.blocks_start and "1100000000:1100000000" in mismatch.message

    small = healthy(tmp_path / "small")
    small.config_path.write_text(small.config_path.read_text().replace(" 65536\n", " 1000\n"))
    assert ids(small.findings()) == ["idmap-too-small"]


# -- a dead console, however it died: doctor finds it, the fix brings the prompt back -------


def _fixed_by_doctor(box: Box, recipe: str) -> None:
    """What `doctor --fix` runs for the finding (its recipes), then nothing is left."""
    from lxcprov.engine import recipes
    from lxcprov.engine.facts import gather
    from lxcprov.system.rootfs import Rootfs

    with Rootfs(box.rootfs) as rootfs:
        chosen = recipes.select(recipes.load_all(), [recipe], [])
        facts = gather("c1", rootfs, box.config(), box.net)
        recipes.apply(rootfs, recipes.plan(rootfs, facts, chosen, recipes.Secrets()))
        again = recipes.plan(rootfs, facts, chosen, recipes.Secrets())
    assert again.changes == [], "a second fix changes nothing"
    assert ids(box.findings()) == []


@pytest.mark.parametrize(
    ("unit", "dead"),
    [
        ("getty@tty1.service", "tty1"),
        ("getty@.service", "tty1, tty2, tty3, tty4"),
        ("console-getty.service", "console"),
        ("getty.target", "console, tty1, tty2, tty3, tty4"),
    ],
)
def test_console_empty_when_a_getty_unit_is_masked(tmp_path: Path, unit: str, dead: str) -> None:
    box = healthy(tmp_path)
    os.symlink("/dev/null", box.rootfs / "etc/systemd/system" / unit)
    f = only(box.findings())
    assert (f.id, f.severity, f.recipes) == ("console-empty", "error", ("unmask-getty",))
    assert f.message == f"no getty answers on {dead}"
    assert f.fix == "lxcprov fix c1 --recipe unmask-getty"
    _fixed_by_doctor(box, "unmask-getty")
    assert not (box.rootfs / "etc/systemd/system" / unit).exists()


def test_an_empty_unit_file_masks_too_and_an_admins_own_unit_is_kept(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    box.write("/etc/systemd/system/getty@tty2.service", "")
    f = only(box.findings())
    assert (f.id, f.message) == ("console-empty", "no getty answers on tty2")
    _fixed_by_doctor(box, "unmask-getty")
    own = "[Service]\nExecStart=-/sbin/agetty tty2\n"
    box.write("/etc/systemd/system/getty@tty2.service", own)
    assert ids(box.findings()) == []
    assert (box.rootfs / "etc/systemd/system/getty@tty2.service").read_text() == own


@pytest.mark.parametrize(
    "broken",
    ["script-missing", "script-not-executable", "script-edited", "dropin-edited"],
)
def test_console_empty_when_the_name_prompt_or_its_dropin_is_broken(
    tmp_path: Path, broken: str
) -> None:
    box = healthy(tmp_path)
    script = box.rootfs / "usr/libexec/lxcprov/login-prompt"
    dropin = box.rootfs / "etc/systemd/system/getty@.service.d/lxcprov-container.conf"
    if broken == "script-missing":
        script.unlink()
    elif broken == "script-not-executable":
        script.chmod(0o644)
    elif broken == "script-edited":
        script.write_text("#!/bin/sh\nexit 1\n")
    else:
        dropin.write_text("[Service]\nExecStart=\nExecStart=/bin/false\n")
    f = only(box.findings())
    assert (f.id, f.recipes) == ("console-empty", ("getty-systemd",))
    assert "tty1, tty2, tty3, tty4" in f.message
    _fixed_by_doctor(box, "getty-systemd")
    assert script.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("how", ["removed", "emptied", "comments-only"])
@pytest.mark.parametrize("tree", ["busybox", "debian-sysvinit"])
def test_console_empty_when_the_inittab_is_gone_or_has_no_entries(
    tmp_path: Path, tree: str, how: str
) -> None:
    box = healthy(tmp_path, tree)
    inittab = box.rootfs / "etc/inittab"
    if how == "removed":
        inittab.unlink()
    else:
        inittab.write_text("" if how == "emptied" else "# nothing here\n")
    f = only(box.findings())
    assert (f.id, f.recipes) == ("console-empty", ("getty-inittab",))
    assert f.message == "no getty answers on console, tty1, tty2, tty3, tty4"
    _fixed_by_doctor(box, "getty-inittab")
    text = inittab.read_text()
    # The init's own entries come back too: rc scripts run, not only the gettys.
    assert (
        "::sysinit:/etc/init.d/rcS" if tree == "busybox" else "si::sysinit:/etc/init.d/rcS"
    ) in text
    if how == "comments-only":
        assert text.startswith("# nothing here\n"), "the admin's lines are kept"
    if tree == "busybox":
        assert ":/bin/sh" not in text, "no password-less shell on any terminal"


# -- nesting -----------------------------------------------------------------------------

_NESTING = (  # hand-written (not in lxcprov's section): in effect all the same
    "lxc.apparmor.profile = generated\nlxc.apparmor.allow_nesting = 1\n"
    "lxc.mount.auto = cgroup:rw:force\n"
)


@pytest.mark.parametrize(
    ("programs", "what"),
    [(("usr/sbin/dockerd",), "docker inside c1 needs"),
     (("usr/bin/podman",), "podman inside c1 needs"),
     (("usr/sbin/dockerd", "usr/bin/podman"), "docker and podman inside c1 need")],
)  # fmt: skip
def test_docker_or_podman_inside_without_nesting(
    tmp_path: Path, programs: tuple[str, ...], what: str
) -> None:
    box = healthy(tmp_path)
    for program in programs:
        box.write(program, "#!/bin/sh\n")
    f = only(box.findings())
    assert (f.id, f.severity, f.fix_kind) == ("nesting-off", "warning", "manual")
    assert f.message == f"{what} nesting: lxcprov set c1 nesting=yes"
    assert f.fix == "lxcprov set c1 nesting=yes && lxcprov restart c1"


def test_docker_inside_with_nesting_is_fine(tmp_path: Path) -> None:
    box = healthy(tmp_path, extra=_NESTING)
    box.write("usr/sbin/dockerd", "#!/bin/sh\n")
    assert ids(box.findings()) == []


def test_a_docker_link_out_of_the_rootfs_is_not_docker(tmp_path: Path) -> None:
    """A symlink to the host's own file is resolved inside the rootfs: nothing there."""
    box = healthy(tmp_path)
    (box.rootfs / "usr/sbin").mkdir(parents=True, exist_ok=True)
    (box.rootfs / "usr/sbin/dockerd").symlink_to("/usr/bin/python3")
    assert "nesting-off" not in ids(box.findings())


def test_its_own_published_port_without_rules_is_said_by_doctor_name(tmp_path: Path) -> None:
    """The host's doctor said a listed port had no rule; `doctor c1` said nothing of c1's
    own port (found by an outside review): now it does, and of no other container's."""
    from dataclasses import replace

    from lxcprov.system.hostnet.forwards import Forward
    from lxcprov.system.hostnet.nat import dnat_of

    mine = dnat_of(Forward("c1@/l", "tcp", 8080, 80, "10.0.3.5"))
    other = dnat_of(Forward("db@/l", "tcp", 5432, 5432, "10.0.3.6"))
    namesake = dnat_of(Forward("c1@/elsewhere", "tcp", 9090, 80, "10.0.3.7"))
    box = healthy(tmp_path)
    box.net = NetIntent("dhcp", BRIDGE, owner="c1@/l")
    ruled = (replace(mine, chain="prerouting"), replace(mine, chain="output"))
    assert box.findings(host_with_bridge(listed=(mine, other), dnat_rules=ruled)) == []
    f = only(box.findings(host_with_bridge(listed=(mine, other), dnat_rules=ruled[:1])))
    assert (f.id, f.severity, f.scope, f.fix_kind, f.bridge) == (
        "forwards-out-of-step", "warning", "container", "net-setup", BRIDGE,
    )  # fmt: skip
    assert "8080/tcp -> c1:80" in f.message and "5432" not in f.message
    # A container of the same name in another lxcpath, on the same bridge: not this one's
    # (found by the third outside review: matched by name, it was reported here).
    assert box.findings(host_with_bridge(listed=(mine, namesake), dnat_rules=ruled)) == []
    assert f.fix == f"lxcprov net setup --bridge {BRIDGE}"
    # Not read (not root), or an unmanaged bridge: nothing to compare.
    assert box.findings(host_with_bridge(listed=(mine,), dnat_rules=None)) == []
    assert box.findings(host_with_bridge(managed=False, listed=(mine,), dnat_rules=())) == []
