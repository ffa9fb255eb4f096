"""`lxcprov net setup | status | teardown`: parse options, call lxcprov.system.hostnet, render."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lxcprov.cli import complete, helptext, lazy
from lxcprov.cli.common import err, shown
from lxcprov.cli.helptext import examples

if TYPE_CHECKING:
    from lxcprov.system import hostnet
else:
    hostnet = lazy.module("lxcprov.system.hostnet")

app = typer.Typer(
    cls=helptext.Group,
    rich_markup_mode=None,  # plain help: see helptext
    name="net",
    help="Host network for containers: a bridge with NAT and DHCP (like lxc-net).",
    no_args_is_help=True,
    add_completion=False,
    epilog=examples("lxcprov net setup", "lxcprov net status", "lxcprov net setup --ipv6 auto"),
)


BridgeOpt = Annotated[
    str | None,
    typer.Option(
        "--bridge",
        "-b",
        metavar="BRIDGE",
        help="Bridge name (default: the configured default bridge).",
        autocompletion=complete.bridges,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        style = "yellow" if note.startswith("warning") else "dim"
        err.print(f"[{style}]{shown(note)}[/]")


@app.command(
    epilog=examples(
        "lxcprov net setup",
        "lxcprov net setup --bridge br1 --address 10.20.0.1/24 --uplink eth0",
        "lxcprov net setup --ipv6 auto --nat6",
    )
)
def setup(
    bridge: BridgeOpt = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            "-a",
            metavar="ADDR/PREFIX",
            help="Bridge address/prefix (default 10.0.3.1/24).",
        ),
    ] = None,
    uplink: Annotated[
        str | None,
        typer.Option(
            metavar="IFACE|auto",
            help="Interface to masquerade out of ('auto': the default route's).",
        ),
    ] = None,
    dhcp: Annotated[
        bool | None, typer.Option("--dhcp/--no-dhcp", help="Serve DHCP with dnsmasq.")
    ] = None,
    nat: Annotated[bool | None, typer.Option("--nat/--no-nat", help="Masquerade out.")] = None,
    ipv6: Annotated[
        str | None,
        typer.Option(
            "--ipv6",
            metavar="auto|PREFIX::1/64|none",
            help="IPv6 on the bridge: a random unique-local /64 (auto), yours, or none "
            "(the default). Containers take addresses by SLAAC; names resolve over both.",
        ),
    ] = None,
    nat6: Annotated[
        bool | None,
        typer.Option("--nat6/--no-nat6", help="Masquerade the IPv6 prefix out of the uplink."),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Make this the default bridge.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would change.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or converge the bridge, NAT and DHCP; with no options, restore the saved network."""
    result = hostnet.setup(
        bridge,
        address=address,
        uplink=uplink,
        dhcp=dhcp,
        nat=nat,
        ipv6=ipv6,
        nat6=nat6,
        make_default=default,
        dry_run=dry_run,
    )
    s = result.settings
    if as_json:
        _print_json(
            {
                "bridge": s.bridge,
                "address": str(s.ipv4),
                "dhcp": s.dhcp,
                "nat": s.nat,
                "uplink": result.uplink,
                "ipv6": None if s.ipv6 is None else str(s.ipv6),
                "nat6": s.nat6,
                "uplink6": result.uplink6,
                "dns": result.dns,
                "changed": result.changed,
                "dry_run": result.dry_run,
                "actions": list(result.actions),
                "notes": list(result.notes),
            }
        )
    verb = "would" if dry_run else "done:"
    for action in result.actions:
        err.print(f"  {verb} {shown(action)}")
    if not result.actions:
        err.print(f"[green]no change[/]: {shown(s.bridge)} is already set up")
    sp = hostnet.split(s.ipv4)
    nat_text = f"NAT out of {result.uplink}" if result.uplink else "no NAT"
    dhcp_text = f"DHCP {sp.dhcp_first}-{sp.dhcp_last}" if s.dhcp else "no DHCP"
    err.print(
        f"[bold]{shown(s.bridge)}[/] {s.ipv4}: {shown(nat_text)}, {dhcp_text}, "
        f"static {sp.static_first}-{sp.static_last}"
    )
    if s.ipv6 is not None:
        nat6_text = f", NAT66 out of {result.uplink6 or 'the uplink'}" if s.nat6 else ""
        err.print(f"  IPv6 {s.ipv6}: router advertisements (SLAAC) and DHCPv6{nat6_text}")
    _notes(result.notes)


