"""What `--image REF` names: a rootfs tarball, an OCI layout on disk, or a registry's image.

    /path/rootfs.tar[.gz|.xz|.zst]   a rootfs tarball (its name says it is one)
    oci:DIR[:TAG]                    an OCI image layout (TAG: the index's ref.name; the
                                     only image when it holds one)
    docker://REGISTRY/REPO[:TAG]     an image in a registry, copied by skopeo into
                                     lxcprov's image cache as an OCI layout

Decided here, pure; nothing is read.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from lxcprov.errors import InvalidArgumentError

TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tzst")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# REGISTRY/REPO[:TAG] as skopeo takes it; a digest (@sha256:...) pins it.
_DOCKER = re.compile(
    r"(?P<registry>[A-Za-z0-9.-]+(:[0-9]{1,5})?)/(?P<repo>[a-z0-9]+([._/-][a-z0-9]+)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))?"
)

Kind = Literal["tarball", "oci", "docker"]


@dataclass(frozen=True)
class ImageRef:
    kind: Kind
    text: str  # as given
    path: str = ""  # the tarball or the layout directory
    tag: str = ""  # oci: the ref.name; docker: the tag ("" for a digest)
    registry: str = ""
    repo: str = ""
    digest: str = ""  # docker: a pinned manifest digest

    @property
    def loopback(self) -> bool:
        """A registry on this machine's loopback: spoken to in plain HTTP (a test registry
        or a local mirror; nothing leaves the machine, so TLS proves nothing there)."""
        host = self.registry.rsplit(":", 1)[0] if ":" in self.registry else self.registry
        return host in ("localhost", "127.0.0.1") or host.startswith("127.")


def parse(text: str) -> ImageRef:
    if "\0" in text or "\n" in text:
        raise InvalidArgumentError("an image reference holds no NUL or newline")
    if text.startswith("docker://"):
        found = _DOCKER.fullmatch(text.removeprefix("docker://"))
        if found is None:
            raise InvalidArgumentError(
                f"{text!r} is not a registry image", hint="docker://REGISTRY/REPO:TAG"
            )
        return ImageRef("docker", text, registry=found["registry"], repo=found["repo"],
                        tag=found["tag"] or ("" if found["digest"] else "latest"),
                        digest=found["digest"] or "")  # fmt: skip
    if text.startswith("oci:"):
        rest = text.removeprefix("oci:")
        path, tag = rest, ""
        head, sep, tail = rest.rpartition(":")
        if sep and "/" not in tail and _TAG.fullmatch(tail):
            path, tag = head, tail
        if not path:
            raise InvalidArgumentError(f"{text!r} names no directory", hint="oci:DIR[:TAG]")
        return ImageRef("oci", text, path=path, tag=tag)
    if text.endswith(TARBALL_SUFFIXES):
        return ImageRef("tarball", text, path=text)
    raise InvalidArgumentError(
        f"{text!r} is not an image lxcprov knows",
        hint="a rootfs tarball (.tar, .tar.gz, .tar.xz, .tar.zst), oci:DIR[:TAG] or "
        "docker://REGISTRY/REPO:TAG",
    )


def anchored(text: str, base_dir: str) -> str:
    """The reference with a relative tarball or layout path made absolute against base_dir
    (the caller's directory for `new`, the document's for `apply`): what is recorded and
    compared names the same image wherever it is read from."""
    ref = parse(text)
    if ref.kind == "docker" or ref.path.startswith("/"):
        return text
    path = posixpath.normpath(posixpath.join(base_dir, ref.path))
    if ref.kind == "tarball":
        return path
    return f"oci:{path}" + (f":{ref.tag}" if ref.tag else "")
