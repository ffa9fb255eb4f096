"""Host devices in real containers: `device add | rm | ls`, `new --device`, a device gone
from the host, SIGKILL mid-way and two adds at once.

What "works inside" means is measured inside: busybox's `cat` (through lxc-attach, in
the container's cgroup) opens the node or says why not, and a host Python process that
joins the container's device cgroup and its user, mount and network namespaces (as root
inside) creates a tun interface, makes a FUSE mount and asks /dev/kvm its API version.
Invariants after every kill or removal: no node in lxcprov's devices directory without a
record, no rule in the container's v1 device cgroup for a device it no longer has, the
config's devices section consistent with `device ls`."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lxcprov.system import cgroups, devnodes
from tests.real.harness import Lxc, wait_for_fault

pytestmark = pytest.mark.real

# Run by a host Python in the container's device cgroup and namespaces (root inside).
_INSIDE = r"""
import ctypes, errno, fcntl, os, struct, sys
pid, cgroup, what = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(cgroup + "/cgroup.procs", "w") as fh:
    fh.write(str(os.getpid()))
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
own = os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
# Its user namespace (not a privileged container's: it is the host's), mount, network.
if libc.setns(pidfd, (0x10000000 if own else 0) | 0x20000 | 0x40000000) != 0:
    raise OSError(ctypes.get_errno(), "setns")
os.setgid(0)
os.setuid(0)
try:
    if what == "tun":
        fd = os.open("/dev/net/tun", os.O_RDWR)
        ifr = struct.pack("16sH22x", sys.argv[4].encode(), 0x0001 | 0x1000)  # TUN, NO_PI
        fcntl.ioctl(fd, 0x400454CA, ifr)  # TUNSETIFF
        fcntl.ioctl(fd, 0x400454CB, 1)  # TUNSETPERSIST: the interface outlives us
        print("tun ok")
    elif what == "fuse":
        fd = os.open("/dev/fuse", os.O_RDWR)
        os.makedirs("/tmp/fusetest", exist_ok=True)
        opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
        if libc.mount(b"lxcprov-test", b"/tmp/fusetest", b"fuse", 0, opts) != 0:
            raise OSError(ctypes.get_errno(), "mount fuse")
        with open("/proc/1/mountinfo") as fh:  # its init (our pid is not in its /proc)
            assert any(" /tmp/fusetest " in ln and " - fuse " in ln for ln in fh), "not mounted"
        libc.umount2(b"/tmp/fusetest", 2)
        print("fuse ok")
    elif what == "kvm":
        fd = os.open("/dev/kvm", os.O_RDWR)
        print("kvm api", fcntl.ioctl(fd, 0xAE00))  # KVM_GET_API_VERSION
except OSError as exc:
    print("failed", errno.errorcode.get(exc.errno, exc.errno), exc)
"""


def _pid(lxc: Lxc, name: str) -> int:
    out = subprocess.run(["lxc-info", "-P", str(lxc.path), "-n", name, "-pH"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return int(out.stdout.strip())


def _cgroup(lxc: Lxc, name: str) -> Path:
    found = devnodes.v1_cgroup(_pid(lxc, name), cgroups.detect().v1_root)
    assert found is not None and found.is_dir(), found
    return found


def _inside(lxc: Lxc, name: str, what: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", _INSIDE, str(_pid(lxc, name)), str(_cgroup(lxc, name)), what,
         *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _cat(lxc: Lxc, name: str, path: str) -> str:
    """What busybox's cat says of the node: "opened" when open(2) worked (a read of an
    unconfigured tun or fuse fd then fails: that is the device answering), else why not."""
    out = lxc.attach(name, "cat", path)
    text = out.stderr.strip()
    return "refused: " + text if "can't open" in text else "opened"


def _json(lxc: Lxc, *args: str) -> Any:
    return json.loads(lxc.cli(*args).stdout)


def _rules(lxc: Lxc, name: str) -> set[str]:
    """The v1 device rules of the container's cgroup and of every cgroup below it."""
    found = set()
    for directory, _, _ in os.walk(_cgroup(lxc, name)):
        found |= set(Path(directory, "devices.list").read_text().split("\n"))
    return found


def _nodes(lxc: Lxc, name: str) -> list[str]:
    where = lxc.path / name / "devices"
    return sorted(p.name for p in where.iterdir()) if where.is_dir() else []


