#!/usr/bin/python
# Converge the LXC containers of a host with `lxcprov apply` (see docs/apply.md).

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apply
short_description: Make a host's LXC containers what an lxcprov document says
description:
  - Sends the document to C(lxcprov apply - --json) on the target host, which creates
    missing containers (in parallel), changes settings in place, keeps files and
    published ports as listed and runs first-boot commands once.
  - Check mode runs C(lxcprov apply --check) (the plan, nothing changed); diff mode adds
    C(--diff) and returns each container's settings before and after, and file diffs.
  - Needs lxcprov installed on the target (the module never imports it).
version_added: 0.1.0
options:
  document:
    description:
      - The document (the same keys as a TOML document; see docs/apply.md), as YAML in
        the task. Relative paths in it are relative to the module's working directory
        on the target; give absolute ones.
    type: dict
  src:
    description:
      - A document file on the target host instead (TOML, or JSON when it ends in .json).
    type: path
  lxcpath:
    description: The lxcpath of the containers (default lxcprov's, LXC's own).
    type: str
  executable:
    description: The lxcprov command on the target.
    type: str
    default: lxcprov
  prune:
    description: Remove containers lxcprov made that the document does not name.
    type: bool
    default: false
  replace:
    description: Make a new rootfs where the template, release or ids differ (MAC and
      address are kept).
    type: bool
    default: false
  jobs:
    description: Containers converged at a time (lxcprov's default is 8).
    type: int
author:
  - lxcprov developers
"""

EXAMPLES = r"""
- name: The web tier
  lxcprov.lxcprov.apply:
    document:
      defaults:
        template: debian
        bridge: lxcbr0
        ssh_keys: [/root/.ssh/admin.pub]
      containers:
        web:
          count: 3
          memory: 512M
          address: auto
          groups: [web]
          first_boot: ["apt-get update", "apt-get install -y nginx"]
"""

RETURN = r"""
changed:
  description: Whether any container changed (in check mode, would change).
  type: bool
  returned: always
containers:
  description: Per container, its status (ok, changed, would change, blocked, failed)
    and its actions, each with its reason (lxcprov apply --json).
  type: list
  returned: always
changes:
  description: How many changes the plan had.
  type: int
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.lxcprov.lxcprov.plugins.module_utils.lxcprov_cli import (  # noqa: E402
    COMMON_OPTIONS,
    run_apply,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "document": {"type": "dict"},
            "src": {"type": "path"},
            **COMMON_OPTIONS,
        },
        mutually_exclusive=[("document", "src")],
        required_one_of=[("document", "src")],
        supports_check_mode=True,
    )
    run_apply(module, document=module.params["document"], src=module.params["src"])


if __name__ == "__main__":
    main()
