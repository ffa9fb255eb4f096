"""What `lxcprov metrics` prints: Prometheus' text exposition format, version 0.0.4.

Pure: the `Stats` of one sample go in (engine/usage.py), the text comes out. Every series
has a `name` label; a number this host does not know (a stopped container's CPU, a memory
without a limit) is left out, never written as 0, since a 0 would read as a measurement.
A family is always written with its HELP and TYPE lines, even without a sample, so the
exposition of no containers is still a valid one (and says what it would hold).

Counters (`_total`) are what the kernel counts since the container started; Prometheus
computes rates from them and sees a restart as a counter reset. The start is written as a
Unix time (`..._start_time_seconds`, as `process_start_time_seconds` and
`node_boot_time_seconds` are) rather than an uptime: it stays the same value scrape after
scrape (cheap to store), a restart shows as a change, and `time() - ...` is the uptime.

The state is the label of a series that is always 1 (`lxcprov_container_state{state=
"RUNNING"}`), and `lxcprov_container_running` is 1 or 0: the one series an alert needs.
No timestamps: node_exporter's textfile collector refuses them, and a scrape is now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lxcprov.engine.usage import Stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "lxcprov_container_"

Number = int | float


@dataclass(frozen=True)
class Family:
    """One metric: its name, Prometheus type, HELP text and how a container's value is
    found (None: unknown, no sample)."""

    name: str
    kind: str  # "counter" or "gauge"
    help: str
    value: Callable[[Stats, float], Number | None]  # (stats, clock offset)


def _start_time(s: Stats, offset: float) -> Number | None:
    """The Unix time the container's init started: the reading's own time (monotonic, made
    wall-clock by offset) less its uptime. To the second: the uptime is the kernel's
    /proc/uptime less the init's start in clock ticks, so the same start computed at two
    scrapes differs by some milliseconds; a whole second keeps it one value."""
    r = s.reading
    if r is None or r.uptime is None:
        return None
    return round(r.at + offset - r.uptime)


def _running(s: Stats, _offset: float) -> Number:
    return 1 if s.state == "RUNNING" else 0


def _cpu(s: Stats, _offset: float) -> Number | None:
    return s.cpu_seconds


def _reading(attr: str) -> Callable[[Stats, float], Number | None]:
    def value(s: Stats, _offset: float) -> Number | None:
        found: Number | None = getattr(s.reading, attr) if s.reading else None
        return found

    return value


def _disk_used(s: Stats, _offset: float) -> Number | None:
    return s.disk_used


def _disk_limit(s: Stats, _offset: float) -> Number | None:
    return s.disk_limit


STATE = PREFIX + "state"
_STATE_HELP = (
    "The container's state as a label, on a series that is always 1: LXC's (RUNNING, "
    "STOPPED, FROZEN, ...) or lxcprov's (CREATING, CHANGING, DESTROYING, INCOMPLETE, "
    "BROKEN)."
)

FAMILIES = (
    Family(PREFIX + "running", "gauge", "1 when the container is running, else 0.", _running),
    Family(
        PREFIX + "start_time_seconds",
        "gauge",
        "When the container's init started, in seconds since the Unix epoch.",
        _start_time,
    ),
    Family(
        PREFIX + "cpu_seconds_total",
        "counter",
        "CPU time the container's cgroup used since it started, in seconds.",
        _cpu,
    ),
    Family(
        PREFIX + "memory_bytes",
        "gauge",
        "Memory the container uses, in bytes: its working set (usage less the page cache "
        "the kernel can drop; tmpfs files count).",
        _reading("memory_used"),
    ),
    Family(
        PREFIX + "memory_limit_bytes",
        "gauge",
        "The container's memory limit, in bytes (no series: no limit).",
        _reading("memory_limit"),
    ),
    Family(
        PREFIX + "swap_bytes",
        "gauge",
        "Swap the container uses, in bytes.",
        _reading("swap_used"),
    ),
    Family(
        PREFIX + "pids",
        "gauge",
        "Processes and threads in the container.",
        _reading("pids"),
    ),
    Family(
        PREFIX + "disk_bytes",
        "gauge",
        "Bytes on disk of the container's own files (its rootfs, or a clone's upper layer).",
        _disk_used,
    ),
    Family(
        PREFIX + "disk_limit_bytes",
        "gauge",
        "The container's disk limit, in bytes (no series: no limit).",
        _disk_limit,
    ),
    Family(
        PREFIX + "network_receive_bytes_total",
        "counter",
        "Bytes the container received on its interfaces (loopback aside) since it started.",
        _reading("rx_bytes"),
    ),
    Family(
        PREFIX + "network_transmit_bytes_total",
        "counter",
        "Bytes the container sent on its interfaces (loopback aside) since it started.",
        _reading("tx_bytes"),
    ),
)

SCRAPE_DURATION = "lxcprov_scrape_duration_seconds"


def label_value(text: str) -> str:
    """A label value as the format writes it between double quotes: backslash, double
    quote and line feed escaped (`\\\\`, `\\"`, `\\n`), everything else as it is."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help_text(text: str) -> str:
    """A HELP docstring: backslash and line feed escaped (a double quote is plain there)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: Number) -> str:
    """Integers as integers; floats as Python's shortest repr (what Go's ParseFloat reads)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _header(name: str, kind: str, text: str) -> list[str]:
    return [f"# HELP {name} {_help_text(text)}", f"# TYPE {name} {kind}"]


def exposition(
    stats: Iterable[Stats], *, clock_offset: float, duration: float | None = None
) -> str:
    """The text of one scrape of these containers (each name once: a second Stats of a
    name already written is left out, since Prometheus refuses a scrape with a series
    twice). clock_offset is wall-clock time less time.monotonic() (a Reading's `at` is
    monotonic); duration, when given, is how long the sample took."""
    seen: set[str] = set()
    unique: list[Stats] = []
    for s in stats:
        if s.name not in seen:
            seen.add(s.name)
            unique.append(s)
    lines = _header(STATE, "gauge", _STATE_HELP)
    for s in unique:
        lines.append(f'{STATE}{{name="{label_value(s.name)}",state="{label_value(s.state)}"}} 1')
    for family in FAMILIES:
        lines += _header(family.name, family.kind, family.help)
        for s in unique:
            value = family.value(s, clock_offset)
            if value is not None:
                lines.append(f'{family.name}{{name="{label_value(s.name)}"}} {_number(value)}')
    if duration is not None:
        lines += _header(SCRAPE_DURATION, "gauge", "How long reading them took, in seconds.")
        lines.append(f"{SCRAPE_DURATION} {_number(round(duration, 6))}")
    return "\n".join(lines) + "\n"
