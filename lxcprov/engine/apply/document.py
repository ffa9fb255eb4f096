"""An `apply` document: read, checked, merged and expanded into one spec per container.

The text is TOML (a file) or JSON (`apply -`, what the Ansible modules send); both give
the same tree. Every key is checked against the tables of lxcprov.engine.apply.fields
before anything runs: an unknown key names the nearest known one, a wrong type names
what it must be, and every message starts with FILE:LINE: KEY. All problems are reported
at once, one line each.

Merging: a container takes `defaults`, then each profile it `extends` (in order), then its
own keys; a later value replaces an earlier one (lists too: they are never appended).
Expansion: `[containers.web] count = 3` declares web1, web2, web3 (as `new --count`);
`[containers."web-{n}"] count = 3` declares web-1, web-2, web-3.

A key a container does not have is not managed: an existing container keeps what it has
there, a new one gets `lxcprov new`'s default. `mounts = []` (given, empty) means none.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import posixpath
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lxcprov.engine import settings_table, sizes
from lxcprov.engine.apply import fields as F
from lxcprov.engine.apply.locate import Path as KeyPath
from lxcprov.engine.apply.locate import Where, dotted, json_lines, toml_lines
from lxcprov.engine.mounts import Mount, check_source, check_target, parse_spec
from lxcprov.engine.publish import Publish, parse_publish
from lxcprov.errors import InvalidArgumentError, LxcprovError, plural
from lxcprov.system import lxc
from lxcprov.system.cgroups import CgroupHost

State = Literal["started", "stopped", "present", "absent"]
Format = Literal["toml", "json"]

# The most a file of the document may bring into a container (source or content).
MAX_FILE_BYTES = 16 * 1024**2
_OWNER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?")


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
    files: tuple[FileSpec, ...] | None = None
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


class Problems:
    """Every problem of a document, one line each, raised together."""

    def __init__(self, where: Where) -> None:
        self.where = where
        self.found: list[tuple[int, str]] = []  # (line, message), shown in line order

    @property
    def lines(self) -> list[str]:
        return [text for _, text in sorted(self.found, key=lambda f: f[0])]

    def add(self, path: KeyPath, message: str) -> None:
        self.add_at(self.where.at(path), message, self.where.line(path) or 0)

    def add_at(self, at: str, message: str, line: int = 0) -> None:
        text = f"{at}: {message}"
        if text not in [t for _, t in self.found]:
            self.found.append((line, text))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        if len(self.lines) == 1:
            raise InvalidArgumentError(self.lines[0], hint=_HINT)
        raise InvalidArgumentError(
            f"{self.where.source}: {plural(len(self.lines), 'problem')} (above); "
            "nothing was changed",
            hint=_HINT,
            details=self.lines,
        )


_HINT = "the document's keys: docs/apply.md (JSON Schema: docs/apply.schema.json)"


# ---- text -> tree -------------------------------------------------------------------


def load_text(text: str, source: str, fmt: Format) -> tuple[dict[str, Any], Where]:
    """The document's tree and the lines of its keys; a syntax error is one line."""
    if fmt == "toml":
        try:
            raw: object = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib says "... (at line 3, column 9)"
            raise InvalidArgumentError(f"{source}: not valid TOML: {exc}", hint=_HINT) from None
        lines = toml_lines(text)
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(
                f"{source}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})",
                hint=_HINT,
            ) from None
        lines = json_lines(text)
    if not isinstance(raw, dict):
        raise InvalidArgumentError(f"{source}: the document must be a table (a JSON object)")
    return raw, Where(source, lines)


# ---- one block of keys --------------------------------------------------------------


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def unknown_key(key: str, known: list[str]) -> str:
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if near:
        return f"unknown key {key!r} (did you mean {near[0]!r}?)"
    return f"unknown key {key!r} (known: {', '.join(known)})"


