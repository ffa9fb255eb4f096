"""Sizes as people write them (512M, 1.5G) and as LXC's cgroup keys hold them (bytes).

Apart from the settings table so that `ls` can show a memory limit without importing it.
"""

from __future__ import annotations

import re
from decimal import Decimal

from lxcprov.errors import InvalidArgumentError

UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
# Matched whole (fullmatch): `$` also accepts a trailing newline, which would end a
# config line early.
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
NONE = ("none", "max", "unlimited", "")


def parse_size(name: str, raw: str) -> int | None:
    """Bytes from 512M, 1.5G, 1GiB, 536870912; None for none/max (no limit)."""
    text = raw.strip()
    if text.lower() in NONE:
        return None
    m = _SIZE.fullmatch(text)
    if not m:
        raise InvalidArgumentError(
            f"{name}={raw}: not a size", hint=f"use a number with K, M, G or T, e.g. {name}=512M"
        )
    # Decimal, not float: a float of 400 digits is inf, and int(inf) raises OverflowError.
    return int(Decimal(m.group(1)) * UNITS[m.group(2).upper()])


def format_size(size: int | None) -> str:
    if size is None:
        return "none"
    for unit in ("T", "G", "M", "K"):
        if size >= UNITS[unit] and size % UNITS[unit] == 0:
            return f"{size // UNITS[unit]}{unit}"
    return str(size)
