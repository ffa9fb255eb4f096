"""Unprivileged by default, on real containers: what works privileged works unprivileged,
the default is safe, conversions go both ways and survive a kill, bad input is one line."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.real.console import login_and_run
from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab
from tests.real.netharness import bridge as _bridge

pytestmark = pytest.mark.real

SUBUID, SUBGID = Path("/etc/subuid"), Path("/etc/subgid")


@pytest.fixture
def subid_files() -> Iterator[None]:
    """The host's subordinate id files, put back exactly as they were after the test."""
    saved = {p: (p.read_bytes(), p.stat()) for p in (SUBUID, SUBGID)}
    try:
        yield
    finally:
        for path, (data, st) in saved.items():
            path.write_bytes(data)
            os.chmod(path, stat.S_IMODE(st.st_mode))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _json(lxc: Lxc, *args: str) -> Any:
    return json.loads(lxc.cli(*args).stdout)


def _map_root(lxc: Lxc, name: str) -> int:
    out = lxc.attach(name, "cat", "/proc/self/uid_map").stdout.split()
    assert out[0] == "0", out
    return int(out[1])


def _one_line(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")], proc.stderr
    assert needle in proc.stderr, proc.stderr


def test_the_default_is_unprivileged_and_safe(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    pw, password = password_file
    lxcpath.path.chmod(0o700)  # an admin's private lxcpath: made traversable, never readable
    out = lxcpath.cli("new", "safe1", "-t", "busybox", "--network", "none",
                      "--root-password-file", str(pw))  # fmt: skip
    assert "unprivileged" in out.stderr
    assert "traversable" in out.stderr and stat.S_IMODE(lxcpath.path.stat().st_mode) == 0o701
    (row,) = _json(lxcpath, "ls", "--json")
    assert row["privileged"] is False
    assert _json(lxcpath, "show", "safe1", "--json")["settings"]["privileged"].startswith("no")
    host_root = _map_root(lxcpath, "safe1")
    assert host_root != 0
    # A file container root makes belongs on the host to the mapped uid, not to root.
    lxcpath.attach("safe1", "/bin/sh", "-c", "echo made > /root/made")
    with lxcpath.mounted("safe1") as root:
        assert (root / "root/made").stat().st_uid == host_root
        # Files lxcprov wrote are the container root's too, with the distro's modes.
        for path, mode in (("etc/hostname", 0o644), ("etc/shadow", 0o640)):
            st = (root / path).stat()
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (host_root, mode), path
    # Its root cannot make a block device, and cannot write a host root's 0644 file that
    # is bind-mounted read-write into it.
    mknod = lxcpath.attach("safe1", "/bin/mknod", "/tmp/disk", "b", "8", "0")
    assert mknod.returncode != 0
    shared = lxcpath.path / "shared-by-the-test"  # below an lxcpath its root can traverse
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "host-file").write_text("host\n")
    (shared / "host-file").chmod(0o644)
    lxcpath.cli("stop", "safe1")
    config = lxcpath.path / "safe1" / "config"
    config.write_text(config.read_text() + f"lxc.mount.entry = {shared} mnt none bind,rw 0 0\n")
    lxcpath.cli("start", "safe1")
    write = lxcpath.attach("safe1", "/bin/sh", "-c", "echo owned >> /mnt/host-file")
    assert write.returncode != 0
    assert (shared / "host-file").read_text() == "host\n"
    ls = lxcpath.attach("safe1", "/bin/ls", "-ln", "/mnt/host-file").stdout
    assert ls.split()[2] == "65534", "host root is nobody inside"
    assert "OK-safe1" in login_and_run(lxcpath, "safe1", password, "echo OK-$(hostname)")


@pytest.mark.parametrize(
    ("flavour", "args"),
    [
        ("busybox", ["-t", "busybox"]),
        pytest.param("debian", ["-t", "debian"], marks=pytest.mark.bases("debian")),
        pytest.param(
            "sysvinit",
            ["-t", "debian", "--", "--packages=sysvinit-core,orphan-sysvinit-scripts"],
            marks=pytest.mark.bases("sysvinit"),
        ),
        ("trixie", ["-t", "debian", "-r", "trixie"]),
    ],
)
def test_everything_works_unprivileged(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str], flavour: str, args: list[str]
) -> None:
    """Console login, exec, DHCP and static on the bridge, live settings, fix, doctor."""
    net = _bridge(netlab, lxcpath, "--no-nat")
    pw, password = password_file
    lead, tail = (
        (args, []) if "--" not in args else (args[: args.index("--")], args[args.index("--") :])
    )
    static = net.new("st1", pw, *lead, "--ip", "auto", *tail)
    dhcp = net.new("dh1", pw, *lead, *tail)
    for name, data in (("st1", static), ("dh1", dhcp)):
        assert data["privileged"] is False and data["ipv4"], data
        assert _map_root(lxcpath, name) != 0
    assert "OK-st1" in login_and_run(lxcpath, "st1", password, "echo OK-$(hostname)", tty=1)
    exec_out = lxcpath.cli("exec", "dh1", "--", "cat", "/proc/self/uid_map").stdout
    assert exec_out.split()[1] != "0"
    out = lxcpath.cli("set", "st1", "memory=256M", "cpus=1")
    assert out.stderr.count("applied to the running container") == 2, out.stderr
    assert "nothing to change" in lxcpath.cli("fix", "st1", "--root-password-file", str(pw)).stderr
    doctor = json.loads(lxcpath.cli("doctor", "st1", "--json", check=False).stdout)
    ids = {f["id"] for f in doctor["findings"]}
    assert doctor["ok"] is True and "privileged-container" not in ids, doctor["findings"]
    if flavour == "busybox":
        out = net.lxc.cli("new", "bb", "--count", "3", *lead, "--bridge", net.bridge,
                          "--root-password-file", str(pw), "--json")  # fmt: skip
        many = json.loads(out.stdout)
        assert [i["ok"] for i in many] == [True] * 3
        assert all(_map_root(lxcpath, f"bb{i}") != 0 for i in (1, 2, 3))


