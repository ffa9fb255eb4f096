"""A document read and checked before anything runs.

lxcprov.engine.apply.document checks the keys and values; here come the checks that need
the host: the template exists, the root password file and SSH key files can be read (and
are what they claim), every mount source is a directory, every `files` source a readable
regular file. Every problem is one line with the document's file, line and key; all of
them are reported together, and nothing has been changed when they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxcprov.engine.apply import document
from lxcprov.engine.apply.document import ContainerSpec, Document, Env, Problems
from lxcprov.engine.apply.locate import Where
from lxcprov.engine.recipes import Secrets
from lxcprov.errors import InvalidArgumentError, LxcprovError
from lxcprov.ops import userdata
from lxcprov.ops.access import Access
from lxcprov.system import cgroups, hostfile, lxc

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Loaded:
    doc: Document
    secrets: dict[str, Secrets]  # by container, for those whose root access is given


def read_host_file(path: Path, limit: int = document.MAX_FILE_BYTES) -> bytes:
    """A regular file of the host (never a FIFO or a device: it could block or be one),
    at most limit bytes; a one-line error otherwise."""
    try:
        data = hostfile.read_regular(path, limit)
    except hostfile.NotReadable as exc:
        if exc.reason == "not a regular file":
            raise InvalidArgumentError(f"{path} is not a regular file") from None
        raise InvalidArgumentError(f"cannot read {path}: {exc.reason}") from None
    if len(data) > limit:
        raise InvalidArgumentError(f"{path} is larger than {limit // 1024**2} MiB")
    return data


def source_of(path: str, stdin_text: str | None) -> tuple[str, str, document.Format, Path]:
    """The text, its name for messages, its format and the directory relative paths start
    from: a file (TOML, or JSON when it ends in .json), or `-` (JSON on stdin)."""
    if path == "-":
        return stdin_text or "", "<stdin>", "json", Path.cwd()
    file = Path(path)
    data = read_host_file(file, MAX_DOCUMENT_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    fmt: document.Format = "json" if file.suffix == ".json" else "toml"
    return text, path, fmt, file.resolve().parent


def parse_text(text: str, name: str, fmt: document.Format, base_dir: Path) -> Loaded:
    raw, where = document.load_text(text, name, fmt)
    env = Env(base_dir, cgroups.detect(), read_host_file)
    doc = document.parse(raw, where, env)
    return Loaded(doc, check_host(doc, where))


def check_host(doc: Document, where: Where) -> dict[str, Secrets]:
    """The checks that read the host; every problem at once. Returns each container's
    root access, read (a file is read once however many containers name it)."""
    problems = Problems(where)
    secrets: dict[str, Secrets] = {}
    cache: dict[tuple[str | None, tuple[str, ...]], Secrets | str] = {}
    for spec in doc.containers:
        if spec.state == "absent":
            continue
        if spec.template:
            try:
                lxc.check_template(spec.template)
            except LxcprovError as exc:
                problems.add_at(spec.at("template"), f"{exc.message} ({exc.hint})")
        for m in spec.mounts or ():
            if not Path(m.source).is_dir():
                problems.add_at(spec.at("mounts"), f"{m.source} is not a directory of this host")
        if spec.user_data is not None:
            try:  # read and checked now: a bad file is an error before anything runs
                userdata.read(spec.user_data, lenient=False)
            except LxcprovError as exc:
                problems.add_at(spec.at("user_data"), exc.message)
        if spec.root_password_file is None and spec.ssh_keys is None:
            continue
        key = (spec.root_password_file, tuple(spec.ssh_keys or ()))
        if key not in cache:
            cache[key] = _secrets(spec)
        found = cache[key]
        if isinstance(found, str):
            at = "root_password_file" if spec.root_password_file else "ssh_keys"
            problems.add_at(spec.at(at), found)
        else:
            secrets[spec.name] = found
    problems.raise_if_any()
    return secrets


def access_of(spec: ContainerSpec) -> Access:
    pw = Path(spec.root_password_file) if spec.root_password_file else None
    return Access(pw, [Path(k) for k in spec.ssh_keys or ()])


def _secrets(spec: ContainerSpec) -> Secrets | str:
    try:
        return access_of(spec).secrets()
    except LxcprovError as exc:
        return exc.message
