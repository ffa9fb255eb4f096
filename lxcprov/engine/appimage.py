"""An application image (no init) as an LXC container: what it runs, as whom, where.

An OCI image without an init (no /sbin/init that is systemd, sysvinit or busybox's) is an
application: its config's Entrypoint and Cmd, with its Env, WorkingDir and User. LXC runs
one as its PID 1 from the container's config, as LXC's own `oci` template does (read, not
copied): `lxc.init.cmd` is what `lxc-start` runs instead of /sbin/init, `lxc.execute.cmd`
what `lxc-execute` runs, `lxc.environment` each variable, `lxc.init.cwd` the directory,
`lxc.init.uid`/`lxc.init.gid` the ids (inside the container's map). LXC splits the command
on blanks, with a word in double or single quotes kept whole (no escapes): a word no
quoting can carry, or any newline, is refused rather than run as another command.

Decided here, pure: the image's config and its /etc/passwd and /etc/group as text in,
config lines out. `kind_of` tells from a container's config which kind it is (lxcprov
writes lxc.execute.cmd only for applications; a clone copies it with the config).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxcprov.errors import ImageError

SYSTEM, APPLICATION = "system", "application"
MARK = "lxc.execute.cmd"
_IDS = 65536
_ENV_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class App:
    argv: tuple[str, ...]
    env: tuple[str, ...]  # KEY=VALUE
    cwd: str
    uid: int
    gid: int

    def config_lines(self) -> list[str]:
        # LXC 6 reads quoted words back whole; LXC 5 splits at every blank, so lxcprov
        # starts it with the words themselves (lxcprov.system.entrypoint).
        command = " ".join(_quoted(word) for word in self.argv)
        return [
            f"lxc.init.cmd = {command}",
            f"{MARK} = {command}",
            *(f"lxc.environment = {pair}" for pair in self.env),
            f"lxc.init.cwd = {self.cwd}",
            f"lxc.init.uid = {self.uid}",
            f"lxc.init.gid = {self.gid}",
            # What OCI runtimes send first; a PID 1 that has no handler for it is killed
            # when lxcprov stop's wait ends (LXC's default, SIGPWR, means nothing here).
            "lxc.signal.halt = SIGTERM",
        ]


def kind_of(config: dict[str, str]) -> str:
    return APPLICATION if config.get(MARK, "").strip() else SYSTEM


def _quoted(word: str) -> str:
    """word as LXC's lxc_string_split_quoted reads it back."""
    if word and not any(ch.isspace() or ch in "\"'" for ch in word):
        return word
    for quote in ('"', "'"):
        if quote not in word:
            return f"{quote}{word}{quote}"
    raise ImageError(f"the image's command word {word[:60]!r} holds both quote marks",
                     hint="LXC's lxc.init.cmd cannot carry it; rebuild the image's "
                     "Entrypoint/Cmd without it")  # fmt: skip


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"the image config's {what} is not a list of strings")
    for v in value:
        _plain(v, what)
    return list(value)


def _plain(value: str, what: str) -> str:
    """value, when every character is printable or a space: it goes into a config line,
    where a line break of any kind (\r, \x85, \u2028 as well as \n) would start a line
    of the image's choosing (the outside review made LXC run a hook on the host so)."""
    if not all(ch.isprintable() for ch in value):
        raise ImageError(f"the image config's {what} holds a control or line-break character",
                         hint="rebuild the image without it")  # fmt: skip
    return value


def _id_of(word: str, table: str, what: str) -> int:
    """A numeric id, or the one a name has in the image's passwd or group text."""
    if word.isdigit():
        number = int(word)
    else:
        found = [ln.split(":") for ln in table.splitlines() if ln.split(":")[0] == word]
        if not found or len(found[0]) < 3 or not found[0][2].isdigit():
            raise ImageError(f"the image's User names {what} {word!r}, which it does not have")
        number = int(found[0][2])
    if number >= _IDS:
        raise ImageError(f"the image's User {word!r} is outside the ids a container maps")
    return number


def app_of(config: dict[str, Any], passwd: str, group: str) -> App:
    """What an application image runs, from its OCI config (Entrypoint + Cmd, or /bin/sh)."""
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ImageError("the image config's `config` is not an object")
    argv = _strings(inner.get("Entrypoint"), "Entrypoint") + _strings(inner.get("Cmd"), "Cmd")
    env = _strings(inner.get("Env"), "Env")
    for pair in env:
        name = pair.partition("=")[0]
        if not name or not set(name) <= _ENV_NAME_CHARS or "=" not in pair:
            raise ImageError(f"the image config's Env holds {pair[:60]!r}, not NAME=VALUE")
    cwd = inner.get("WorkingDir") or "/"
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise ImageError("the image config's WorkingDir is not an absolute path")
    _plain(cwd, "WorkingDir")
    user = inner.get("User") or "0"
    if not isinstance(user, str):
        raise ImageError("the image config's User is not a name or an id")
    _plain(user, "User")
    name, _, group_word = user.partition(":")
    uid = _id_of(name or "0", passwd, "the user")
    gid = _id_of(group_word, group, "the group") if group_word else _primary_gid(passwd, uid)
    return App(tuple(argv or ["/bin/sh"]), tuple(env), cwd, uid, gid)


def _primary_gid(passwd: str, uid: int) -> int:
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2] == str(uid) and fields[3].isdigit():
            gid = int(fields[3])
            return gid if gid < _IDS else 0
    return 0
