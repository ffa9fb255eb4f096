"""`lxcprov set` / `show` / `start --all` on real busybox containers in a private lxcpath."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lxcprov.system import cgroups, lxcconf
from tests.real.harness import Lxc, plain_busybox
from tests.real.hostnet.hostnet_lab import NetLab
from tests.real.netharness import bridge as netbridge

pytestmark = pytest.mark.real

HOST = cgroups.detect()


def _key(controller: str, v1: str, v2: str) -> str:
    return f"lxc.cgroup.{v1}" if HOST.version_of(controller) == 1 else f"lxc.cgroup2.{v2}"


def _config(path: Path) -> dict[str, str]:
    return dict(lxcconf.items(lxcconf.parse(path.read_text())))


def _show(lxc: Lxc, name: str) -> dict[str, str]:
    data = json.loads(lxc.cli("show", name, "--json").stdout)
    return dict(data["settings"])


def _cgroup_file(lxc: Lxc, name: str, controller: str, cgfile: str) -> str:
    """A limit as the kernel has it for the container's init (its real cgroup)."""
    pid = subprocess.run(
        ["lxc-info", "-P", str(lxc.path), "-n", name, "-pH"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if HOST.version_of(controller) == 1 and controller in ctrls.split(","):
            return Path(f"{HOST.v1_root}/{ctrls}{path}/{cgfile}").read_text().strip()
        if HOST.version_of(controller) == 2 and ctrls == "":
            return Path(f"{HOST.v2_root}{path}/{cgfile}").read_text().strip()
    raise AssertionError(f"no {controller} cgroup for {name}")


def test_every_setting_written_shown_and_in_effect(lxcpath: Lxc) -> None:
    config = plain_busybox(lxcpath, "set1")
    out = lxcpath.cli(
        "set", "set1", "memory=128M", "swap=64M", "cpus=1", "cpu-weight=50",
        "autostart=yes", "hostname=web-set1", "ttys=2",
    )  # fmt: skip
    assert "memory = 128M: changed" in out.stderr
    keys = _config(config)
    assert keys[_key("memory", "memory.limit_in_bytes", "memory.max")] == str(128 << 20)
    if HOST.version_of("memory") == 1:
        assert keys["lxc.cgroup.memory.memsw.limit_in_bytes"] == str(192 << 20)
    else:
        assert keys["lxc.cgroup2.memory.swap.max"] == str(64 << 20)
    if HOST.version_of("cpu") == 1:
        assert keys["lxc.cgroup.cpu.cfs_quota_us"] == "100000"
        assert keys["lxc.cgroup.cpu.shares"] == "512"
    else:
        assert keys["lxc.cgroup2.cpu.max"] == "100000 100000"
        assert keys["lxc.cgroup2.cpu.weight"] == "50"
    assert keys["lxc.start.auto"] == "1"
    assert keys["lxc.uts.name"] == "web-set1"
    assert keys["lxc.tty.max"] == "2"
    shown = _show(lxcpath, "set1")
    assert shown == shown | {
        "memory": "128M", "swap": "64M", "cpus": "1", "cpu-weight": "50",
        "autostart": "yes", "hostname": "web-set1", "ttys": "2",
    }  # fmt: skip
    # The rootfs follows through the recipes: hostname files and one getty per tty.
    with lxcpath.mounted("set1") as rootfs:
        assert (rootfs / "etc/hostname").read_text() == "web-set1\n"
        inittab = (rootfs / "etc/inittab").read_text()
    assert "tty2::respawn" in inittab
    again = lxcpath.cli(
        "set", "set1", "memory=128M", "swap=64M", "cpus=1", "cpu-weight=50",
        "autostart=yes", "hostname=web-set1", "ttys=2",
    )  # fmt: skip
    assert "changed" not in again.stderr and "nothing to change" in again.stderr
    lxcpath.cli("start", "set1")
    mem = _cgroup_file(lxcpath, "set1", "memory", "memory.limit_in_bytes")
    if HOST.version_of("cpu") == 1:
        assert _cgroup_file(lxcpath, "set1", "cpu", "cpu.cfs_quota_us") == "100000"
    assert mem == str(128 << 20)
    assert lxcpath.attach("set1", "hostname").stdout.strip() == "web-set1"


def test_running_container_takes_limits_live(lxcpath: Lxc) -> None:
    plain_busybox(lxcpath, "live1")
    lxcpath.cli("start", "live1")
    out = lxcpath.cli("set", "live1", "memory=96M", "cpus=0-0")
    assert "applied to the running container" in out.stderr
    assert _cgroup_file(lxcpath, "live1", "memory", "memory.limit_in_bytes") == str(96 << 20)
    assert _cgroup_file(lxcpath, "live1", "cpuset", "cpuset.cpus") == "0"
    out = lxcpath.cli("set", "live1", "memory=none", "ttys=3")
    assert _cgroup_file(lxcpath, "live1", "memory", "memory.limit_in_bytes") != str(96 << 20)
    assert "ttys = 3: needs restart" in out.stderr
    assert "restart to apply" in out.stderr


def test_bad_values_change_nothing_and_say_one_line(lxcpath: Lxc) -> None:
    config = plain_busybox(lxcpath, "bad1")
    # A user's comment and a key lxcprov does not manage, in the middle of the file.
    text = config.read_text().replace(
        "lxc.tty.max", "# my note: keep this\nlxc.environment = FOO=bar\nlxc.tty.max", 1
    )
    config.write_text(text)
    for args, word in (
        (["memory=lots"], "memory=lots: not a size"),
        (["cpus=-1"], "cpus=-1: not a CPU count"),
        (["colour=blue"], "unknown setting 'colour'"),
        (["memory=256M", "cpus=-1"], "cpus=-1"),
    ):
        proc = lxcpath.cli("set", "bad1", *args, check=False)
        assert proc.returncode == 2, proc.stderr
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and word in errors[0], proc.stderr
        assert config.read_text() == text
    lxcpath.cli("set", "bad1", "memory=256M")
    after = config.read_text()
    assert after.startswith(text), "the file's own lines must survive byte for byte"
    raw = json.loads(lxcpath.cli("show", "bad1", "--json").stdout)["raw"]
    assert {"key": "lxc.environment", "value": "FOO=bar"} in raw


def test_bridge_and_address_through_the_network_recipes(netlab: NetLab, lxcpath: Lxc) -> None:
    # A bridge of lxcprov's own, on a subnet no host route covers, with DHCP and no NAT.
    net = netbridge(netlab, lxcpath, "--no-nat")
    prefix = ".".join(str(net.subnet.network_address).split(".")[:3])
    config = plain_busybox(lxcpath, "net1")

    def static_book() -> dict[str, str]:
        status = json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
        return dict(status["static_addresses"])

    out = lxcpath.cli("set", "net1", f"bridge={net.bridge}", "address=auto")
    assert "changed" in out.stderr
    keys = _config(config)
    assert keys["lxc.net.0.type"] == "veth" and keys["lxc.net.0.link"] == net.bridge
    auto = _show(lxcpath, "net1")["address"]
    ((owner, reserved),) = static_book().items()
    assert owner.startswith("net1@") and auto == f"{reserved}/24"
    out = lxcpath.cli("set", "net1", f"address={prefix}.20/24")
    assert list(static_book().values()) == [f"{prefix}.20"], "the auto address was released"
    shown = _show(lxcpath, "net1")
    assert shown["bridge"] == net.bridge and shown["address"] == f"{prefix}.20/24"
    assert lxcpath.cli("set", "net1", f"address={prefix}.20/24").stderr.count("no change") == 1
    lxcpath.cli("start", "net1")
    ips = lxcpath.attach("net1", "ip", "-4", "addr", "show", "eth0").stdout
    assert f"{prefix}.20/24" in ips
    lxcpath.cli("stop", "net1")
    lxcpath.cli("set", "net1", "bridge=none")
    assert _config(config)["lxc.net.0.type"] == "empty"
    assert _show(lxcpath, "net1")["address"] == "none"
    assert static_book() == {}


def test_start_all_starts_autostart_containers_only(lxcpath: Lxc) -> None:
    plain_busybox(lxcpath, "auto1")
    plain_busybox(lxcpath, "manual1")
    lxcpath.cli("set", "auto1", "autostart=yes")
    out = lxcpath.cli("start", "--all")
    assert "auto1" in out.stderr
    state = {n: lxcpath.cli("show", n, "--json").stdout for n in ("auto1", "manual1")}
    assert json.loads(state["auto1"])["running"] is True
    assert json.loads(state["manual1"])["running"] is False
