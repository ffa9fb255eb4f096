"""Host devices: names and paths, the record in the config, USB and GPU lookups on fake
sysfs and /dev trees, v1 cgroup paths, and lxcprov's own nodes in a temporary directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lxcprov.cli.devices import complete_device
from lxcprov.engine import archive, devices
from lxcprov.engine.devices import Device
from lxcprov.errors import InvalidArgumentError
from lxcprov.ops import devices as devops
from lxcprov.system import devnodes

TUN = Device("/dev/net/tun", "c", 10, 200)
USB = Device("/dev/bus/usb/001/004", "c", 189, 3, 0o664, 1000, 1000)
NODES = Path("/var/lib/lxc/c1/devices")
CONFIG = "lxc.include = /usr/share/lxc/config/common.conf\nlxc.uts.name = c1\n"


def test_names_resolve_to_their_paths() -> None:
    assert devices.resolve_spec("tun") == ["/dev/net/tun"]
    assert devices.resolve_spec("fuse") == ["/dev/fuse"]
    assert devices.resolve_spec("kvm") == ["/dev/kvm"]
    assert devices.resolve_spec("/dev/ttyUSB0") == ["/dev/ttyUSB0"]
    assert devices.resolve_spec("/dev//net/./tun") == ["/dev/net/tun"]


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("tap", "no such device name"), ("/etc/passwd", "under /dev only"),
     ("/dev/../etc/shadow", "not a device name"), ("/dev/a b", "not a device name"),
     ("/dev/x\n", "not a device name"), ("usb:1", "usb:BUS-PORT"),
     ("usb:1-2;rm", "usb:BUS-PORT"), ("/dev/pts", "under /dev only")],
)  # fmt: skip
def test_bad_names_are_one_line(spec: str, needle: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        devices.resolve_spec(spec, sysfs=Path("/nonexistent"))
    assert needle in caught.value.message
    assert "\n" not in caught.value.message


def test_usb_by_bus_path_reads_busnum_and_devnum(tmp_path: Path) -> None:
    port = tmp_path / "bus/usb/devices/1-2.3"
    port.mkdir(parents=True)
    (port / "busnum").write_text("1\n")
    (port / "devnum").write_text("14\n")
    assert devices.resolve_spec("usb:1-2.3", sysfs=tmp_path) == ["/dev/bus/usb/001/014"]
    with pytest.raises(InvalidArgumentError, match="no USB device"):
        devices.resolve_spec("usb:1-9", sysfs=tmp_path)


def test_gpu_is_every_render_node(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="no GPU render node"):
        devices.resolve_spec("gpu", dev=tmp_path)
    (tmp_path / "dri").mkdir()
    for name in ("card0", "renderD129", "renderD128"):
        (tmp_path / "dri" / name).touch()
    assert devices.resolve_spec("gpu", dev=tmp_path) == [
        "/dev/dri/renderD128",
        "/dev/dri/renderD129",
    ]


def test_record_round_trips_and_derives_the_lxc_lines() -> None:
    text = devices.render(CONFIG, [USB, TUN], NODES, v1_devices=True)
    assert text.startswith(CONFIG)
    assert devices.parse(text) == [USB, TUN]
    assert (
        f"lxc.mount.entry = {NODES}/dev%net%tun dev/net/tun none bind,create=file,optional 0 0"
        in text
    )
    assert "lxc.cgroup.devices.allow = c 10:200 rwm" in text
    assert "lxc.cgroup.devices.allow = c 189:3 rwm" in text
    v2 = devices.render(CONFIG, [TUN], NODES, v1_devices=False)
    assert "lxc.cgroup2.devices.allow = c 10:200 rwm" in v2 and "lxc.cgroup.devices" not in v2
    # Removing the last one removes the section and the blank line before it.
    assert devices.render(text, [], NODES, v1_devices=True) == CONFIG
    # Rendering again is a no-op.
    assert devices.render(text, [USB, TUN], NODES, v1_devices=True) == text


def test_only_lxcprovs_own_records_are_read() -> None:
    text = devices.render(CONFIG, [TUN], NODES, v1_devices=True)
    forged = text.replace(
        "# END lxcprov devices",
        "# device /dev/x c 1:1 0660 70000 0\n# device /etc/shadow c 1:1 0660 0 0\n"
        "# device /dev/y c 1:2 0777 0 0 extra\n# device /dev/z c 1:2 0777 0 0\n"
        "# END lxcprov devices",
    )
    assert devices.parse(forged) == [TUN]
    outside = CONFIG + "# device /dev/fuse c 10:229 0660 0 0\n"
    assert devices.parse(outside) == []


def test_node_names_are_one_per_path_and_back() -> None:
    assert devices.node_name("/dev/net/tun") == "dev%net%tun"
    paths = ["/dev/a-/b", "/dev/a/-b", "/dev/a--b", "/dev/a-b", "/dev/a/b", "/dev/a_b"]
    names = [devices.node_name(p) for p in paths]
    assert len(set(names)) == len(set(paths))  # the reviewed collision: /dev/a-/b, /dev/a/-b
    assert ["/" + n.replace("%", "/") for n in names] == paths  # and back


def test_a_config_of_the_old_node_names_is_rewritten_from_the_record() -> None:
    old = CONFIG + (
        f"{devices.BEGIN}\n{TUN.record()}\n"
        f"lxc.mount.entry = {NODES}/dev-net-tun dev/net/tun none bind,create=file,optional 0 0\n"
        f"lxc.cgroup2.devices.allow = c 10:200 rwm\n{devices.END}\n"
    )
    assert devices.parse(old) == [TUN]
    new = devices.render(old, devices.parse(old), NODES, False)
    assert f"{NODES}/dev%net%tun dev/net/tun " in new and "dev-net-tun" not in new


@pytest.mark.parametrize(
    "path",
    ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
     "/dev/console", "/dev/ptmx", "/dev/pts/0", "/dev/tty1", "/dev/tty63", "/dev/lxc/tty1",
     "/dev/lxc/console"],
)  # fmt: skip
def test_what_lxc_gives_every_container_is_refused(path: str) -> None:
    with pytest.raises(InvalidArgumentError, match="every container has this already"):
        devices.resolve_spec(path)
    with pytest.raises(InvalidArgumentError, match="every container has this already"):
        devices.check_spec(path)


def test_a_path_resolving_to_what_lxc_gives_is_refused() -> None:
    for real in ("/dev/pts/3", "/proc/self/fd/0", "/dev/console", "/dev/tty"):
        with pytest.raises(InvalidArgumentError, match=r"/dev/stdin \(resolved: "):
            devices.refuse_lxc_own("/dev/stdin", real)
    for fine in ("/dev/ttyUSB0", "/dev/ttyS0", "/dev/ttyACM1", "/dev/net/tun", "/dev/fuse"):
        devices.refuse_lxc_own(fine, fine)
    assert devices.resolve_spec("/dev/ttyUSB0") == ["/dev/ttyUSB0"]


def test_the_real_dev_stdin_is_refused_through_its_symlinks() -> None:
    # /dev/stdin -> /proc/self/fd/0 -> whatever this process's stdin is (a terminal of
    # /dev/pts, a pipe): never a device of lxcprov's
    with pytest.raises(InvalidArgumentError, match="every container has this already"):
        devops.resolve("/dev/stdin", mode=0o660, uid=0, gid=0)


def test_a_second_add_changes_only_the_options_given() -> None:
    had = Device("/dev/net/tun", "c", 10, 200, 0o000, 0, 0)
    asked = Device("/dev/net/tun", "c", 10, 200, devices.DEFAULT_MODE, 65535, 65535)
    kept = devices.keep_recorded(asked, had, {"mode"})
    assert (kept.mode, kept.uid, kept.gid) == (0o000, 65535, 65535)
    assert devices.keep_recorded(asked, had, set()) == asked  # every option given
    assert devices.keep_recorded(asked, None, {"mode", "uid", "gid"}) == asked  # a first add
    other = Device("/dev/fuse", "c", 10, 229, 0o600, 5, 5)
    assert devices.keep_recorded(asked, other, {"mode"}) == asked


def test_a_path_holding_another_device_now_is_told_apart(tmp_path: Path) -> None:
    assert devnodes.node_state("/dev/null", "c", 1, 3) == "same"
    assert devnodes.node_state("/dev/null", "c", 1, 5) == "other"
    assert devnodes.node_state("/dev/null", "b", 1, 3) == "other"
    assert devnodes.node_state(str(tmp_path / "none"), "c", 1, 3) == "gone"


def test_mode_and_ids() -> None:
    assert devices.check_mode("0666") == 0o666
    assert devices.check_mode("640") == 0o640
    for bad in ("0755", "999", "rw", "06600"):
        with pytest.raises(InvalidArgumentError):
            devices.check_mode(bad)
    assert devices.check_id("uid", 65535) == 65535
    with pytest.raises(InvalidArgumentError, match="0-65535"):
        devices.check_id("uid", 65536)
    with pytest.raises(InvalidArgumentError):
        devices.check_id("gid", -1)


def test_v1_cgroup_is_lxcs_payload_cgroup_above_its_inits() -> None:
    text = "5:devices:/lxc.payload.c1-1/system.slice/foo.service\n1:cpu:/x\n0::/lxc.payload.c1-1\n"
    assert devnodes.v1_cgroup_in(text, "/sys/fs/cgroup") == Path(
        "/sys/fs/cgroup/devices/lxc.payload.c1-1"
    )
    assert devnodes.v1_cgroup_in("1:cpu:/x\n", "/sys/fs/cgroup") is None


def test_v1_rules_go_top_down_to_every_cgroup(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    devnodes.v1_write(tmp_path, "allow", "c 10:200 rwm")
    for where in (tmp_path, tmp_path / "a", tmp_path / "a" / "b"):
        assert (where / "devices.allow").read_text() == "c 10:200 rwm"


def test_host_node_refuses_what_is_not_a_device(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("x")
    with pytest.raises(InvalidArgumentError, match="not a device node"):
        devnodes.host_node(str(regular))
    with pytest.raises(InvalidArgumentError, match="not on this host"):
        devnodes.host_node("/dev/lxcprov-no-such-device")
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    found = devnodes.host_node(str(link))
    assert (found.path, found.kind, found.major, found.minor) == ("/dev/null", "c", 1, 3)
    assert devnodes.host_node("/dev/null").path == "/dev/null"


def test_nodes_are_made_whole_and_swept(tmp_path: Path) -> None:
    with devnodes.nodes_dir(tmp_path, create=True) as fd:
        assert fd is not None
        devnodes.make_node(fd, "dev-null", "c", 1, 3, 0o640, 1234, 5678)
        (tmp_path / "devices" / ".dev-x.new").touch()  # what a killed command left
        assert devnodes.node_ok(fd, "dev-null", "c", 1, 3, 0o640, 1234, 5678)
        assert not devnodes.node_ok(fd, "dev-null", "c", 1, 3, 0o660, 1234, 5678)
        assert devnodes.sweep(fd, {"dev-null"}) == [".dev-x.new"]
    st = os.lstat(tmp_path / "devices" / "dev-null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o640)
    assert stat.S_IMODE(os.stat(tmp_path / "devices").st_mode) == 0o711


def test_a_copy_forgets_devices_and_an_import_drops_them() -> None:
    text = devices.render(CONFIG, [TUN], NODES, v1_devices=True)
    forgotten, dropped = devops.forget(text)
    assert forgotten == CONFIG and dropped == ["/dev/net/tun"]
    portable = archive.portable_config(text)
    assert not any("tun" in line or "10:200" in line for line in portable.lines)
    assert any("dev%net%tun" in d for d in portable.dropped)
    assert any("10:200" in d for d in portable.dropped)


def test_the_named_devices_complete() -> None:
    assert complete_device("") == ["tun", "fuse", "kvm", "gpu", "usb:"]
    assert complete_device("f") == ["fuse"]


@pytest.mark.parametrize(
    ("kind", "major", "minor"),
    [("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9), ("c", 5, 0),
     ("c", 5, 1), ("c", 5, 2), ("c", 136, 0), ("c", 136, 7), ("c", 143, 255)],
)  # fmt: skip
def test_what_lxc_gives_is_refused_by_its_numbers_under_any_path(
    kind: str, major: int, minor: int
) -> None:
    with pytest.raises(InvalidArgumentError, match=f"c {major}:{minor}, a device every"):
        devices.refuse_lxc_numbers("/dev/mynull", kind, major, minor)


def test_fuse_and_other_numbers_stay_allowed() -> None:
    for kind, major, minor in [("c", 10, 229), ("c", 10, 200), ("c", 1, 1), ("b", 1, 3),
                               ("c", 4, 64), ("c", 188, 0)]:  # fmt: skip
        assert not devices.numbers_of_lxc(kind, major, minor)
        devices.refuse_lxc_numbers("/dev/x", kind, major, minor)
    [(fuse, _)] = devops.resolve("fuse", mode=0o666, uid=0, gid=0)  # the host's real node
    assert (fuse.kind, fuse.major, fuse.minor) == ("c", 10, 229)
