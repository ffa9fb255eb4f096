"""How lxcprov itself carries out a cloud-config where the container has no cloud-init.

Pure: a checked CloudConfig (lxcprov.engine.cloudconfig) and what the rootfs has (Tools)
in, the work out, in cloud-init's own order (files, users, packages, runcmd):

- before the first boot, through the rootfs jail (lxcprov.ops.userdata writes them):
  write_files, root's keys, the sudoers rules, the time zone; the hostname becomes
  lxcprov's `hostname` setting, so the hostname recipe writes it and LXC sets it;
- at the first boot, as commands inside the running container (each one recorded in
  the container's applystate when it succeeds): users, packages, runcmd.

Where the container has useradd (Debian), users are made inside by it at first boot,
not by editing /etc/passwd, /etc/shadow and /etc/group from the host: it knows its
distro's rules (UID_MIN, /etc/skel, gshadow, the shadow line's format), and it is what
cloud-init runs, so both paths make the same user. Where it has none (busybox: Debian's
busybox-static has no adduser, addgroup or chpasswd applet), the account files are
edited through the jail before the first boot (lxcprov.engine.cloudusers).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from lxcprov.engine.cloudconfig import CloudConfig, User

# useradd inside at first boot, or the account files edited before it
# (lxcprov.engine.cloudusers) where there is no useradd.
UserTool = Literal["useradd", "files"]

SUDOERS = "/etc/sudoers.d/90-lxcprov-users"
ZONEINFO = "/usr/share/zoneinfo"
# How long one first-boot step may take (an apt-get install of many packages is long;
# a step that hangs is killed and `new` fails naming it).
STEP_TIMEOUT = 900
# apt-get gives up on an unreachable mirror at once instead of retrying for minutes, and
# its update fails when a list cannot be fetched (by default it warns and exits 0,
# measured: the install then takes the old lists, or fails later and less clearly).
_APT = ("apt-get", "-q", "-y", "-o", "Acquire::Retries=0", "-o", "APT::Update::Error-Mode=any",
        "-o", "Acquire::http::Timeout=20",
        "-o", "Acquire::https::Timeout=20", "-o", "Dpkg::Options::=--force-confold")  # fmt: skip


@dataclass(frozen=True)
class Tools:
    """What the container's rootfs has for the first-boot work."""

    users: UserTool
    apt: bool


@dataclass(frozen=True)
class Step:
    """One first-boot command: id in the applystate record, what names it in an error."""

    id: str
    what: str
    script: str  # run as /bin/sh -c SCRIPT inside


def check(cfg: CloudConfig, tools: Tools) -> str:
    """Why this container cannot take cfg on lxcprov's path ("" when it can)."""
    if (cfg.packages or cfg.package_update) and not tools.apt:
        return "packages: the container has no apt-get (lxcprov installs packages with apt only)"
    return ""


def sudoers(cfg: CloudConfig) -> str:
    """The sudoers.d file of the users' rules ("" when no user has one)."""
    lines = [f"{u.name} {rule}" for u in cfg.users for rule in u.sudo]
    return "".join(f"{line}\n" for line in ["# Written by lxcprov from user-data", *lines]) \
        if lines else ""  # fmt: skip


def authorized_keys(existing: str, keys: tuple[str, ...]) -> str:
    """existing with each key not yet in it added (a key line is never repeated)."""
    have = {line.strip() for line in existing.split("\n")}
    text = existing if not existing or existing.endswith("\n") else existing + "\n"
    return text + "".join(f"{k}\n" for k in keys if k.strip() not in have)


def steps(cfg: CloudConfig, tools: Tools) -> list[Step]:
    """The first-boot commands, in cloud-init's order: users, packages, runcmd."""
    out = [Step(f"user-data:users[{i}]", f"users[{i}] ({u.name})", _user(u))
           for i, u in enumerate(cfg.users) if tools.users == "useradd"]  # fmt: skip
    if cfg.package_update or cfg.packages:  # as cloud-init: packages update the lists first
        what = "package_update" if cfg.package_update else "packages (apt-get update)"
        out.append(Step("user-data:package_update", what, shlex.join([*_APT, "update"])))
    if cfg.packages:
        install = "DEBIAN_FRONTEND=noninteractive " + shlex.join(
            [*_APT, "install", "--no-install-recommends", *cfg.packages]
        )
        out.append(Step("user-data:packages", "packages", install))
    for i, cmd in enumerate(cfg.runcmd):
        script = cmd if isinstance(cmd, str) else shlex.join(cmd)
        out.append(Step(f"user-data:runcmd[{i}]", f"runcmd[{i}]", script))
    return out


def _user(user: User) -> str:
    """The shell script that makes user with useradd (again: adds what is missing)."""
    q = shlex.quote
    name = q(user.name)
    lines = ["set -e"]
    for group in user.groups:  # cloud-init makes a group the user is put in
        lines.append(f"getent group {q(group)} >/dev/null || groupadd {q(group)}")
    create = ["useradd", "-m", *(["-s", user.shell] if user.shell else [])]
    if user.groups:
        create += ["-G", ",".join(user.groups)]
    lines.append(f"id -u {name} >/dev/null 2>&1 || {shlex.join([*create, user.name])}")
    if user.groups:
        lines.append(shlex.join(["usermod", "-a", "-G", ",".join(user.groups), user.name]))
    if user.passwd:
        lines.append(f"printf '%s\\n' {q(user.name + ':' + user.passwd)} | chpasswd -e")
        if user.lock_passwd:
            lines.append(f"usermod -L {name}")
    if user.keys:
        lines += [
            f"home=$(getent passwd {name} | cut -d: -f6)",
            'mkdir -p "$home/.ssh" && chmod 700 "$home/.ssh"',
            "printf '%s\\n' " + " ".join(q(k) for k in user.keys)
            + ' > "$home/.ssh/authorized_keys"',
            'chmod 600 "$home/.ssh/authorized_keys"',
            f'chown -R {name}:"$(id -g {name})" "$home/.ssh"',
        ]  # fmt: skip
    return "\n".join(lines) + "\n"