class _Checker:
    def __init__(self, problems: Problems, env: Env) -> None:
        self.p = problems
        self.env = env

    def keys(self, block: Mapping[str, object], path: KeyPath, known: tuple[F.Field, ...]) -> bool:
        names = [f.name for f in known]
        ok = True
        for key in block:
            if key not in names:
                self.p.add((*path, key), unknown_key(key, names))
                ok = False
        return ok

    def block(
        self, block: object, path: KeyPath, known: tuple[F.Field, ...]
    ) -> dict[str, object] | None:
        """The block's values, checked and normalised (None when it is not a table)."""
        if not isinstance(block, dict):
            self.p.add(path, f"must be a table, not {_type_name(block)}")
            return None
        self.keys(block, path, known)
        out: dict[str, object] = {}
        for f in known:
            if f.name in block:
                value = self.value(f, block[f.name], (*path, f.name))
                if value is not None:
                    out[f.name] = value
        return out

    def _string(self, f: F.Field, value: object, path: KeyPath) -> str | None:
        if not isinstance(value, str):
            self.p.add(path, f"must be a string, not {_type_name(value)}")
            return None
        if "\0" in value:
            self.p.add(path, "must not hold a NUL character")
            return None
        if f.pattern and not re.fullmatch(f.pattern, value):
            self.p.add(path, f"{value!r} is not valid here (it must match {f.pattern})")
            return None
        return value

    def _strings(self, f: F.Field, value: object, path: KeyPath) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.p.add(path, f"must be a list of strings, not {_type_name(value)}")
            return None
        out = [self._string(f, v, (*path, i)) for i, v in enumerate(value)]
        return tuple(v for v in out if v is not None) if None not in out else None

    def value(self, f: F.Field, value: object, path: KeyPath) -> object | None:
        kind = f.kind
        if kind in ("string", "enum"):
            text = self._string(f, value, path)
            if text is not None and f.choices and text not in f.choices:
                self.p.add(path, f"{text!r} is not one of {', '.join(f.choices)}")
                return None
            return text
        if kind == "boolean":
            if not isinstance(value, bool):
                self.p.add(path, f"must be true or false, not {_type_name(value)}")
                return None
            return value
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                self.p.add(path, f"must be an integer, not {_type_name(value)}")
                return None
            if (f.minimum is not None and value < f.minimum) or (
                f.maximum is not None and value > f.maximum
            ):
                self.p.add(path, f"{value} is outside {f.minimum}..{f.maximum}")
                return None
            return value
        if kind == "size":
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
            if not isinstance(value, str):
                self.p.add(path, f'must be a size like "512M" or bytes, not {_type_name(value)}')
                return None
            return value
        if kind == "number-or-string":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return f"{value:g}"
            if not isinstance(value, str):
                self.p.add(
                    path, f'must be a number or a string like "0-1", not {_type_name(value)}'
                )
                return None
            return value
        if kind == "strings":
            return self._strings(f, value, path)
        if kind == "names":
            if isinstance(value, str):
                return (value,)
            return self._strings(f, value, path)
        if kind == "mounts":
            return self._mounts(value, path)
        if kind == "files":
            return self._files(value, path)
        if kind == "commands":
            return self._commands(value, path)
        raise AssertionError(kind)

    def _list(self, value: object, path: KeyPath, what: str) -> list[object] | None:
        if not isinstance(value, list):
            self.p.add(path, f"must be a list of {what}, not {_type_name(value)}")
            return None
        return value

    def _mounts(self, value: object, path: KeyPath) -> tuple[Mount, ...] | None:
        items = self._list(value, path, "mounts")
        if items is None:
            return None
        out: list[Mount] = []
        for i, item in enumerate(items):
            where = (*path, i)
            try:
                if isinstance(item, str):
                    source, sep, rest = item.partition(":")
                    spec = f"{self._host_path(source)}{sep}{rest}" if source else item
                    out.append(parse_spec(spec))
                    continue
                block = self.block(item, where, F.MOUNT_FIELDS)
                if block is None:
                    continue
                if "source" not in block or "target" not in block:
                    self.p.add(where, "a mount needs source and target")
                    continue
                out.append(
                    Mount(
                        check_target(str(block["target"])),
                        check_source(self._host_path(str(block["source"]))),
                        bool(block.get("ro", False)),
                        bool(block.get("idmap", True)),
                    )
                )
            except LxcprovError as exc:
                self.p.add(where, exc.message)
        targets = [m.target for m in out]
        for t in sorted({t for t in targets if targets.count(t) > 1}):
            self.p.add(path, f"two mounts on {t} inside the container")
        return tuple(out) if len(out) == len(items) else None

    def _host_path(self, text: str) -> str:
        return _host_path(self.env, text)

    def _files(self, value: object, path: KeyPath) -> tuple[FileSpec, ...] | None:
        items = self._list(value, path, "tables (path, content or source, mode, owner)")
        if items is None:
            return None
        out: list[FileSpec] = []
        for i, item in enumerate(items):
            where = (*path, i)
            block = self.block(item, where, F.FILE_FIELDS)
            if block is None:
                continue
            spec = self._file(block, where)
            if spec is not None:
                out.append(spec)
        paths = [f.path for f in out]
        for p in sorted({p for p in paths if paths.count(p) > 1}):
            self.p.add(path, f"{p} is given twice")
        return tuple(out) if len(out) == len(items) else None

    def _file(self, block: dict[str, object], where: KeyPath) -> FileSpec | None:
        raw_path = block.get("path")
        if not isinstance(raw_path, str):
            self.p.add(where, "a file needs its path inside the container")
            return None
        target = _container_path(raw_path)
        if target is None:
            self.p.add((*where, "path"), f"{raw_path!r} is not an absolute path inside "
                       "(no '..', not /)")  # fmt: skip
            return None
        content, source = block.get("content"), block.get("source")
        if (content is None) == (source is None):
            self.p.add(where, "a file needs exactly one of content and source")
            return None
        data: bytes
        if isinstance(content, str):
            data = content.encode("utf-8", errors="surrogateescape")
            source_path = None
        else:
            source_path = self._host_path(str(source))
            try:
                data = self.env.read_file(Path(source_path))
            except LxcprovError as exc:
                self.p.add((*where, "source"), exc.message)
                return None
        if len(data) > MAX_FILE_BYTES:
            self.p.add(where, f"larger than {MAX_FILE_BYTES // 1024**2} MiB")
            return None
        mode = int(str(block["mode"]), 8) if "mode" in block else None
        owner = block.get("owner")
        if owner is not None and not _OWNER.fullmatch(str(owner)):
            self.p.add((*where, "owner"), f"{owner!r} is not USER[:GROUP]")
            return None
        return FileSpec(
            target,
            data,
            content if isinstance(content, str) else None,
            source_path,
            mode,
            None if owner is None else str(owner),
        )

    def _commands(self, value: object, path: KeyPath) -> tuple[CommandSpec, ...] | None:
        items = self._list(value, path, "commands (strings or tables with run)")
        if items is None:
            return None
        out: list[CommandSpec] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            where = (*path, i)
            timeout = F.DEFAULT_COMMAND_TIMEOUT
            if isinstance(item, dict):
                block = self.block(item, where, F.COMMAND_FIELDS)
                if block is None:
                    continue
                run = block.get("run")
                timeout = int(str(block.get("timeout", timeout)))
            else:
                run = item
            if not isinstance(run, str) or not run.strip():
                self.p.add(where, "a command is a non-empty string (or a table with run)")
                continue
            if "\0" in run:
                self.p.add(where, "a command must not hold a NUL character")
                continue
            seen[run] = seen.get(run, 0) + 1
            out.append(CommandSpec(run, timeout, command_id(run, seen[run])))
        return tuple(out) if len(out) == len(items) else None


