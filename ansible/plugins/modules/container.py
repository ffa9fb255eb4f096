#!/usr/bin/python
# One LXC container per task, through `lxcprov apply` (a document of one container).

from __future__ import annotations

DOCUMENTATION = r"""
---
module: container
short_description: One LXC container, made and kept as described (lxcprov)
description:
  - The same keys as a container of an lxcprov document (docs/apply.md), one task per
    container; it runs C(lxcprov apply - --json) on the target with a document of this
    container alone, so other containers are never touched.
  - Check mode and diff mode as for M(lxcprov.lxcprov.apply).
version_added: 0.1.0
options:
  name:
    description: The container.
    type: str
    required: true
  state:
    description:
      - C(started) (made if missing, and running), C(stopped), C(present) (made if
        missing, else left running or stopped) or C(absent) (removed; only containers
        lxcprov made).
    type: str
    choices: [started, stopped, present, absent]
    default: started
  template: {description: The LXC template (needed to make it)., type: str}
  release: {description: The template's release., type: str}
  template_args: {description: Extra template arguments., type: list, elements: str}
  image:
    description: An image to make it from instead of a template (a rootfs tarball on the
      target, oci:DIR[:TAG] or docker://REGISTRY/REPO[:TAG]; docs/images.md).
    type: str
  privileged: {description: uid 0 inside is uid 0 on the host., type: bool}
  isolated: {description: Unprivileged with host ids of its own., type: bool}
  bridge: {description: The bridge of eth0, or none., type: str}
  address: {description: "dhcp, auto, or ADDR[/PREFIX].", type: str}
  memory: {description: "Memory limit: 512M, 1G, or none.", type: str}
  swap: {description: Swap on top of memory., type: str}
  cpus: {description: "A CPU count (2, 0.5) or CPUs to pin to (0-1).", type: str}
  cpu_weight: {description: CPU share under contention (1-10000)., type: int}
  autostart: {description: Started by lxcprov start --all., type: bool}
  nesting: {description: "Docker and Podman can run containers inside (still unprivileged).",
            type: bool}
  disk: {description: "A disk limit: 10G (a sparse image; raised, never removed).", type: str}
  ttys: {description: LXC ttys with a login prompt., type: int}
  hostname: {description: The host name., type: str}
  root_password_file: {description: A file on the target with root's password., type: path}
  ssh_keys: {description: Public key files on the target for root., type: list, elements: path}
  mounts:
    description: "Host directories inside: HOST:DIR[:ro] strings or dicts (source, target,
      ro, idmap); exactly these."
    type: list
    elements: raw
  publish: {description: "Published ports, [ADDR:]HOST_PORT[:PORT][/udp]; exactly these.",
            type: list, elements: str}
  devices: {description: "Host devices inside (tun, fuse, kvm, gpu, usb:BUS-PORT, /dev/PATH);
            exactly these.", type: list, elements: str}
  files:
    description: Files kept inside (dicts with path, content or source, mode, owner).
    type: list
    elements: dict
  user_data:
    description: A '#cloud-config' file on the target, given to lxcprov new when the
      container is created (docs/cloud-config.md).
    type: path
  first_boot:
    description: Commands run once inside, in order (strings or dicts with run, timeout).
    type: list
    elements: raw
  groups: {description: Groups of the container (the lxcprov inventory's)., type: list,
           elements: str}
  lxcpath: {description: The lxcpath of the container., type: str}
  executable: {description: The lxcprov command on the target., type: str, default: lxcprov}
  replace:
    description: Make a new rootfs where template, release or ids differ.
    type: bool
    default: false
  prune: {description: Not used by this module (one container)., type: bool, default: false}
  jobs: {description: Not used by this module (one container)., type: int}
author:
  - lxcprov developers
"""

EXAMPLES = r"""
- name: A database container
  lxcprov.lxcprov.container:
    name: db
    template: debian
    release: bookworm
    memory: 2G
    address: auto
    first_boot: ["apt-get install -y postgresql"]
"""

RETURN = r"""
changed:
  description: Whether the container changed (in check mode, would change).
  type: bool
  returned: always
containers:
  description: The container's status and actions (lxcprov apply --json).
  type: list
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.lxcprov.lxcprov.plugins.module_utils.lxcprov_cli import (  # noqa: E402
    COMMON_OPTIONS,
    run_apply,
)

# The module's options that are keys of the container in the document.
FIELDS = {
    "template": {"type": "str"},
    "release": {"type": "str"},
    "template_args": {"type": "list", "elements": "str"},
    "image": {"type": "str"},
    "privileged": {"type": "bool"},
    "isolated": {"type": "bool"},
    "bridge": {"type": "str"},
    "address": {"type": "str"},
    "memory": {"type": "str"},
    "swap": {"type": "str"},
    "cpus": {"type": "str"},
    "cpu_weight": {"type": "int"},
    "autostart": {"type": "bool"},
    "nesting": {"type": "bool"},
    "disk": {"type": "str"},
    "ttys": {"type": "int"},
    "hostname": {"type": "str"},
    "root_password_file": {"type": "path"},
    "ssh_keys": {"type": "list", "elements": "path"},
    "mounts": {"type": "list", "elements": "raw"},
    "publish": {"type": "list", "elements": "str"},
    "devices": {"type": "list", "elements": "str"},
    "files": {"type": "list", "elements": "dict"},
    "user_data": {"type": "path"},
    "first_boot": {"type": "list", "elements": "raw"},
    "groups": {"type": "list", "elements": "str"},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {
                "type": "str",
                "default": "started",
                "choices": ["started", "stopped", "present", "absent"],
            },
            **FIELDS,
            **COMMON_OPTIONS,
        },
        supports_check_mode=True,
    )
    params = module.params
    keys = {k: params[k] for k in FIELDS if params.get(k) is not None}
    keys["state"] = params["state"]
    module.params["prune"] = False  # one container: never the others
    document = {"version": 1, "containers": {params["name"]: keys}}
    run_apply(module, document=document, src=None)


if __name__ == "__main__":
    main()