def _recorded(lxc: Lxc, name: str) -> list[str]:
    return [d["path"] for d in _json(lxc, "device", "ls", name, "--json")]


def _new(lxc: Lxc, name: str, pw: Path, *extra: str) -> None:
    """A busybox container under LXC's device cgroup list (common.conf: deny all, allow
    the basic nodes and fuse), as a Debian one is: busybox's template includes none, so
    without it every device would be allowed and no rule would be seen to matter."""
    lxc.cli("new", name, "-t", "busybox", "--network", "none", "--root-password-file", str(pw),
            "--no-start", *extra)  # fmt: skip
    config = lxc.path / name / "config"
    # First, as a distro config has it: its `deny = a` resets what came before.
    config.write_text("lxc.include = /usr/share/lxc/config/common.conf\n" + config.read_text())
    lxc.cli("start", name)
    assert "a *:* rwm" not in _rules(lxc, name)


@pytest.fixture
def host_node() -> Iterator[Path]:
    """A device node of the test's own on the host, and a symlink to it, both under /dev;
    removed afterwards. c 1:12 (the old /dev/oldmem) has no driver now: opening it gives
    ENXIO, and it is none of what LXC gives (refused by its numbers under any path)."""
    node = Path(f"/dev/lxcprov-test-{os.getpid()}")
    link = Path(f"/dev/lxcprov-test-link-{os.getpid()}")
    os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 12))
    link.symlink_to(node.name)
    try:
        yield node
    finally:
        node.unlink(missing_ok=True)
        link.unlink(missing_ok=True)


@pytest.mark.parametrize("privileged", [False, True], ids=["unprivileged", "privileged"])
def test_tun_fuse_kvm_live_after_restart_and_rm_takes_them_away(
    lxcpath: Lxc, password_file: tuple[Path, str], privileged: bool
) -> None:
    _new(lxcpath, "d1", password_file[0], *(["--privileged"] if privileged else []))
    assert _cat(lxcpath, "d1", "/dev/net/tun").startswith("refused")
    # Live: the running container has each at once.
    out = _json(lxcpath, "device", "add", "d1", "tun", "--json")
    assert [(d["path"], d["status"], d["given"]) for d in out] == [
        ("/dev/net/tun", "changed", "tun")
    ]
    for spec in ("fuse", "kvm"):
        assert _json(lxcpath, "device", "add", "d1", spec, "--json")[0]["status"] == "changed"
    assert _inside(lxcpath, "d1", "tun", "lxtun0") == "tun ok"
    assert "lxtun0" in lxcpath.attach("d1", "ip", "link", "show", "lxtun0").stdout
    assert _inside(lxcpath, "d1", "fuse") == "fuse ok"
    assert _inside(lxcpath, "d1", "kvm") == "kvm api 12"
    assert "c 10:200 rwm" in _rules(lxcpath, "d1")
    # The node is lxcprov's own, owned by the container's root, in a root-only directory.
    node = lxcpath.path / "d1" / "devices" / "dev%net%tun"
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(10, 200)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert (st.st_uid != 0) is not privileged
    assert stat.S_IMODE(os.stat(node.parent).st_mode) == 0o711
    # Again: no change, nothing doubled.
    assert _json(lxcpath, "device", "add", "d1", "tun", "--json")[0]["status"] == "no change"
    config = (lxcpath.path / "d1" / "config").read_text()
    assert config.count("dev/net/tun none bind,create=file,optional") == 1
    # Recorded for the next start.
    lxcpath.cli("restart", "d1")
    assert _inside(lxcpath, "d1", "tun", "lxtun1") == "tun ok"
    assert _inside(lxcpath, "d1", "fuse") == "fuse ok"
    assert _inside(lxcpath, "d1", "kvm") == "kvm api 12"
    # rm takes it away live: the node is gone inside, the rule from every cgroup, and the
    # node from the host; fuse, which LXC's common.conf allows anyway, stays allowed.
    removed = _json(lxcpath, "device", "rm", "d1", "tun", "--json")
    assert [d["status"] for d in removed] == ["removed"]
    assert _cat(lxcpath, "d1", "/dev/net/tun").startswith("refused")
    assert _inside(lxcpath, "d1", "tun", "lxtun2").startswith("failed ENOENT")
    assert "c 10:200 rwm" not in _rules(lxcpath, "d1")
    assert _nodes(lxcpath, "d1") == ["dev%fuse", "dev%kvm"]
    lxcpath.cli("device", "rm", "d1", "/dev/fuse")
    assert _inside(lxcpath, "d1", "fuse").startswith("failed ENOENT")
    assert "c 10:229 rwm" in _rules(lxcpath, "d1")
    lxcpath.cli("restart", "d1")
    assert _cat(lxcpath, "d1", "/dev/net/tun").startswith("refused")
    assert _recorded(lxcpath, "d1") == ["/dev/kvm"]
    lxcpath.cli("destroy", "--force", "d1")
    assert not (lxcpath.path / "d1").exists()


