"""What a container is now, gathered for the planner (lxcprov.engine.apply.plan).

Read-only. The config and lxcprov's own records are read strictly (a file lxcprov cannot
read makes the container BROKEN in the plan, never guessed around); the container's own
files (those a document keeps, and /etc/passwd and /etc/group for owner names) are read
through the rootfs jail: regular files only, capped, ids turned back into the
container's own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
from pathlib import Path

from lxcprov.engine import devices, distros, idmap, recipes
from lxcprov.engine.apply.document import MAX_FILE_BYTES, ContainerSpec
from lxcprov.engine.apply.files import FileNow
from lxcprov.engine.apply.plan import HostView, Observed, ObservedState
from lxcprov.engine.network import owner_of
from lxcprov.engine.recipes import Secrets
from lxcprov.errors import LxcprovError
from lxcprov.ops import devices as devices_op
from lxcprov.ops import idmaps, workspace
from lxcprov.ops import mounts as mounts_op
from lxcprov.ops import network as netops
from lxcprov.ops import settings as settings_op
from lxcprov.system import (
    applystate,
    containerfs,
    diskimage,
    hostnet,
    journal,
    lxc,
    lxcconf,
    origin,
    statefile,
    subids,
)
from lxcprov.system.cgroups import CgroupHost
from lxcprov.system.rootfs import Rootfs

# Keys a setting may compare that a config can get from an include rather than itself.
_EFFECTIVE = ("lxc.start.auto", "lxc.uts.name", "lxc.tty.max")
_TEMPLATE_COMMENT = "# Template used to create this container:"
_PARAMS_COMMENT = "# Parameters passed to the template:"


def host(cgroup: CgroupHost) -> HostView:
    """Every managed bridge's address book and published ports."""
    addresses = {}
    forwards = []
    for bridge in sorted(hostnet.settings.load_config().bridges):
        addresses[bridge] = {ip: who for who, ip in hostnet.address_book(bridge).items()}
        forwards += hostnet.list_forwards(bridge).get(bridge, [])
    return HostView(cgroup, hostnet.default_bridge(), addresses, tuple(forwards))


def _release_of(template: str, args: list[str]) -> tuple[str, list[str]]:
    """The release among a template's arguments (its release option), and the rest."""
    option = distros.template(template).release_option
    names = {option, "-r", "--release"} - {None}
    release = ""
    rest: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        flag, eq, value = word.partition("=")
        if word in names and i + 1 < len(args):
            release = args[i + 1]
            i += 2
            continue
        if eq and flag in names:
            release = value
        else:
            rest.append(word)
        i += 1
    return release, rest


def _from_base(container: lxc.Container) -> origin.Origin | None:
    """A clone of a cached base (made before lxcprov recorded origins): the base's record."""
    with contextlib.suppress(LxcprovError):
        found = containerfs.layout(container.config())
        if found.storage == "overlay":
            base = Path(found.lower).parent
            data = statefile.read_toml(base / "lxcprov-base.toml")
            if data and isinstance(data.get("image"), str):  # an image's base (ops.images)
                digest = data.get("image_digest")
                digest = digest if isinstance(digest, str) else ""
                return origin.Origin("", image=str(data["image"]), image_digest=digest,
                                     made_by="base")  # fmt: skip
            if data and isinstance(data.get("template"), str):
                template = str(data["template"])
                args = [str(a) for a in data.get("args", []) if isinstance(a, str)]
                release, rest = _release_of(template, args)
                return origin.Origin(template, release, tuple(rest), made_by="base")
    return None


def _from_comments(config_text: str) -> origin.Origin | None:
    """What lxc-create wrote at the top of the config it made."""
    template = ""
    params: list[str] = []
    for line in config_text.split("\n")[:20]:
        if line.startswith(_TEMPLATE_COMMENT):
            template = Path(line.removeprefix(_TEMPLATE_COMMENT).strip()).name
            template = template.removeprefix("lxc-")
        elif line.startswith(_PARAMS_COMMENT):
            with contextlib.suppress(ValueError):
                params = shlex.split(line.removeprefix(_PARAMS_COMMENT))
    if not template:
        return None
    release, rest = _release_of(template, params)
    release = release or distros.template(template).default_release or ""
    return origin.Origin(template, release, tuple(rest), made_by="lxc-create")


def origin_of(container: lxc.Container, config_text: str) -> tuple[origin.Origin | None, bool]:
    """What it was made from (None: cannot tell), and whether lxcprov made it."""
    recorded = origin.load(container.lxcpath / container.name)
    if recorded is not None and not recorded.template and not recorded.image:
        # `new --image` before it recorded the image: the base it was cloned from says.
        base = _from_base(container)
        if base is not None and base.image:
            return dataclasses.replace(recorded, image=base.image,
                                       image_digest=base.image_digest), True  # fmt: skip
        return None, True
    if recorded is not None:
        return recorded, True
    return _from_base(container) or _from_comments(config_text), False


def _isolated(owner: str) -> bool:
    with contextlib.suppress(LxcprovError):
        return owner in subids.read_book().values()
    return False


def _container_ids(info_uid: int, info_gid: int, root: tuple[int, int] | None) -> tuple[int, int]:
    """Host ids of a file as the container sees them (its map's base subtracted)."""
    if root is None:
        return info_uid, info_gid
    uid = info_uid - root[0] if root[0] <= info_uid < root[0] + idmap.BLOCK else 65534
    gid = info_gid - root[1] if root[1] <= info_gid < root[1] + idmap.BLOCK else 65534
    return uid, gid


