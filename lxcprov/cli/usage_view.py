"""How `stats`, `top` and `ls` show what a container uses (pure: Stats in, cells out)."""

from __future__ import annotations

from collections.abc import Sequence

from lxcprov.engine.disklimit import human
from lxcprov.engine.usage import Stats
from lxcprov.system.usage import Reading

COLUMNS = ("name", "state", "cpu%", "cpu", "memory", "swap", "pids", "disk", "rx", "tx", "uptime")
# What `top` sorts by (a key, and the column it sorts), largest first but for the name.
SORTS = {"c": "cpu%", "m": "memory", "d": "disk", "n": "name", "p": "pids", "r": "rx"}


def duration(seconds: float | None) -> str:
    """3d4h, 2h5m, 7m12s, 40s: the two largest units."""
    if seconds is None:
        return ""
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{s}s" if minutes else f"{s}s"


def _size(value: int | None) -> str:
    return "" if value is None else human(value)


def memory_cell(used: int | None, limit: int | None) -> str:
    """12M, or 12M/512M with a limit."""
    if used is None:
        return ""
    return f"{human(used)}/{human(limit)}" if limit is not None else human(used)


def cpu_percent_cell(percent: float | None) -> str:
    return "" if percent is None else f"{percent:.1f}"


def cells(s: Stats) -> dict[str, str]:
    live = s.reading is not None
    r = s.reading or Reading(at=0.0)
    return {
        "name": s.name,
        "state": s.state,
        "cpu%": cpu_percent_cell(s.cpu_percent),
        "cpu": "" if s.cpu_seconds is None else f"{s.cpu_seconds:.1f}s",
        "memory": memory_cell(r.memory_used, r.memory_limit) if live else "",
        "swap": _size(r.swap_used) if live else "",
        "pids": "" if not live or r.pids is None else str(r.pids),
        "disk": memory_cell(s.disk_used, s.disk_limit),
        "rx": _size(r.rx_bytes) if live else "",
        "tx": _size(r.tx_bytes) if live else "",
        "uptime": duration(r.uptime) if live else "",
    }


def ordered(stats: Sequence[Stats], column: str) -> list[Stats]:
    """By name ascending; by any other column largest first, a container that does not
    count it (stopped) last, names breaking ties."""

    def key(s: Stats) -> tuple[int, float, str]:
        value = None if column == "name" else _number(s, column)
        return (0 if value is not None or column == "name" else 1, -(value or 0.0), s.name)

    return sorted(stats, key=key)


def _number(s: Stats, column: str) -> float | None:
    r = s.reading
    values: dict[str, float | int | None] = {
        "cpu%": s.cpu_percent,
        "memory": r.memory_used if r else None,
        "disk": s.disk_used,
        "pids": r.pids if r else None,
        "rx": r.rx_bytes if r else None,
    }
    value = values.get(column)
    return None if value is None else float(value)


def summary(s: Stats) -> str:
    """One line for `show`: cpu 3.2% (12.1s), memory 12M/512M, pids 7, disk 3M, ..."""
    c = cells(s)
    if s.reading is None:
        disk = f", disk {c['disk']}" if c["disk"] else ""
        return f"{s.state.lower()}: nothing to measure but its disk{disk}"
    parts = [
        f"cpu {c['cpu%'] or '-'}% ({c['cpu'] or '-'})",
        f"memory {c['memory'] or '-'}",
        f"swap {c['swap'] or '-'}",
        f"pids {c['pids'] or '-'}",
        f"disk {c['disk'] or '-'}",
        f"rx {c['rx'] or '-'} tx {c['tx'] or '-'}",
        f"up {c['uptime'] or '-'}",
    ]
    return ", ".join(parts)
