"""Actions on who can log in: root's password hash and root's SSH keys."""

from __future__ import annotations

import datetime
import posixpath
import re
from dataclasses import dataclass

from lxcprov.engine.lines import split_lines
from lxcprov.engine.recipes.actions.common import file_change
from lxcprov.engine.recipes.actions.files import LinesParams, plan_lines
from lxcprov.engine.recipes.actions.registry import Context, Mode, Skip, action
from lxcprov.engine.recipes.model import Change, Planned, changed, unchanged
from lxcprov.errors import InvalidArgumentError
from lxcprov.system import passwords


@dataclass(frozen=True)
class NoParams:
    pass


def _days_since_epoch() -> int:
    return (datetime.datetime.now(datetime.UTC).date() - datetime.date(1970, 1, 1)).days


@action("root-password", NoParams, "access")
def plan_root_password(ctx: Context, p: NoParams) -> Planned:
    """root's shadow entry carries a SHA-512 hash of the given password."""
    password = ctx.secrets.root_password
    if password is None:
        raise Skip("no root password given (--root-password-file)")
    passwd = ctx.rootfs.read_text("/etc/passwd") or ""
    new_passwd_lines = []
    for line in split_lines(passwd):
        fields = line.split(":")
        if fields[0] == "root" and len(fields) >= 7 and fields[1] != "x":
            fields[1] = "x"  # the hash lives in /etc/shadow, not here
            line = ":".join(fields)
        new_passwd_lines.append(line)
    if not any(line.startswith("root:") for line in new_passwd_lines):
        raise Skip("/etc/passwd has no root entry")
    planned = file_change(ctx, "/etc/passwd", "\n".join(new_passwd_lines) + "\n", mode=None)

    shadow = ctx.rootfs.read_text("/etc/shadow") or ""
    lines = split_lines(shadow)
    for i, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] == "root":
            if len(fields) > 1 and passwords.verify(password, fields[1]):
                break
            fields += [""] * (9 - len(fields))
            fields[1] = passwords.hash_password(password)
            fields[2] = str(_days_since_epoch())
            lines[i] = ":".join(fields)
            break
    else:
        lines.append(f"root:{passwords.hash_password(password)}:{_days_since_epoch()}:0:99999:7:::")
    info = ctx.rootfs.info("/etc/shadow")
    # Never leave password hashes world-readable (busybox's template makes shadow 0644).
    mode = 0o640 if info is None else (info.mode & 0o7777) & ~0o007
    planned += file_change(ctx, "/etc/shadow", "\n".join(lines) + "\n", mode=mode, secret=True)
    if not planned.changes:
        return unchanged("root's password is already the one given")
    return planned


_KEY_TYPES = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-\S+|sk-\S+)\s+\S+")


def parse_public_keys(text: str, source: str) -> list[str]:
    """The keys of a public key file (empty and # lines skipped, as sshd does).

    An error names the line that is not a key but never shows it: the file given may be
    a private key, or anything else the user did not mean to print.
    """
    keys: list[str] = []
    for number, line in enumerate(split_lines(text), 1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        if not _KEY_TYPES.match(key):
            raise InvalidArgumentError(
                f"{source}: line {number} is not an SSH public key",
                hint="give the .pub file, for example ~/.ssh/id_ed25519.pub",
            )
        keys.append(key)
    if not keys:
        raise InvalidArgumentError(f"{source} holds no SSH public key")
    return keys


def root_home(passwd: str) -> str:
    """root's home directory from /etc/passwd text (/root when it says nothing usable)."""
    for line in split_lines(passwd):
        fields = line.split(":")
        if fields[0] == "root" and len(fields) >= 6 and fields[5].startswith("/"):
            return fields[5]
    return "/root"


@action("authorized-keys", NoParams, "access")
def plan_authorized_keys(ctx: Context, p: NoParams) -> Planned:
    """root's ~/.ssh/authorized_keys holds the given keys (in lxcprov's marked section)."""
    if not ctx.secrets.ssh_keys:
        raise Skip("no SSH key given (--ssh-key)")
    home = root_home(ctx.rootfs.read_text("/etc/passwd") or "")
    planned = Planned()
    ssh_dir = posixpath.join(home, ".ssh")
    info = ctx.rootfs.info(ssh_dir)
    if info is None or (info.mode & 0o7777) != 0o700:
        before = None if info is None else f"directory mode {info.mode & 0o7777:04o}"
        change = Change(
            ctx.rootfs.resolve(ssh_dir), "mkdir", before, "directory mode 0700", mode=0o700
        )
        ctx.rootfs.stage(change)
        planned = changed(change)
    keys = LinesParams(
        posixpath.join(ssh_dir, "authorized_keys"), ctx.secrets.ssh_keys, mode=Mode(0o600)
    )
    planned += plan_lines(ctx, keys)
    if not planned.changes:
        return unchanged("root's authorized_keys already holds the keys given")
    return planned
