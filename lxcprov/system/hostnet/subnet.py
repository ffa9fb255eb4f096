"""The address split of a bridge subnet: the gateway, a static half, a DHCP half.

The subnet's host addresses are cut in two halves: the lower half is for static
addresses handed out from the address book (lxcprov.system.hostnet.addresses), the upper
half is the DHCP range dnsmasq serves. The bridge's own address (the gateway) is in
neither. For 10.0.3.1/24: gateway 10.0.3.1, static 10.0.3.2-10.0.3.127, DHCP
10.0.3.128-10.0.3.254.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPv4 = ipaddress.IPv4Address


@dataclass(frozen=True)
class AddressSplit:
    gateway: IPv4
    static_first: IPv4
    static_last: IPv4
    dhcp_first: IPv4
    dhcp_last: IPv4

    def is_static(self, ip: IPv4) -> bool:
        return self.static_first <= ip <= self.static_last and ip != self.gateway

    def in_dhcp(self, ip: IPv4) -> bool:
        return self.dhcp_first <= ip <= self.dhcp_last


def split(ipv4: ipaddress.IPv4Interface) -> AddressSplit:
    net = ipv4.network
    gw = ipv4.ip
    mid = net.network_address + net.num_addresses // 2
    static_first, static_last = net.network_address + 1, mid - 1
    dhcp_first, dhcp_last = mid, net.broadcast_address - 1
    if gw == static_first:
        static_first += 1
    elif gw == static_last:
        static_last -= 1
    if dhcp_first <= gw <= dhcp_last:
        # Keep the DHCP range contiguous: take the larger side of the gateway.
        if int(gw) - int(dhcp_first) > int(dhcp_last) - int(gw):
            dhcp_last = gw - 1
        else:
            dhcp_first = gw + 1
    return AddressSplit(gw, static_first, static_last, dhcp_first, dhcp_last)
