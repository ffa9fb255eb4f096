"""The list keys whose items may be tables (mounts, files, first_boot): each item checked,
then the list as a whole (two mounts on one target, one path given twice)."""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable
from pathlib import Path

from lxcprov.engine.apply import fields as F
from lxcprov.engine.apply.document.problems import Problems, type_name
from lxcprov.engine.apply.document.spec import MAX_FILE_BYTES, CommandSpec, Env, FileSpec
from lxcprov.engine.apply.locate import Path as KeyPath
from lxcprov.engine.mounts import Mount, check_source, check_target, parse_spec
from lxcprov.errors import LxcprovError

# Checker.block: the item's values, checked against its fields (None: not a table).
CheckBlock = Callable[[object, KeyPath, tuple[F.Field, ...]], dict[str, object] | None]

_OWNER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?")


class Entries:
    def __init__(self, problems: Problems, env: Env, block: CheckBlock) -> None:
        self.p = problems
        self.env = env
        self.block = block

    def _list(self, value: object, path: KeyPath, what: str) -> list[object] | None:
        if not isinstance(value, list):
            self.p.add(path, f"must be a list of {what}, not {type_name(value)}")
            return None
        return value

    def mounts(self, value: object, path: KeyPath) -> tuple[Mount, ...] | None:
        items = self._list(value, path, "mounts")
        if items is None:
            return None
        out: list[Mount] = []
        for i, item in enumerate(items):
            where = (*path, i)
            try:
                mount = self._mount(item, where)
            except LxcprovError as exc:
                self.p.add(where, exc.message)
                continue
            if mount is not None:
                out.append(mount)
        targets = [m.target for m in out]
        for t in sorted({t for t in targets if targets.count(t) > 1}):
            self.p.add(path, f"two mounts on {t} inside the container")
        return tuple(out) if len(out) == len(items) else None

    def _mount(self, item: object, where: KeyPath) -> Mount | None:
        """A "HOST:DIR[:ro]" string or a table (raises what engine.mounts raises)."""
        if isinstance(item, str):
            source, sep, rest = item.partition(":")
            spec = f"{self.env.host_path(source)}{sep}{rest}" if source else item
            return parse_spec(spec)
        block = self.block(item, where, F.MOUNT_FIELDS)
        if block is None:
            return None
        if "source" not in block or "target" not in block:
            self.p.add(where, "a mount needs source and target")
            return None
        return Mount(
            check_target(str(block["target"])),
            check_source(self.env.host_path(str(block["source"]))),
            bool(block.get("ro", False)),
            bool(block.get("idmap", True)),
        )

    def files(self, value: object, path: KeyPath) -> tuple[FileSpec, ...] | None:
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
        target = self._file_path(block, where)
        if target is None:
            return None
        content, source = block.get("content"), block.get("source")
        if (content is None) == (source is None):
            self.p.add(where, "a file needs exactly one of content and source")
            return None
        data: bytes | None
        if isinstance(content, str):
            data = content.encode("utf-8", errors="surrogateescape")
            source_path = None
        else:
            source_path = self.env.host_path(str(source))
            data = self._read(source_path, where)
            if data is None:
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

    def _file_path(self, block: dict[str, object], where: KeyPath) -> str | None:
        raw_path = block.get("path")
        if not isinstance(raw_path, str):
            self.p.add(where, "a file needs its path inside the container")
            return None
        target = container_path(raw_path)
        if target is None:
            self.p.add((*where, "path"), f"{raw_path!r} is not an absolute path inside "
                       "(no '..', not /)")  # fmt: skip
        return target

    def _read(self, source_path: str, where: KeyPath) -> bytes | None:
        try:
            return self.env.read_file(Path(source_path))
        except LxcprovError as exc:
            self.p.add((*where, "source"), exc.message)
            return None

    def commands(self, value: object, path: KeyPath) -> tuple[CommandSpec, ...] | None:
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


def container_path(raw: str) -> str | None:
    """raw, normalised, when it is an absolute path inside the container other than /."""
    if not raw.startswith("/") or "\0" in raw or "\n" in raw:
        return None
    if any(part == ".." for part in raw.split("/")):
        return None
    path = "/" + posixpath.normpath(raw).lstrip("/")
    return None if path == "/" else path
