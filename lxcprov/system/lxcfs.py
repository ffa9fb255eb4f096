"""lxcfs: the FUSE filesystem that shows a container its own memory, CPUs and uptime in
/proc (free, top, uptime read those files) instead of the host's.

Debian's lxcfs package mounts it at /var/lib/lxcfs through a systemd unit; LXC's own
config (common.conf.d/00-lxcfs.conf) adds a mount hook that binds its files over the
container's /proc when that mount is there, and does nothing otherwise. On a host that
does not boot with systemd nothing starts it: lxcprov starts it itself, with
--enable-cfs so a CPU quota (cpus=1.5) shows in /proc/cpuinfo as well.
"""

from __future__ import annotations

import errno
import re
import threading
import time
from pathlib import Path
from typing import Literal

from lxcprov.errors import CommandFailedError, LxcprovError
from lxcprov.system import run

PROGRAM = Path("/usr/bin/lxcfs")
MOUNT = Path("/var/lib/lxcfs")
# LXC's config snippet that runs lxcfs's hooks (common.conf includes it; the busybox
# template's config does not include common.conf).
INCLUDE = "/usr/share/lxc/config/common.conf.d/00-lxcfs.conf"
HOOK = "/usr/share/lxcfs/lxc.mount.hook"
UNIT = "lxcfs.service"

# "dead": its FUSE mount is still there but the process behind it is gone (killed, crashed,
# or its machine's processes restarted): every read there fails with ENOTCONN.
State = Literal["running", "stopped", "dead", "absent"]

_QUOTES = {"'", '"'}
_ENTRY_NAME = re.compile(r"[A-Za-z0-9_.:-]+")

# Starts of several containers run in threads, and each makes sure of lxcfs: one of them
# starts it, the others find it running.
_starting = threading.Lock()


def state(mount: Path = MOUNT) -> State:
    if not PROGRAM.exists():
        return "absent"
    # The mount hook's own test: lxcfs serves /proc files there.
    try:
        return "running" if (mount / "proc").is_dir() else "stopped"
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            return "dead"
        raise


def _mounted(mount: Path) -> bool:
    """Whether something is mounted at mount, read from the mount table: a dead FUSE mount
    cannot be stat()ed, so os.path.ismount says no for it."""
    target = str(mount).encode()
    with open("/proc/self/mountinfo", "rb") as table:
        return any(line.split()[4] == target for line in table)


def _systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def start(wait: float = 5.0, mount: Path = MOUNT) -> str:
    """Start it (systemd's unit where systemd runs, else the program itself); returns how.
    A FUSE mount left by a crashed lxcfs is unmounted first, as Debian's init script does:
    lazily, since containers started before the crash still hold its files."""
    if _systemd() and mount == MOUNT:
        run.run(["systemctl", "start", UNIT])
        how = f"systemctl start {UNIT}"
    else:
        if _mounted(mount):
            run.run(["umount", "--lazy", str(mount)], check=False)
        mount.mkdir(parents=True, exist_ok=True)
        # lxcfs locks its pidfile: one at another mount point (the tests') needs its own.
        own = [] if mount == MOUNT else ["--pidfile", str(mount.parent / f"{mount.name}.pid")]
        run.daemon([str(PROGRAM), "--enable-cfs", *own, str(mount)])
        how = f"{PROGRAM} --enable-cfs {mount} (no service manager runs it here)"
    deadline = time.monotonic() + wait
    while state(mount) != "running":
        if time.monotonic() > deadline:
            raise CommandFailedError(
                f"lxcfs did not come up at {mount} (started with: {how})",
                hint=f"run it in the foreground to see why: {PROGRAM} -f {mount}",
            )
        time.sleep(0.02)
    return how


def ensure() -> str:
    """lxcfs running if it is installed: "" when it was already (one stat), what was done
    when lxcprov started it, or why it could not (never an error: a container runs
    without it, it only sees the host's numbers in /proc)."""
    if state() not in ("stopped", "dead"):
        return ""
    with _starting:
        return _start_if_needed()


def _start_if_needed() -> str:
    found = state()
    if found not in ("stopped", "dead"):
        return ""
    again = "restarted lxcfs, whose mount was dead" if found == "dead" else "started lxcfs"
    try:
        return f"{again} ({start()}): containers see their own memory and CPUs in /proc"
    except (LxcprovError, OSError) as exc:
        message = exc.message if isinstance(exc, LxcprovError) else str(exc)
        return f"lxcfs is not running, and starting it failed: {message}"


def hooked(mount_hooks: str | None) -> bool:
    """Whether a container's lxc.hook.mount values (as liblxc gives them) run lxcfs's."""
    return HOOK in (mount_hooks or "")


def _names(directory: Path) -> list[str]:
    """What lxcfs serves in directory: only names a mount entry can carry as they are."""
    return sorted(f.name for f in directory.iterdir() if _ENTRY_NAME.fullmatch(f.name))


def start_items(mount_hooks: list[str], mount: Path = MOUNT) -> list[tuple[str, str]]:
    """For one start (`lxc-start -s`, after the config): LXC itself binds lxcfs's files,
    instead of its mount hook doing it. The hook is a shell script that forks a mount(8)
    for each file (measured: lxc-start of a Debian container 0.061 s with it, 0.040 s
    with these entries, the same mounts inside), and a container's start is where a
    cached `new` and a hundred at once spend their time. It binds what lxcfs serves over
    /proc/*, /sys/devices/system/cpu and a nested /var/lib/lxcfs, when lxcfs is there;
    so do these, each `optional` (a file LXC cannot bind is left as it was, as the hook
    does). LXC also resolves an entry's target inside the rootfs, where the hook's
    mount(8) follows a container's symlinks. The container's other mount hooks (an
    admin's, a distro's) are given again, in their order, after the list is cleared.

    The config alone decides, as it always did (nothing here), where this could differ
    from the hook: a config without lxcfs's hook; a host where lxcfs is not serving; a
    mount hook before lxcfs's (LXC makes mount entries before it runs any hook: that
    hook would see lxcfs's binds already there, and what it binds over /proc would now
    end up under them instead of on top); and a hook value in quotes (LXC takes one pair
    of quotes off a value in the config and another off an `lxc-start -s` item: a
    quoted path with a space would reach the shell unquoted); and lxcfs's hook listed
    more than once (each run binds every file again, and a later hook sees them all)."""
    if mount_hooks.count(HOOK) != 1 or mount_hooks[0] != HOOK or state(mount) != "running":
        return []
    if any(_QUOTES & {hook[0], hook[-1]} for hook in mount_hooks if hook):
        return []
    try:
        proc = _names(mount / "proc")
        cpu = mount / "sys" / "devices" / "system" / "cpu"
        whole_cpu = (cpu / "uevent").exists()
        cpu_entries = [] if whole_cpu or not cpu.is_dir() else _names(cpu)
    except OSError:
        return []  # lxcfs went away meanwhile: the hook does what it can, as before
    binds = [(f"{mount}/proc/{name}", f"proc/{name}") for name in proc]
    sys_cpu = "sys/devices/system/cpu"
    if whole_cpu:
        binds.append((str(cpu), sys_cpu))
    binds += [(f"{cpu}/{name}", f"{sys_cpu}/{name}") for name in cpu_entries]
    binds.append((str(mount), str(MOUNT).lstrip("/")))  # lxcfs inside, for nesting
    items = [("lxc.hook.mount", "")]
    items += [("lxc.hook.mount", hook) for hook in mount_hooks if hook != HOOK]
    items += [("lxc.mount.entry", f"{source} {target} none bind,optional 0 0")
              for source, target in binds]  # fmt: skip
    return items
