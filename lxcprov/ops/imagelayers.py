"""An image's tar streams written into a rootfs: spooled and hashed, judged, written.

Each stream (a rootfs tarball, or one OCI layer blob) is copied once into an unnamed file
in the lxcpath while its sha256 is computed (lxcprov.system.tarball.Spooled): what was
hashed (and, for a layer, compared with the digest its manifest names) is exactly what is
then read, whatever happens to the source meanwhile. Python's tarfile reads it (the one
reader), lxcprov.engine.imagetar judges each member, lxcprov.system.unpack writes it (or
removes what a whiteout or a replacing member says), never through a symlink. GNU tar and
umoci never read an image's bytes.
"""

from __future__ import annotations

import hashlib
import os
from typing import IO

from lxcprov.engine import imagetar
from lxcprov.errors import ArchiveError
from lxcprov.system import faults, tarball, unpack

_CHUNK = 1 << 20
_HEAD = tarball.USTAR_AT + len(tarball.USTAR)
# The fault point a crash test stops an unpack at, once this many members are written.
FAULT, FAULT_AFTER = "unpacking", 50


def spool(source: IO[bytes], spooled: tarball.Spooled) -> str:
    """Copy source into spooled; returns the sha256 (hex) of the bytes copied."""
    h = hashlib.sha256()
    while chunk := source.read(_CHUNK):
        h.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(spooled.fd, view) :]
        spooled.size += len(chunk)
    return h.hexdigest()


def write_stream(
    spooled: tarball.Spooled, label: str, judge: imagetar.Judge, out: unpack.Unpacker
) -> None:
    """One spooled tar stream (of any compression an image uses) written under out."""
    head = os.pread(spooled.fd, _HEAD, 0)
    kind = tarball.image_compression_of(head, label)
    judge.begin_layer()
    with tarball.decompressed(spooled.fd, kind) as raw:
        for entry in tarball.entries(raw):
            try:
                step = judge.judge(entry.member)
            except ArchiveError as exc:
                exc.message = f"{label}: {exc.message}"
                raise
            if step.action == "remove":
                for path in step.paths:
                    out.remove(path)
            elif step.action == "update":
                assert step.member is not None
                out.update_dir(step.member)
            elif step.action == "write":
                assert step.member is not None
                if step.replace:
                    out.remove(step.member.name)
                out.write(entry, step.member)
            if judge.count == FAULT_AFTER:
                faults.stop_if(FAULT)
        tarball.drain(raw)
