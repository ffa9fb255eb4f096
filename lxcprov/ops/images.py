"""Images as cached bases: `new --image REF`, `images`, `images rm`.

An image (a rootfs tarball, an OCI layout, a registry's image copied by skopeo into an OCI
layout under the lxcpath's `.lxcprov/images/`) becomes a base, as a template build does
(lxcprov.ops.bases): a stopped container `lxcprov-base-image-DIGEST-KEY` whose clones are
overlay snapshots. Its key is the image's digest (a tarball's sha256, an OCI manifest's
digest), the base recipes and the id map: the first `new` from a digest builds it, the
next ones clone it, and two at once build it once (the base's lock; the second waits and
clones).

The build is journaled like any base (killed, it is INCOMPLETE: the next `new`, `images rm`
or `destroy --force` removes it): its directory is made, every stream is unpacked by
lxcprov.ops.imagelayers with the container's ids as the image has them (0..65535), the
config is written (LXC's common.conf, or the distro's file of LXC's), the base recipes run
on an image with an init, and the owners are shifted into the unprivileged map
(lxcprov.system.shift, which refuses any owner outside it), as a template's base is.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxcprov.engine import appimage, archive, facts, idmap, imageref, imagetar
from lxcprov.engine.imageref import ImageRef
from lxcprov.engine.recipes import Recipe
from lxcprov.errors import (
    ArchiveError,
    BaseInUseError,
    ImageError,
    NoSuchContainerError,
)
from lxcprov.ops import bases, idmaps, imagelayers, recovery, workspace
from lxcprov.ops.import_archive import Room
from lxcprov.ops.progress import Progress
from lxcprov.system import (
    entrypoint,
    journal,
    locks,
    lxc,
    lxcconf,
    ocilayout,
    run,
    statefile,
    tarball,
    unpack,
)
from lxcprov.system.rootfs import Rootfs

PREFIX = f"{bases.PREFIX}image-"
CACHE = "images"  # under the lxcpath's .lxcprov/: registry images as OCI layouts
SYSTEM, APPLICATION = appimage.SYSTEM, appimage.APPLICATION


@dataclass(frozen=True)
class Layer:
    """One tar stream of an image: the tarball itself, or an OCI layer blob."""

    label: str
    path: Path
    digest: str  # sha256:HEX the bytes read must have ("" for a tarball: its own digest)
    size: int = -1  # -1: not known beforehand


@dataclass(frozen=True)
class Source:
    ref: ImageRef
    digest: str  # sha256:HEX: the tarball's, or the OCI manifest's
    size: int  # bytes of the tarball, or of the layers
    layers: tuple[Layer, ...]
    layered: bool  # OCI layers (whiteouts apply)
    config: dict[str, object]  # an OCI image's config ({} for a tarball)


def cache_dir(lxcpath: Path) -> Path:
    return locks.state_dir(lxcpath) / CACHE


def _layout_of(lxcpath: Path, ref: ImageRef) -> Path:
    """The repository's layout: a readable label plus a hash of the exact REGISTRY/REPO, as
    the label alone maps distinct repositories (a_b, a/b) to one folder."""
    exact = f"{ref.registry}/{ref.repo}"
    label = re.sub(r"[^A-Za-z0-9.-]+", "_", exact)[:64]
    return cache_dir(lxcpath) / f"{label}-{hashlib.sha256(exact.encode()).hexdigest()[:16]}"


def _skopeo_copy(ref: ImageRef, layout: Path, tag: str, progress: Progress) -> None:
    """The registry's image copied into layout:tag (skopeo verifies every blob's digest as
    it copies; lxcprov verifies them again as it reads them)."""
    layout.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    made = not layout.exists()  # a failed fetch removes only a folder it made
    source = f"docker://{ref.registry}/{ref.repo}" + (f"@{ref.digest}" if ref.digest
                                                       else f":{ref.tag}")  # fmt: skip
    argv = [run.which("skopeo"), "copy", "--quiet"]
    if ref.loopback:
        argv.append("--src-tls-verify=false")
    argv += [source, f"oci:{layout}:{tag}"]
    progress.phase(f"copying {ref.text} with skopeo")
    result = run.run(argv, check=False, timeout=3600)
    if not result.ok:
        if made:  # else blobs nothing lists and `images rm` cannot name stay behind
            shutil.rmtree(layout, ignore_errors=True)
        lines = result.stderr.strip().splitlines() or ["(no output)"]
        why = lines[-1].removeprefix("time=").strip()
        raise ImageError(
            f"cannot fetch {ref.text}: {why[:300]}",
            hint="is the registry reachable from here, and the name and tag right? "
            "(a registry on 127.0.0.1 or localhost is spoken to in plain HTTP)",
        )


def _resolve_oci(lxcpath: Path, ref: ImageRef, pull: bool, progress: Progress) -> Source:
    if ref.kind == "docker":
        layout = _layout_of(lxcpath, ref)
        tag = ref.tag or ref.digest.replace(":", "-")
        # One fetch of a repository at a time: a failed one removes the folder it made,
        # which must not be the one another `new` is copying into.
        with locks.container(lxcpath, f"{CACHE}-{layout.name}", f"fetch {ref.text}",
                             on_wait=progress.phase):  # fmt: skip
            fetched = (layout / "index.json").is_file()
            if pull or not fetched or not _has_tag(layout, tag):
                _skopeo_copy(ref, layout, tag, progress)
    else:
        layout, tag = Path(ref.path), ref.tag
    image = ocilayout.read(layout, tag)
    layers = tuple(
        Layer(f"layer {i + 1} ({b.digest[:19]})",
              layout / "blobs" / "sha256" / b.digest.removeprefix("sha256:"), b.digest, b.size)
        for i, b in enumerate(image.layers)
    )  # fmt: skip
    return Source(ref, image.manifest.digest, sum(b.size for b in image.layers), layers, True,
                  image.config)  # fmt: skip


def _has_tag(layout: Path, tag: str) -> bool:
    try:
        ocilayout.read(layout, tag)
    except ImageError:
        return False
    return True


@contextlib.contextmanager
def _spooled(lxcpath: Path, layer: Layer) -> Iterator[tuple[tarball.Spooled, str]]:
    """The layer's bytes in an unnamed file, and their sha256 (verified when it names one)."""
    spool = tarball.Spooled(lxcpath)
    try:
        # A layer blob is opened as the layout names it, never through a symlink there; a
        # tarball the user names may be a link of theirs. Either must be a regular file.
        nofollow = os.O_NOFOLLOW if layer.digest else 0
        try:
            fd = os.open(layer.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | nofollow)
        except OSError as exc:
            raise ImageError(f"cannot read {layer.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ImageError(f"{layer.path} is not a regular file")
            got = imagelayers.spool(fh, spool)
        if layer.size >= 0:
            ocilayout.sized(layer.size, spool.size, layer.label)
        if layer.digest:
            ocilayout.verified(layer.digest, got, layer.label)
        yield spool, f"sha256:{got}"
    finally:
        spool.close()


def _base_name(source: Source, chosen: list[Recipe], ids: idmap.IdMap | None) -> str:
    label = ids.label() if ids is not None else "privileged"
    key = hashlib.sha256(json.dumps([source.digest, bases.digest(chosen), label]).encode())
    return f"{PREFIX}{source.digest.removeprefix('sha256:')[:12]}-{key.hexdigest()[:10]}"


def _meta_path(base: lxc.Container) -> Path:
    return base.lxcpath / base.name / bases.META


def digest_of(base: lxc.Container) -> str:
    """The digest an image base was unpacked from, as its record says ("" when it has none):
    what a container cloned from it records as its origin."""
    data = statefile.read_toml(_meta_path(base)) or {}
    digest = data.get("image_digest")
    return digest if isinstance(digest, str) else ""


@contextlib.contextmanager
def prepared(
    lxcpath: Path,
    text: str,
    chosen: list[Recipe],
    progress: Progress,
    ids: idmap.IdMap | None,
    *,
    pull: bool = False,
) -> Iterator[tuple[lxc.Container, bool]]:
    """The base of the image text names, built if needed, held (its lock) while the caller
    clones it; yields it and whether it was built now."""
    ref = imageref.parse(text)
    if ref.kind == "tarball":
        with (
            _tarball_source(lxcpath, ref) as (source, spool),
            _held(lxcpath, source, chosen, progress, ids, spool) as found,
        ):
            yield found
        return
    source = _resolve_oci(lxcpath, ref, pull, progress)
    with _held(lxcpath, source, chosen, progress, ids, None) as found:
        yield found


@contextlib.contextmanager
def _tarball_source(lxcpath: Path, ref: ImageRef) -> Iterator[tuple[Source, tarball.Spooled]]:
    """A tarball spooled once: its digest is of the very bytes that are unpacked."""
    layer = Layer(ref.path, Path(ref.path), "")
    with _spooled(lxcpath, layer) as (spool, digest):
        yield Source(ref, digest, spool.size, (layer,), False, {}), spool


@contextlib.contextmanager
def _held(
    lxcpath: Path,
    source: Source,
    chosen: list[Recipe],
    progress: Progress,
    ids: idmap.IdMap | None,
    spool: tarball.Spooled | None,
) -> Iterator[tuple[lxc.Container, bool]]:
    name = _base_name(source, chosen, ids)
    base = lxc.Container(name, lxcpath)
    with locks.container(lxcpath, name, "build or clone an image base", on_wait=progress.phase):
        left = recovery.leftover(lxcpath, name)
        if left is not None:
            progress.phase(f"removing the half-built {name} ({left.describe()})")
            recovery.undo(base, left)
        if base.exists() and _meta_path(base).is_file():
            yield base, False
            return
        if (lxcpath / name).exists():  # not ours to guess about: removed as a half-made base
            recovery.remove(base, stop=True)
        _build(base, source, chosen, progress, ids, spool)
        yield base, True


def _build(
    base: lxc.Container,
    source: Source,
    chosen: list[Recipe],
    progress: Progress,
    ids: idmap.IdMap | None,
    spool: tarball.Spooled | None,
) -> None:
    jr = journal.Journal.begin(base.lxcpath, base.name, "build an image base", creating=True,
                               phase="unpack")  # fmt: skip
    try:
        progress.phase(f"unpacking {source.ref.text} into base {base.name} (once)")
        judge = _unpack(base, source, ids, spool)
        jr.phase("config")
        kind = _write_config(base, source)
        if kind == SYSTEM:  # an application's files are its own: no getty, no login
            jr.phase("base-recipes")
            with workspace.opened(base) as ws:
                ws.run(chosen)
        if ids is not None:
            jr.phase("shift")
            progress.phase(f"shifting {base.name} into the ids of unprivileged containers")
            idmaps.shift_in_place(base, idmaps.move(None, ids), ids)
        _write_meta(base, source, chosen, ids, kind, judge)
    except BaseException:
        with contextlib.suppress(Exception):
            recovery.undo(base, jr.entry)
        raise
    jr.end()


def _unpack(
    base: lxc.Container, source: Source, ids: idmap.IdMap | None, spool: tarball.Spooled | None
) -> imagetar.Judge:
    directory = base.lxcpath / base.name
    directory.mkdir(mode=0o700)
    dest = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    judge = imagetar.Judge(privileged=ids is None, layers=source.layered,
                           room=Room.of(base.lxcpath).bytes)  # fmt: skip
    try:
        os.mkdir(imagetar.ROOTFS, 0o755, dir_fd=dest)
        with unpack.Unpacker(dest) as out:
            for layer in source.layers:
                try:
                    if spool is not None:
                        imagelayers.write_stream(spool, layer.label, judge, out)
                        continue
                    with _spooled(base.lxcpath, layer) as (layer_spool, _digest):
                        imagelayers.write_stream(layer_spool, layer.label, judge, out)
                except ArchiveError as exc:
                    raise ImageError(exc.message, hint="nothing was kept of the image") from None
            out.finish()
    finally:
        os.close(dest)
    return judge


def _include_for(rootfs: Rootfs) -> str:
    """LXC's distro file when the image is a distro whose file adds nothing that reaches the
    host (engine.archive.DISTRO_COMMON), else common.conf."""
    release = facts.parse_os_release(
        rootfs.read_text("/etc/os-release") or rootfs.read_text("/usr/lib/os-release") or ""
    )
    distro = release.get("ID", "")
    if distro in archive.DISTRO_COMMON:
        path = f"{archive.CONFIG_DIR}/{distro}.common.conf"
        if Path(path).is_file():
            return path
    return archive.COMMON


def _write_config(base: lxc.Container, source: Source) -> str:
    """The base's LXC config; returns the image's kind (system: it has an init; else an
    application, run as its config says: lxcprov.engine.appimage)."""
    directory = base.lxcpath / base.name
    with Rootfs(directory / imagetar.ROOTFS) as rootfs:
        init = facts.detect_init(rootfs)
        include = _include_for(rootfs)
        app = None
        if init == "unknown":
            app = appimage.app_of(source.config, rootfs.read_text("/etc/passwd") or "",
                                  rootfs.read_text("/etc/group") or "")  # fmt: skip
    lines = [
        f"# Made by lxcprov from the image {source.ref.text} ({source.digest}).",
        f"lxc.include = {include}",
        f"lxc.arch = {platform.machine()}",
        f"lxc.rootfs.path = dir:{directory / imagetar.ROOTFS}",
        f"lxc.uts.name = {base.name}",
        f"lxc.tty.max = {4 if app is None else 0}",
        "lxc.pty.max = 1024",
        "lxc.net.0.type = empty",
        *(app.config_lines() if app is not None else []),
    ]
    lxcconf.write(base.config_path, "\n".join(lines) + "\n")
    if app is not None:
        entrypoint.save(directory, list(app.argv))
    return SYSTEM if app is None else APPLICATION


def _write_meta(
    base: lxc.Container,
    source: Source,
    chosen: list[Recipe],
    ids: idmap.IdMap | None,
    kind: str,
    judge: imagetar.Judge,
) -> None:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [
        "# Written by lxcprov: the image this base was unpacked from.",
        'template = "image"',
        f"image = {json.dumps(source.ref.text)}",
        f"image_digest = {json.dumps(source.digest)}",
        f"image_size = {source.size}",
        f"image_kind = {json.dumps(kind)}",
        f"left_out = {json.dumps(judge.left_out[:100])}",
        f"dropped_xattrs = {judge.dropped_xattrs}",  # trusted.*, security.* but caps
        f"recipes_digest = {json.dumps(bases.digest(chosen))}",
        f"ids = {json.dumps(ids.label() if ids is not None else 'privileged')}",
        f"built = {json.dumps(now)}",
    ]
    statefile.write_text(_meta_path(base), "\n".join(lines) + "\n")


# -- the cache: images, images rm --------------------------------------------------------


@dataclass(frozen=True)
class Cached:
    base: str
    reference: str
    digest: str
    size: int
    kind: str
    used_by: list[str]
    incomplete: bool = False

    def as_json(self) -> dict[str, object]:
        return {"base": self.base, "reference": self.reference, "digest": self.digest,
                "size": self.size, "kind": self.kind, "used_by": self.used_by,
                "incomplete": self.incomplete}  # fmt: skip


def cached(lxcpath: Path) -> list[Cached]:
    """The image bases, and those a killed build left (INCOMPLETE: `images rm` removes them)."""
    out = []
    half = {c.base: c for c in _half_built(lxcpath)}
    for b in bases.list_bases(lxcpath):
        if not b.name.startswith(PREFIX):
            continue
        m = b.meta
        users = bases.users_of(lxc.Container(b.name, lxcpath))
        out.append(Cached(b.name, str(m.get("image", "")), str(m.get("image_digest", "")),
                          int(str(m.get("image_size", 0))), str(m.get("image_kind", "")),
                          users, bool(m.get("incomplete")) or b.name in half))  # fmt: skip
        half.pop(b.name, None)
    return out + list(half.values())


def remove(lxcpath: Path, what: str) -> list[str]:
    """Remove the cached image(s) what names (its reference, its digest or a prefix of it,
    or its base's name): refused while a container uses one. Returns the bases removed."""
    lxc.require_root()
    wanted = what.removeprefix("sha256:")
    found = [c for c in cached(lxcpath)
             if what in (c.reference, c.base) or (len(wanted) >= 6 and
                                                  c.digest.removeprefix("sha256:")
                                                  .startswith(wanted))]  # fmt: skip
    if not found:
        raise NoSuchContainerError(f"no cached image {what!r} in {lxcpath}", hint="lxcprov images")
    for c in found:
        if c.used_by:
            raise BaseInUseError(f"image {c.reference or c.base} is used by {', '.join(c.used_by)}",
                                 hint="destroy those first")  # fmt: skip
    for c in found:
        base = lxc.Container(c.base, lxcpath)
        with locks.container(lxcpath, c.base, "remove an image base"):
            left = recovery.leftover(lxcpath, c.base)
            if left is not None:
                recovery.undo(base, left)
            elif bases.users_of(base):
                raise BaseInUseError(f"image {c.reference} is used by "
                                     f"{', '.join(bases.users_of(base))}")  # fmt: skip
            else:
                recovery.remove(base, stop=True)
    _drop_layouts(lxcpath, [c.reference for c in found])
    return [c.base for c in found]


def _drop_layouts(lxcpath: Path, references: list[str]) -> None:
    """The copies skopeo made of these registry images, once no cached image of the same
    repository is left (a repository's tags share one layout)."""
    left = {_layout_of(lxcpath, imageref.parse(c.reference)) for c in cached(lxcpath)
            if c.reference.startswith("docker://")}  # fmt: skip
    for reference in references:
        if not reference.startswith("docker://"):
            continue
        layout = _layout_of(lxcpath, imageref.parse(reference))
        if layout not in left and layout.is_dir():
            shutil.rmtree(layout)


def _half_built(lxcpath: Path) -> list[Cached]:
    """Image bases a killed build left (a journal, maybe no config yet)."""
    return [Cached(name, "", "", 0, "", [], incomplete=True)
            for name in journal.names(lxcpath) if name.startswith(PREFIX)]  # fmt: skip
