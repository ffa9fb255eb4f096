"""Host devices inside a container, as lxcprov records them: the named ones (tun, fuse,
kvm, gpu, usb:BUS-PORT), the record in the config, and the LXC lines derived from it.

An unprivileged container cannot use a node made on its own /dev (a tmpfs mounted in
its user namespace: the kernel marks it nodev), nor the host's own node (owned by host
root, 0600 on some hosts). So lxcprov makes a node of its own on a host filesystem
(`<lxcpath>/<name>/devices/<node_name>`), with the host node's type and numbers, owned
by the container's mapped root (or the ids given), and LXC binds it at the same path
inside; the device cgroup allows its numbers (v1 `lxc.cgroup.devices.allow`, v2
`lxc.cgroup2.devices.allow`). liblxc's add_device_node is not used: it makes the node on
the container's nodev /dev, owned by host root, and works as host root inside the
container's tree.

The record is one comment line per device in lxcprov's devices section of the config
(`# device PATH c MAJ:MIN MODE UID GID`, ids as inside the container); the mount entry
and the cgroup rule below it are written from the record every time, never read back.
The mount entry is `optional`: a device gone from the host (a USB device unplugged)
never keeps the container from starting (lxcprov removes its node then, and says so).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

from lxcprov.errors import InvalidArgumentError

BEGIN = "# BEGIN lxcprov devices (managed by `lxcprov device`; edit with it)"
END = "# END lxcprov devices"
RECORD = "# device "
NODES_DIR = "devices"  # in the container's directory, next to its config
ENTRY_KEY = "lxc.mount.entry"
DEFAULT_MODE = 0o660
IDS = range(0, 65536)  # the ids inside a container's map that a node may be given to

# The named devices and their host paths (gpu and usb:BUS-PORT are looked up).
NAMED = {"tun": "/dev/net/tun", "fuse": "/dev/fuse", "kvm": "/dev/kvm"}
_USB = re.compile(r"usb:([0-9]{1,3}-[0-9]{1,3}(\.[0-9]{1,3}){0,6})")
_PATH = re.compile(r"/[A-Za-z0-9._+:/-]{1,200}")
_RECORD = re.compile(
    r"(/[A-Za-z0-9._+:/-]{1,200}) ([cb]) ([0-9]{1,10}):([0-9]{1,10}) (0[0-7]{3}) ([0-9]{1,5}) "
    r"([0-9]{1,5})"
)


@dataclass(frozen=True, order=True)
class Device:
    """A host device node given to a container, at the same path inside."""

    path: str  # absolute, on the host and inside
    kind: str  # "c" (character) or "b" (block)
    major: int
    minor: int
    mode: int = DEFAULT_MODE
    uid: int = 0  # inside the container
    gid: int = 0

    @property
    def rule(self) -> str:
        """The device cgroup rule that lets the container use it."""
        return f"{self.kind} {self.major}:{self.minor} rwm"

    def record(self) -> str:
        return (
            f"{RECORD}{self.path} {self.kind} {self.major}:{self.minor} {self.mode:04o} "
            f"{self.uid} {self.gid}"
        )

    def entry(self, nodes_dir: Path) -> str:
        """The lxc.mount.entry that binds lxcprov's node at the path inside."""
        source = nodes_dir / node_name(self.path)
        return f"{source} {self.path.lstrip('/')} none bind,create=file,optional 0 0"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "type": "char" if self.kind == "c" else "block",
                "major": self.major, "minor": self.minor, "mode": f"{self.mode:04o}",
                "uid": self.uid, "gid": self.gid}  # fmt: skip


def node_name(path: str) -> str:
    """The node's file name in the devices directory: the path with each '/' as '%', a
    character no recorded path holds (_PATH), so one name per path and back. (The first
    scheme, '-' doubled and '/' as '-', gave /dev/a-/b and /dev/a/-b one name; a node of
    it is swept at the next start and made again under this name, the config's entry
    rewritten with it.)"""
    return path.lstrip("/").replace("/", "%")


