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


def _lookup(text: str, name: str, want: int) -> tuple[int, int] | None:
    """(id, gid-or-id) of name in passwd/group text: fields 2 and 3 (0-based)."""
    for line in split_lines(text):
        fields = line.split(":")
        if len(fields) > want and fields[0] == name:
            try:
                return int(fields[2]), int(fields[3]) if want >= 3 else int(fields[2])
            except ValueError:
                return None
    return None


def resolve_owner(owner: str, passwd: str, group: str) -> tuple[int, int] | str:
    """USER[:GROUP] (names or numbers) as ids inside the container, or why not.

    A user alone means its primary group, as chown does.
    """
    user, _, grp = owner.partition(":")
    if user.isdigit():
        uid, primary = int(user), None if grp else int(user)
    else:
        found = _lookup(passwd, user, 3)
        if found is None:
            return f"no user {user!r} in the container's /etc/passwd"
        uid, primary = found
    if not grp:
        assert primary is not None
        return uid, primary
    if grp.isdigit():
        return uid, int(grp)
    found_group = _lookup(group, grp, 2)
    if found_group is None:
        return f"no group {grp!r} in the container's /etc/group"
    return uid, found_group[0]


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
            return FileChange(spec.path, False, "", problem=ids)
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
