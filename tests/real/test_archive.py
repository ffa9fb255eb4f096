"""Export, import and copy on real containers: every attribute survives, the base is not
needed, identities are kept or renewed as asked, and a copy is a container of its own on
the same bridge as its source."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.real.console import login_and_run
from tests.real.harness import Lxc, var_tmp
from tests.real.hostnet.hostnet_lab import NetLab
from tests.real.netharness import bridge as _bridge
from tests.real.test_snapshots import map_root, plant_special_files
from tests.real.test_unprivileged import SUBGID, SUBUID
from tests.real.test_unprivileged import subid_files as subid_files  # the fixture
from tests.real.treedigest import differences, digest

pytestmark = pytest.mark.real


@pytest.fixture
def outdir() -> Iterator[Path]:
    with var_tmp("lxcprov-test-export-") as path:
        yield path


def _json(lxc: Lxc, *args: str) -> Any:
    return json.loads(lxc.cli(*args).stdout)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.bases("debian")  # the run's Debian base (tests/real/seeds.py)
def test_export_import_keeps_every_attribute_without_the_base(
    lxcpath: Lxc, password_file: tuple[Path, str], outdir: Path
) -> None:
    pw, password = password_file
    lxcpath.cli("new", "deb1", "-t", "debian", "--network", "none", "--root-password-file",
                str(pw))  # fmt: skip
    lxcpath.attach("deb1", "sh", "-c", "echo written-while-running > /root/note")
    lxcpath.cli("stop", "deb1")
    host_root = map_root(lxcpath, "deb1")
    with lxcpath.mounted("deb1") as root:
        plant_special_files(root, host_root)
        before = digest(root)
        host_key = _sha(root / "etc/ssh/ssh_host_ed25519_key.pub")
        shadow = (root / "etc/shadow").read_text()
    lxcpath.cli("snapshot", "deb1", "snap1")
    archive = outdir / "deb1.tar.zst"
    out = lxcpath.cli("export", "deb1", str(archive))
    assert "exported deb1" in out.stderr and archive.stat().st_mode & 0o077 == 0
    assert not [p for p in outdir.iterdir() if p != archive], "no partial file left"

    # The container and every base go: the archive needs none of them.
    lxcpath.cli("destroy", "--force", "deb1")
    for base in _json(lxcpath, "bases", "--json"):
        lxcpath.cli("destroy", "--force", base["name"])
    assert sorted(os.listdir(lxcpath.path)) == [".lxcprov"]

    done = _json(lxcpath, "import", str(archive), "--json")
    assert done["name"] == "deb1" and done["snapshots"] == ["snap1"]
    assert done["renewed"] == [] and done["privileged"] is False and done["shifted"] is False
    # The template's nodes of the host's consoles are left out of an unprivileged rootfs
    # (issue 22, row 9); LXC makes the container's /dev at start.
    consoles = [f"dev/{n}" for n in ("tty1", "tty2", "tty3", "tty4", "console")]
    trees = ("rootfs", "snapshots/snap1/rootfs")
    left = {ln.split(" ")[0] for ln in done["left_out"]}
    assert left == {f"{tree}/{p}" for tree in trees for p in consoles}
    with lxcpath.mounted("deb1") as root:
        after = digest(root)
    before = {p: e for p, e in before.items() if p not in consoles}
    assert after == before, differences(before, after)
    lxcpath.cli("start", "deb1")
    seen = login_and_run(lxcpath, "deb1", password,
                         "sha256sum /etc/ssh/ssh_host_ed25519_key.pub; cat /root/note")  # fmt: skip
    assert host_key in seen and "written-while-running" in seen
    with lxcpath.mounted("deb1") as root:
        assert (root / "etc/shadow").read_text() == shadow
    # Its snapshot came along, and restores.
    lxcpath.cli("restore", "deb1", "snap1", "--stop")
    assert [s["origin"] for s in _json(lxcpath, "snapshots", "deb1", "--json")] == ["import"]

    # A second import of the same archive: another name, and with the old MAC and keys
    # refused while the first holds them... unless it gets an identity of its own.
    renewed = _json(lxcpath, "import", str(archive), "deb2", "--new-identity", "--json")
    assert {"machine-id", "ssh host keys", "/etc/hosts (deb1 -> deb2)"} == set(renewed["renewed"])
    with lxcpath.mounted("deb2") as root:
        assert _sha(root / "etc/ssh/ssh_host_ed25519_key.pub") != host_key
        assert (root / "etc/machine-id").read_text() == ""
        assert (root / "etc/hostname").read_text().strip() == "deb2"


def test_imports_keep_privileged_and_isolated_and_shift_into_another_host_s_map(
    lxcpath: Lxc, password_file: tuple[Path, str], outdir: Path, subid_files: None
) -> None:
    pw, password = password_file
    common = ["-t", "busybox", "--network", "none", "--no-start", "--root-password-file", str(pw)]
    for name, flag in (("iso1", "--isolated"), ("priv1", "--privileged"), ("far1", "")):
        lxcpath.cli("new", name, *common, *([flag] if flag else []))
        with lxcpath.mounted(name) as root:
            plant_special_files(root, 0 if flag == "--privileged" else map_root(lxcpath, name))
        lxcpath.cli("snapshot", name, "s")
        lxcpath.cli("export", name, str(outdir / f"{name}.tar.gz"))
        lxcpath.cli("destroy", "--force", name)
    shared = int(SUBUID.read_text().split("root:")[1].split(":")[0])
    iso = _json(lxcpath, "import", str(outdir / "iso1.tar.gz"), "--json")
    assert iso["privileged"] is False and map_root(lxcpath, "iso1") != shared
    refused = lxcpath.cli("import", str(outdir / "priv1.tar.gz"), check=False)
    assert refused.returncode != 0 and "--privileged" in refused.stderr, refused.stderr
    priv = _json(lxcpath, "import", str(outdir / "priv1.tar.gz"), "--privileged", "--json")
    assert priv["privileged"] is True and lxcpath.rootfs("priv1").stat().st_uid == 0
    for name in ("iso1", "priv1"):
        lxcpath.cli("start", name)
        assert "OK" in login_and_run(lxcpath, name, password, "echo OK")
        lxcpath.cli("destroy", "--force", name)  # their ids leave root's range below

    # On a host whose range for root starts elsewhere, the owners are shifted into it:
    # setuid bits, the v3 capability's root, ACL entries, snapshots included.
    other = shared + 65536 * 16
    for path in (SUBUID, SUBGID):
        path.write_text(re.sub(r"(?m)^root:\d+:", f"root:{other}:", path.read_text()))
    far = _json(lxcpath, "import", str(outdir / "far1.tar.gz"), "--json")
    assert far["shifted"] is True and far["ids"].startswith(f"{other}:")
    root = lxcpath.rootfs("far1")
    special = root / "opt/special"
    assert root.stat().st_uid == other and (special / "tool").stat().st_mode & 0o4000
    cap = os.getxattr(special / "capped", "security.capability")
    assert struct.unpack_from("<I", cap, 20)[0] == other
    acl = os.getxattr(special / "shared", "system.posix_acl_access")
    assert struct.unpack_from("<I", acl, 4 + 8 + 4)[0] == other + 1000
    snap = lxcpath.path / "far1/snapshots/s/rootfs"
    assert snap.stat().st_uid == other
    lxcpath.cli("start", "far1")
    assert "OK" in login_and_run(lxcpath, "far1", password, "echo OK")
    lxcpath.cli("destroy", "--force", "far1")  # before root's range is put back


@pytest.mark.bases("debian")  # the run's Debian base (tests/real/seeds.py)
def test_copy_boots_alongside_its_source_with_an_identity_of_its_own(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    pw, password = password_file
    net.new("orig", pw, "-t", "debian")
    lxcpath.cli("stop", "orig")
    copied = _json(lxcpath, "copy", "orig", "twin", "--json")
    assert copied["network"] == "dhcp" and copied["bridge"] == net.bridge
    lxcpath.cli("start", "orig")
    lxcpath.cli("start", "twin")
    ips = _wait_ipv4(lxcpath, ["orig", "twin"])
    assert ips["orig"] != ips["twin"]
    config = {n: (lxcpath.path / n / "config").read_text() for n in ("orig", "twin")}
    macs = {n: next(ln for ln in c.splitlines() if "hwaddr" in ln) for n, c in config.items()}
    assert macs["orig"] != macs["twin"]

    def inside(name: str, command: str) -> str:
        out = lxcpath.attach(name, "sh", "-c", command)
        assert out.returncode == 0, out.stderr
        return out.stdout

    facts = {n: inside(n, "hostname; cat /etc/machine-id; cat /etc/ssh/ssh_host_*_key.pub")
             for n in ("orig", "twin")}  # fmt: skip
    orig, twin = (facts[n].splitlines() for n in ("orig", "twin"))
    assert (orig[0], twin[0]) == ("orig", "twin")
    assert orig[1] and twin[1] and orig[1] != twin[1], "machine-ids"
    assert set(orig[2:]).isdisjoint(twin[2:]), "SSH host keys"
    # Each reaches the other by name (the bridge's dnsmasq, from their DHCP leases).
    for a, b in (("orig", "twin"), ("twin", "orig")):
        assert _reaches(lxcpath, a, b, ips[b]), (
            f"{a} -> {b} ({ips[b]}): "
            + lxcpath.attach(a, "sh", "-c", f"getent hosts {b}; cat /etc/resolv.conf").stdout
            + lxcpath.attach(b, "sh", "-c", "ss -ltn; ip -4 addr").stdout
        )
    assert "OK-twin" in login_and_run(lxcpath, "twin", password, "echo OK-$(hostname)")

    # A static source: its copy gets another static address on the same bridge.
    net.new("stat1", pw, "-t", "busybox", "--ip", "auto", "--no-start")
    copied = _json(lxcpath, "copy", "stat1", "stat2", "--json")
    status = json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
    book = {o.split("@")[0]: a for o, a in status["static_addresses"].items()}
    assert copied["network"] == "static" and book["stat1"] != book["stat2"]
    assert copied["address"].split("/")[0] == book["stat2"]


def _wait_ipv4(lxc: Lxc, names: list[str]) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = {r["name"]: r["ipv4"] for r in json.loads(lxc.cli("ls", "--json").stdout)}
        if all(rows.get(n) for n in names):
            return {n: rows[n][0] for n in names}
        time.sleep(0.5)
    raise AssertionError(f"no IPv4 for all of {names}")


def _reaches(lxc: Lxc, source: str, target: str, ip: str) -> bool:
    """source resolves target's name to ip and opens a TCP connection to its sshd."""
    check = (f"getent hosts {target} | grep -q '^{ip} ' && "
             f"timeout 3 bash -c 'exec 3<>/dev/tcp/{target}/22'")  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if lxc.attach(source, "bash", "-c", check).returncode == 0:
            return True
        time.sleep(1)
    return False


