"""A file a document keeps inside a container, compared with what is there now.

The container's files are hostile input: what is observed (lxcprov.ops.apply.observe
reads it through the rootfs jail, regular files only, capped) arrives here as bytes and
numbers; owner names are looked up in the container's own /etc/passwd and /etc/group
text, split at \\n only. Nothing here touches a file.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from lxcprov.engine.apply.document import FileSpec
from lxcprov.engine.lines import split_lines

Kind = Literal["absent", "file", "other"]


@dataclass(frozen=True)
class FileNow:
    """What is at a path inside the container now (ids as the container sees them)."""

    kind: Kind
    data: bytes = b""
    mode: int = 0
    uid: int = 0
    gid: int = 0
    what: str = ""  # for "other": what it is (a directory, a symlink out, too large, ...)


@dataclass(frozen=True)
class FileChange:
    path: str
    change: bool
    reason: str
    diff: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    problem: str = ""  # it cannot be written as asked (nothing is done then)


# The ids a container has: 0..65535 of its map (nobody is 65534). An id outside them, from
# the document or from the container's own /etc/passwd, would become a host id outside the
# map once the map's base is added (a negative uid reaches host root): refused, never
# written. A privileged container's ids are host ids: held to the same range.
MAX_ID = 65535


def _id(field: str) -> int | None:
    """A container id as passwd and group write it: ASCII digits only (no sign, no space,
    no underscore, no other script's digits, all of which int() takes), at most MAX_ID."""
    if not field.isascii() or not field.isdigit() or len(field) > len(str(MAX_ID)):
        return None
    value = int(field)
    return value if value <= MAX_ID else None


def _fields(text: str, name: str, want: int) -> list[str] | None:
    """The fields of name's line in passwd/group text (at least want+1 of them)."""
    for line in split_lines(text):
        fields = line.split(":")
        if len(fields) > want and fields[0] == name:
            return fields
    return None


def _bad(what: str, value: str, where: str) -> str:
    return (f"{what} {value!r}{where} is not an id the container has (0..{MAX_ID} of its "
            "id map): nothing is written")  # fmt: skip


def resolve_owner(owner: str, passwd: str, group: str) -> tuple[int, int] | str:
    """USER[:GROUP] (names or numbers) as ids inside the container, or why not.

    A user alone means its primary group, as chown does. Every id, given or looked up,
    is one of the container's (0..MAX_ID), else the answer says which is not.
    """
    user, _, grp = owner.partition(":")
    primary: int | None = None
    if user.isascii() and user.isdigit():
        uid = _id(user)
        if uid is None:
            return _bad("uid", user, "")
        primary = None if grp else uid
    else:
        fields = _fields(passwd, user, 3)
        if fields is None:
            return f"no user {user!r} in the container's /etc/passwd"
        found_uid = _id(fields[2])
        if found_uid is None:
            return _bad("uid", fields[2], f" of {user!r} in the container's /etc/passwd")
        uid = found_uid
        if not grp:
            primary = _id(fields[3])
            if primary is None:
                return _bad("gid", fields[3], f" of {user!r} in the container's /etc/passwd")
    if not grp:
        assert primary is not None
        return uid, primary
    if grp.isascii() and grp.isdigit():
        gid = _id(grp)
        return (uid, gid) if gid is not None else _bad("gid", grp, "")
    gfields = _fields(group, grp, 2)
    if gfields is None:
        return f"no group {grp!r} in the container's /etc/group"
    gid = _id(gfields[2])
    if gid is None:
        return _bad("gid", gfields[2], f" of {grp!r} in the container's /etc/group")
    return uid, gid


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def unified(path: str, before: bytes | None, after: bytes) -> str:
    """A unified diff of the content (binary content is said, not shown)."""
    old, new = _text(before or b""), _text(after)
    if old is None or new is None:
        return f"Binary content of {path} differs\n"
    a = "/dev/null" if before is None else f"a{path}"
    lines = difflib.unified_diff(
        split_lines(old, keepends=True), split_lines(new, keepends=True), a, f"b{path}"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)  # fmt: skip


def plan_file(spec: FileSpec, now: FileNow, passwd: str, group: str) -> FileChange:
    """What writing spec over now would change, and why (or why it cannot)."""
    if now.kind == "other":
        return FileChange(spec.path, False, "", problem=f"{spec.path} in the container is "
                          f"{now.what}: lxcprov replaces regular files only")  # fmt: skip
    exists = now.kind == "file"
    if spec.owner is not None:
        ids = resolve_owner(spec.owner, passwd, group)
        if isinstance(ids, str):
            return FileChange(spec.path, False, "",
                              problem=f"{spec.path}: owner {spec.owner!r}: {ids}")  # fmt: skip
        uid, gid = ids
    else:
        uid, gid = (now.uid, now.gid) if exists else (0, 0)
    mode = spec.mode if spec.mode is not None else (now.mode & 0o7777 if exists else 0o644)
    if not exists:
        return FileChange(spec.path, True, "new file", unified(spec.path, None, spec.data), mode,
                          uid, gid)  # fmt: skip
    why = []
    diff = ""
    if now.data != spec.data:
        why.append("content differs")
        diff = unified(spec.path, now.data, spec.data)
    if now.mode & 0o7777 != mode:
        why.append(f"mode {now.mode & 0o7777:04o} -> {mode:04o}")
    if (now.uid, now.gid) != (uid, gid):
        why.append(f"owner {now.uid}:{now.gid} -> {uid}:{gid}")
    if not why:
        return FileChange(spec.path, False, "already as given", "", mode, uid, gid)
    return FileChange(spec.path, True, ", ".join(why), diff, mode, uid, gid)
