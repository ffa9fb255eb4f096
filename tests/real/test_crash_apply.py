"""`lxcprov apply` under SIGKILL and races, on real containers.

Kills take the whole apply down (the parent and its workers, one process group) at a
fault point inside a worker. Invariants afterwards: the next apply finishes the job;
nothing the document asked for is lost; nothing is left that nothing can remove (no
journal nobody owns, no address in a bridge's book for a container that is not there);
a first-boot command recorded as done never runs again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.real.applyharness import apply, by_name, finish, kill_at, spawn, write_doc
from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab
from tests.real.netharness import Net, bridge

pytestmark = pytest.mark.real


def _json(lxc: Lxc, *args: str) -> Any:
    return json.loads(lxc.cli(*args).stdout)


def _rows(lxc: Lxc) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in _json(lxc, "ls", "--json")}


def _journals(lxc: Lxc) -> list[str]:
    return sorted(p.name for p in (lxc.path / ".lxcprov" / "journal").glob("*.toml"))


def _book_owners(lxc: Lxc, net: Net) -> list[str]:
    status = _json(lxc, "net", "status", "--bridge", net.bridge, "--json")
    return sorted(o.split("@")[0] for o in status["static_addresses"])


def _counted(lxc: Lxc, name: str) -> str:
    return lxc.attach(name, "cat", "/root/count").stdout


def test_killed_between_first_boot_commands_the_next_apply_finishes_without_repeats(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    doc = write_doc(tmp_path / "boot.toml", f"""\
[containers.fb]
template = "busybox"
bridge = "none"
root_password_file = "{password_file[0]}"
first_boot = ["echo one >> /root/count", "echo two >> /root/count", "echo three >> /root/count"]
""")  # fmt: skip
    # Killed before command 2: command 1 ran and is recorded.
    kill_at(lxcpath, "apply-command-2", "apply", str(doc))
    assert _rows(lxcpath)["fb"]["state"] == "RUNNING"
    assert _counted(lxcpath, "fb") == "one\n"
    plan = apply(lxcpath, doc, "--check")
    runs = [a for a in by_name(plan)["fb"]["actions"] if a["kind"] == "run"]
    assert [a["reason"] for a in runs] == ["ran already", "not run yet", "not run yet"]
    # Killed after command 2 ran, before its record: at least once, never skipped.
    kill_at(lxcpath, "apply-ran-2", "apply", str(doc))
    assert _counted(lxcpath, "fb") == "one\ntwo\n"
    done = apply(lxcpath, doc)
    runs = [a for a in by_name(done)["fb"]["actions"] if a["kind"] == "run"]
    assert [a["status"] for a in runs] == ["no change", "done", "done"]
    assert _counted(lxcpath, "fb") == "one\ntwo\ntwo\nthree\n"
    assert not apply(lxcpath, doc)["changed"]
    assert _journals(lxcpath) == []


def test_killed_while_creating_the_next_apply_makes_them_and_leaks_no_address(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    net = bridge(netlab, lxcpath, "--no-nat")
    doc = write_doc(tmp_path / "many.toml", f"""\
[containers.c]
count = 3
template = "busybox"
bridge = "{net.bridge}"
address = "auto"
root_password_file = "{password_file[0]}"
first_boot = ["echo once >> /root/count"]
""")  # fmt: skip
    # `new`'s phase "start" in every worker: each container half-made (recipes applied,
    # address claimed, not started), and the whole apply killed there.
    kill_at(lxcpath, "start", "apply", str(doc), "-j", "3")
    states = {n: r["state"] for n, r in _rows(lxcpath).items()}
    assert "INCOMPLETE" in states.values(), states
    plan = apply(lxcpath, doc, "--check")
    for name, row in states.items():
        if row == "INCOMPLETE":
            assert "removed and made again" in by_name(plan)[name]["actions"][0]["reason"]
    apply(lxcpath, doc)
    rows = _rows(lxcpath)
    assert sorted(rows) == ["c1", "c2", "c3"]
    assert {r["state"] for r in rows.values()} == {"RUNNING"}
    addresses = [r["ipv4"][0] for r in rows.values()]
    assert len(set(addresses)) == 3
    assert _book_owners(lxcpath, net) == ["c1", "c2", "c3"], "one address each, none leaked"
    assert _journals(lxcpath) == []
    assert all(_counted(lxcpath, n) == "once\n" for n in rows)
    assert not apply(lxcpath, doc)["changed"]


def test_killed_in_the_middle_of_a_replace_is_removable_and_finished(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    net = bridge(netlab, lxcpath, "--no-nat")
    first = net.subnet.network_address + 70

    def doc(privileged: str) -> Path:
        return write_doc(tmp_path / f"{privileged}.toml", f"""\
