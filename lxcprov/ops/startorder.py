"""How containers are started when there are many: how many boot at once, and in which
groups `start --all` brings them up.

lxc-autostart sorts the autostart containers by lxc.start.order (lower first, then by
name), starts them one after another and sleeps each one's lxc.start.delay after it
started. lxcprov keeps the order's meaning and drops the one-by-one: the containers of one
order are a group that boots together (nothing orders them among themselves: they are
equals), a group starts only when every container of the group before is running (or has
failed, which is said), and the longest lxc.start.delay of the group just started is
waited before the next group (a delay is "give the ones before me time to be ready";
after the last group nobody waits for it, so neither does lxcprov). Order 0 (the default)
for all: one group, all at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# How many containers boot at a time. A start is work for the host's CPUs (lxc-start
# sets up namespaces, cgroups and mounts; the container's init then runs its boot), so
# more than a few per core only makes every one of them late; while one waits on its
# disk or for its login prompt (start NAME...), another uses the CPU. Four per core, at
# least 4.
AT_ONCE = max(4, 4 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class Group(Generic[T]):
    """The containers of one lxc.start.order, in name order."""

    order: int
    members: list[T]


def groups(
    items: Iterable[T], order: Callable[[T], int], name: Callable[[T], str]
) -> list[Group[T]]:
    """items grouped by their order, lower orders first, each group in name order."""
    by_order: dict[int, list[T]] = {}
    for item in items:
        by_order.setdefault(order(item), []).append(item)
    return [Group(o, sorted(by_order[o], key=name)) for o in sorted(by_order)]


def delay_after(delays: Iterable[int]) -> int:
    """The wait after a group: the longest lxc.start.delay among those it started."""
    return max((d for d in delays if d > 0), default=0)
