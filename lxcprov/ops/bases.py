"""Prepared bases: one stopped, distro-fixed container per template build, cloned cheaply.

The first `new` for a (template, release, architecture, template arguments, base recipes)
builds a base container `lxcprov-base-...` in the same lxcpath and applies the
distro-wide recipes (scope "base": gettys, tty nodes, securetty). Later `new`s clone it as
an overlayfs snapshot (LXC's own snapshot clone; a plain copy where overlayfs does not
work) and apply only the per-container recipes. What a base was built from is recorded in
`<base>/lxcprov-base.toml`; a change of any of it gives a different base.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import platform
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxcprov.engine import idmap, recipes
from lxcprov.engine.distros import Identity
from lxcprov.engine.recipes import Recipe
from lxcprov.errors import BaseInUseError, LxcprovError, NoSuchContainerError
from lxcprov.ops import idmaps, recovery, workspace
from lxcprov.ops.progress import Progress
from lxcprov.system import containerfs, journal, locks, lxc, lxcconf, run, snapstore, statefile
from lxcprov.system.rootfs import Rootfs

PREFIX = lxc.BASE_PREFIX
META = "lxcprov-base.toml"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "i686": "i386"}


@dataclass(frozen=True)
class BaseSpec:
    template: str
    release: str
    arch: str
    args: tuple[str, ...]
    recipes_digest: str
    # "privileged", or the host ids its owners are shifted to (idmap.IdMap.label())
    ids: str = "privileged"

    @property
    def key(self) -> str:
        parts: list[object] = [self.template, self.release, self.arch, self.args,
                               self.recipes_digest]  # fmt: skip
        if self.ids != "privileged":  # privileged bases keep the keys they always had
            parts.append(self.ids)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:10]

    @property
    def name(self) -> str:
        label = "".join(ch if ch.isalnum() else "-" for ch in f"{self.template}-{self.release}")
        return f"{PREFIX}{label[:30].strip('-')}-{self.key}"


def base_recipes(all_recipes: list[Recipe]) -> list[Recipe]:
    return [r for r in all_recipes if r.scope == "base"]


def digest(chosen: list[Recipe]) -> str:
    """A digest of the recipes' files: editing one rebuilds the bases it went into."""
    h = hashlib.sha256()
    for r in sorted(chosen, key=lambda r: r.name):
        h.update(r.name.encode() + b"\0" + r.source.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def spec_for(
    template: str,
    release: str,
    args: list[str],
    chosen: list[Recipe],
    ids: idmap.IdMap | None = None,
) -> BaseSpec:
    """What a base is made from; an unprivileged base is a different base (its owners are
    shifted into the map once, so its clones are plain overlays)."""
    arch = _ARCH.get(platform.machine(), platform.machine())
    label = ids.label() if ids is not None else "privileged"
    return BaseSpec(template, release or "default", arch, tuple(args), digest(chosen), label)


def is_base(name: str) -> bool:
    return name.startswith(PREFIX)


def _meta_path(container: lxc.Container) -> Path:
    return container.lxcpath / container.name / META


def _write_meta(container: lxc.Container, spec: BaseSpec, shift_seconds: float = 0.0) -> None:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [
        "# Written by lxcprov: what this base was built from.",
        f"template = {json.dumps(spec.template)}",
        f"release = {json.dumps(spec.release)}",
        f"arch = {json.dumps(spec.arch)}",
        f"args = {json.dumps(list(spec.args))}",
        f"recipes_digest = {json.dumps(spec.recipes_digest)}",
        f"ids = {json.dumps(spec.ids)}",
        f"key = {json.dumps(spec.key)}",
        f"built = {json.dumps(now)}",
        f"shift_seconds = {shift_seconds:.3f}",  # what making it unprivileged cost, once
    ]
    statefile.write_text(_meta_path(container), "\n".join(lines) + "\n")


@contextlib.contextmanager
def prepared(
    lxcpath: Path,
    spec: BaseSpec,
    chosen: list[Recipe],
    progress: Progress,
    ids: idmap.IdMap | None = None,
) -> Iterator[tuple[lxc.Container, bool]]:
    """The base for spec, built if needed, held (its lock) while the caller clones it.

    One builder per base: concurrent `new`s wait, then clone what the first built; a
    `bases rm` waits for the clone to be made. A build that was killed (its journal is
    left) is undone first: its orphaned template run stopped, the half-made base removed.
    """
    base = lxc.Container(spec.name, lxcpath)
    with locks.container(lxcpath, spec.name, "build or clone a base", on_wait=progress.phase):
        left = recovery.leftover(lxcpath, spec.name)
        if left is not None:
            progress.phase(f"removing the half-built {spec.name} ({left.describe()})")
            recovery.undo(base, left)
        if base.exists() and _meta_path(base).is_file():
            yield base, False
            return
        if base.exists():  # half-built by an older lxcprov without a journal
            recovery.remove(base, stop=True)
        _build(base, spec, chosen, progress, ids)
        yield base, True


def _build(
    base: lxc.Container,
    spec: BaseSpec,
    chosen: list[Recipe],
    progress: Progress,
    ids: idmap.IdMap | None,
) -> None:
    jr = journal.Journal.begin(base.lxcpath, base.name, "build a base", creating=True,
                               phase="template")  # fmt: skip
    try:
        progress.phase(f"building base {spec.name} from template {spec.template} (once)")
        lxc.create(
            base,
            spec.template,
            "lxc.net.0.type = empty\n",
            list(spec.args),
            progress.line,
            on_start=lambda pid: jr.update(pgid=pid, pgid_start=journal.process_start(pid) or 0),
            on_cache=lambda found: jr.update(template=spec.template, partials=found),
        )
        jr.phase("base-recipes")
        with workspace.opened(base) as ws:
            ws.run(chosen)
        shifted = 0.0
        if ids is not None:
            jr.phase("shift")
            progress.phase(f"shifting {spec.name} into the ids of unprivileged containers "
                           f"({ids.host_uid}..)")  # fmt: skip
            t0 = time.monotonic()
            idmaps.shift_in_place(base, idmaps.move(None, ids), ids)
            shifted = time.monotonic() - t0
        _write_meta(base, spec, shifted)
    except BaseException:
        with contextlib.suppress(LxcprovError):
            recovery.undo(base, jr.entry)
        raise
    jr.end()


def ensure(
    lxcpath: Path,
    spec: BaseSpec,
    chosen: list[Recipe],
    progress: Progress,
    ids: idmap.IdMap | None = None,
) -> tuple[lxc.Container, bool]:
    """The base for spec, built if needed; returns it and whether it was built now."""
    with prepared(lxcpath, spec, chosen, progress, ids) as found:
        return found


def clone(
    base: lxc.Container, name: str, network_lines: dict[str, str]
) -> tuple[lxc.Container, str]:
    """A snapshot clone of base (overlayfs; a plain copy if that fails) with its own network.

    A clone of an unprivileged base keeps its map, and mounts its overlay with `userxattr`
    (liblxc mounts it inside the container's user namespace, where trusted.* xattrs cannot
    be set: without it, removing a directory of the base fails with EIO).
    """
    pylxc = lxc.module()
    handle = base.handle
    clone_handle = handle.clone(
        name, config_path=str(base.lxcpath), flags=pylxc.LXC_CLONE_SNAPSHOT, bdevtype="overlayfs"
    )
    how = "overlayfs snapshot"
    if not clone_handle:
        clone_handle = handle.clone(name, config_path=str(base.lxcpath), flags=0, bdevtype="dir")
        how = "copy"
    if not clone_handle:
        raise LxcprovError(f"could not clone {base.name} to {name}", hint="see lxc-copy -n BASE")
    clone_handle.clear_config_item("lxc.net")
    for key, value in network_lines.items():
        clone_handle.set_config_item(key, value)
    clone_handle.set_config_item("lxc.uts.name", name)
    if base.idmap() and how == "overlayfs snapshot":
        clone_handle.set_config_item("lxc.rootfs.options", "userxattr")
    clone_handle.save_config()
    return lxc.Container(name, base.lxcpath), how


def copy(base: lxc.Container, name: str, network_lines: dict[str, str]) -> lxc.Container:
    """A full copy of base as a dir-backed container (for one that needs its own ids).

    `cp -a` keeps owners, modes, hard links, xattrs (file capabilities) and ACLs; LXC's own
    copy (rsync -aHXS) drops ACLs.
    """
    target = lxc.Container(name, base.lxcpath)
    directory = base.lxcpath / name
    directory.mkdir(mode=0o770)
    rootfs = directory / "rootfs"
    run.run(["cp", "-a", "--reflink=auto", str(containerfs.rootfs_dir(base)), str(rootfs)])
    lines = lxcconf.parse(lxcconf.read(base.config_path))
    lines = [ln for ln in lines if not ln.key.startswith("lxc.net.")]
    changes: dict[str, str | None] = {"lxc.rootfs.path": f"dir:{rootfs}", "lxc.uts.name": name}
    changes.update(network_lines)
    text = lxcconf.update(lxcconf.render(lines), changes)
    lxcconf.write(target.config_path, text)
    return target


def personalize(
    rootfs: Rootfs, name: str, renew: tuple[Identity, ...] = ("machine-id", "ssh-host-keys")
) -> list[str]:
    """Give a fresh clone what it must not share with its base and its siblings.

    The template gives each container its own SSH host keys; a snapshot clone would share
    the base's (any clone could then impersonate any other). And every container made
    from the template cache shares one machine-id (journald, D-Bus and DHCP DUIDs use it);
    an empty /etc/machine-id makes systemd create a new one at first boot.
    """
    done: list[str] = []
    machine_id = rootfs.read_text("/etc/machine-id") if "machine-id" in renew else None
    if machine_id is not None and machine_id.strip():
        rootfs.write_text("/etc/machine-id", "")
        done.append("machine-id")
    keys = [
        k for k in rootfs.listdir("/etc/ssh") if k.startswith("ssh_host_") and k.endswith("_key")
    ]
    if keys and "ssh-host-keys" in renew:
        _renew_host_keys(rootfs, name, keys)
        done.append("ssh host keys")
    return done


# Host key types a clone gets anew; ssh-keygen makes each in milliseconds. An RSA key
# takes 0.7 s here (most of a cached new), so the base's RSA key is removed, not shared:
# sshd serves the others, which every current client prefers anyway.
_FAST_KEY_TYPES = {"ed25519": "ed25519", "ecdsa": "ecdsa"}


def _renew_host_keys(rootfs: Rootfs, name: str, keys: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="lxcprov-hostkeys-") as tmp:
        for key in keys:
            kind = key.removeprefix("ssh_host_").removesuffix("_key")
            if kind not in _FAST_KEY_TYPES:
                rootfs.remove(f"/etc/ssh/{key}")
                rootfs.remove(f"/etc/ssh/{key}.pub")
                continue
            target = Path(tmp, key)
            run.run(
                ["ssh-keygen", "-q", "-t", _FAST_KEY_TYPES[kind], "-N", "", "-C", f"root@{name}",
                 "-f", str(target)]
            )  # fmt: skip
            rootfs.write_bytes(f"/etc/ssh/{key}", target.read_bytes(), mode=0o600, uid=0, gid=0)
            pub = Path(f"{target}.pub").read_bytes()
            rootfs.write_bytes(f"/etc/ssh/{key}.pub", pub, mode=0o644, uid=0, gid=0)


@dataclass(frozen=True)
class BaseInfo:
    name: str
    meta: dict[str, object]
    clones: list[str]


def _clones_of(base: lxc.Container) -> list[str]:
    """The containers cloned from base that still exist (liblxc's lxc_snapshots may keep a
    clone whose removal was interrupted: it does not hold the base any more)."""
    snapshots = base.lxcpath / base.name / "lxc_snapshots"
    try:
        words = snapshots.read_text().split("\n")
    except OSError:
        return []
    # lxc_snapshots holds pairs of lines: lxcpath, then name.
    pairs = [(Path(words[i]), words[i + 1]) for i in range(0, len(words) - 1, 2)]
    return sorted(
        name
        for path, name in pairs
        if (path / name / "config").exists() or journal.path_for(path, name).exists()
    )


def clones_of(base: lxc.Container) -> list[str]:
    return _clones_of(base)


def users_of(base: lxc.Container) -> list[str]:
    """What keeps base: its clones, and the snapshots that lie on it (a clone converted to
    a directory keeps its older snapshots)."""
    return [*_clones_of(base), *snapstore.users_of_base(base.lxcpath, base.name)]


def list_bases(lxcpath: Path) -> list[BaseInfo]:
    out = []
    for c in lxc.list_containers(lxcpath, include_bases=True):
        if not is_base(c.name):
            continue
        try:
            meta: dict[str, object] = tomllib.loads(_meta_path(c).read_text())
        except (OSError, tomllib.TOMLDecodeError):
            meta = {"incomplete": True}
            if locks.busy(lxcpath, c.name):  # its build is running now, not stopped
                meta["building"] = True
        out.append(BaseInfo(c.name, meta, _clones_of(c)))
    return out


def current_digest() -> str:
    """The digest of today's base recipes (a base built from others is outdated)."""
    return digest(base_recipes(recipes.load_all()))


@dataclass(frozen=True)
class Refreshed:
    rebuilt: list[str]  # bases built anew
    removed: list[str]  # outdated bases nothing was cloned from


def refresh(lxcpath: Path, progress: Progress) -> Refreshed:
    """Rebuild outdated bases with the current recipes; remove the old ones no one uses."""
    lxc.require_root()
    chosen = base_recipes(recipes.load_all())
    current = digest(chosen)
    done = Refreshed([], [])
    for b in list_bases(lxcpath):
        if b.meta.get("recipes_digest") == current or "image_digest" in b.meta:
            continue  # an image's base is built again by its next `new --image`
        template, release = b.meta.get("template"), b.meta.get("release")
        args = b.meta.get("args")
        if b.meta.get("building"):
            progress.phase(f"{b.name} is being built now: left to its build")
            continue
        if not isinstance(template, str) or not isinstance(release, str):
            progress.phase(f"{b.name} is incomplete (no template recorded): removing it")
        else:
            argv = [str(a) for a in args] if isinstance(args, list) else []
            label = b.meta.get("ids", "privileged")
            try:
                ids = idmap.parse_label(str(label))
            except ValueError:
                ids = None
            spec = spec_for(template, release, argv, chosen, ids)
            base, _ = ensure(lxcpath, spec, chosen, progress, ids)
            done.rebuilt.append(base.name)
        if not users_of(lxc.Container(b.name, lxcpath)):
            remove(lxcpath, b.name)
            done.removed.append(b.name)
    return done


def remove_many(lxcpath: Path, names: list[str], *, unused: bool = False) -> list[str]:
    """Remove the named bases and, with unused, every base without clones; returns them."""
    lxc.require_root()
    targets = list(names)
    if unused:
        for b in list_bases(lxcpath):
            if not users_of(lxc.Container(b.name, lxcpath)) and b.name not in targets:
                targets.append(b.name)
    for target in targets:
        remove(lxcpath, target)
    return targets


def remove(lxcpath: Path, name: str) -> None:
    lxc.require_root()
    base = lxc.Container(name, lxcpath)
    with locks.container(lxcpath, name, "remove a base"):
        if not is_base(name) or not recovery.known(base):
            raise NoSuchContainerError(f"no base {name!r} in {lxcpath}", hint="lxcprov bases")
        clones = users_of(base)
        if clones:
            raise BaseInUseError(f"base {name} is used by {', '.join(clones)}")
        recovery.remove(base, stop=True)
