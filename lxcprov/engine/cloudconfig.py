"""What a `#cloud-config` user-data document says, checked against the part lxcprov does.

`new --user-data FILE` takes the cloud-config a user already gives their clouds. This
module is the one judge of it (pure: text in, a CloudConfig or one error line out): the
first line must be `#cloud-config`, the rest a YAML mapping read by PyYAML's safe loader
with aliases and repeated keys refused (an alias bomb would expand here; a repeated key
is one of two values silently lost), the size capped. Every key lxcprov implements is
checked strictly (paths absolute and free of NUL and newlines, modes quoted octal
strings, names as useradd takes them); any other key is an error naming it, or with
`lenient` a key listed as ignored. The same document, unchanged, is what a container
carrying cloud-init gets in its NoCloud seed (lxcprov.engine.nocloud).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from lxcprov.errors import InvalidArgumentError, did_you_mean

HEADER = "#cloud-config"
# The most user-data read (cloud providers cap theirs at 16 KiB to 64 KiB; files written
# from it are the bulk): a larger file is refused before YAML sees it.
MAX_BYTES = 1024 * 1024
# The most one write_files entry may hold once decoded (a gzip bomb stops here).
MAX_FILE_BYTES = 16 * 1024 * 1024
# The most entries of any list (users, files, packages, commands, keys).
MAX_ITEMS = 1000

KEYS = ("hostname", "users", "ssh_authorized_keys", "write_files", "packages",
        "package_update", "runcmd", "timezone")  # fmt: skip
USER_KEYS = ("name", "groups", "sudo", "shell", "ssh_authorized_keys", "lock_passwd", "passwd")
FILE_KEYS = ("path", "content", "encoding", "owner", "permissions", "append")

# As useradd accepts them (shadow's default NAME_REGEX, what Debian's adduser also asks).
_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]*(?:=[A-Za-z0-9.+~:-]+)?")
_ZONE = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")
_CRYPT = re.compile(r"\$[0-9a-z]+\$[./A-Za-z0-9$=,]+")
_OCTAL = re.compile(r"0?[0-7]{3,4}")
_ENCODINGS = {
    "text/plain": "text", "b64": "b64", "base64": "b64", "gzip": "gz", "gz": "gz",
    "gz+b64": "gz+b64", "gz+base64": "gz+b64", "gzip+b64": "gz+b64", "gzip+base64": "gz+b64",
}  # fmt: skip

# What the boot mounts over (proc, sysfs, devtmpfs or LXC's /dev, tmpfs on /run; /var/run
# is a link to /run): a file written there before the boot is hidden by the mount and
# lost, while cloud-init, which writes at boot, would keep it. Refused on both paths so
# the document means one thing.
MOUNTED = ("/proc", "/sys", "/dev", "/run", "/var/run")

Command = str | tuple[str, ...]


def mounted_over(path: str) -> str:
    """The mount point in MOUNTED that path is at or under ("" when none)."""
    return next((m for m in MOUNTED if path == m or path.startswith(m + "/")), "")


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    sudo: tuple[str, ...] = ()  # sudoers rules ("ALL=(ALL) NOPASSWD:ALL")
    shell: str | None = None
    keys: tuple[str, ...] = ()
    lock_passwd: bool = True
    passwd: str | None = None  # a crypt(3) hash, never a plain password


@dataclass(frozen=True)
class WriteFile:
    path: str
    data: bytes
    owner: str = "root:root"
    mode: int = 0o644
    append: bool = False


@dataclass(frozen=True)
class CloudConfig:
    text: str  # the document as given (what a NoCloud seed holds)
    hostname: str | None = None
    users: tuple[User, ...] = ()
    default_user: bool = False  # `users` named `default` (cloud-init's own user)
    root_keys: tuple[str, ...] = ()
    files: tuple[WriteFile, ...] = ()
    packages: tuple[str, ...] = ()
    package_update: bool = False
    runcmd: tuple[Command, ...] = ()
    timezone: str | None = None
    ignored: tuple[str, ...] = field(default=())  # keys left out under lenient


class _Bad(Exception):
    """One problem, with the key path it is at (`users[0].shell`)."""

    def __init__(self, where: str, why: str, hint: str = "") -> None:
        super().__init__(f"{where}: {why}" if where else why)
        self.hint = hint


def _error(source: str, why: str, hint: str = "") -> InvalidArgumentError:
    return InvalidArgumentError(
        f"user-data {source}: {why}",
        hint=hint or "see docs/cloud-config.md for the keys lxcprov applies",
    )


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no types in Debian
    """safe_load, refusing aliases and a key given twice."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not taken in user-data", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise _Bad("", f"not YAML: {where}{what}".replace("\n", " ")) from None
    except (yaml.YAMLError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "nested too deep"
        raise _Bad("", f"not YAML: {first}") from None


def parse(data: bytes, source: str, *, lenient: bool = False) -> CloudConfig:
    """The document in data (the file named source), checked; one error line otherwise."""
    if len(data) > MAX_BYTES:
        # Readers stop at MAX_BYTES + 1: the size past the cap is not known, only that.
        raise _error(source, f"it is more than {MAX_BYTES // (1024 * 1024)} MiB, the most taken",
                     "put large files in the container another way (lxcprov push)")  # fmt: skip
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(source, f"not UTF-8 text (byte {exc.start})") from None
    first = text.split("\n", 1)[0].rstrip("\r \t")
    if first != HEADER:
        raise _error(source, f"it does not start with the line {HEADER}",
                     "lxcprov takes cloud-config documents only (no scripts, no MIME "
                     f"multipart): add {HEADER} as the first line")  # fmt: skip
    if "\0" in text:
        raise _error(source, "it holds a NUL byte")
    try:
        return _document(text, _yaml(text), lenient)
    except _Bad as exc:
        raise _error(source, str(exc), exc.hint) from None


def _document(text: str, doc: Any, lenient: bool) -> CloudConfig:
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise _Bad("", f"the document is a YAML {_kind(doc)}, not a mapping of keys")
    ignored = _unknown(doc, KEYS, "", lenient)
    users, default = _users(doc.get("users"))
    return CloudConfig(
        text=text,
        hostname=_hostname(doc.get("hostname")),
        users=users,
        default_user=default,
        root_keys=_keys(doc.get("ssh_authorized_keys"), "ssh_authorized_keys"),
        files=tuple(_file(f, f"write_files[{i}]", lenient, ignored)
                    for i, f in enumerate(_list(doc.get("write_files"), "write_files"))),
        packages=tuple(_package(p, f"packages[{i}]")
                       for i, p in enumerate(_list(doc.get("packages"), "packages"))),
        package_update=_bool(doc.get("package_update", False), "package_update"),
        runcmd=tuple(_command(c, f"runcmd[{i}]")
                     for i, c in enumerate(_list(doc.get("runcmd"), "runcmd"))),
        timezone=_timezone(doc.get("timezone")),
        ignored=tuple(ignored),
    )  # fmt: skip


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "string" if isinstance(value, str) else "number"


def _unknown(mapping: dict[Any, Any], known: tuple[str, ...], at: str, lenient: bool) -> list[str]:
    """The keys of mapping lxcprov does not implement: an error, or listed when lenient."""
    names = [str(k) for k in mapping if k not in known]
    if names and not lenient:
        where = f"{at}." if at else ""
        hint = (
            "lxcprov applies only "
            + ", ".join(known)
            + ("; --user-data-lenient ignores the others (and lists them)")
        )
        raise _Bad("", f"key {where}{_unknown_line(names, known)}", hint)
    return [f"{at}.{n}" if at else n for n in names]


def _unknown_line(names: list[str], known: tuple[str, ...]) -> str:
    """The unknown key to name first (one with a near miss, wherever it is among them),
    with the near miss and the other unknown keys."""
    first = next((n for n in names if did_you_mean(n, known)), names[0])
    others = [n for n in names if n != first]
    also = f"; nor {', '.join(others)}" if others else ""
    return f"{first} is not one lxcprov applies{did_you_mean(first, known)}{also}"


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(where, f"a list is needed, not a {_kind(value)}")
    if len(value) > MAX_ITEMS:
        raise _Bad(where, f"{len(value)} entries, more than the {MAX_ITEMS} taken")
    return value


def _str(value: Any, where: str, *, empty: bool = False) -> str:
    """A string that may end up in a config file or a command: one line, no NUL."""
    if not isinstance(value, str):
        raise _Bad(where, f"a string is needed, not a {_kind(value)}")
    if "\n" in value or "\r" in value or "\0" in value:
        raise _Bad(where, "it holds a newline or a NUL byte")
    if not value and not empty:
        raise _Bad(where, "it is empty")
    return value


def _field(value: str, where: str) -> str:
    """A value that becomes a field of /etc/passwd, /etc/shadow or /etc/group (where
    lxcprov edits them, busybox): a `:` would split it into two fields and a control
    character has no place there, so neither is taken (names and groups have their own
    stricter pattern)."""
    bad = next((ch for ch in value if ch == ":" or ord(ch) < 32 or ord(ch) == 127), None)
    if bad is not None:
        raise _Bad(where, f"{value!r} holds {bad!r}: it is a field of the account files",
                   "no ':' and no control characters")  # fmt: skip
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Bad(where, f"true or false is needed, not {value!r}")
    return value


def _name(value: Any, where: str) -> str:
    name = _str(value, where)
    if not _NAME.fullmatch(name):
        raise _Bad(where, f"{name!r} is not a user or group name useradd takes",
                   "lower-case letters, digits, _ and -, starting with a letter or _, "
                   "at most 32")  # fmt: skip
    return name


def _path(value: Any, where: str) -> str:
    path = _str(value, where)
    if not path.startswith("/") or path == "/" or path.endswith("/"):
        raise _Bad(where, f"{path!r} is not an absolute path of a file")
    if any(part in (".", "..") for part in path.split("/")):
        raise _Bad(where, f"{path!r} has . or .. in it")
    return re.sub("/+", "/", path)


def _hostname(value: Any) -> str | None:
    if value is None:
        return None
    name = _str(value, "hostname")
    if not _HOSTNAME.fullmatch(name):
        raise _Bad("hostname", f"{name!r} is not a host name",
                   "letters, digits and -, at most 63, not starting or ending with -")  # fmt: skip
    return name


def _timezone(value: Any) -> str | None:
    if value is None:
        return None
    zone = _str(value, "timezone")
    if not _ZONE.fullmatch(zone) or len(zone) > 100:
        raise _Bad("timezone", f"{zone!r} is not a time zone name", "e.g. Europe/Paris or UTC")
    return zone


def _keys(value: Any, where: str) -> tuple[str, ...]:
    keys = tuple(_str(k, f"{where}[{i}]") for i, k in enumerate(_list(value, where)))
    for i, key in enumerate(keys):
        if key.lstrip().startswith("#") or len(key.split()) < 2:
            raise _Bad(f"{where}[{i}]", "not an SSH public key (TYPE BASE64 [COMMENT])")
    return keys


def _users(value: Any) -> tuple[tuple[User, ...], bool]:
    users: list[User] = []
    default = False
    for i, item in enumerate(_list(value, "users")):
        where = f"users[{i}]"
        if item == "default":
            default = True
        elif isinstance(item, str):
            users.append(User(_name(item, where)))
        elif isinstance(item, dict):
            users.append(_user(item, where))
        else:
            raise _Bad(where, f"a user is a mapping or a name, not a {_kind(item)}")
    names = [u.name for u in users]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _Bad("users", f"{twice[0]} is given twice")
    if "root" in names:
        raise _Bad("users", "root is not a user to create",
                   "root's keys go in the top-level ssh_authorized_keys")  # fmt: skip
    return tuple(users), default


def _user(item: dict[Any, Any], where: str) -> User:
    # Every other key cloud-init knows (uid, homedir, gecos, ...) changes who the user is:
    # refused even when lenient, so a user is never made other than asked.
    extra = [str(k) for k in item if k not in USER_KEYS]
    if extra:
        first = next((k for k in extra if did_you_mean(k, USER_KEYS)), extra[0])
        raise _Bad(where, f"key {first} is not one lxcprov applies to a user"
                   f"{did_you_mean(first, USER_KEYS)}",
                   "a user takes " + ", ".join(USER_KEYS))  # fmt: skip
    if "name" not in item:
        raise _Bad(where, "a user needs a name")
    groups_raw = item.get("groups")
    if isinstance(groups_raw, str):
        groups_raw = [g.strip() for g in groups_raw.split(",")]
    groups = tuple(_name(g, f"{where}.groups[{i}]")
                   for i, g in enumerate(_list(groups_raw, f"{where}.groups")))  # fmt: skip
    sudo_raw = item.get("sudo")
    if sudo_raw is False or sudo_raw is None:
        sudo_raw = []
    elif isinstance(sudo_raw, str):
        sudo_raw = [sudo_raw]
    sudo = tuple(_str(r, f"{where}.sudo[{i}]")
                 for i, r in enumerate(_list(sudo_raw, f"{where}.sudo")))  # fmt: skip
    shell = item.get("shell")
    if shell is not None:
        shell = _field(_path(shell, f"{where}.shell"), f"{where}.shell")
    passwd = item.get("passwd")
    if passwd is not None:
        passwd = _field(_str(passwd, f"{where}.passwd"), f"{where}.passwd")
        if not _CRYPT.fullmatch(passwd):
            raise _Bad(f"{where}.passwd", "not a crypt(3) hash",
                       "passwd takes a hashed password: openssl passwd -6")  # fmt: skip
    return User(
        name=_name(item["name"], f"{where}.name"),
        groups=groups,
        sudo=sudo,
        shell=shell,
        keys=_keys(item.get("ssh_authorized_keys"), f"{where}.ssh_authorized_keys"),
        lock_passwd=_bool(item.get("lock_passwd", True), f"{where}.lock_passwd"),
        passwd=passwd,
    )


def _file(item: Any, where: str, lenient: bool, ignored: list[str]) -> WriteFile:
    if not isinstance(item, dict):
        raise _Bad(where, f"a file is a mapping, not a {_kind(item)}")
    ignored += _unknown(item, FILE_KEYS, where, lenient)
    if "path" not in item:
        raise _Bad(where, "a file needs a path")
    content = item.get("content", "")
    if not isinstance(content, str):
        raise _Bad(f"{where}.content", f"a string is needed, not a {_kind(content)}")
    encoding = str(item.get("encoding", "text/plain")).lower()
    if encoding not in _ENCODINGS:
        raise _Bad(f"{where}.encoding", f"{encoding!r} is not one lxcprov decodes",
                   "b64, base64, gzip, gz, gz+b64 or text/plain")  # fmt: skip
    owner = _str(item.get("owner", "root:root"), f"{where}.owner")
    user, _, group = owner.partition(":")
    for part in (user, group) if group else (user,):
        if not (part.isascii() and part.isdigit()):
            _name(part, f"{where}.owner")
    perms = item.get("permissions", "0644")
    if not isinstance(perms, str) or not _OCTAL.fullmatch(perms):
        raise _Bad(f"{where}.permissions", f"{perms!r} is not a quoted octal mode",
                   "write it as a string: permissions: '0644' (YAML reads 0644 unquoted as "
                   "the number 420, and 644 as 644)")  # fmt: skip
    path = _path(item["path"], f"{where}.path")
    if mounted_over(path):
        raise _Bad(f"{where}.path", f"{path} is under {mounted_over(path)}, which the boot "
                   "mounts over: a file written there is lost",
                   "write it from runcmd at first boot")  # fmt: skip
    return WriteFile(
        path=path,
        data=_decode(content, _ENCODINGS[encoding], where),
        owner=owner,
        mode=int(perms, 8),
        append=_bool(item.get("append", False), f"{where}.append"),
    )


def _decode(content: str, encoding: str, where: str) -> bytes:
    data = content.encode("utf-8")
    try:
        if encoding in ("b64", "gz+b64"):
            data = base64.b64decode(b"".join(data.split()), validate=True)  # lines allowed
        if encoding in ("gz", "gz+b64"):
            data = _gunzip(data, where)
    except (binascii.Error, ValueError) as exc:
        raise _Bad(f"{where}.content", f"not {encoding}: {exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise _Bad(f"{where}.content", f"more than {MAX_FILE_BYTES} bytes once decoded")
    return data


def _gunzip(data: bytes, where: str) -> bytes:
    """gzip data, decompressed no further than MAX_FILE_BYTES + 1 (a bomb stops there)."""
    try:
        out = zlib.decompressobj(16 + zlib.MAX_WBITS)
        result = out.decompress(data, MAX_FILE_BYTES + 1)
        if not out.eof and len(result) <= MAX_FILE_BYTES:
            raise _Bad(f"{where}.content", "the gzip data is cut short")
        return result
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise _Bad(f"{where}.content", f"not gzip: {exc}") from None


def _package(item: Any, where: str) -> str:
    name = _str(item, where) if not isinstance(item, list) else ""
    if not name:
        raise _Bad(where, "a package is one name (NAME or NAME=VERSION)")
    if not _PACKAGE.fullmatch(name):
        raise _Bad(where, f"{name!r} is not a package name")
    return name


def _command(item: Any, where: str) -> Command:
    if isinstance(item, list):
        if not item:
            raise _Bad(where, "an empty command")
        return tuple(_str(a, f"{where}[{i}]", empty=True) for i, a in enumerate(item))
    if not isinstance(item, str):
        raise _Bad(where, f"a command is a string or a list of strings, not a {_kind(item)}")
    if "\0" in item or not item.strip():
        raise _Bad(where, "an empty command or one holding a NUL byte")
    return item