# What LXC itself gives every container, or binds over at each start: a device of lxcprov's
# there would hide LXC's, and taking it out would take LXC's own with it.
LXC_NODES = frozenset(("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                       "/dev/tty", "/dev/console", "/dev/ptmx"))  # fmt: skip
_LXC_TREES = ("/dev/pts/", "/dev/lxc/", "/proc/")
_LXC_TTY = re.compile(r"/dev/tty[0-9]+")


def given_by_lxc(path: str) -> bool:
    """Whether path (as given, or resolved on the host) is one of LXC's own nodes."""
    return (
        path in LXC_NODES
        or path in ("/dev/pts", "/dev/lxc", "/proc")
        or path.startswith(_LXC_TREES)
        or _LXC_TTY.fullmatch(path) is not None
    )


# The numbers of those nodes (LXC's default device cgroup allows them to every container):
# a host node with one of them under another path is the same device, and a live deny of
# its rule at `device rm` would take the container's /dev/null (or its ttys) with it. 10:229
# (/dev/fuse) is not among them: giving it is the `fuse` name's point.
_LXC_NUMBERS = frozenset(("c", 1, minor) for minor in (3, 5, 7, 8, 9)) | {
    ("c", 5, 0), ("c", 5, 1), ("c", 5, 2)}  # fmt: skip


def numbers_of_lxc(kind: str, major: int, minor: int) -> bool:
    """Whether kind major:minor is a device LXC gives every container (null, zero, full,
    random, urandom, tty, console, ptmx, a pty)."""
    return (kind, major, minor) in _LXC_NUMBERS or (kind == "c" and 136 <= major <= 143)  # pts


def refuse_lxc_numbers(path: str, kind: str, major: int, minor: int) -> None:
    """One line when the host node at path is, by its numbers, one LXC gives already."""
    if numbers_of_lxc(kind, major, minor):
        raise InvalidArgumentError(
            f"{path} is {kind} {major}:{minor}, a device every container has already "
            "(LXC gives it at each start)",
            hint="lxcprov device adds a host device LXC does not give, such as "
            "/dev/net/tun, /dev/fuse or /dev/ttyUSB0",
        )


def refuse_lxc_own(given: str, real: str) -> None:
    """One line when the path given, or what it resolves to on the host (/dev/stdin leads
    through /proc/self/fd/0 to a terminal of /dev/pts), is a node LXC gives already."""
    for path in (given, real):
        if given_by_lxc(path):
            shown = given if real == given else f"{given} (resolved: {real})"
            raise InvalidArgumentError(
                f"{shown}: every container has this already (LXC gives it at each start)",
                hint="lxcprov device adds a host device LXC does not give, such as "
                "/dev/net/tun, /dev/fuse or /dev/ttyUSB0",
            )


def check_path(raw: str) -> str:
    """An absolute, normalised path of plain characters (it reaches the config)."""
    if not _PATH.fullmatch(raw) or ".." in raw.split("/"):
        raise InvalidArgumentError(
            f"{raw!r} is not a device name or an absolute path under /dev",
            hint="a name (tun, fuse, kvm, gpu, usb:BUS-PORT such as usb:1-2) or a path "
            "such as /dev/net/tun",
        )
    path = posixpath.normpath(raw)
    if not path.startswith("/dev/") or path in ("/dev/pts", "/dev/shm", "/dev/mqueue"):
        raise InvalidArgumentError(
            f"{raw}: lxcprov passes device nodes under /dev only",
            hint="e.g. /dev/net/tun, /dev/fuse, /dev/ttyUSB0",
        )
    return path


def usb_path(spec: str, sysfs: Path = Path("/sys")) -> str:
    """usb:BUS-PORT (as in /sys/bus/usb/devices) to /dev/bus/usb/BBB/DDD."""
    found = _USB.fullmatch(spec)
    if found is None:
        raise InvalidArgumentError(
            f"{spec!r}: a USB device is usb:BUS-PORT, e.g. usb:1-2 or usb:1-1.4",
            hint="its BUS-PORT is a name in /sys/bus/usb/devices (lsusb -t shows the tree)",
        )
    where = sysfs / "bus/usb/devices" / found.group(1)
    try:
        bus = int((where / "busnum").read_text().strip())
        dev = int((where / "devnum").read_text().strip())
    except (OSError, ValueError):
        raise InvalidArgumentError(
            f"{spec}: no USB device at {where} on this host",
            hint="ls /sys/bus/usb/devices (a replugged device may be on another port)",
        ) from None
    return f"/dev/bus/usb/{bus:03d}/{dev:03d}"


def gpu_paths(dev: Path = Path("/dev")) -> list[str]:
    """Every GPU render node (/dev/dri/renderD*)."""
    try:
        found = sorted(p.name for p in (dev / "dri").iterdir() if p.name.startswith("renderD"))
    except OSError:
        found = []
    if not found:
        raise InvalidArgumentError(
            f"gpu: this host has no GPU render node ({dev}/dri/renderD*)",
            hint="a GPU needs its kernel driver (DRM) loaded on the host",
        )
    return [f"/dev/dri/{name}" for name in found]


def resolve_spec(spec: str, sysfs: Path = Path("/sys"), dev: Path = Path("/dev")) -> list[str]:
    """The host paths a name or path given by the user stands for (unchecked nodes)."""
    if spec in NAMED:
        return [NAMED[spec]]
    if spec == "gpu":
        return gpu_paths(dev)
    if spec.startswith("usb:"):
        return [usb_path(spec, sysfs)]
    if not spec.startswith("/"):
        raise InvalidArgumentError(
            f"{spec!r}: no such device name",
            hint="tun, fuse, kvm, gpu, usb:BUS-PORT (e.g. usb:1-2) or an absolute path "
            "such as /dev/ttyUSB0",
        )
    path = check_path(spec)
    refuse_lxc_own(spec, path)
    return [path]


def check_spec(spec: str) -> None:
    """A name or path as resolve_spec takes it, checked without looking at the host (an
    apply document's `devices`: the host is looked at when it is planned)."""
    if spec in NAMED or spec == "gpu" or _USB.fullmatch(spec):
        return
    if spec.startswith("usb:"):
        usb_path(spec)  # malformed: its one-line error, before sysfs is read
    resolve_spec(spec)


def check_mode(raw: str) -> int:
    if not re.fullmatch(r"0?[0-7]{3}", raw):
        raise InvalidArgumentError(f"--mode {raw}: an octal mode such as 0660 or 0666")
    mode = int(raw, 8)
    if mode & 0o111:
        raise InvalidArgumentError(f"--mode {raw}: a device node is never executable")
    return mode


def check_id(what: str, value: int) -> int:
    if value not in IDS:
        raise InvalidArgumentError(
            f"--{what} {value}: not an id inside the container (0-65535)",
            hint=f"the {what} as the container knows it, e.g. 0 for its root",
        )
    return value


OPTIONS = ("mode", "uid", "gid")  # what `device add` may change of a recorded device


def keep_recorded(d: Device, old: Device | None, keep: Collection[str]) -> Device:
    """d with old's values of the options in keep (those `device add` was not given): a
    second add of a recorded device changes what it names and nothing else."""
    if old is None or old.path != d.path:
        return d
    return replace(d, **{k: getattr(old, k) for k in OPTIONS if k in keep})


# -- the record in the config -----------------------------------------------------------


def _span(lines: list[str]) -> tuple[int, int] | None:
    begin = next((i for i, t in enumerate(lines) if t.strip() == BEGIN), None)
    if begin is None:
        return None
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].strip() == END), None)
    return (begin, end) if end is not None else None


