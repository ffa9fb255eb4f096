"""What the resource settings are, in one wording.

`lxcprov set`'s table (lxcprov.engine.settings_table), `new`'s options (--memory, ...;
lxcprov.cli.newrequest) and the keys of apply documents (lxcprov.engine.apply.fields, and
from there docs/apply.schema.json) all show these words. Pure data with no imports: the
CLI reads it at every start, to declare `new`'s options.
"""

from __future__ import annotations

# Setting -> (what it is, what its value looks like: new's metavar).
SUMMARIES: dict[str, tuple[str, str]] = {
    "memory": ("RAM limit (K, M, G, T; none)", "SIZE"),
    "swap": ("swap on top of memory (needs memory= on cgroup v1)", "SIZE"),
    "cpus": ("CPU count (quota, e.g. 1.5) or CPUs to pin to (0-1, 0,2)", "N|CPUSET"),
    "cpu-weight": ("CPU share under contention (1-10000, default 100)", "N"),
    "disk": ("disk limit: a sparse ext4 image of this size (M, G, T), raised live", "SIZE"),
    "autostart": ("started at boot (lxcprov.service) and by `lxcprov start --all`", "yes|no"),
    "nesting": ("Docker and Podman can run containers inside (still unprivileged)", "yes|no"),
}


def summary(setting: str) -> str:
    return SUMMARIES[setting][0]


def option_help(setting: str) -> str:
    """The summary as an option's help: a sentence."""
    text = summary(setting)
    return f"{text[0].upper()}{text[1:]}."
