"""Published ports and host directories under SIGKILL and races.

Invariants: what a killed command recorded is finished by the next `net setup` / `mount
add` (never lost, never doubled); a killed `new --publish` leaves no port, reservation or
rule behind once it is cleaned up; two commands racing for one host port never both
win; a killed `forward rm` or destroy leaves its port closed (listed until the same
command, or doctor --fix, ends it), never open and unlisted; doctor reports a table and
rules that differ and `doctor --fix` makes them agree."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.real.harness import Lxc, wait_for_fault
from tests.real.hostnet.hostnet_lab import NetLab, sh
from tests.real.invariants import dnat_rules
from tests.real.netharness import bridge as _bridge

pytestmark = pytest.mark.real


def _spawn(lxc: Lxc, *args: str, fault: str = "") -> subprocess.Popen[str]:
    env = lxc.env(LXCPROV_FAULT_AT=fault) if fault else lxc.env()
    return subprocess.Popen([sys.executable, "-m", "lxcprov", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _kill_at(lxc: Lxc, point: str, *args: str) -> None:
    proc = _spawn(lxc, *args, fault=point)
    wait_for_fault(proc, point, str(args), 300)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def _json(lxc: Lxc, *args: str) -> Any:
    return json.loads(lxc.cli(*args).stdout)


def _rules(bridge: str) -> str:
    return sh("nft", "list", "table", "inet", f"lxcprov_{bridge}", check=False).stdout


def _dnatted(bridge: str) -> set[int]:
    """The host ports the bridge's nft table DNATs (read from outside: `nft -j`)."""
    return {port for _proto, port, _addr, _cport in dnat_rules(bridge)}


def _out_of_step(lxc: Lxc, *name: str) -> list[dict[str, Any]]:
    found = json.loads(lxc.cli("doctor", *name, "--json", check=False).stdout)["findings"]
    return [f for f in found if f["id"] == "forwards-out-of-step"]