def command_id(run: str, occurrence: int) -> str:
    """A command's name in the record of what ran: its text (and, for the same text given
    again, which time), so editing a command makes it a new one that runs."""
    return hashlib.sha256(f"{occurrence}\0{run}".encode()).hexdigest()[:16]


def _container_path(raw: str) -> str | None:
    if not raw.startswith("/") or "\0" in raw or "\n" in raw:
        return None
    if any(part == ".." for part in raw.split("/")):
        return None
    path = "/" + posixpath.normpath(raw).lstrip("/")
    return None if path == "/" else path


# ---- the whole document -------------------------------------------------------------


@dataclass
class _Declared:
    key: str
    path: KeyPath
    values: dict[str, object]  # merged, checked values
    origins: dict[str, KeyPath]  # value -> where it was set
    count: int | None


def parse(raw: Mapping[str, object], where: Where, env: Env) -> Document:
    """The checked document; raises one InvalidArgumentError listing every problem."""
    problems = Problems(where)
    check = _Checker(problems, env)
    check.keys(raw, (), F.TOP_FIELDS)
    version = raw.get("version", 1)
    if version != 1:
        problems.add(("version",), f"{version!r} is not a version this lxcprov reads (1)")
    defaults = check.block(raw.get("defaults", {}), ("defaults",), F.CONTAINER_FIELDS) or {}
    profiles: dict[str, dict[str, object]] = {}
    raw_profiles = raw.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        problems.add(("profiles",), "must be a table of profiles")
        raw_profiles = {}
    for name, block in raw_profiles.items():
        checked = check.block(block, ("profiles", name), F.CONTAINER_FIELDS)
        if checked is not None:
            profiles[name] = checked
    raw_containers = raw.get("containers", {})
    if not isinstance(raw_containers, dict):
        problems.add(("containers",), "must be a table of containers")
        raw_containers = {}
    declared: list[_Declared] = []
    for key, block in raw_containers.items():
        path: KeyPath = ("containers", key)
        checked = check.block(block, path, (*F.CONTAINER_FIELDS, *F.DECLARATION_FIELDS))
        if checked is None:
            continue
        values: dict[str, object] = {}
        origins: dict[str, KeyPath] = {}
        layers: list[tuple[dict[str, object], KeyPath]] = [(defaults, ("defaults",))]
        extends = checked.pop("extends", ())
        assert isinstance(extends, tuple)
        for i, profile in enumerate(extends):
            if profile not in profiles:
                problems.add((*path, "extends", i), unknown_profile(profile, list(profiles)))
                continue
            layers.append((profiles[profile], ("profiles", profile)))
        count = checked.pop("count", None)
        layers.append((checked, path))
        for layer, origin in layers:
            for name, value in layer.items():
                values[name] = value
                origins[name] = (*origin, name)
        declared.append(_Declared(key, path, values, origins, count))  # type: ignore[arg-type]
    specs = _expand(declared, problems, where, env)
    _check_across(specs, problems)
    problems.raise_if_any()
    return Document(where.source, tuple(specs))