def file_now(rootfs: Rootfs, path: str, root: tuple[int, int] | None) -> FileNow:
    """What is at path inside (a symlink is followed inside the jail, as a write would)."""
    try:
        info = rootfs.info(path)
    except LxcprovError as exc:
        return FileNow("other", what=f"not reachable ({exc.message})")
    if info is None:
        return FileNow("absent")
    if not info.is_file:
        return FileNow("other", what="not a regular file")
    try:
        data = rootfs.read_bytes(path, limit=MAX_FILE_BYTES)
    except LxcprovError as exc:
        return FileNow("other", what=exc.message)
    uid, gid = _container_ids(info.uid, info.gid, root)
    return FileNow("file", data or b"", info.mode, uid, gid)


def _inside(
    container: lxc.Container, spec: ContainerSpec, secrets: Secrets | None
) -> tuple[tuple[str, ...] | None, dict[str, FileNow], str, str]:
    """Root access the recipe would change, the files, passwd and group: one opening."""
    access: tuple[str, ...] | None = None
    files: dict[str, FileNow] = {}
    passwd = group = ""
    root = containerfs.map_root(container)
    with workspace.opened(container) as ws:
        if secrets is not None:
            chosen = recipes.providing(recipes.load_all(), "root-access")
            _facts, plan = ws.plan(chosen, secrets)
            access = tuple(c.describe() for c in plan.changes)
        for f in spec.files or ():
            files[f.path] = file_now(ws.rootfs, f.path, root)
        if any(f.owner for f in spec.files or ()):
            passwd = _small_text(ws.rootfs, "/etc/passwd")
            group = _small_text(ws.rootfs, "/etc/group")
    return access, files, passwd, group


def _small_text(rootfs: Rootfs, path: str) -> str:
    with contextlib.suppress(LxcprovError):
        return rootfs.read_text(path) or ""
    return ""


def device_paths(specs: tuple[str, ...]) -> tuple[dict[str, tuple[str, ...]], str]:
    """Each device name or path -> the host paths it stands for now; and the first one the
    host does not have, as its one-line error ("" when it has them all)."""
    found: dict[str, tuple[str, ...]] = {}
    problem = ""
    for spec in specs:
        try:
            given = devices_op.resolve(spec, mode=devices.DEFAULT_MODE, uid=0, gid=0)
        except LxcprovError as exc:
            problem = problem or exc.message
            continue
        found[spec] = tuple(d.path for d, _ in given)
    return found, problem


def container(
    c: lxc.Container,
    spec: ContainerSpec | None = None,
    secrets: Secrets | None = None,
    view: HostView | None = None,
) -> Observed:
    """The container as it is now; with spec, also what the spec's files and root access
    look like inside it (secrets: the spec's root access, read by the caller)."""
    base = Observed(c.name, str(c.lxcpath))
    try:
        entry = journal.read(c.lxcpath, c.name)
    except LxcprovError as exc:
        return _with(base, "BROKEN", exc.message)
    if entry is not None and entry.running and entry.pid != os.getpid():
        return _with(base, "CREATING", entry.describe())
    if entry is not None and not entry.running:
        return Observed(c.name, str(c.lxcpath), "INCOMPLETE", entry.describe(), entry.command,
                        made_by_lxcprov=True)  # fmt: skip
    try:
        if not c.exists():
            return base
        running = c.running()
        text = lxcconf.read(c.config_path)
        made, by_lxcprov = origin_of(c, text)
        state = applystate.load(c.lxcpath / c.name)
        owner = owner_of(c.name, str(c.lxcpath))
        intent = netops.current_of(c).intent
        access: tuple[str, ...] | None = None
        files: dict[str, FileNow] = {}
        passwd = group = ""
        if spec is not None and (secrets is not None or spec.files):
            access, files, passwd, group = _inside(c, spec, secrets)
        forwards = view.forwards if view is not None else ()
        recorded = tuple(devices.parse(text))
        paths, device_problem = device_paths(tuple((spec and spec.devices) or ()))
        # The recorded ones too: export-spec writes those the host still has.
        paths.update(device_paths(tuple(d.path for d in recorded))[0])
        return Observed(
            c.name,
            str(c.lxcpath),
            "RUNNING" if running else "STOPPED",
            made_by_lxcprov=by_lxcprov,
            origin=made,
            privileged=idmaps.map_of(c) is None,
            isolated=_isolated(owner),
            config=tuple(lxcconf.parse(text)),
            effective=settings_op.effective_values(c, _EFFECTIVE),
            intent=intent,
            mounts=tuple(mounts_op.listing(c)),
            disk=diskimage.limit_of(c.lxcpath / c.name),
            forwards=tuple(f for f in forwards if f.owner == owner),
            devices=recorded,
            device_paths=paths,
            device_problem=device_problem,
            devices_unbound=tuple(devices_op.unbound(c)) if spec and spec.devices else (),
            access=access,
            files=files,
            passwd=passwd,
            group=group,
            done=state.done,
            groups=state.groups,
        )
    except LxcprovError as exc:
        return _with(base, "BROKEN", exc.message)


def _with(base: Observed, state: ObservedState, problem: str) -> Observed:
    return Observed(base.name, base.lxcpath, state, problem)


def others(lxcpath: Path, names: set[str], view: HostView) -> list[Observed]:
    """The containers of lxcpath the document does not name (for --prune and export)."""
    found = {c.name for c in lxc.list_containers(lxcpath)}
    found |= {n for n in journal.names(lxcpath) if not n.startswith(lxc.BASE_PREFIX)}
    return [container(lxc.Container(n, lxcpath), view=view) for n in sorted(found - names)]