def test_new_device_ids_and_a_device_gone_from_the_host(
    lxcpath: Lxc, password_file: tuple[Path, str], host_node: Path
) -> None:
    link = host_node.parent / host_node.name.replace("test-", "test-link-")
    _new(lxcpath, "d2", password_file[0], "--device", "tun", "--device", str(link))
    assert _recorded(lxcpath, "d2") == [str(host_node), "/dev/net/tun"]  # the symlink resolved
    assert _inside(lxcpath, "d2", "tun", "lxtun0") == "tun ok"
    assert lxcpath.attach("d2", "stat", "-c", "%F %t:%T", str(host_node)).stdout.strip() == (
        "character special file 1:c"
    )
    # Wrong input: one line each, nothing changed.
    regular = lxcpath.path / "plain-file"
    regular.write_text("x")
    for args, needle in [
        (["/dev/lxcprov-no-such"], "not on this host"),
        (["nosuch"], "no such device name"),
        ([str(regular)], "under /dev only"),
        (["tun", "--uid", "70000"], "0-65535"),
        (["tun", "--mode", "0777"], "never executable"),
        (["usb:9-9"], "no USB device"),
    ]:
        proc = lxcpath.cli("device", "add", "d2", *args, check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert needle in proc.stderr, proc.stderr
    assert _recorded(lxcpath, "d2") == [str(host_node), "/dev/net/tun"]
    # Owner and mode as asked, as the container sees them.
    lxcpath.cli("device", "add", "d2", "tun", "--uid", "1000", "--gid", "100", "--mode", "0600")
    shown = lxcpath.attach("d2", "stat", "-c", "%u %g %a", "/dev/net/tun").stdout.split()
    assert shown == ["1000", "100", "600"]
    # The host loses the device (unplugged): doctor says so, start goes on without it.
    host_node.unlink()
    findings = json.loads(lxcpath.cli("doctor", "d2", "--json", check=False).stdout)["findings"]
    missing = [f for f in findings if f["id"] == "device-missing"]
    assert missing and f"device rm d2 {host_node}" in missing[0]["fix"], findings
    started = lxcpath.cli("restart", "d2")
    assert "device-missing" in started.stderr, started.stderr
    assert _inside(lxcpath, "d2", "tun", "lxtun1") == "tun ok"
    assert _nodes(lxcpath, "d2") == ["dev%net%tun"]  # the lost device's node went
    assert lxcpath.attach("d2", "head", "-c", "4", str(host_node)).stdout == ""
    lxcpath.cli("device", "rm", "d2", str(host_node))
    findings = json.loads(lxcpath.cli("doctor", "d2", "--json", check=False).stdout)["findings"]
    assert not [f for f in findings if f["id"] == "device-missing"]
    # A copy does not take devices with it, and says so.
    lxcpath.cli("stop", "d2")
    copied = lxcpath.cli("copy", "d2", "d3")
    assert "host devices (/dev/net/tun)" in copied.stderr, copied.stderr
    assert _recorded(lxcpath, "d3") == []
    assert "devices" not in (lxcpath.path / "d3" / "config").read_text()
    # An archive records them; an import never gives them, and says so.
    archive = lxcpath.path / "d2.tar.zst"
    lxcpath.cli("export", "d2", str(archive))
    imported = json.loads(lxcpath.cli("import", str(archive), "d4", "--json").stdout)
    assert any("host devices (/dev/net/tun)" in n for n in imported["not_applied"]), imported
    assert any("dev%net%tun" in line for line in imported["dropped_config"]), imported
    assert _recorded(lxcpath, "d4") == []
    assert not (lxcpath.path / "d4" / "devices").exists()


def _spawn(lxc: Lxc, *args: str, fault: str = "") -> subprocess.Popen[str]:
    env = lxc.env(LXCPROV_FAULT_AT=fault) if fault else lxc.env()
    return subprocess.Popen([sys.executable, "-m", "lxcprov", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _kill_at(lxc: Lxc, point: str, *args: str) -> None:
    proc = _spawn(lxc, *args, fault=point)
    try:
        wait_for_fault(proc, point, str(args), 120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_killed_device_commands_leave_nothing_unowned_and_adds_race_cleanly(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    _new(lxcpath, "dk", password_file[0])
    # Killed after its node was made, before the record: nothing records it; the next
    # device command removes it (as would start and destroy).
    _kill_at(lxcpath, "device-node", "device", "add", "dk", "tun")
    assert _nodes(lxcpath, "dk") == ["dev%net%tun"] and _recorded(lxcpath, "dk") == []
    assert _cat(lxcpath, "dk", "/dev/net/tun").startswith("refused")
    # Killed after the record and the live rule, before the bind: the same add finishes it.
    _kill_at(lxcpath, "device-rule", "device", "add", "dk", "kvm")
    assert _nodes(lxcpath, "dk") == ["dev%kvm"]  # the orphan tun node was swept
    assert _recorded(lxcpath, "dk") == ["/dev/kvm"]
    assert "c 10:232 rwm" in _rules(lxcpath, "dk")
    assert _cat(lxcpath, "dk", "/dev/kvm").startswith("refused")
    assert _json(lxcpath, "device", "add", "dk", "kvm", "--json")[0]["status"] == "changed"
    assert _inside(lxcpath, "dk", "kvm") == "kvm api 12"
    # Killed after taking it out of the running container, before the record went: the
    # same rm finishes it (and a start would give it back, as recorded).
    _kill_at(lxcpath, "device-unbound", "device", "rm", "dk", "kvm")
    assert _recorded(lxcpath, "dk") == ["/dev/kvm"]
    assert _cat(lxcpath, "dk", "/dev/kvm").startswith("refused")
    lxcpath.cli("device", "rm", "dk", "kvm")
    assert _recorded(lxcpath, "dk") == [] and _nodes(lxcpath, "dk") == []
    assert "c 10:232 rwm" not in _rules(lxcpath, "dk")
    # Two adds at once: the container's lock orders them; both land, once each.
    procs = [_spawn(lxcpath, "device", "add", "dk", spec) for spec in ("tun", "kvm")]
    assert [p.wait(60) for p in procs] == [0, 0], [p.communicate() for p in procs]
    assert _recorded(lxcpath, "dk") == ["/dev/kvm", "/dev/net/tun"]
    assert _nodes(lxcpath, "dk") == ["dev%kvm", "dev%net%tun"]
    config = (lxcpath.path / "dk" / "config").read_text()
    assert config.count("# BEGIN lxcprov devices") == 1
    assert config.count("lxc.cgroup.devices.allow = c 10:200 rwm") == 1
    assert _inside(lxcpath, "dk", "tun", "lxtun0") == "tun ok"
    assert _inside(lxcpath, "dk", "kvm") == "kvm api 12"
    # A kill then destroy: the nodes go with the container's directory.
    _kill_at(lxcpath, "device-node", "device", "add", "dk", "fuse")
    lxcpath.cli("destroy", "--force", "dk")
    assert not (lxcpath.path / "dk").exists()
    # `new --device` killed after its nodes and record were made: destroy --force (what
    # doctor names for a half-made container) removes them with it.
    _kill_at(lxcpath, "fixups", "new", "dn", "-t", "busybox", "--network", "none",
             "--root-password-file", str(password_file[0]), "--device", "tun")  # fmt: skip
    assert _nodes(lxcpath, "dn") == ["dev%net%tun"]
    assert "INCOMPLETE" in lxcpath.cli("ls").stdout
    lxcpath.cli("destroy", "--force", "dn")
    assert not (lxcpath.path / "dn").exists()


def test_review_fixes_lxcs_own_nodes_live_failure_options_and_another_device(
    lxcpath: Lxc, password_file: tuple[Path, str], host_node: Path
) -> None:
    lxcpath.cli("new", "d5", "-t", "busybox", "--network", "none", "--root-password-file",
                str(password_file[0]))  # fmt: skip
    # What LXC gives every container is refused, as given or resolved (/dev/stdin leads
    # through /proc/self/fd/0 to this process's own stdin).
    for path in ("/dev/null", "/dev/pts/0", "/dev/tty1", "/dev/stdin"):
        proc = lxcpath.cli("device", "add", "d5", path, check=False)
        assert proc.returncode != 0 and "every container has this already" in proc.stderr, (
            proc.stderr
        )
    # ... and by its numbers under another path: its rm would deny /dev/null's rule.
    other = Path(f"/dev/lxcprov-test-null-{os.getpid()}")
    os.mknod(other, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    try:
        proc = lxcpath.cli("device", "add", "d5", str(other), check=False)
    finally:
        other.unlink()
    assert proc.returncode != 0 and "c 1:3, a device every container has" in proc.stderr, (
        proc.stderr
    )
    assert _recorded(lxcpath, "d5") == []
    # rm takes out lxcprov's own bind, once, and nothing under it: a mount already at the
    # path (as LXC's own /dev/null is) stays, and is what the container has after.
    where = str(host_node)
    lxcpath.attach("d5", "sh", "-c", f"touch {where} && mount --bind /dev/null {where}")
    lxcpath.cli("device", "add", "d5", where)
    assert lxcpath.attach("d5", "stat", "-c", "%t:%T", where).stdout.strip() == "1:c"
    lxcpath.cli("device", "rm", "d5", where)
    kind = lxcpath.attach("d5", "ls", "-l", where)
    assert kind.stdout.startswith("crw") and " 1,   3 " in kind.stdout, (kind.stdout, kind.stderr)
    lxcpath.attach("d5", "umount", where)
    # A second add changes only the options it is given.
    lxcpath.cli("device", "add", "d5", "tun", "--mode", "0000")
    lxcpath.cli("device", "add", "d5", "tun", "--uid", "65535", "--gid", "65535")
    (tun,) = _json(lxcpath, "device", "ls", "d5", "--json")
    assert (tun["mode"], tun["uid"], tun["gid"]) == ("0000", 65535, 65535), tun
    # A live step that fails exits 1, the record kept for the next start.
    lxcpath.cli("device", "rm", "d5", "tun")
    lxcpath.attach("d5", "sh", "-c", "rm -rf /dev/net && ln -s /tmp /dev/net")
    proc = lxcpath.cli("device", "add", "d5", "tun", check=False)
    assert proc.returncode == 1 and "the record is kept" in proc.stderr, proc.stderr
    assert _recorded(lxcpath, "d5") == ["/dev/net/tun"]
    assert not (Path("/tmp") / "tun").is_char_device()
    # An orphan node (an add killed before its record) goes with a rm that finds nothing.
    orphan = lxcpath.path / "d5" / "devices" / "dev%orphan"
    os.mknod(orphan, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    proc = lxcpath.cli("device", "rm", "d5", "/dev/fuse", check=False)
    assert proc.returncode != 0 and "has no device /dev/fuse" in proc.stderr, proc.stderr
    assert not orphan.exists()
    # The host path now holds another device: said, with the fix.
    lxcpath.cli("device", "add", "d5", str(host_node))
    host_node.unlink()
    os.mknod(host_node, stat.S_IFCHR | 0o600, os.makedev(1, 7))
    listed = lxcpath.cli("device", "ls", "d5").stdout
    assert f"another device on the host now: lxcprov device rm d5 {host_node} && " in listed
    findings = json.loads(lxcpath.cli("doctor", "d5", "--json", check=False).stdout)["findings"]
    (missing,) = [f for f in findings if f["id"] == "device-missing"]
    assert "another device" in missing["message"] and "device add d5" in missing["fix"], missing
    # ls of no container says so, like show.
    proc = lxcpath.cli("device", "ls", "nosuch", check=False)
    assert proc.returncode != 0 and "no container 'nosuch' in" in proc.stderr, proc.stderr
    lxcpath.cli("destroy", "--force", "d5")
