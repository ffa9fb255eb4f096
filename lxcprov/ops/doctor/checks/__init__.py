"""Pure judgements: a host view and a container view in, findings out.

Nothing here reads the machine; lxcprov.ops.doctor.views observes. Each finding names
the exact command that fixes it (`prog` is how the user calls lxcprov, with -P when the
lxcpath is not the default one). One module per subject: host, bridge, container (with
its config, ids and published ports), and the state that stops an examination.
"""

from __future__ import annotations

from lxcprov.ops.doctor.checks.bridge import bridge_findings
from lxcprov.ops.doctor.checks.container import check_container
from lxcprov.ops.doctor.checks.host import check_host, host_essentials, stale_addresses
from lxcprov.ops.doctor.checks.state import busy, incomplete, unobservable

__all__ = [
    "bridge_findings",
    "busy",
    "check_container",
    "check_host",
    "host_essentials",
    "incomplete",
    "stale_addresses",
    "unobservable",
]