[defaults]
template = "busybox"
bridge = "{net.bridge}"
root_password_file = "{password_file[0]}"
privileged = {privileged}

[containers.r1]
address = "{first}"

[containers.r2]
address = "{first + 1}"
""")  # fmt: skip

    apply(lxcpath, doc("false"))
    # Both workers stop after the old rootfs is gone and before the new one is made.
    kill_at(lxcpath, "apply-replaced", "apply", str(doc("true")), "--replace")
    rows = _rows(lxcpath)
    assert rows["r1"]["state"] == rows["r2"]["state"] == "INCOMPLETE"
    assert _book_owners(lxcpath, net) == ["r1", "r2"], "addresses kept for the new ones"
    # What is left can be removed by hand ...
    lxcpath.cli("destroy", "--force", "r1")
    assert "r1" not in _rows(lxcpath) and _book_owners(lxcpath, net) == ["r2"]
    # ... or finished by the next apply.
    apply(lxcpath, doc("true"), "--replace")
    rows = _rows(lxcpath)
    for name, ip in (("r1", first), ("r2", first + 1)):
        assert rows[name]["state"] == "RUNNING" and rows[name]["privileged"] is True
        assert rows[name]["ipv4"] == [str(ip)]
    assert _book_owners(lxcpath, net) == ["r1", "r2"]
    assert _journals(lxcpath) == []
    assert not apply(lxcpath, doc("true"))["changed"]


def test_two_applies_at_once_make_each_container_once(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    doc = write_doc(tmp_path / "race.toml", f"""\
[containers.x]
count = 3
template = "busybox"
bridge = "none"
root_password_file = "{password_file[0]}"
memory = "64M"
first_boot = ["echo once >> /root/count"]
""")  # fmt: skip
    procs = [spawn(lxcpath, "apply", str(doc), "--json") for _ in range(2)]
    results = [finish(p) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    reports = [json.loads(out) for _, out, _ in results]
    # Each container was made by exactly one of them; the other found it made.
    for name in ("x1", "x2", "x3"):
        done = [[a["kind"] for a in by_name(r)[name]["actions"] if a.get("status") == "done"]
                for r in reports]  # fmt: skip
        assert sum(kinds.count("create") for kinds in done) == 1, (name, done)
        assert _counted(lxcpath, name) == "once\n"
    assert sorted(_rows(lxcpath)) == ["x1", "x2", "x3"]
    assert not apply(lxcpath, doc)["changed"]
    assert _journals(lxcpath) == []


def test_apply_racing_set_and_destroy_still_converges(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    def doc(memory: str) -> Path:
        return write_doc(tmp_path / f"{memory}.toml", f"""\
[containers.s]
count = 2
template = "busybox"
bridge = "none"
root_password_file = "{password_file[0]}"
memory = "{memory}"

[[containers.s.files]]
path = "/etc/motd"
content = "{memory}\\n"
""")  # fmt: skip

    apply(lxcpath, doc("64M"))
    # apply (to 128M) against a `set` (to 96M) on s1 and a destroy of s2, at once.
    racer = spawn(lxcpath, "apply", str(doc("128M")), "--json")
    setter = spawn(lxcpath, "set", "s1", "memory=96M")
    destroyer = spawn(lxcpath, "destroy", "--force", "s2")
    outcomes = [finish(p) for p in (racer, setter, destroyer)]
    assert outcomes[1][0] == 0, outcomes[1][2]  # set waits for the lock; never fails
    assert outcomes[2][0] == 0, outcomes[2][2]
    # Whoever won, the next apply converges, and the one after changes nothing.
    again = apply(lxcpath, doc("128M"))
    assert not again["failed"]
    rows = _rows(lxcpath)
    assert sorted(rows) == ["s1", "s2"]
    for name in ("s1", "s2"):
        assert lxcpath.attach(name, "cat", "/etc/motd").stdout == "128M\n"
        config = (lxcpath.path / name / "config").read_text()
        assert config.count("memory.limit_in_bytes") == 1, config
    assert not apply(lxcpath, doc("128M"))["changed"]
    assert _journals(lxcpath) == []
