"""cloud-config users made by editing /etc/passwd, /etc/group and /etc/shadow, for a
container that has no useradd (busybox: Debian's busybox-static has no adduser, addgroup
or chpasswd applet either; measured).

Pure: the three files' text in (hostile: split at \\n only, fields checked before use),
the new text and the homes to make out. Ids are chosen as useradd chooses them: the
lowest above the highest in use between 1000 and 59999, the user's own group with the
same id when it is free. A user already there keeps its ids and home (its groups and
keys are still added). A group the user is put in is made when missing, as cloud-init
does.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.engine.cloudconfig import User
from lxcprov.engine.lines import split_lines

FIRST_ID = 1000
LAST_ID = 59999
DEFAULT_SHELL = "/bin/sh"


@dataclass(frozen=True)
class Home:
    name: str
    path: str
    uid: int
    gid: int
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Accounts:
    passwd: str
    group: str
    shadow: str
    homes: tuple[Home, ...]


def _lines(text: str) -> list[list[str]]:
    return [line.split(":") for line in split_lines(text) if line]


def _ids(rows: list[list[str]], at: int) -> set[int]:
    return {int(r[at]) for r in rows if len(r) > at and r[at].isascii() and r[at].isdigit()}


def _next(used: set[int]) -> int:
    top = max((i for i in used if FIRST_ID <= i <= LAST_ID), default=FIRST_ID - 1)
    if top >= LAST_ID:
        raise ValueError("no free id left between 1000 and 59999")
    return top + 1


def _text(rows: list[list[str]]) -> str:
    return "".join(":".join(r) + "\n" for r in rows)


def add(passwd: str, group: str, shadow: str, users: tuple[User, ...], today: int) -> Accounts:
    """The account files with users added (ValueError: why they cannot be); today is the
    day (since 1970) a new shadow line says its password last changed, as useradd writes."""
    prows, grows, srows = _lines(passwd), _lines(group), _lines(shadow)
    homes: list[Home] = []
    for user in users:
        entry = next((r for r in prows if r[0] == user.name and len(r) >= 7), None)
        if entry is None:
            uid = _next(_ids(prows, 2))
            gids = _ids(grows, 2)
            gid = uid if uid not in gids else _next(gids)
            if any(g[0] == user.name for g in grows):
                raise ValueError(f"a group {user.name} exists but no user {user.name}")
            entry = [user.name, "x", str(uid), str(gid), "", f"/home/{user.name}",
                     user.shell or DEFAULT_SHELL]  # fmt: skip
            prows.append(entry)
            grows.append([user.name, "x", str(gid), ""])
        if not (entry[2].isdigit() and entry[3].isdigit()):
            raise ValueError(f"the container's /etc/passwd line of {user.name} has no ids")
        for name in user.groups:
            _join(grows, name, user.name)
        _password(srows, user, today)
        homes.append(Home(user.name, entry[5], int(entry[2]), int(entry[3]), user.keys))
    return Accounts(_text(prows), _text(grows), _text(srows), tuple(homes))


def _join(grows: list[list[str]], name: str, member: str) -> None:
    row = next((g for g in grows if g[0] == name and len(g) >= 4), None)
    if row is None:
        grows.append([name, "x", str(_next(_ids(grows, 2))), member])
        return
    members = [m for m in row[3].split(",") if m]
    if member not in members:
        row[3] = ",".join([*members, member])


def _password(srows: list[list[str]], user: User, today: int) -> None:
    """The user's shadow line: its hash (locked with ! when lock_passwd), else locked."""
    hashed = user.passwd or "!"
    if user.passwd and user.lock_passwd:
        hashed = "!" + hashed
    row = next((s for s in srows if s[0] == user.name and len(s) >= 2), None)
    if row is None:
        srows.append([user.name, hashed, str(today), "0", "99999", "7", "", "", ""])
    elif user.passwd:
        row[1] = hashed
