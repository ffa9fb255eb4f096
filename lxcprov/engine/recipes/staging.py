"""A plan-time view of a rootfs: the real files overlaid with what earlier steps planned.

Two steps may touch the same file (one adds gettys to /etc/inittab, another disables a
line in it); each must plan against what the previous one will have written.
"""

from __future__ import annotations

from lxcprov.engine.recipes.model import Change
from lxcprov.system.rootfs import FileInfo, Rootfs


class StagedRootfs:
    def __init__(self, rootfs: Rootfs) -> None:
        self.rootfs = rootfs
        self._staged: dict[str, Change] = {}

    def resolve(self, path: str, *, follow_final: bool = True) -> str:
        return self.rootfs.resolve(path, follow_final=follow_final)

    def stage(self, change: Change) -> None:
        self._staged[change.path] = change

    def staged(self, path: str) -> Change | None:
        return self._staged.get(path)

    def read_text(self, path: str) -> str | None:
        real = self.resolve(path)
        change = self._staged.get(real)
        if change is not None and change.kind == "file":
            return change.after
        return self.rootfs.read_text(real)

    def readlink(self, path: str) -> str | None:
        real = self.resolve(path, follow_final=False)
        change = self._staged.get(real)
        if change is not None and change.kind == "symlink":
            return change.after
        return self.rootfs.readlink(real)

    def listdir(self, path: str) -> list[str]:
        """The names in a directory as they will be: what is there, with what earlier steps
        planned to create in it added and what they planned to remove taken away."""
        real = self.resolve(path)
        names = set(self.rootfs.listdir(real))
        for staged, change in self._staged.items():
            parent, _, name = staged.rpartition("/")
            if (parent or "/") != real:
                continue
            if change.kind == "remove":
                names.discard(name)
            else:
                names.add(name)
        return sorted(names)

    def info(self, path: str, *, follow_final: bool = True) -> FileInfo | None:
        return self.rootfs.info(path, follow_final=follow_final)

    def exists(self, path: str) -> bool:
        real = self.resolve(path)
        return real in self._staged or self.rootfs.exists(real)