def _yes(value: bool | None) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]", None: "?"}[value]


@app.command(epilog=examples("lxcprov net status", "lxcprov net status --bridge br1 --json"))
def status(bridge: BridgeOpt = None, as_json: JsonOpt = False) -> None:
    """Show the bridge, forwarding, NAT, dnsmasq and the DHCP leases."""
    st = hostnet.status(bridge)
    if as_json:
        _print_json(st.to_json())
        return
    name = shown(st.bridge)
    if not st.configured:
        err.print(f"[bold]{name}[/]: not managed by lxcprov (set it up with: lxcprov net setup)")
    else:
        default = " (default)" if st.is_default else ""
        err.print(f"[bold]{name}[/]{default}")
    rows = [
        ("bridge exists", _yes(st.exists)),
        ("up", _yes(st.up)),
        ("addresses", ", ".join(str(a) for a in st.addresses) or "-"),
        ("ip_forward", _yes(st.ip_forward)),
        ("bridge forwarding", _yes(st.bridge_forwarding)),
        ("NAT table", _yes(st.nat_table) + (f" (out of {shown(st.uplink)})" if st.uplink else "")),
        (
            "dnsmasq",
            f"{_yes(True)} pid {st.dnsmasq_pid}" + ("" if st.dns else ", DHCP only")
            if st.dnsmasq_pid
            else _yes(False),
        ),
    ]
    if st.settings is not None:
        sp = hostnet.split(st.settings.ipv4)
        rows.append(("static range", f"{sp.static_first}-{sp.static_last}"))
        if st.settings.dhcp:
            rows.append(("DHCP range", f"{sp.dhcp_first}-{sp.dhcp_last}"))
        if st.settings.ipv6 is not None:
            six = ", ".join(str(a) for a in st.addresses6) or "-"
            nat6 = " (NAT66)" if st.settings.nat6 else ""
            rows.append(("IPv6", f"{st.settings.ipv6}{nat6}; on the bridge: {six}"))
        else:
            rows.append(("IPv6", "no (lxcprov net setup --ipv6 auto)"))
    for label, value in rows:
        err.print(f"  {label:<18} {value}")
    for warning in st.warnings:
        err.print(f"[yellow]warning: {shown(warning)}[/]")
    if st.pending:
        err.print("[yellow]out of date; `lxcprov net setup` would:[/]")
        for action in st.pending:
            err.print(f"  {shown(action)}")
    if st.leases:
        err.print("  leases:")
        for lease in st.leases:
            expiry = lease.expiry.isoformat(timespec="seconds") if lease.expiry else "never"
            err.print(
                f"    {shown(lease.hostname or '-'):<20} {lease.mac}  {lease.ipv4!s:<15}  "
                f"until {expiry}"
            )
    for owner, ip in sorted(st.static_addresses.items()):  # static, or a DHCP reservation
        err.print(f"  address {ip!s:<15} {shown(owner)}")
    for fw in st.forwards:
        err.print(f"  published {shown(fw.label())} ({fw.address})")


@app.command(epilog=examples("lxcprov net teardown --bridge br1"))
def teardown(bridge: BridgeOpt = None, as_json: JsonOpt = False) -> None:
    """Remove what setup made for the bridge (dnsmasq, nft table, bridge, saved entry)."""
    result = hostnet.teardown(bridge)
    if as_json:
        _print_json(
            {"bridge": result.bridge, "actions": list(result.actions), "notes": list(result.notes)}
        )
    for action in result.actions:
        err.print(f"  done: {shown(action)}")
    if not result.actions:
        err.print(f"nothing to remove for {shown(result.bridge)}")
    _notes(result.notes)