# -- setuid, file capabilities, links, fifos survive a shift ----------------------------

CAP_NET_RAW_V2 = struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0)  # cap_net_raw=p
CAP_EFFECTIVE = 0x000001


def test_setuid_caps_links_and_fifos_survive_a_conversion(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw, password = password_file
    lxcpath.cli("new", "cv1", "-t", "busybox", "--network", "none", "--privileged",
                "--no-base", "--no-start", "--root-password-file", str(pw))  # fmt: skip
    assert _json(lxcpath, "ls", "--json")[0]["privileged"] is True
    root = lxcpath.path / "cv1" / "rootfs"
    busybox = root / "bin/busybox"
    (root / "opt/cap").mkdir(parents=True)
    pinger = root / "opt/cap/busybox"  # busybox runs the applet argv[1] under this name
    pinger.write_bytes(busybox.read_bytes())
    pinger.chmod(0o755)
    os.setxattr(pinger, "security.capability",
                struct.pack("<IIIII", 0x02000000 | CAP_EFFECTIVE, 1 << 13, 0, 0, 0))  # fmt: skip
    os.link(pinger, root / "opt/cap/link")
    (root / "opt/plain").mkdir()
    plain = root / "opt/plain/busybox"  # the control: neither the capability nor setuid
    plain.write_bytes(busybox.read_bytes())
    plain.chmod(0o755)
    os.mkfifo(root / "root/fifo")
    (root / "etc/passwd").write_text((root / "etc/passwd").read_text()
                                     + "alice:x:1000:1000::/tmp:/bin/sh\n")  # fmt: skip
    suid_before = busybox.stat().st_mode & (stat.S_ISUID | stat.S_ISGID)

    out = lxcpath.cli("convert", "cv1", "--unprivileged")
    assert "unprivileged now" in out.stderr
    host = root.stat().st_uid
    assert host != 0
    assert busybox.stat().st_mode & (stat.S_ISUID | stat.S_ISGID) == suid_before
    cap = os.getxattr(pinger, "security.capability")
    assert (
        struct.unpack_from("<I", cap)[0] >> 24 == 3 and struct.unpack_from("<I", cap, 20)[0] == host
    )
    lxcpath.cli("start", "cv1")
    inside = lxcpath.attach("cv1", "/bin/sh", "-c",
                            "ip link set lo up; "
                            "stat -c '%i' /opt/cap/busybox /opt/cap/link; test -p /root/fifo && "
                            "echo fifo; su alice -s /bin/sh -c "
                            "'/opt/cap/busybox ping -c1 -W2 127.0.0.1'")  # fmt: skip
    lines = inside.stdout.split("\n")
    assert lines[0] == lines[1], "a hard link stays one file"
    assert "fifo" in inside.stdout
    assert "1 packets received" in inside.stdout, inside.stdout + inside.stderr
    control = lxcpath.attach(
        "cv1", "/bin/sh", "-c", "su alice -s /bin/sh -c '/opt/plain/busybox ping -c1 -W2 127.0.0.1'"
    )
    assert control.returncode != 0, "without the capability a user cannot ping: the cap counts"
    assert "OK-cv1" in login_and_run(lxcpath, "cv1", password, "echo OK-$(hostname)")

    lxcpath.cli("stop", "cv1")
    lxcpath.cli("convert", "cv1", "--privileged")
    assert root.stat().st_uid == 0 and busybox.stat().st_mode & stat.S_ISUID
    assert os.getxattr(pinger, "security.capability")[:4] == struct.pack("<I", 0x02000001)
    lxcpath.cli("start", "cv1")
    assert _map_root_or_zero(lxcpath, "cv1") == 0


def _map_root_or_zero(lxc: Lxc, name: str) -> int:
    return int(lxc.attach(name, "cat", "/proc/self/uid_map").stdout.split()[1])


@pytest.mark.bases("debian")  # the run's Debian base (tests/real/seeds.py)
def test_setuid_su_and_passwd_work_for_a_user_of_an_unprivileged_debian(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw, password = password_file
    lxcpath.cli("new", "sd1", "-t", "debian", "--network", "none", "--root-password-file", str(pw))
    assert lxcpath.attach("sd1", "useradd", "-m", "-s", "/bin/bash", "alice").returncode == 0
    assert lxcpath.attach("sd1", "sh", "-c", "echo alice:Alice-pw-1 | chpasswd").returncode == 0
    child = pexpect.spawn("lxc-attach", ["-P", str(lxcpath.path), "-n", "sd1", "--", "su", "-",
                                         "alice"], encoding="utf-8", timeout=30)  # fmt: skip
    try:
        child.expect(r"\$ ")
        child.sendline("su -c 'id -u' root")
        child.expect("Password: ")
        child.sendline(password)
        child.expect(r"\n0\r*\n")  # setuid su: alice became uid 0 (of the container)
        child.expect(r"\$ ")
        child.sendline("passwd")
        child.expect("(?i)current password: ")
        child.sendline("Alice-pw-1")
        child.expect("(?i)new password: ")
        child.sendline("Alice-pw-2-Longer")
        child.expect("(?i)new password: ")
        child.sendline("Alice-pw-2-Longer")
        child.expect("password updated successfully")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_an_interrupted_conversion_is_finished_or_rolled_back(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw = password_file[0]
    for name in ("half1", "half2"):
        lxcpath.cli("new", name, "-t", "busybox", "--network", "none", "--privileged", "--no-base",
                    "--no-start", "--root-password-file", str(pw))  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "lxcprov", "convert", name, "--unprivileged"],
            env=lxcpath.env(LXCPROV_FAULT_AT="shift"),
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        while "stopped at phase shift" not in proc.stderr.readline():
            assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        root = lxcpath.path / name / "rootfs"
        # What the shift had done when it was killed: part of the files moved.
        target = int(SUBUID.read_text().split("root:")[1].split(":")[0])
        for path in sorted(root.rglob("*"))[::2]:
            st = path.lstat()
            if st.st_uid < 65536:
                os.lchown(path, st.st_uid + target, st.st_gid + target)
        row = {r["name"]: r for r in _json(lxcpath, "ls", "--json")}[name]
        assert row["state"] == "INCOMPLETE"
        _one_line(lxcpath.cli("start", name, check=False), "half")
        doctor = json.loads(lxcpath.cli("doctor", name, "--json", check=False).stdout)
        assert "convert" in doctor["findings"][0]["fix"]
    lxcpath.cli("convert", "half1", "--unprivileged")  # finishes
    lxcpath.cli("convert", "half2", "--privileged")  # rolls back
    owners1 = {p.lstat().st_uid for p in (lxcpath.path / "half1/rootfs").rglob("*")}
    owners2 = {p.lstat().st_uid for p in (lxcpath.path / "half2/rootfs").rglob("*")}
    assert all(u >= 65536 for u in owners1) and all(u < 65536 for u in owners2)
    for name, privileged in (("half1", False), ("half2", True)):
        lxcpath.cli("start", name)
        assert _map_root_or_zero(lxcpath, name) == (0 if privileged else target)


def test_isolated_containers_get_blocks_of_their_own(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw, password = password_file
    common = ["-t", "busybox", "--network", "none", "--root-password-file", str(pw)]
    lxcpath.cli("new", "shared1", *common)
    lxcpath.cli("new", "iso1", *common, "--isolated")
    lxcpath.cli("new", "iso2", *common, "--isolated")
    roots = {n: _map_root(lxcpath, n) for n in ("shared1", "iso1", "iso2")}
    assert len(set(roots.values())) == 3, roots
    assert roots["iso1"] - roots["shared1"] >= 65536 and roots["iso2"] - roots["shared1"] >= 65536
    assert "OK-iso1" in login_and_run(lxcpath, "iso1", password, "echo OK-$(hostname)")
    state = Path(os.environ.get("LXCPROV_STATE_DIR", "/var/lib/lxcprov")) / "idmaps.json"
    assert len(json.loads(state.read_text())) == 2
    lxcpath.cli("destroy", "--force", "iso1")
    assert [v.split("@")[0] for v in json.loads(state.read_text()).values()] == ["iso2"]
    _one_line(lxcpath.cli("new", "bad", *common, "--isolated", "--privileged", check=False),
              "--isolated")  # fmt: skip
    assert "bad" not in {r["name"] for r in _json(lxcpath, "ls", "--json")}


def test_doctor_on_ids_and_bad_subordinate_ranges(
    lxcpath: Lxc, password_file: tuple[Path, str], subid_files: None, tmp_path: Path
) -> None:
    pw = password_file[0]
    common = ["-t", "busybox", "--network", "none", "--root-password-file", str(pw), "--no-start"]
    lxcpath.cli("new", "pr1", *common, "--privileged")
    lxcpath.cli("new", "un1", *common)
    found = json.loads(lxcpath.cli("doctor", "pr1", "--json", check=False).stdout)
    (priv,) = [f for f in found["findings"] if f["id"] == "privileged-container"]
    assert "convert pr1 --unprivileged" in priv["fix"]
    with lxcpath.mounted("un1") as root:
        os.chown(root, 0, 0)  # its rootfs's / owned by host root: off its map
    found = json.loads(lxcpath.cli("doctor", "un1", "--json", check=False).stdout)
    assert "rootfs-owner-mismatch" in {f["id"] for f in found["findings"]}
    assert found["ok"] is False

    saved = SUBUID.read_text()
    SUBUID.write_text(re.sub(r"(?m)^root:.*\n", "", saved))
    SUBGID.write_text(re.sub(r"(?m)^root:.*\n", "", SUBGID.read_text()))
    host = json.loads(lxcpath.cli("doctor", "--json", check=False).stdout)
    assert "subuid-missing" in {f["id"] for f in host["findings"]}
    SUBUID.write_text("root:100000:1000\n")
    _one_line(lxcpath.cli("new", "small1", *common, check=False), "smaller than")
    SUBUID.write_text("root:100000:65536\nbob:120000:65536\n")
    _one_line(lxcpath.cli("new", "over1", *common, check=False), "overlaps bob's")
    assert SUBUID.read_text() == "root:100000:65536\nbob:120000:65536\n", "nothing changed"
    names = {r["name"] for r in _json(lxcpath, "ls", "--json")}
    assert not {"small1", "over1"} & names

    # An ancestor of the lxcpath the containers' root cannot traverse: refused with the fix.
    private = lxcpath.path.parent / f"lxcprov-private-{os.getpid()}"
    private.mkdir(mode=0o700)
    try:
        SUBUID.write_text(saved)
        other = Lxc(private / "lxc")
        _one_line(other.cli("new", "deep1", *common, check=False), f"chmod o+x {private}")
    finally:
        subprocess.run(["rm", "-rf", str(private)], check=False)