def parse(text: str) -> list[Device]:
    """The devices recorded in a config's devices section (a malformed record is skipped:
    only what lxcprov wrote is acted on)."""
    lines = text.split("\n")
    span = _span(lines)
    if span is None:
        return []
    found = []
    for line in lines[span[0] + 1 : span[1]]:
        if not line.startswith(RECORD):
            continue
        m = _RECORD.fullmatch(line[len(RECORD) :].strip())
        if m is None:
            continue
        path, kind, major, minor, mode, uid, gid = m.groups()
        try:
            ok = check_path(path) == path and not int(mode, 8) & 0o111
        except InvalidArgumentError:
            ok = False
        if ok and int(uid) in IDS and int(gid) in IDS:
            found.append(Device(path, kind, int(major), int(minor), int(mode, 8), int(uid),
                                int(gid)))  # fmt: skip
    return sorted({d.path: d for d in found}.values())


def cgroup_key(v1_devices: bool) -> str:
    """The config key of a device rule: the v1 devices controller where the host has it
    (it enforces there; the v2 key does nothing), else LXC's v2 key (an eBPF program)."""
    return "lxc.cgroup.devices.allow" if v1_devices else "lxc.cgroup2.devices.allow"


def render(text: str, wanted: list[Device], nodes_dir: Path, v1_devices: bool) -> str:
    """text with its devices section holding exactly wanted (no section when empty)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    span = _span(lines)
    if span is not None:
        begin, end = span
        if begin > 0 and not lines[begin - 1].strip():
            begin -= 1
        lines = lines[:begin] + lines[end + 1 :]
    if wanted:
        key = cgroup_key(v1_devices)
        section = [BEGIN]
        for d in sorted(wanted):
            section += [d.record(), f"{ENTRY_KEY} = {d.entry(nodes_dir)}", f"{key} = {d.rule}"]
        section.append(END)
        if lines and lines[-1].strip():
            lines.append("")
        lines += section
    return "".join(t + "\n" for t in lines)
