"""What a checked document becomes: one ContainerSpec per container, and what checking
may look at besides the text (Env)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lxcprov.engine.mounts import Mount
from lxcprov.engine.publish import Publish
from lxcprov.system.cgroups import CgroupHost

State = Literal["started", "stopped", "present", "absent"]

# The most a file of the document may bring into a container (source or content).
MAX_FILE_BYTES = 16 * 1024**2


@dataclass(frozen=True)
class FileSpec:
    """A file kept inside the container."""

    path: str  # absolute, normalised, inside the container
    data: bytes
    content: str | None = None  # as the document wrote it (None: from source)
    source: str | None = None  # the host file it is copied from (absolute)
    mode: int | None = None  # None: 0644 for a new file, the file's own otherwise
    owner: str | None = None  # USER[:GROUP]; None: root for a new file, the file's own


@dataclass(frozen=True)
class CommandSpec:
    """A first-boot command; id names it in the container's record of what ran."""

    run: str
    timeout: int
    id: str


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    declared: str  # FILE:LINE: containers.KEY, where it is declared
    from_count: bool = False  # declared by a count: never takes over a foreign container
    given: frozenset[str] = frozenset()  # the keys it has (after merging)
    template: str | None = None
    release: str | None = None
    template_args: tuple[str, ...] | None = None
    image: str | None = None  # a reference, its relative path made absolute (engine.imageref)
    privileged: bool | None = None
    isolated: bool | None = None
    state: State = "started"
    bridge: str | None = None
    address: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)  # `set` name -> value
    root_password_file: str | None = None
    ssh_keys: tuple[str, ...] | None = None
    mounts: tuple[Mount, ...] | None = None
    publish: tuple[Publish, ...] | None = None
    devices: tuple[str, ...] | None = None  # names or paths, as `device add` takes them
    files: tuple[FileSpec, ...] | None = None
    user_data: str | None = None  # a host file, used when the container is created
    first_boot: tuple[CommandSpec, ...] | None = None
    groups: tuple[str, ...] | None = None
    where: Mapping[str, str] = field(default_factory=dict)  # key -> FILE:LINE: KEY

    def at(self, key: str) -> str:
        """Where key comes from (a profile or the defaults, maybe), for a message."""
        return self.where.get(key, self.declared)


@dataclass(frozen=True)
class Document:
    source: str
    containers: tuple[ContainerSpec, ...]

    def names(self) -> list[str]:
        return [c.name for c in self.containers]


@dataclass(frozen=True)
class Env:
    """What checking a document may look at besides its text."""

    base_dir: Path  # relative paths are relative to this (the document's directory)
    host: CgroupHost  # settings are checked against this host's cgroup layout
    read_file: Callable[[Path], bytes]  # a `files` source (capped, one-line errors)

    def host_path(self, text: str) -> str:
        """A path on the host the document names, relative to the document's directory."""
        return text if text.startswith("/") else str(self.base_dir / text)


def static_ip(spec: ContainerSpec) -> ipaddress.IPv4Address | None:
    address = (spec.address or "").strip().lower()
    if not address or address in ("dhcp", "auto", "none"):
        return None
    try:
        return ipaddress.IPv4Interface(address).ip
    except ValueError:
        return None  # reported where it is read
