"""A container opened for planning and applying recipes: its files, config and facts.

Every command that reads or changes a container's rootfs (new, fix, set, bases, doctor)
opens it here, once: a stopped clone's overlay is mounted once per command, however many
steps run inside.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from lxcprov.engine import recipes
from lxcprov.engine.facts import Facts, gather
from lxcprov.engine.recipes import Plan, Recipe, Secrets
from lxcprov.system import containerfs, lxc, netintent, userns
from lxcprov.system.rootfs import Rootfs


@dataclass
class Workspace:
    container: lxc.Container
    rootfs: Rootfs

    def facts(self) -> Facts:
        """Facts as of now: read again, since the command may have changed the config."""
        c = self.container
        config = c.config()
        net = netintent.load(c.lxcpath / c.name, config)
        return gather(c.name, self.rootfs, config, net)

    def plan(self, chosen: list[Recipe], secrets: Secrets | None = None) -> tuple[Facts, Plan]:
        facts = self.facts()
        return facts, recipes.plan(self.rootfs, facts, chosen, secrets)

    def run(
        self, chosen: list[Recipe], secrets: Secrets | None = None, *, dry_run: bool = False
    ) -> tuple[Facts, Plan, int]:
        """Plan chosen recipes and, unless dry_run, apply them; returns the changes made."""
        facts, plan = self.plan(chosen, secrets)
        if dry_run or not plan.changes:
            return facts, plan, 0
        if self.rootfs.userns_pid is not None:
            # A running unprivileged clone: the writes are made as its root (see userns).
            userns.run_as_root_of(self.rootfs.userns_pid, lambda: recipes.apply(self.rootfs, plan))
            return facts, plan, len(plan.changes)
        return facts, plan, len(recipes.apply(self.rootfs, plan))

    def write_file(self, path: str, data: bytes, mode: int, uid: int, gid: int) -> None:
        """Write a whole file (atomically, parents made) owned by the container's uid and
        gid, through its user namespace if need be (a running unprivileged clone)."""

        def write() -> None:
            self.rootfs.write_bytes(path, data, mode=mode, uid=uid, gid=gid, make_parents=True)

        if self.rootfs.userns_pid is not None:
            userns.run_as_root_of(self.rootfs.userns_pid, write)
        else:
            write()

    def mkdir(self, path: str) -> None:
        """Make a directory inside (its root's), through its user namespace if need be."""
        if self.rootfs.userns_pid is not None:
            userns.run_as_root_of(self.rootfs.userns_pid, lambda: self.rootfs.mkdir(path))
        else:
            self.rootfs.mkdir(path)


@contextlib.contextmanager
def opened(container: lxc.Container) -> Iterator[Workspace]:
    with containerfs.opened(container) as rootfs:
        yield Workspace(container, rootfs)
