"""The `devices` key of `lxcprov apply` on a real busybox container: a document gives
/dev/net/tun (usable inside: a tun interface made through it), a second apply changes
nothing, export-spec writes it back, dropping it from the document takes it away at
once, and --replace makes the new rootfs with the devices the document names. Killed
while it gives a device, the next apply finishes it; raced against `device add`, the
record and the nodes agree and a last apply converges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lxcprov.engine.devices import node_name
from tests.real.applyharness import apply, by_name, changed_kinds, finish, kill_at, spawn, write_doc
from tests.real.harness import Lxc
from tests.real.test_devices import _inside, _json, _nodes, _rules

pytestmark = pytest.mark.real


def _doc(path: Path, pw: Path, devices: str, *, privileged: bool = False) -> Path:
    return write_doc(path, f"""\
[containers.dv]
template = "busybox"
bridge = "none"
root_password_file = "{pw}"
privileged = {"true" if privileged else "false"}
{devices}
""")  # fmt: skip


def _device_actions(report: dict[str, Any], name: str) -> list[tuple[bool, str]]:
    container = by_name(report)[name]
    return [(a["change"], a["reason"]) for a in container["actions"] if a["kind"] == "devices"]


def test_apply_gives_tun_then_changes_nothing_then_takes_it_away(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    pw = password_file[0]
    # Made without the key, then put under LXC's device list (common.conf: deny all,
    # allow the basic nodes), as a Debian container is: busybox's template has none, and
    # without it the device cgroup would allow every device.
    apply(lxcpath, _doc(tmp_path / "none.toml", pw, 'state = "stopped"'))
    config = lxcpath.path / "dv" / "config"
    config.write_text("lxc.include = /usr/share/lxc/config/common.conf\n" + config.read_text())

    given = apply(lxcpath, _doc(tmp_path / "tun.toml", pw, 'devices = ["tun"]'))
    assert not given["failed"], given
    assert changed_kinds(given, "dv") == ["devices", "start"]
    assert _device_actions(given, "dv") == [(True, "add /dev/net/tun")]
    assert _inside(lxcpath, "dv", "tun", "aptun0") == "tun ok"
    assert "aptun0" in lxcpath.attach("dv", "ip", "link", "show", "aptun0").stdout
    assert "c 10:200 rwm" in _rules(lxcpath, "dv")
    assert [d["path"] for d in _json(lxcpath, "device", "ls", "dv", "--json")] == ["/dev/net/tun"]

    # The same document again: nothing to do, and why.
    again = apply(lxcpath, _doc(tmp_path / "tun.toml", pw, 'devices = ["tun"]'))
    assert not again["changed"]
    assert _device_actions(again, "dv") == [(False, "exactly these 1 devices already")]
    # export-spec writes it back, and applying that plans nothing.
    exported = lxcpath.cli("export-spec", "dv").stdout
    assert 'devices = ["/dev/net/tun"]' in exported
    check = apply(lxcpath, write_doc(tmp_path / "exported.toml", exported), "--check")
    assert not check["changed"], check

    # Dropped from the document: taken out of the running container at once.
    taken = apply(lxcpath, _doc(tmp_path / "empty.toml", pw, "devices = []"))
    assert _device_actions(taken, "dv") == [(True, "remove /dev/net/tun")]
    assert by_name(taken)["dv"]["status"] == "changed"
    assert _inside(lxcpath, "dv", "tun", "aptun1").startswith("failed ENOENT")
    assert "c 10:200 rwm" not in _rules(lxcpath, "dv")
    assert _nodes(lxcpath, "dv") == []
    assert _json(lxcpath, "device", "ls", "dv", "--json") == []
    last = apply(lxcpath, _doc(tmp_path / "empty.toml", pw, "devices = []"))
    assert _device_actions(last, "dv") == [(False, "no devices already")]
    assert not last["changed"]


def test_replace_makes_the_new_rootfs_with_the_documents_devices(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    pw = password_file[0]
    apply(lxcpath, _doc(tmp_path / "a.toml", pw, 'devices = ["tun"]'))
    lxcpath.attach("dv", "sh", "-c", "echo old > /root/marker")
    doc = _doc(tmp_path / "b.toml", pw, 'devices = ["tun"]', privileged=True)
    replaced = apply(lxcpath, doc, "--replace")
    assert changed_kinds(replaced, "dv") == ["replace"]
    assert "devices tun" in by_name(replaced)["dv"]["actions"][0]["after"]
    assert lxcpath.attach("dv", "cat", "/root/marker").returncode != 0, "a new rootfs"
    assert [d["path"] for d in _json(lxcpath, "device", "ls", "dv", "--json")] == ["/dev/net/tun"]
    assert _inside(lxcpath, "dv", "tun", "aptun2") == "tun ok"
    assert not apply(lxcpath, doc)["changed"]


def _paths(lxc: Lxc) -> list[str]:
    return [d["path"] for d in _json(lxc, "device", "ls", "dv", "--json")]


@pytest.mark.parametrize("point", ["device-node", "device-rule"])
def test_apply_killed_while_it_gives_a_device_the_next_apply_finishes(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path, point: str
) -> None:
    pw = password_file[0]
    apply(lxcpath, _doc(tmp_path / "none.toml", pw, ""))
    doc = _doc(tmp_path / "tun.toml", pw, 'devices = ["tun"]')
    kill_at(lxcpath, point, "apply", str(doc))
    if point == "device-node":  # the node made, no record: nothing has it yet
        assert _paths(lxcpath) == [] and _nodes(lxcpath, "dv") == ["dev%net%tun"]
        reason = "add /dev/net/tun"
    else:  # recorded and allowed, not bound inside the running container
        assert _paths(lxcpath) == ["/dev/net/tun"]
        assert lxcpath.attach("dv", "test", "-e", "/dev/net/tun").returncode == 1
        reason = "bind /dev/net/tun in the running container (recorded, not there)"
    again = apply(lxcpath, doc)
    assert _device_actions(again, "dv") == [(True, reason)]
    assert _inside(lxcpath, "dv", "tun", "aptun3") == "tun ok"
    assert _nodes(lxcpath, "dv") == ["dev%net%tun"]
    assert not apply(lxcpath, doc)["changed"]


def test_apply_raced_by_device_add_leaves_record_and_nodes_agreeing(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    pw = password_file[0]
    apply(lxcpath, _doc(tmp_path / "tun.toml", pw, 'devices = ["tun"]'))
    empty = _doc(tmp_path / "empty.toml", pw, "devices = []")
    racers = [spawn(lxcpath, "apply", str(empty), "--json"),
              spawn(lxcpath, "device", "add", "dv", "fuse", "--json")]  # fmt: skip
    for proc in racers:
        rc, _out, err = finish(proc)
        assert rc == 0, err
    # Whichever held the lock first, /dev/net/tun is gone and the nodes are the record's.
    left = _paths(lxcpath)
    assert left in ([], ["/dev/fuse"])
    assert _nodes(lxcpath, "dv") == sorted(node_name(p) for p in left)
    last = apply(lxcpath, empty)
    assert _paths(lxcpath) == [] and _nodes(lxcpath, "dv") == []
    assert not apply(lxcpath, empty)["changed"], last
