"""The pure diff: wanted settings + observed host -> actions."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from lxcprov.errors import NotABridgeError, SubnetOverlapError, UplinkError
from lxcprov.system.hostnet import actions as acts
from lxcprov.system.hostnet import dnsmasq, guard, names, nat, openings
from lxcprov.system.hostnet import plan as p
from lxcprov.system.hostnet.observe import BridgeState, DnsmasqState, HostState, Route
from lxcprov.system.hostnet.settings import NetSettings

IF = ipaddress.IPv4Interface
PATHS = dnsmasq.DnsmasqPaths.under(Path("/state/net/br9"))
WANTED = NetSettings(bridge="br9", ipv4=IF("10.50.0.1/24"), dhcp=True, nat=True, uplink=None)


def bare_host(**changes: object) -> HostState:
    host = HostState(
        bridge=None,
        ip_forward=False,
        ipv6_forward=False,
        bridge_forwarding=None,
        nft=None,
        dnsmasq=DnsmasqState(pid=None),
        dns_port_holders=(),
        foreign_drops=(),
        firewall_notes=(),
        default_uplink="up0",
        links=frozenset({"lo", "up0", "up1"}),
        routes=(Route(ipaddress.IPv4Network("192.0.2.0/24"), "up0"),),
        state_dir_exists=False,
    )
    return dataclasses.replace(host, **changes)  # type: ignore[arg-type]


def converged(wanted: NetSettings = WANTED, **changes: object) -> HostState:
    """A host where setup of wanted already happened."""
    uplink = wanted.uplink or "up0"
    host = bare_host(
        bridge=BridgeState(
            name=wanted.bridge,
            index=7,
            kind="bridge",
            up=True,
            ipv4=(wanted.ipv4,),
            tx_checksum_offload=False,
        ),
        ip_forward=True,
        bridge_forwarding=True,
        nft=nat.wanted_contents(wanted.bridge, nat.Wanted(wanted.ipv4.network, uplink))
        if wanted.nat
        else None,
        guard=guard.wanted_contents(wanted.bridge, guard.Wanted(wanted.ipv4.ip, None, ())),
        dnsmasq=DnsmasqState(pid=4242, args=dnsmasq.arguments(wanted, PATHS, dns=True)),
        routes=(
            Route(ipaddress.IPv4Network("192.0.2.0/24"), "up0"),
            Route(wanted.ipv4.network, wanted.bridge),
        ),
        state_dir_exists=True,
    )
    return dataclasses.replace(host, **changes)  # type: ignore[arg-type]


def plan(wanted: NetSettings, host: HostState, saved: NetSettings | None = WANTED) -> p.Plan:
    return p.plan_setup(wanted, host, saved=saved, is_default=True, make_default=False, paths=PATHS)


def kinds(result: p.Plan) -> list[str]:
    return [type(a).__name__ for a in result.actions]


def test_fresh_host_gets_everything_in_order() -> None:
    result = plan(WANTED, bare_host(), saved=None)
    # Settings first: a setup killed half-way leaves a bridge lxcprov knows it made.
    assert kinds(result) == [
        "SaveSettings",
        "CreateBridge",
        "AddAddress",
        "DisableTxChecksum",
        "LinkUp",
        "SetSysctl",
        "SetSysctl",
        "ReplaceNatTable",
        "ReplaceGuardTable",
        "StartDnsmasq",
    ]
    assert result.uplink == "up0"
    assert all(a.description for a in result.actions)
    nat_action = result.actions[7]
    assert isinstance(nat_action, acts.ReplaceNatTable)
    assert nat_action.wanted.uplink == "up0"


def test_converged_host_needs_nothing() -> None:
    result = plan(WANTED, converged())
    assert result.actions == ()


def test_address_change_converges() -> None:
    new = dataclasses.replace(WANTED, ipv4=IF("10.60.0.1/24"))
    result = plan(new, converged())
    assert kinds(result) == [
        "SaveSettings",
        "RemoveAddress",
        "AddAddress",
        "ReplaceNatTable",
        "ReplaceGuardTable",
        "StopDnsmasq",
        "StartDnsmasq",
    ]
    removed, added = result.actions[1], result.actions[2]
    assert isinstance(removed, acts.RemoveAddress) and removed.ipv4 == IF("10.50.0.1/24")
    assert isinstance(added, acts.AddAddress) and added.ipv4 == IF("10.60.0.1/24")
    start = result.actions[6]
    assert isinstance(start, acts.StartDnsmasq)
    assert "--listen-address=10.60.0.1" in start.args


def test_dead_dnsmasq_is_restarted_and_stale_pid_file_removed() -> None:
    host = converged(dnsmasq=DnsmasqState(pid=None, stale_pid_file=True))
    result = plan(WANTED, host)
    assert kinds(result) == ["StopDnsmasq", "StartDnsmasq"]
    stop = result.actions[0]
    assert isinstance(stop, acts.StopDnsmasq) and stop.pid is None


def test_changed_dnsmasq_arguments_restart_it() -> None:
    host = converged(dnsmasq=DnsmasqState(pid=4242, args=("--something-else",)))
    assert kinds(plan(WANTED, host)) == ["StopDnsmasq", "StartDnsmasq"]


def test_port_53_taken_falls_back_to_dhcp_only() -> None:
    host = bare_host(dns_port_holders=("udp 0.0.0.0:53",))
    result = plan(WANTED, host, saved=None)
    start = next(a for a in result.actions if isinstance(a, acts.StartDnsmasq))
    assert "--port=0" in start.args
    assert not result.dns
    assert any("port 53" in n for n in result.notes)


def test_nat_off_removes_our_table_and_no_forwarding_change() -> None:
    wanted = dataclasses.replace(WANTED, nat=False)
    result = plan(wanted, converged())
    assert kinds(result) == ["SaveSettings", "DeleteNatTable"]


def test_dhcp_off_stops_dnsmasq() -> None:
    wanted = dataclasses.replace(WANTED, dhcp=False)
    result = plan(wanted, converged())
    assert kinds(result) == ["SaveSettings", "StopDnsmasq"]


def test_uplink_change_rewrites_table() -> None:
    wanted = dataclasses.replace(WANTED, uplink="up1")
    result = plan(wanted, converged())
    assert kinds(result) == ["SaveSettings", "ReplaceNatTable"]


def test_down_bridge_with_offload_is_fixed() -> None:
    host = converged()
    assert host.bridge is not None
    host = dataclasses.replace(
        host, bridge=dataclasses.replace(host.bridge, up=False, tx_checksum_offload=True)
    )
    assert kinds(plan(WANTED, host)) == ["DisableTxChecksum", "LinkUp"]


DOCKER_FORWARD = openings.ForeignChain("ip", "filter", "FORWARD", "forward")
HOST_INPUT = openings.ForeignChain("inet", "fw", "input", "input")


def test_foreign_drop_chains_get_openings_once() -> None:
    host = converged(foreign_drops=(DOCKER_FORWARD, HOST_INPUT))
    result = plan(WANTED, host)
    assert kinds(result) == ["OpenForeignChain", "OpenForeignChain"]
    assert "ip filter FORWARD" in result.actions[0].description
    # Once our rules are there (as a listing shows them), nothing more to do.
    opened = tuple(
        dataclasses.replace(c, ours=tuple(
            (i, openings.canonical(e)) for i, e in enumerate(openings.wanted_rules(c, "br9", False))
        ))
        for c in (DOCKER_FORWARD, HOST_INPUT)
    )  # fmt: skip
    assert plan(WANTED, converged(foreign_drops=opened)).actions == ()
    # Without NAT or forwards nothing is forwarded: the FORWARD opening is taken back.
    no_nat = dataclasses.replace(WANTED, nat=False)
    closing = plan(no_nat, converged(no_nat, foreign_drops=opened), saved=no_nat)
    assert [type(a).__name__ for a in closing.actions] == ["CloseForeignChain"]
    # Teardown removes our rules (by handle) and nothing else of the foreign chain.
    down = p.plan_teardown("br9", converged(foreign_drops=opened), managed=True, paths=PATHS)
    closes = [a for a in down.actions if isinstance(a, acts.CloseForeignChain)]
    assert [a.chain.chain for a in closes] == ["FORWARD", "input"]
    assert openings.close_commands(closes[0].chain) == [
        {"delete": {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": h}}}
        for h in (0, 1)
    ]


def test_not_a_bridge_is_refused() -> None:
    host = bare_host(
        bridge=BridgeState(name="br9", index=3, kind="veth", up=True, ipv4=()),
    )
    with pytest.raises(NotABridgeError, match="not a bridge"):
        plan(WANTED, host)


def test_subnet_overlapping_a_route_is_refused() -> None:
    host = bare_host(routes=(Route(ipaddress.IPv4Network("10.50.0.0/16"), "up0"),))
    with pytest.raises(SubnetOverlapError, match=r"10\.50\.0\.0/16"):
        plan(WANTED, host)


def test_subnet_overlapping_another_managed_bridge_is_refused() -> None:
    with pytest.raises(SubnetOverlapError, match="brA"):
        p.plan_setup(
            WANTED,
            bare_host(),
            saved=None,
            is_default=False,
            make_default=False,
            paths=PATHS,
            others={"brA": ipaddress.IPv4Network("10.50.0.0/24")},
        )


def test_nat_without_default_route_needs_an_uplink() -> None:
    with pytest.raises(UplinkError, match="default route"):
        plan(WANTED, bare_host(default_uplink=None))
    with pytest.raises(UplinkError, match="does not exist"):
        plan(dataclasses.replace(WANTED, uplink="nope0"), bare_host())


def test_make_default_alone_saves_settings() -> None:
    result = p.plan_setup(
        WANTED, converged(), saved=WANTED, is_default=False, make_default=True, paths=PATHS
    )
    assert kinds(result) == ["SaveSettings"]


def test_teardown_of_managed_bridge_removes_everything() -> None:
    result = p.plan_teardown("br9", converged(), managed=True, paths=PATHS)
    assert kinds(result) == [
        "StopDnsmasq",
        "DeleteNatTable",
        "DeleteGuardTable",
        "DeleteBridge",
        "RemoveStateDir",
        "ForgetSettings",
    ]
    assert any("ip_forward" in n for n in result.notes)
    assert not any("ipv6" in n for n in result.notes)  # IPv6 forwarding off: nothing to say
    on = converged(ipv6_forward=True)
    with_nat6 = p.plan_teardown("br9", on, managed=True, paths=PATHS, nat6=True)
    assert any("net.ipv6.conf.all.forwarding is left on" in n for n in with_nat6.notes)
    # Forwarding on, but not this bridge's doing (another bridge's NAT66): not its to say.
    without = p.plan_teardown("br9", on, managed=True, paths=PATHS, nat6=False)
    assert not any("ipv6" in n for n in without.notes)


def test_teardown_leaves_an_unmanaged_bridge_alone() -> None:
    host = converged(nft=None, guard=None, dnsmasq=DnsmasqState(pid=None), state_dir_exists=False)
    result = p.plan_teardown("br9", host, managed=False, paths=PATHS)
    assert result.actions == ()
    assert any("left alone" in n for n in result.notes)


def test_teardown_of_nothing_is_empty() -> None:
    assert p.plan_teardown("br9", bare_host(), managed=False, paths=PATHS).actions == ()


def test_dnsmasq_files_left_behind_by_a_killed_command_are_written_again() -> None:
    served = ("10.50.0.200 web\n", "00:16:3e:00:00:01,10.50.0.200,web\n")

    def with_served(host: HostState) -> p.Plan:
        return p.plan_setup(WANTED, host, saved=WANTED, is_default=True, make_default=False,
                            paths=PATHS, served=served)  # fmt: skip

    assert with_served(converged(served=served)).actions == ()
    stale = with_served(converged(served=("", served[1])))
    assert kinds(stale) == ["WriteServedNames"]
    action = stale.actions[0]
    assert isinstance(action, acts.WriteServedNames) and action.hosts == served[0]
    # A dnsmasq (re)started after them reads them: they come first.
    fresh = p.plan_setup(WANTED, bare_host(), saved=None, is_default=True, make_default=True,
                         paths=PATHS, served=served)  # fmt: skip
    assert kinds(fresh).index("WriteServedNames") < kinds(fresh).index("StartDnsmasq")
    # Without DHCP or IPv6 there is no dnsmasq to serve them.
    off = dataclasses.replace(WANTED, dhcp=False)
    result = p.plan_setup(
        off, converged(), saved=WANTED, is_default=True, make_default=False, paths=PATHS,
        served=served,
    )  # fmt: skip
    assert "WriteServedNames" not in kinds(result)


def test_a_new_bridge_gets_a_fixed_mac_and_takes_no_router_advertisement() -> None:
    result = plan(WANTED, bare_host(ipv6_conf=True), saved=None)
    assert kinds(result)[:4] == ["SaveSettings", "CreateBridge", "SetSysctl", "SetSysctl"]
    create, ra, autoconf = result.actions[1], result.actions[2], result.actions[3]
    assert isinstance(create, acts.CreateBridge) and create.mac == names.bridge_mac("br9")
    assert isinstance(ra, acts.SetSysctl) and isinstance(autoconf, acts.SetSysctl)
    assert (ra.path, ra.value) == ("/proc/sys/net/ipv6/conf/br9/accept_ra", "0")
    assert (autoconf.path, autoconf.value) == ("/proc/sys/net/ipv6/conf/br9/autoconf", "0")
    # Before the link is up: no advertisement is taken in between.
    assert kinds(result).index("SetSysctl") < kinds(result).index("LinkUp")
    # The guard owns the MAC it gets and that MAC's link-local address.
    (guarded,) = [a for a in result.actions if isinstance(a, acts.ReplaceGuardTable)]
    assert guarded.wanted.mac == create.mac
    assert guarded.wanted.link_local == (names.eui64(names.LINK_LOCAL, create.mac),)
    # No per-interface IPv6 settings (IPv6 off in the kernel): nothing to set.
    assert "SetSysctl" not in kinds(plan(dataclasses.replace(WANTED, nat=False),
                                         bare_host(), saved=None))  # fmt: skip


def test_an_existing_bridge_keeps_its_mac_and_stops_taking_advertisements() -> None:
    mac, seen = "aa:bb:cc:00:11:22", ipaddress.IPv6Address("fe80::1234")
    own = guard.Wanted(WANTED.ipv4.ip, None, (), mac, guard.bridge_link_locals(mac, [seen]))
    base = converged(ipv6_conf=True, bridge_accept_ra="0", bridge_autoconf="0",
                     guard=guard.wanted_contents("br9", own))  # fmt: skip
    assert base.bridge is not None
    br = dataclasses.replace(base.bridge, mac=mac, mac_fixed=True, link_local=(seen,))

    def host(bridge: BridgeState = br, **changes: object) -> HostState:
        return dataclasses.replace(base, bridge=bridge, **changes)  # type: ignore[arg-type]

    assert plan(WANTED, host()).actions == ()  # converged: a second setup changes nothing
    assert kinds(plan(WANTED, host(bridge_accept_ra="1"))) == ["SetSysctl"]
    assert kinds(plan(WANTED, host(bridge_autoconf="1"))) == ["SetSysctl"]
    (fix,) = plan(WANTED, host(dataclasses.replace(br, mac_fixed=False))).actions
    assert isinstance(fix, acts.FixBridgeMac) and fix.mac == mac  # the one it has, kept
    # The guard follows the bridge's MAC and link-local addresses as the kernel has them.
    other = dataclasses.replace(br, mac="aa:bb:cc:00:11:23")
    assert kinds(plan(WANTED, host(other))) == ["ReplaceGuardTable"]


def test_nat66_keeps_each_links_own_router_advertisements_before_forwarding() -> None:
    wanted = dataclasses.replace(
        WANTED, ipv6=ipaddress.IPv6Interface("fd42:1:2:3::1/64"), nat6=True
    )
    host = bare_host(ipv6_conf=True, accept_ra_1=(("up0", 2), ("lxv0618170954fb", 9)))
    order = kinds(plan(wanted, host, saved=None))
    keeps = [a for a in plan(wanted, host, saved=None).actions
             if isinstance(a, acts.KeepRouterAdverts)]  # fmt: skip
    assert [k.link for k in keeps] == ["up0", "lxv0618170954fb"]
    forwarding = [i for i, a in enumerate(plan(wanted, host, saved=None).actions)
                  if isinstance(a, acts.SetSysctl) and a.path == acts.IPV6_FORWARD]  # fmt: skip
    assert len(forwarding) == 1 and order.index("KeepRouterAdverts") < forwarding[0]
    # The uplink it masquerades out of is said (found as IPv4 NAT's would be).
    assert plan(wanted, host, saved=None).uplink6 == "up0"
    # Forwarding already on: nothing more to keep (it was done then, or it is the admin's).
    on = dataclasses.replace(host, ipv6_forward=True)
    assert "KeepRouterAdverts" not in kinds(plan(wanted, on, saved=None))


def test_a_sysctl_key_writes_a_dot_in_a_link_name_as_sysctl_takes_it() -> None:
    assert acts.sysctl_key("/proc/sys/net/ipv6/conf/br.x/accept_ra") == (
        "net.ipv6.conf.br/x.accept_ra"
    )
    assert acts.SetSysctl(acts.IPV6_FORWARD, "1").description == (
        "set net.ipv6.conf.all.forwarding = 1"
    )
    assert acts.KeepRouterAdverts("eth0.5", 3).description.startswith(
        "set net.ipv6.conf.eth0/5.accept_ra = 2 ("
    )