def test_export_to_stdout_and_import_from_stdin(
    lxcpath: Lxc, password_file: tuple[Path, str], outdir: Path
) -> None:
    pw = password_file[0]
    lxcpath.cli("new", "pipe1", "-t", "busybox", "--network", "none", "--no-start",
                "--root-password-file", str(pw))  # fmt: skip
    archive = outdir / "piped"
    with open(archive, "wb") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "lxcprov", "export", "pipe1", "-"],
            stdout=fh, stderr=subprocess.PIPE, env=lxcpath.env(), check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert archive.read_bytes()[:4] == b"\x28\xb5\x2f\xfd", "zstd on stdout"
    # Plain progress lines (no terminal), never on stdout.
    assert b"exported pipe1" in proc.stderr
    with open(archive, "rb") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "lxcprov", "import", "-", "pipe2", "--json"],
            stdin=fh, capture_output=True, env=lxcpath.env(), check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["exported_as"] == "pipe1"
    lxcpath.cli("start", "pipe2")
    assert lxcpath.attach("pipe2", "hostname").stdout.strip() == "pipe2"


def test_an_imported_busybox_keeps_lxcfs_and_sees_its_own_limit(
    lxcpath: Lxc, password_file: tuple[Path, str], outdir: Path
) -> None:
    """`new` adds LXC's lxcfs include to a busybox config (its template has no common.conf);
    an import takes it as included already (common.conf brings it), never as "not taken",
    and the imported container's /proc shows its own memory limit as its source's did."""
    lxcpath.cli("new", "bx1", "-t", "busybox", "--network", "none", "--memory", "64M",
                "--root-password-file", str(password_file[0]))  # fmt: skip
    meminfo = "head -n 1 /proc/meminfo"
    assert lxcpath.attach("bx1", "sh", "-c", meminfo).stdout.split() == ["MemTotal:", "65536", "kB"]
    lxcpath.cli("stop", "bx1")
    lxcpath.cli("export", "bx1", str(outdir / "bx1.tar.zst"))
    done = _json(lxcpath, "import", str(outdir / "bx1.tar.zst"), "bx2", "--json")
    assert not [line for line in done["dropped_config"] if "lxcfs" in line], done
    lxcpath.cli("start", "bx2")
    assert lxcpath.attach("bx2", "sh", "-c", meminfo).stdout.split() == ["MemTotal:", "65536", "kB"]


def test_a_copy_of_an_imported_container_starts(lxcpath: Lxc, outdir: Path) -> None:
    """An import is a dir-backed container; its copy goes through tar into a directory
    made first, and kept that directory's owner (root) and mode: the unprivileged copy
    could not start (bench/chaos.py, seed 1). Now the copy's rootfs is its source's."""
    lxcpath.cli("new", "src", "-t", "busybox", "--network", "none", "--no-start")
    lxcpath.cli("export", "src", str(outdir / "src.tar.gz"))
    lxcpath.cli("import", str(outdir / "src.tar.gz"), "imp", "--new-identity")
    lxcpath.cli("copy", "imp", "twin")
    tops = {n: os.stat(lxcpath.rootfs(n)) for n in ("imp", "twin")}
    assert {(s.st_uid, s.st_gid, s.st_mode) for s in tops.values()} == {
        (tops["imp"].st_uid, tops["imp"].st_gid, tops["imp"].st_mode)
    }
    assert tops["twin"].st_uid != 0, "an unprivileged copy's root is not host root"
    started = lxcpath.cli("start", "twin")
    assert "twin is RUNNING" in started.stderr, started.stderr
