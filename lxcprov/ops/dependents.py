"""What depends on a container or a base, for `destroy`: refused while anything does,
and with --force removed too, each said.

A container's snapshots live in its directory and go with it. A base holds its clones
(their lower layer is its rootfs; copies of clones are clones of it too) and the
snapshots of containers that were clones when they were taken (lxcprov.system.snapstore).
A copy never depends on the container it was copied from.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from lxcprov.errors import ContainerBusyError, DependentsError
from lxcprov.ops import bases, recovery
from lxcprov.system import locks, lxc, snapstore

# How long a --force destroy of a base waits for each clone's lock: it holds the base's
# lock, and a command that holds a clone's may be waiting for the base (copy): one of the
# two must give up.
CLONE_WAIT = 5.0


@dataclass
class Dependents:
    snapshots: list[str] = field(default_factory=list)  # its own
    clones: list[str] = field(default_factory=list)  # containers cloned from it
    lying_on: list[tuple[str, str]] = field(default_factory=list)  # (container, snapshot)

    def describe(self) -> list[str]:
        out = []
        if self.snapshots:
            out.append(f"its snapshots {', '.join(self.snapshots)}")
        if self.clones:
            out.append(f"the containers cloned from it: {', '.join(self.clones)}")
        out += [f"{c}'s snapshot {s}, which lies on it" for c, s in self.lying_on]
        return out


def of(container: lxc.Container) -> Dependents:
    directory = container.lxcpath / container.name
    found = Dependents(snapshots=snapstore.names(directory))
    found.clones = bases.clones_of(container)
    found.lying_on = snapstore.lying_on(container.lxcpath, container.name)
    return found


def refuse_or_remove(container: lxc.Container, *, force: bool) -> list[str]:
    """Without force: refuse when anything depends on container (saying what). With it:
    remove the clones and the snapshots lying on it; returns what was removed."""
    found = of(container)
    what = found.describe()
    if not what:
        return []
    if not force:
        one_by_one = f" (or one by one: lxcprov snapshot rm {container.name} SNAP)"
        raise DependentsError(
            f"{container.name} is needed by " + "; ".join(what),
            hint=f"lxcprov destroy --force {container.name} removes them too"
            + (one_by_one if found.snapshots else ""),
        )
    done = []
    for clone in found.clones:
        c = lxc.Container(clone, container.lxcpath)
        try:
            with locks.container(c.lxcpath, clone, f"destroy (its base {container.name} goes)",
                                 wait=CLONE_WAIT):  # fmt: skip
                recovery.remove(c, stop=True)
        except ContainerBusyError:
            raise DependentsError(
                f"{clone} (cloned from {container.name}) is busy: nothing more was removed",
                hint=f"run lxcprov destroy --force {container.name} again once it is done",
            ) from None
        done.append(f"removed {clone}, cloned from it")
    # Snapshots of the clones just removed went with them: only the others are left.
    for name, snap in snapstore.lying_on(container.lxcpath, container.name):
        with locks.container(container.lxcpath, name, "snapshot rm (its base goes)"):
            where = snapstore.path(container.lxcpath / name, snap)
            retired = snapstore.retired(container.lxcpath / name, snap)
            where.rename(retired)
            shutil.rmtree(retired)
        done.append(f"removed {name}'s snapshot {snap}, which lay on it")
    if found.snapshots:
        done.append(f"removing its snapshots {', '.join(found.snapshots)} with it")
    return done
