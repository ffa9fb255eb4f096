"""The `devices` key of apply documents: what a document may say (checked without the
host), and what the planner does with it against a container's recorded devices, a row
per case (no-ops with their reason too)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lxcprov.engine.apply import document
from lxcprov.engine.apply import plan as P
from lxcprov.engine.apply.plan import HostView, Observed, Options
from lxcprov.engine.devices import Device
from lxcprov.system.netintent import NetIntent
from lxcprov.system.origin import Origin
from tests.unit.apply.docs import V1, parse, problems

TUN = Device("/dev/net/tun", "c", 10, 200)
FUSE = Device("/dev/fuse", "c", 10, 229)
R128 = Device("/dev/dri/renderD128", "c", 226, 128)
# What the host resolves each name to (observe.device_paths does it on a real host).
HOST_PATHS = {
    "tun": ("/dev/net/tun",),
    "/dev/net/tun": ("/dev/net/tun",),
    "fuse": ("/dev/fuse",),
    "/dev/fuse": ("/dev/fuse",),
    "gpu": ("/dev/dri/renderD128", "/dev/dri/renderD129"),
    "/dev/tun-link": ("/dev/net/tun",),  # a symlink on the host
}


def test_devices_are_read_as_given_and_absent_means_not_managed() -> None:
    doc = parse('[containers.a]\ndevices = ["tun", "/dev/fuse", "usb:1-2.4", "gpu"]\n'
                "[containers.b]\n")  # fmt: skip
    a, b = doc.containers
    assert a.devices == ("tun", "/dev/fuse", "usb:1-2.4", "gpu")
    assert b.devices is None
    assert parse("[containers.c]\ndevices = []\n").containers[0].devices == ()


def test_devices_go_through_json_as_they_came() -> None:
    (a,) = parse('[containers.a]\ndevices = ["tun", "/dev/fuse"]\n').containers
    fields = document.to_fields(a)
    assert fields["devices"] == ["tun", "/dev/fuse"]
    text = json.dumps({"version": 1, "containers": {"a": fields}})
    assert parse(text, "json", "<stdin>").containers[0].devices == ("tun", "/dev/fuse")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[containers.a]\ndevices = "tun"\n', "doc.toml:2: containers.a.devices: must be a "
         "list of strings, not 'tun'"),
        ('[containers.a]\ndevices = ["tnu"]\n', "doc.toml:2: containers.a.devices[0]: 'tnu': "
         "no such device name"),
        ('[containers.a]\ndevices = ["tun", "/etc/shadow"]\n', "doc.toml:2: containers.a."
         "devices[1]: /etc/shadow: lxcprov passes device nodes under /dev only"),
        ('[containers.a]\ndevices = ["/dev/../etc/shadow"]\n', "doc.toml:2: containers.a."
         "devices[0]: '/dev/../etc/shadow' is not a device name or an absolute path under /dev"),
        ('[containers.a]\ndevices = ["usb:one"]\n', "doc.toml:2: containers.a.devices[0]: "
         "'usb:one': a USB device is usb:BUS-PORT, e.g. usb:1-2 or usb:1-1.4"),
        ('[containers.a]\ndevices = ["/dev/pts"]\n', "doc.toml:2: containers.a.devices[0]: "
         "/dev/pts: lxcprov passes device nodes under /dev only"),
    ],
)  # fmt: skip
def test_a_wrong_device_is_one_line_naming_its_place(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def seen(*recorded: Device, **kw: object) -> Observed:
    base = Observed("web", "/lxc", "RUNNING", made_by_lxcprov=True, origin=Origin("busybox"),
                    privileged=False, isolated=False,
                    intent=NetIntent("dhcp", "br0", owner="web@/lxc"), devices=recorded,
                    device_paths=HOST_PATHS)  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def plan(key: str, obs: Observed, **opts: bool) -> P.ContainerPlan:
    (spec,) = parse(f'[containers.web]\ntemplate = "busybox"\n{key}\n').containers
    return P.plan_container(spec, obs, HostView(V1, "br0"), Options(**opts))


@pytest.mark.parametrize(
    ("key", "recorded", "expected"),
    [
        # (change, key, reason) of every devices action
        ('devices = ["tun"]', (), [(True, "/dev/net/tun", "add /dev/net/tun")]),
        ('devices = ["tun"]', (TUN,), [(False, "", "exactly these 1 devices already")]),
        ('devices = ["/dev/tun-link"]', (TUN,), [(False, "", "exactly these 1 devices "
                                                 "already")]),
        ('devices = ["tun", "/dev/net/tun"]', (TUN,), [(False, "", "exactly these 1 devices "
                                                        "already")]),
        ("devices = []", (TUN, FUSE), [(True, "/dev/fuse", "remove /dev/fuse"),
                                       (True, "/dev/net/tun", "remove /dev/net/tun")]),
        ("devices = []", (), [(False, "", "no devices already")]),
        ('devices = ["fuse"]', (TUN,), [(True, "/dev/fuse", "add /dev/fuse"),
                                        (True, "/dev/net/tun", "remove /dev/net/tun")]),
        ('devices = ["gpu"]', (R128,), [(True, "/dev/dri/renderD129",
                                         "add /dev/dri/renderD129")]),
        # not given: the container's devices are not managed
        ("", (TUN,), []),
    ],
)  # fmt: skip
def test_devices_are_exactly_the_listed_ones(
    key: str, recorded: tuple[Device, ...], expected: list[tuple[bool, str, str]]
) -> None:
    cp = plan(key, seen(*recorded))
    assert not cp.error
    found = [(a.pending, a.key, a.reason) for a in cp.actions if a.kind == "devices"]
    assert found == expected


def test_a_recorded_device_the_running_container_lacks_is_bound_again() -> None:
    # A command killed between the record and the bind: recorded, not there inside.
    cp = plan('devices = ["tun", "fuse"]', seen(TUN, FUSE, devices_unbound=("/dev/net/tun",)))
    found = [(a.pending, a.reason) for a in cp.actions if a.kind == "devices"]
    assert found == [(True, "bind /dev/net/tun in the running container (recorded, not there)")]


def test_a_device_is_compared_by_path_so_its_mode_and_owner_stay() -> None:
    chosen = replace(TUN, mode=0o666, uid=1000, gid=1000)  # `device add --mode/--uid`
    cp = plan('devices = ["tun"]', seen(chosen))
    assert [a.pending for a in cp.actions if a.kind == "devices"] == [False]


def test_a_device_the_host_lacks_refuses_the_container_and_says_where() -> None:
    obs = seen(device_problem="usb:1-2: no USB device at /sys/bus/usb/devices/1-2 on this host")
    cp = plan('devices = ["usb:1-2"]', obs)
    assert cp.error == ("doc.toml:3: containers.web.devices: usb:1-2: no USB device at "
                        "/sys/bus/usb/devices/1-2 on this host")  # fmt: skip
    assert not cp.actions


def test_a_name_that_was_not_looked_at_is_never_guessed() -> None:
    cp = plan('devices = ["kvm"]', seen())
    assert cp.error.endswith("kvm was not looked at on this host")


def test_a_new_or_replaced_container_is_made_with_its_devices() -> None:
    cp = plan('devices = ["tun", "fuse"]', Observed("web", "/lxc"))
    assert cp.actions[0].kind == "create"
    assert cp.actions[0].after == "busybox, devices tun fuse"
    replaced = plan('privileged = false\ndevices = ["tun"]', seen(TUN, privileged=True),
                    replace=True)  # fmt: skip
    assert replaced.actions[0].kind == "replace"
    assert replaced.actions[0].after == "busybox, devices tun"
