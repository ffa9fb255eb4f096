"""An OCI image layout on disk, read: index.json, a manifest, its config, its layer blobs.

A layout is hostile input (anyone may have made it, or changed a blob since): every blob
is named by its digest and every byte of it read is hashed and compared with that digest
before it is used (a manifest and a config in memory, at most MAX_JSON bytes; a layer
copied into an unnamed file while hashed, by the caller, lxcprov.ops.imagelayers). Files
are opened without following a symlink at their last component, and must be regular files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lxcprov.errors import ImageError

MAX_JSON = 4 << 20
REF_NAME = "org.opencontainers.image.ref.name"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")  # fmt: skip
LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


@dataclass(frozen=True)
class Blob:
    digest: str  # sha256:HEX
    size: int
    media_type: str


@dataclass(frozen=True)
class Image:
    manifest: Blob  # its digest is the image's
    config: dict[str, Any]  # the image config (architecture, os, config: Entrypoint...)
    layers: tuple[Blob, ...]


def _descriptor(data: object, what: str) -> Blob:
    if not isinstance(data, dict):
        raise ImageError(f"the layout's {what} is not a descriptor")
    digest, size, media = data.get("digest"), data.get("size"), data.get("mediaType", "")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ImageError(f"the layout's {what} names no sha256 digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageError(f"the layout's {what} has no size")
    return Blob(digest, size, str(media))


@contextlib.contextmanager
def open_blob(layout: Path, blob: Blob) -> Iterator[IO[bytes]]:
    """The blob's file (a regular file of the size its descriptor says)."""
    path = layout / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise ImageError(f"{path}: {exc.strerror} (the layout misses a blob)") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != blob.size:
            raise ImageError(
                f"{blob.digest[:19]}: {st.st_size} bytes, not the {blob.size} its descriptor "
                "says (the layout is damaged or altered)"
            )
        yield fh


def verified(digest: str, got: str, what: str) -> None:
    if got != digest.removeprefix("sha256:"):
        raise ImageError(
            f"{what} {digest[:19]}...: its bytes do not match its digest (the image is "
            "damaged or altered)",
            hint="nothing was kept; fetch or build the image again",
        )


def sized(size: int, got: int, what: str) -> None:
    """The bytes read are as many as the descriptor states (checked with the digest: a
    descriptor's size is part of what it asserts)."""
    if got != size:
        raise ImageError(
            f"{what}: {got} bytes, not the {size} its descriptor states (the image is "
            "damaged or altered)",
            hint="nothing was kept; fetch or build the image again",
        )


def _json_blob(layout: Path, blob: Blob, what: str) -> dict[str, Any]:
    if blob.size > MAX_JSON:
        raise ImageError(f"the {what} is {blob.size} bytes (at most {MAX_JSON})")
    with open_blob(layout, blob) as fh:
        raw = fh.read(MAX_JSON + 1)
    sized(blob.size, len(raw), f"the {what} {blob.digest[:19]}")
    verified(blob.digest, hashlib.sha256(raw).hexdigest(), f"the {what}")
    return _json(raw, what)


def _json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ImageError(f"the {what} is not JSON") from None
    if not isinstance(data, dict):
        raise ImageError(f"the {what} is not a JSON object")
    return data


def _pick(manifests: list[Any], tag: str, where: str) -> Blob:
    if tag:
        found = [m for m in manifests if isinstance(m, dict)
                 and m.get("annotations", {}).get(REF_NAME) == tag]  # fmt: skip
        if not found:
            names = sorted({str(m.get("annotations", {}).get(REF_NAME)) for m in manifests
                            if isinstance(m, dict)})  # fmt: skip
            raise ImageError(f"{where} has no image tagged {tag!r}",
                             hint=f"its tags: {', '.join(names) or 'none'}")  # fmt: skip
        return _descriptor(found[0], "manifest")
    if len(manifests) != 1:
        raise ImageError(f"{where} holds {len(manifests)} images", hint="name one: oci:DIR:TAG")
    return _descriptor(manifests[0], "manifest")


def _platform(manifests: list[Any]) -> Blob:
    arch = _ARCH.get(os.uname().machine, os.uname().machine)
    for m in manifests:
        plat = m.get("platform", {}) if isinstance(m, dict) else {}
        if plat.get("architecture") == arch and plat.get("os", "linux") == "linux":
            return _descriptor(m, "manifest")
    raise ImageError(f"the image has no manifest for linux/{arch}")


def read(layout: Path, tag: str) -> Image:
    """The image tagged tag (or the only one) in the layout, every JSON blob verified."""
    where = f"the OCI layout {layout}"
    try:
        marker = _json((layout / "oci-layout").read_bytes()[:MAX_JSON], "oci-layout file")
        index = _json((layout / "index.json").read_bytes()[:MAX_JSON], "index.json")
    except OSError as exc:
        raise ImageError(f"{where}: {exc.strerror} (not an OCI image layout?)",
                         hint="oci:DIR[:TAG] names a directory with oci-layout and index.json"
                         ) from None  # fmt: skip
    if "imageLayoutVersion" not in marker or not isinstance(index.get("manifests"), list):
        raise ImageError(f"{where} is not an OCI image layout")
    desc = _pick(index["manifests"], tag, where)
    manifest = _json_blob(layout, desc, "manifest")
    if desc.media_type in INDEX_TYPES or manifest.get("mediaType") in INDEX_TYPES:
        desc = _platform(manifest.get("manifests") or [])
        manifest = _json_blob(layout, desc, "manifest")
    config_desc = _descriptor(manifest.get("config"), "config")
    config = _json_blob(layout, config_desc, "image config")
    layers = tuple(_descriptor(d, "layer") for d in manifest.get("layers") or [])
    for layer in layers:
        if layer.media_type not in LAYER_TYPES:
            raise ImageError(f"layer {layer.digest[:19]} is a {layer.media_type!r}, not a tar")
    arch = _ARCH.get(os.uname().machine, os.uname().machine)
    if config.get("architecture", arch) != arch or config.get("os", "linux") != "linux":
        raise ImageError(
            f"the image is for {config.get('os')}/{config.get('architecture')}, not linux/{arch}"
        )
    return Image(desc, config, layers)