def unknown_profile(name: str, known: list[str]) -> str:
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else f" (profiles: {', '.join(known) or 'none'})"
    return f"no profile {name!r}{hint}"


def _names(d: _Declared, problems: Problems) -> list[str]:
    if "{n}" in d.key:
        if d.count is None:
            problems.add(d.path, "a name with {n} needs a count")
            return []
        return [d.key.replace("{n}", str(i)) for i in range(1, d.count + 1)]
    if d.count is not None:
        return [f"{d.key}{i}" for i in range(1, d.count + 1)]
    return [d.key]


def _expand(
    declared: list[_Declared], problems: Problems, where: Where, env: Env
) -> list[ContainerSpec]:
    out: list[ContainerSpec] = []
    first: dict[str, str] = {}
    for d in declared:
        values = _values(d, problems, env)
        for name in _names(d, problems):
            try:
                lxc.check_name(name)
            except LxcprovError:
                problems.add(d.path, f"{name!r} is not a container name (letters, digits and "
                             "dashes, at most 63; it becomes the hostname)")  # fmt: skip
                continue
            if name in first:
                collides = " (a count collides with another name)" if d.count else ""
                problems.add(d.path, f"declares {name}, which {first[name]} declares too"
                             + collides)  # fmt: skip
                continue
            first[name] = dotted(d.path)
            spec = ContainerSpec(
                name=name,
                declared=where.at(d.path),
                from_count=d.count is not None,
                given=frozenset(d.values),
                where={k: where.at(p) for k, p in d.origins.items()},
                **values,
            )
            out.append(spec)
    return out


def _values(d: _Declared, problems: Problems, env: Env) -> dict[str, Any]:
    """The spec values of a declaration, checking what needs more than a type."""
    v = d.values
    at = d.origins
    settings: dict[str, str] = {}
    for key, setting in F.SETTING_OF.items():
        if key in v:
            value = v[key]
            if isinstance(value, bool):
                value = "yes" if value else "no"
            settings[setting] = str(value)
    ctx = settings_table.Ctx(env.host, [], dict(settings))
    for key, setting in F.SETTING_OF.items():
        if setting not in settings:
            continue
        try:
            if setting == "swap" and "memory" not in settings:
                # The container's own memory limit decides; `set` checks it then.
                sizes.parse_size("swap", settings["swap"])
            else:
                settings_table.SETTINGS[setting].compute(settings[setting], ctx)
        except LxcprovError as exc:
            problems.add(at[key], exc.message)
    bridge = v.get("bridge")
    address = v.get("address")
    if isinstance(address, str):
        problem = check_address(address)
        if problem:
            problems.add(at["address"], problem)
        elif bridge == "none" and address.lower() not in ("none", "dhcp"):
            problems.add(at["address"], "an address needs a network, and bridge is none")
        elif d.count and address.lower() not in ("dhcp", "auto", "none"):
            problems.add(at["address"], f"{d.count} containers cannot share the address "
                         f"{address}: use auto")  # fmt: skip
    publish: list[Publish] = []
    raw_publish = v.get("publish")
    if isinstance(raw_publish, tuple):
        for i, text in enumerate(raw_publish):
            try:
                publish.append(parse_publish(str(text)))
            except LxcprovError as exc:
                problems.add((*at["publish"], i), exc.message)
        if publish and bridge == "none":
            problems.add(at["publish"], "published ports need a network, and bridge is none")
    if v.get("privileged") is True and v.get("isolated") is True:
        problems.add(at["isolated"], "isolated gives an unprivileged container ids of its own; "
                     "privileged has none")  # fmt: skip
    password = v.get("root_password_file")
    keys = v.get("ssh_keys")
    return {
        "template": v.get("template"),
        "release": v.get("release"),
        "template_args": v.get("template_args"),
        "privileged": v.get("privileged"),
        "isolated": v.get("isolated"),
        "state": v.get("state", "started"),
        "bridge": bridge,
        "address": address,
        "settings": settings,
        "root_password_file": None if password is None else _host_path(env, str(password)),
        "ssh_keys": None if keys is None else tuple(_host_path(env, str(k)) for k in keys),  # type: ignore[attr-defined]
        "mounts": v.get("mounts"),
        "publish": tuple(publish) if "publish" in v else None,
        "files": v.get("files"),
        "first_boot": v.get("first_boot"),
        "groups": v.get("groups"),
    }


