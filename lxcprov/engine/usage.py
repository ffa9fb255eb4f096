"""What a container uses, as `stats`, `top`, `metrics`, `ls` and the Cockpit page show it.

Pure. A reading of the kernel's counters (system/usage.py: a `Reading`, and what each
number means) goes in; `Stats` is what a command shows: the reading, the CPU% since the
reading before, and the disk. A CPU% is of one core (two busy cores are 200%), as `top`
and `docker stats` count.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.system.usage import Reading


@dataclass(frozen=True)
class Stats:
    """A container's line in `stats`: its state, and for a running one what it uses."""

    name: str
    state: str  # RUNNING, STOPPED, FROZEN, ... as `ls` says it
    reading: Reading | None = None  # None: not running (or not readable now)
    cpu_percent: float | None = None  # None: one reading only (no interval)
    disk_used: int | None = None
    disk_limit: int | None = None

    @property
    def cpu_seconds(self) -> float | None:
        ns = self.reading.cpu_ns if self.reading else None
        return None if ns is None else ns / 1e9

    def as_dict(self) -> dict[str, object]:
        """The `stats --json` object: sizes in bytes, times in seconds, null for unknown."""
        r = self.reading or Reading(at=0.0)
        return {
            "name": self.name,
            "state": self.state,
            "cpu": {
                "seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 3),
                "percent": None if self.cpu_percent is None else round(self.cpu_percent, 1),
            },
            "memory": {"used": r.memory_used, "limit": r.memory_limit, "swap_used": r.swap_used},
            "pids": r.pids,
            "disk": {"used": self.disk_used, "limit": self.disk_limit},
            "network": {"rx_bytes": r.rx_bytes, "tx_bytes": r.tx_bytes},
            "uptime": None if r.uptime is None else round(r.uptime, 1),
        }


def cpu_percent(before: Reading | None, now: Reading) -> float | None:
    """CPU% of one core between two readings of the same run of a container; None when
    there is no earlier reading, or the counter went back (the container restarted)."""
    if before is None or before.cpu_ns is None or now.cpu_ns is None:
        return None
    elapsed = now.at - before.at
    used = now.cpu_ns - before.cpu_ns
    if elapsed <= 0 or used < 0:
        return None
    return used / 1e9 / elapsed * 100
