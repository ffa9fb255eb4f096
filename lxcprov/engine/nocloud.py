"""The NoCloud seed lxcprov gives a container that carries cloud-init.

cloud-init's NoCloud datasource reads `/var/lib/cloud/seed/nocloud/` in the container's
own filesystem: `user-data` (the document as the user gave it, byte for byte),
`vendor-data` (lxcprov's defaults, which user-data overrides: root's keys usable),
`meta-data` (instance-id and local-hostname) and `network-config` (version 2, the network
lxcprov decided for the container: the static address it claimed, DHCP, or none). With
network-config saying what lxcprov's network recipes wrote, cloud-init and lxcprov agree.
Pure: the files' bytes out. Everything is written as JSON, which YAML reads as itself:
no value can start a YAML construct of its own.
"""

from __future__ import annotations

import json
import uuid

from lxcprov.system.netintent import NetIntent

SEED_DIR = "/var/lib/cloud/seed/nocloud"
CLOUD_INIT = "/usr/bin/cloud-init"


# lxcprov's defaults for cloud-init, as a platform gives them (the user-data overrides
# them): root's keys as given, usable as on lxcprov's own path (cloud-init's default
# would prefix them with a command telling root to log in as the default user).
VENDOR_DATA = b"#cloud-config\ndisable_root: false\n"


def meta_data(name: str, hostname: str) -> bytes:
    """instance-id new for each container (cloud-init runs once per instance id: a clone
    of a base, or a container made again under the same name, is a new instance)."""
    data = {"instance-id": f"lxcprov-{name}-{uuid.uuid4().hex[:12]}", "local-hostname": hostname}
    return (json.dumps(data, indent=2) + "\n").encode()


def network_config(net: NetIntent, interface: str = "eth0") -> bytes:
    """Version 2 network config of lxcprov's decision (interface: the veth's name inside)."""
    if net.mode == "none":
        data: dict[str, object] = {"network": {"config": "disabled"}}
    elif net.mode == "dhcp":
        data = {"network": {"version": 2, "ethernets": {interface: {"dhcp4": True}}}}
    else:
        eth: dict[str, object] = {"dhcp4": False, "addresses": [net.address]}
        if net.gateway:
            eth["routes"] = [{"to": "0.0.0.0/0", "via": net.gateway}]
        if net.dns.split():
            eth["nameservers"] = {"addresses": net.dns.split()}
        data = {"network": {"version": 2, "ethernets": {interface: eth}}}
    return (json.dumps(data, indent=2) + "\n").encode()