def _host_path(env: Env, text: str) -> str:
    return text if text.startswith("/") else str(env.base_dir / text)


def check_address(text: str) -> str:
    """ "" when text is dhcp, auto, none or an IPv4 address (with or without a prefix)."""
    if text.strip().lower() in ("dhcp", "auto", "none"):
        return ""
    try:
        ipaddress.IPv4Interface(text)
    except ValueError:
        return f"{text!r} is not dhcp, auto or an IPv4 ADDR[/PREFIX]"
    return ""


def static_ip(spec: ContainerSpec) -> ipaddress.IPv4Address | None:
    address = (spec.address or "").strip().lower()
    if not address or address in ("dhcp", "auto", "none"):
        return None
    try:
        return ipaddress.IPv4Interface(address).ip
    except ValueError:
        return None  # reported where it is read


def _check_across(specs: list[ContainerSpec], problems: Problems) -> None:
    """What no single container shows: two claiming one static address or host port."""
    addresses: dict[tuple[str, ipaddress.IPv4Address], str] = {}
    for s in specs:
        if s.state == "absent" or s.from_count:  # a count with one address: said already
            continue
        ip = static_ip(s)
        if ip is None:
            continue
        key = (s.bridge or "", ip)
        if key in addresses:
            problems.add_at(s.at("address"), f"{s.name} and {addresses[key]} both claim {ip}")
        else:
            addresses[key] = s.name
    ports: list[tuple[Publish, str]] = []
    for s in specs:
        if s.state == "absent":
            continue
        for p in s.publish or ():
            for other, owner in ports:
                same_addr = not p.host_addr or not other.host_addr or p.host_addr == other.host_addr
                if (p.proto, p.host_port) == (other.proto, other.host_port) and same_addr:
                    problems.add_at(s.at("publish"), f"host port {p.host_port}/{p.proto} is "
                                    f"claimed by {owner} and {s.name}")  # fmt: skip
                    break
            ports.append((p, s.name))


# ---- spec -> document keys (jobs for the workers, export-spec) ----------------------


def to_fields(spec: ContainerSpec) -> dict[str, object]:
    """The document keys of spec, in the table's order (only those it has).

    parse() of {"containers": {name: to_fields(spec)}} gives spec back (its name and
    places aside): the worker of one container is sent exactly this.
    """
    out: dict[str, object] = {}
    for f in F.CONTAINER_FIELDS:
        if f.name not in spec.given:
            continue
        if f.setting:
            value: object = spec.settings[f.setting]
            if f.kind == "boolean":
                value = value == "yes"
            elif f.kind == "integer":
                value = int(str(value))
            out[f.name] = value
            continue
        value = getattr(spec, f.name)
        seq: tuple[Any, ...] = value if isinstance(value, tuple) else ()
        if f.name == "mounts":
            value = [mount_fields(m) for m in seq]
        elif f.name == "publish":
            value = [p.spec() for p in seq]
        elif f.name == "files":
            value = [_file_fields(x) for x in seq]
        elif f.name == "first_boot":
            value = [c.run if c.timeout == F.DEFAULT_COMMAND_TIMEOUT
                     else {"run": c.run, "timeout": c.timeout} for c in seq]  # fmt: skip
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def mount_fields(m: Mount) -> dict[str, object]:
    out: dict[str, object] = {"source": m.source, "target": m.target}
    if m.ro:
        out["ro"] = True
    if not m.idmap:
        out["idmap"] = False
    return out


def _file_fields(f: FileSpec) -> dict[str, object]:
    out: dict[str, object] = {"path": f.path}
    if f.source is not None:
        out["source"] = f.source
    else:
        out["content"] = f.content if f.content is not None else f.data.decode()
    if f.mode is not None:
        out["mode"] = f"{f.mode:04o}"
    if f.owner is not None:
        out["owner"] = f.owner
    return out


def one(spec: ContainerSpec) -> dict[str, object]:
    """A document of spec alone."""
    return {"version": 1, "containers": {spec.name: to_fields(spec)}}
