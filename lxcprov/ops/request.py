"""What `lxcprov new` is asked to make: one request, as data.

The CLI builds it from `new`'s options (lxcprov.cli.newrequest, the one place that knows
them); many containers at once hand each child its request (lxcprov.ops.batch: the object
itself in a fork, its JSON on stdin in a fresh interpreter). Nothing here knows a flag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lxcprov.ops.access import Access
from lxcprov.ops.defaults import DEFAULT_BOOT_TIMEOUT


@dataclass
class NewRequest:
    name: str
    template: str
    lxcpath: Path
    release: str | None = None
    template_args: list[str] = field(default_factory=list)
    network: str = "bridge"  # or "none"
    bridge: str | None = None
    ip: str | None = None  # ADDR[/PREFIX] or "auto"; None: DHCP
    access: Access = field(default_factory=Access)
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    start: bool = True
    dry_run: bool = False
    keep_on_failure: bool = False
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    use_base: bool = True
    privileged: bool = False  # uid 0 inside is uid 0 on the host (not the default)
    isolated: bool = False  # unprivileged with a block of ids of its own
    force: bool = False  # try a template that `templates` says cannot work here
    # lxcprov set's settings (memory=512M, ttys=2, ...) applied before the first start.
    settings: dict[str, str] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)  # HOST_DIR:CONTAINER_DIR[:ro]
    publish: list[str] = field(default_factory=list)  # [ADDR:]HOST_PORT[:CONTAINER_PORT][/udp]
    # The veth's MAC; None: a random one (`apply --replace` keeps a container's MAC, so
    # its DHCP lease and reservation stay; `new` has no option for it).
    mac: str | None = None

    def to_json(self) -> str:
        """The request as JSON (paths as strings; the files are read by whoever runs it)."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["lxcpath"] = str(self.lxcpath)
        data["access"] = {
            "password_file": None
            if self.access.password_file is None
            else str(self.access.password_file),
            "ssh_key_files": [str(k) for k in self.access.ssh_key_files],
        }
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NewRequest:
        """The request to_json wrote (a batch child's stdin: lxcprov's own data)."""
        data = json.loads(text)
        access = data.pop("access")
        password = access["password_file"]
        return cls(
            **{**data, "lxcpath": Path(data["lxcpath"])},
            access=Access(
                None if password is None else Path(password),
                [Path(k) for k in access["ssh_key_files"]],
            ),
        )