def test_killed_forward_add_is_finished_by_net_setup_and_racers_never_share_a_port(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    pw = password_file[0]
    for name in ("pa", "pb"):
        net.new(name, pw, "-t", "busybox")
    # Killed after recording the forward, before the rule: recorded, reported, finished.
    _kill_at(lxcpath, "forward-rules", "forward", "add", "pa", "18090", "80")
    (fw,) = _json(lxcpath, "forward", "ls", "--json")
    assert fw["container"] == "pa" and "dport 18090" not in _rules(net.bridge)
    status = _json(lxcpath, "net", "status", "--bridge", net.bridge, "--json")
    assert any("18090/tcp -> pa:80" in p for p in status["pending"]), status["pending"]
    (found,) = _out_of_step(lxcpath)  # listed, not forwarded: closed, a warning
    assert found["severity"] == "warning" and "18090/tcp -> pa:80" in found["message"]
    # `doctor pa` says it of pa's own port too; `doctor pb` has nothing of pa's.
    (own,) = _out_of_step(lxcpath, "pa")
    assert own["scope"] == "container" and "18090/tcp -> pa:80" in own["message"]
    assert _out_of_step(lxcpath, "pb") == []
    lxcpath.cli("net", "setup", "--bridge", net.bridge)
    assert "dport 18090" in _rules(net.bridge)
    assert _out_of_step(lxcpath, "pa") == []
    again = _json(lxcpath, "forward", "add", "pa", "18090", "80", "--json")
    assert again[0]["status"] == "no change"
    # Two containers racing for one host port: exactly one gets it, the other is told.
    procs = [_spawn(lxcpath, "forward", "add", n, "18091", "80") for n in ("pa", "pb")]
    results = [(p.wait(60), p.communicate()[1]) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 1], results
    loser = next(err for rc, err in results if rc)
    assert "already published" in loser
    owners = [f["container"] for f in _json(lxcpath, "forward", "ls", "--json")
              if f["host_port"] == 18091]  # fmt: skip
    assert len(owners) == 1
    assert _rules(net.bridge).count("dport 18091") == 2  # prerouting and output, once each
    # A forward add racing the container's destroy: either the port is gone with the
    # container, or the add failed on a container that no longer exists; never a port
    # left to a container that is not there.
    racer = _spawn(lxcpath, "forward", "add", "pb", "18092", "80")
    lxcpath.cli("destroy", "--force", "pb")
    racer.wait(60)
    left = [f["container"] for f in _json(lxcpath, "forward", "ls", "--json")]
    assert "pb" not in left and "dport 18092" not in _rules(net.bridge)


def test_killed_forward_rm_and_destroy_leave_the_port_closed_and_doctor_repairs(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    pw = password_file[0]
    net.new("pr", pw, "-t", "busybox", "--publish", "18094:80")
    net.new("pd", pw, "-t", "busybox", "--publish", "18095:80")
    assert {18094, 18095} <= _dnatted(net.bridge)
    assert _out_of_step(lxcpath) == []
    # forward rm killed after its rules went, before the table forgot the port: closed,
    # still listed (never open while `forward ls` no longer shows it).
    _kill_at(lxcpath, "unpublish-table", "forward", "rm", "pr", "18094")
    assert 18094 not in _dnatted(net.bridge) and 18095 in _dnatted(net.bridge)
    assert [f["host_port"] for f in _json(lxcpath, "forward", "ls", "pr", "--json")] == [18094]
    (found,) = _out_of_step(lxcpath)
    assert found["severity"] == "warning" and "18094/tcp -> pr:80" in found["message"]
    # The same command again ends it.
    (gone,) = _json(lxcpath, "forward", "rm", "pr", "18094", "--json")
    assert gone["status"] == "removed"
    assert _json(lxcpath, "forward", "ls", "pr", "--json") == []
    assert 18094 not in _dnatted(net.bridge) and _out_of_step(lxcpath) == []
    # destroy killed at the same point: the container's files are gone, its port closed
    # but listed, its address still booked, and its journal keeps it listed as INCOMPLETE;
    # doctor --fix gives both back (and does not open the port again on the way: the
    # release comes before the net setup that would); destroy --force ends the journal.
    _kill_at(lxcpath, "unpublish-table", "destroy", "--force", "pd")
    assert 18095 not in _dnatted(net.bridge)
    assert [f["container"] for f in _json(lxcpath, "forward", "ls", "--json")] == ["pd"]
    assert [r["state"] for r in _json(lxcpath, "ls", "--json") if r["name"] == "pd"] == [
        "INCOMPLETE"
    ]
    report = json.loads(lxcpath.cli("doctor", "--json", check=False).stdout)["findings"]
    assert {"forwards-out-of-step", "address-stale"} <= {f["id"] for f in report}
    lxcpath.cli("doctor", "--fix", "--only", "address-stale", "--only", "forwards-out-of-step",
                check=False)  # fmt: skip
    assert 18095 not in _dnatted(net.bridge)
    lxcpath.cli("destroy", "--force", "pd")
    assert "pd" not in [r["name"] for r in _json(lxcpath, "ls", "--json")]
    assert _json(lxcpath, "forward", "ls", "--json") == []
    assert 18095 not in _dnatted(net.bridge) and _out_of_step(lxcpath) == []
    status = _json(lxcpath, "net", "status", "--bridge", net.bridge, "--json")
    assert not [o for o in status["static_addresses"] if o.startswith("pd@")]
    # A rule no entry lists (the table changed by other hands): an open port `forward ls`
    # does not show is an error, and doctor --fix takes the rule away.
    lxcpath.cli("forward", "add", "pr", "18096", "80")
    table = Path(os.environ["LXCPROV_STATE_DIR"]) / "net" / net.bridge / "forwards.json"
    table.write_text("[]\n")
    (found,) = _out_of_step(lxcpath)
    assert found["severity"] == "error" and "18096/tcp" in found["message"]
    assert 18096 in _dnatted(net.bridge)
    lxcpath.cli("doctor", "--fix", "--only", "forwards-out-of-step", check=False)
    assert 18096 not in _dnatted(net.bridge) and _out_of_step(lxcpath) == []


def test_a_forward_rm_waits_for_a_net_setup_that_read_the_forwards(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    """bench/chaos.py (seed 2026, CI): `forward rm` and `net setup` at once left the DNAT
    rule of the removed port: setup had read the table before the rm and wrote its rules
    after. Setup now reads and applies under the forwards' lock: a forward rm waits."""
    net = _bridge(netlab, lxcpath, "--no-nat")
    net.new("pw", password_file[0], "-t", "busybox", "--publish", "18097:80")
    assert 18097 in _dnatted(net.bridge)
    setup = _spawn(lxcpath, "net", "setup", "--bridge", net.bridge, fault="setup-forwards-read")
    try:
        wait_for_fault(setup, "setup-forwards-read", "net setup", 120)
        rm = _spawn(lxcpath, "forward", "rm", "pw", "18097")
        with pytest.raises(subprocess.TimeoutExpired):
            rm.wait(3)  # waits for the setup that read the table with 18097 in it
    finally:
        setup.kill()
        setup.wait()
    assert rm.wait(60) == 0, rm.communicate()
    lxcpath.cli("net", "setup", "--bridge", net.bridge)  # what the killed one would do
    assert _json(lxcpath, "forward", "ls", "pw", "--json") == []
    assert 18097 not in _dnatted(net.bridge) and _out_of_step(lxcpath) == []


def test_new_killed_while_publishing_leaves_nothing_after_cleanup(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    _kill_at(lxcpath, "publish", "new", "pk", "-t", "busybox", "--bridge", net.bridge,
             "--root-password-file", str(password_file[0]), "--publish", "18093:80")  # fmt: skip
    rows = {r["name"]: r for r in _json(lxcpath, "ls", "--json")}
    assert rows["pk"]["state"] == "INCOMPLETE"
    lxcpath.cli("destroy", "--force", "pk")
    assert _json(lxcpath, "forward", "ls", "--json") == []
    status = _json(lxcpath, "net", "status", "--bridge", net.bridge, "--json")
    assert not [o for o in status["static_addresses"] if o.startswith("pk@")]
    state = Path(os.environ["LXCPROV_STATE_DIR"]) / "net" / net.bridge
    assert "pk@" not in (state / "macs.json").read_text()
    assert "dport 18093" not in _rules(net.bridge)
    # The port is free again for a new container.
    net.new("pk2", password_file[0], "-t", "busybox", "--publish", "18093:80")


def test_killed_mount_add_is_finished_by_running_it_again_and_parallel_adds_both_land(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    share = Path("/var/tmp") / f"lxcprov-crash-share-{os.getpid()}"
    share.mkdir(mode=0o755)
    try:
        (share / "f").write_text("shared\n")
        lxcpath.cli("new", "mk", "-t", "busybox", "--network", "none",
                    "--root-password-file", str(password_file[0]))  # fmt: skip
        _kill_at(lxcpath, "mount-live", "mount", "add", "mk", str(share), "/srv/k")
        # In the config (so the next start mounts it), not yet in the running container:
        # mount ls and doctor say so, and doctor gives the command that mounts it...
        listed = _json(lxcpath, "mount", "ls", "mk", "--json")
        assert [(m["target"], m["mounted"]) for m in listed] == [("/srv/k", False)]
        assert lxcpath.attach("mk", "cat", "/srv/k/f").returncode != 0
        found = json.loads(lxcpath.cli("doctor", "mk", "--json", check=False).stdout)["findings"]
        (lacking,) = [f for f in found if f["id"] == "share-not-mounted"]
        assert f"lxcprov mount add mk {share} /srv/k" in lacking["fix"], lacking
        # ... and running the command again finishes it.
        out = _json(lxcpath, "mount", "add", "mk", str(share), "/srv/k", "--json")
        assert out["status"] == "changed", out
        assert lxcpath.attach("mk", "cat", "/srv/k/f").stdout == "shared\n"
        assert [m["mounted"] for m in _json(lxcpath, "mount", "ls", "mk", "--json")] == [True]
        found = json.loads(lxcpath.cli("doctor", "mk", "--json", check=False).stdout)["findings"]
        assert [f for f in found if f["id"] == "share-not-mounted"] == []
        # Two adds at once (the container's lock orders them): both land, none is lost.
        procs = [_spawn(lxcpath, "mount", "add", "mk", str(share), t) for t in ("/a", "/b")]
        assert [p.wait(60) for p in procs] == [0, 0], [p.communicate() for p in procs]
        targets = [m["target"] for m in _json(lxcpath, "mount", "ls", "mk", "--json")]
        assert targets == ["/a", "/b", "/srv/k"]
        for t in ("/a", "/b"):
            assert lxcpath.attach("mk", "cat", f"{t}/f").stdout == "shared\n"
    finally:
        lxcpath.cli("destroy", "--force", "mk", check=False)
        subprocess.run(["rm", "-rf", str(share)], check=False)


def _live_dir(lxc: Lxc, name: str) -> Path:
    """Where a live idmapped `mount add` passes through (computed here, not by lxcprov's
    own code: the digest of the lxcpath, then the name)."""
    token = hashlib.sha256(str(lxc.path).encode()).hexdigest()[:12]
    return Path("/run/lxcprov/shares/live") / f"{token}-{name}"


def test_a_killed_live_mount_add_leaves_no_directory_that_outlives_its_container(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    share = Path("/var/tmp") / f"lxcprov-crash-live-{os.getpid()}"
    share.mkdir(mode=0o755)
    live = _live_dir(lxcpath, "ml")
    try:
        (share / "f").write_text("shared\n")
        lxcpath.cli("new", "ml", "-t", "busybox", "--network", "none",
                    "--root-password-file", str(password_file[0]))  # fmt: skip
        _kill_at(lxcpath, "mount-live-lock", "mount", "add", "ml", str(share), "/srv/l")
        assert live.is_dir()
        # The same command again finishes the mount and takes the directory away...
        out = _json(lxcpath, "mount", "add", "ml", str(share), "/srv/l", "--json")
        assert out["status"] == "changed", out
        assert lxcpath.attach("ml", "cat", "/srv/l/f").stdout == "shared\n"
        assert not live.exists()
        # ... and a removal takes one a killed add left.
        _kill_at(lxcpath, "mount-live-lock", "mount", "add", "ml", str(share), "/srv/m")
        assert live.is_dir()
        lxcpath.cli("destroy", "--force", "ml")
        assert not live.exists()
    finally:
        lxcpath.cli("destroy", "--force", "ml", check=False)
        subprocess.run(["rm", "-rf", str(share)], check=False)
