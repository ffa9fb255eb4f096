"""`lxcprov apply` and `export-spec` on real busybox containers, a private lxcpath and a
test bridge: converge, a second apply that changes nothing, --check/--diff, live changes,
bad input, first-boot failures and retries, --replace and --prune."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lxcprov.system import containerfs, lxc
from tests.real.applyharness import (
    apply,
    by_name,
    cgroup,
    changed_kinds,
    config_key,
    write_doc,
)
from tests.real.harness import Lxc, plain_busybox
from tests.real.hostnet.hostnet_lab import NetLab
from tests.real.netharness import bridge

pytestmark = pytest.mark.real


def _doc(bridge_name: str, static: str, pw: Path, memory: str = "96M") -> str:
    return f"""\
version = 1

[defaults]
template = "busybox"
bridge = "{bridge_name}"
root_password_file = "{pw}"
memory = "{memory}"

[profiles.web]
cpus = 1
groups = ["web"]
publish = []

[containers.web]
count = 2
extends = ["web"]
address = "auto"
first_boot = ["echo ran >> /root/first-boot", "hostname > /root/name"]

[[containers.web.files]]
path = "/etc/motd"
content = "welcome to the web tier\\n"
mode = "0640"

[containers.gw]
address = "{static}"
publish = ["18181:80"]
autostart = true
groups = ["edge"]
"""


def test_apply_converges_then_changes_nothing_and_export_round_trips(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    net = bridge(netlab, lxcpath, "--no-nat")
    static = str(net.subnet.network_address + 40)
    doc = write_doc(tmp_path / "hosts.toml", _doc(net.bridge, static, password_file[0]))

    # --check: the plan, nothing made.
    plan = apply(lxcpath, doc, "--check")
    assert plan["check"] and plan["changed"]
    assert [c["status"] for c in plan["containers"]] == ["would change"] * 3
    assert lxcpath.names() == []

    first = apply(lxcpath, doc)
    assert first["changed"] and not first["failed"]
    assert sorted(lxcpath.names()) == ["gw", "web1", "web2"]
    rows = {r["name"]: r for r in json.loads(lxcpath.cli("ls", "--json").stdout)}
    assert rows["gw"]["ipv4"] == [static] and rows["gw"]["ports"] == ["18181->80/tcp"]
    for name in ("web1", "web2"):
        assert rows[name]["state"] == "RUNNING"
        assert rows[name]["ipv4"] and rows[name]["ipv4"][0] != static
        assert changed_kinds(first, name) == ["create", "file", "run", "run", "groups"]
        # Files through the jail, owned by the container's root, with the mode asked.
        motd = lxcpath.attach(name, "ls", "-ln", "/etc/motd").stdout.split()
        assert motd[0] == "-rw-r-----" and motd[2:4] == ["0", "0"]
        assert lxcpath.attach(name, "cat", "/etc/motd").stdout == "welcome to the web tier\n"
        # First-boot commands ran once, inside, in order.
        assert lxcpath.attach(name, "cat", "/root/first-boot").stdout == "ran\n"
        assert lxcpath.attach(name, "cat", "/root/name").stdout == f"{name}\n"
        log = (lxcpath.path / name / "lxcprov-first-boot.log").read_text()
        assert log.count("<== exit 0") == 2
        assert cgroup(lxcpath, name, "memory.limit_in_bytes") == str(96 << 20)
    assert config_key(lxcpath, "gw", "lxc.start.auto") == "1"

    # A second apply: zero changes, and it says so.
    second = apply(lxcpath, doc)
    assert not second["changed"] and second["changes"] == 0
    assert {c["status"] for c in second["containers"]} == {"ok"}
    reasons = [a["reason"] for a in by_name(second)["web1"]["actions"]]
    assert "already 96M" in reasons and "ran already" in reasons
    human = lxcpath.cli("apply", str(doc))
    assert "nothing to change: all 3 containers match the document" in human.stderr
    assert lxcpath.attach("web1", "cat", "/root/first-boot").stdout == "ran\n"

    # --check --diff shows a memory change without making it; then apply makes it live.
    bigger = write_doc(tmp_path / "bigger.toml", _doc(net.bridge, static, password_file[0], "128M"))
    checked = apply(lxcpath, bigger, "--check", "--diff")
    web1 = by_name(checked)["web1"]
    (memory,) = [a for a in web1["actions"] if a["change"]]
    assert (memory["key"], memory["before"], memory["after"]) == ("memory", "96M", "128M")
    assert web1["diff"]["before"] == "setting memory = 96M\n"
    assert web1["diff"]["after"] == "setting memory = 128M\n"
    assert cgroup(lxcpath, "web1", "memory.limit_in_bytes") == str(96 << 20)
    done = apply(lxcpath, bigger)
    assert by_name(done)["web1"]["status"] == "changed"
    (memory,) = [a for a in by_name(done)["web1"]["actions"] if a["change"]]
    assert memory["status"] == "done" and "running container" in memory["detail"]
    assert cgroup(lxcpath, "web1", "memory.limit_in_bytes") == str(128 << 20)

    # A file changed inside is put back, with its diff.
    lxcpath.attach("web2", "sh", "-c", "echo edited > /etc/motd")
    fixed = apply(lxcpath, bigger, "--diff")
    (motd,) = [a for a in by_name(fixed)["web2"]["actions"] if a["change"]]
    assert motd["kind"] == "file" and "-edited\n+welcome to the web tier\n" in motd["diff"]
    assert lxcpath.attach("web2", "cat", "/etc/motd").stdout == "welcome to the web tier\n"

    # export-spec describes them; apply of its output plans nothing on this host.
    plain_busybox(lxcpath, "plain")
    exported = lxcpath.cli("export-spec")
    text = exported.stdout
    assert '[containers.plain]\ntemplate = "busybox"' in text
    assert 'groups = ["web"]' in text and f'address = "{static}/24"' in text
    again = apply(lxcpath, write_doc(tmp_path / "exported.toml", text), "--check")
    assert not again["changed"], [c for c in again["containers"] if c["status"] != "ok"]
    assert {c["name"] for c in again["containers"]} == {"gw", "plain", "web1", "web2"}
    as_json = lxcpath.cli("export-spec", "web1", "--json").stdout
    piped = subprocess.run(
        [*lxcpath_cli(lxcpath), "apply", "-", "--check", "--json"], input=as_json,
        capture_output=True, text=True, env=lxcpath.env(), check=True,
    )  # fmt: skip
    assert json.loads(piped.stdout)["changed"] is False


def lxcpath_cli(lxc: Lxc) -> list[str]:
    return [sys.executable, "-m", "lxcprov", "--lxcpath", str(lxc.path)]


def test_bad_input_is_one_line_each_and_changes_nothing(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    net = bridge(netlab, lxcpath, "--no-nat")
    pw = password_file[0]
    taken = str(net.subnet.network_address + 50)
    net.new("holder", pw, "-t", "busybox", "--ip", taken, "--publish", "18282:80")
    plain_busybox(lxcpath, "app2")
    bad = write_doc(tmp_path / "bad.toml", f"""\
[defaults]
template = "busybox"
bridge = "{net.bridge}"
root_password_file = "{pw}"

[containers.app]
count = 2
memroy = "1G"

[containers.db]
ttys = "two"
""")  # fmt: skip
    out = lxcpath.cli("apply", str(bad), check=False)
    assert out.returncode == 2
    assert f"{bad}:8: containers.app.memroy: unknown key 'memroy' (did you mean 'memory'?)" in (
        out.stderr
    )
    assert f"{bad}:11: containers.db.ttys: must be an integer, not 'two'" in out.stderr
    # The document is fine, but the host is not: a count over a container lxcprov did not
    # make, an address and a host port another container holds. One line each.
    clash = write_doc(tmp_path / "clash.toml", f"""\
[defaults]
template = "busybox"
bridge = "{net.bridge}"
root_password_file = "{pw}"

[containers.app]
count = 2

[containers.db]
address = "{taken}"

[containers.web]
publish = ["18282:80"]
""")  # fmt: skip
    out = lxcpath.cli("apply", str(clash), check=False)
    assert out.returncode == 2, out.stderr
    assert "app2 exists and lxcprov did not make it: a count never takes over" in out.stderr
    assert f"{clash}:10: containers.db.address: {taken} is taken on {net.bridge} by holder" in (
        out.stderr
    )
    assert f"{clash}:13: containers.web.publish: host port 18282/tcp is published for holder" in (
        out.stderr
    )
    assert "nothing was changed" in out.stderr
    assert sorted(lxcpath.names()) == ["app2", "holder"]


def test_a_failing_first_boot_command_keeps_the_container_and_is_retried(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    doc = write_doc(tmp_path / "boot.toml", f"""\
[containers.job]
template = "busybox"
bridge = "none"
root_password_file = "{password_file[0]}"
first_boot = [
  "echo one >> /root/log",
  "test -e /root/go || {{ echo not ready yet; exit 3; }}",
  "echo three >> /root/log",
]
""")  # fmt: skip
    failed = apply(lxcpath, doc, ok=False)
    assert failed["_rc"] == 1 and failed["failed"] == ["job"]
    job = by_name(failed)["job"]
    assert job["status"] == "failed"
    assert job["error"] == "job: first-boot command 2 failed (exit 3): not ready yet"
    assert "next apply runs this command again" in job["hint"]
    assert [a["status"] for a in job["actions"]] == ["done", "done", "failed", "not done"]
    assert lxcpath.names() == ["job"], "the container is kept"
    assert lxcpath.attach("job", "cat", "/root/log").stdout == "one\n"
    record = json.loads((lxcpath.path / "job" / "lxcprov-apply.json").read_text())
    assert [r["command"] for r in record["ran"]] == ["echo one >> /root/log"]
    # The next apply retries from the failed one (never the first again).
    still = apply(lxcpath, doc, ok=False)
    assert by_name(still)["job"]["error"].startswith("job: first-boot command 2 failed")
    lxcpath.attach("job", "touch", "/root/go")
    fixed = apply(lxcpath, doc)
    assert changed_kinds(fixed, "job") == ["run", "run"]
    assert lxcpath.attach("job", "cat", "/root/log").stdout == "one\nthree\n"
    assert not apply(lxcpath, doc)["changed"]
    log = (lxcpath.path / "job" / "lxcprov-first-boot.log").read_text()
    assert log.count("<== exit 3") == 2 and "not ready yet" in log


def test_replace_keeps_mac_and_address_and_prune_removes_only_what_lxcprov_made(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    net = bridge(netlab, lxcpath, "--no-nat")
    pw = password_file[0]
    static = str(net.subnet.network_address + 60)

    def doc(privileged: str) -> Path:
        return write_doc(tmp_path / f"r-{privileged}.toml", f"""\
[defaults]
template = "busybox"
bridge = "{net.bridge}"
root_password_file = "{pw}"
privileged = {privileged}

[containers.st]
address = "{static}"
publish = ["18383:80"]
first_boot = ["echo made > /root/made"]

[containers.dh]
address = "dhcp"
""")  # fmt: skip

    apply(lxcpath, doc("false"))
    macs = {n: config_key(lxcpath, n, "lxc.net.0.hwaddr") for n in ("st", "dh")}
    ips = {r["name"]: r["ipv4"] for r in json.loads(lxcpath.cli("ls", "--json").stdout)}
    assert ips["st"] == [static] and ips["dh"]
    lxcpath.attach("st", "sh", "-c", "echo old-rootfs > /root/marker")
    # Without --replace: reported, not done; the rest of the document still applies.
    blocked = apply(lxcpath, doc("true"))
    assert {c["status"] for c in blocked["containers"]} == {"blocked"}
    (action,) = [a for a in by_name(blocked)["st"]["actions"] if a["kind"] == "replace"]
    assert action["reason"] == "privileged no -> yes" and "--replace" in action["blocked"]
    assert "2 containers need --replace" in blocked["_stderr"]
    replaced = apply(lxcpath, doc("true"), "--replace")
    assert changed_kinds(replaced, "st") == ["replace", "run"]
    rows = {r["name"]: r for r in json.loads(lxcpath.cli("ls", "--json").stdout)}
    for name in ("st", "dh"):
        assert rows[name]["privileged"] is True
        assert config_key(lxcpath, name, "lxc.net.0.hwaddr") == macs[name], "MAC kept"
        assert rows[name]["ipv4"] == ips[name], "address kept"
    assert rows["st"]["ports"] == ["18383->80/tcp"]
    assert lxcpath.attach("st", "cat", "/root/marker").returncode != 0, "a new rootfs"
    assert lxcpath.attach("st", "cat", "/root/made").stdout == "made\n"
    assert not apply(lxcpath, doc("true"))["changed"]

    # --prune: lxcprov's own extra container goes, a plain lxc-create one stays.
    net.new("extra", pw, "-t", "busybox")
    plain_busybox(lxcpath, "theirs")
    listed = apply(lxcpath, doc("true"), "--check", "--prune")
    names = [c["name"] for c in listed["containers"]]
    assert names[:2] == ["extra", "theirs"], "the pruned ones are listed first"
    assert by_name(listed)["extra"]["status"] == "would change"
    assert by_name(listed)["theirs"]["status"] == "ok"
    assert "lxcprov did not make it" in by_name(listed)["theirs"]["actions"][0]["reason"]
    assert "extra" in lxcpath.names()
    pruned = apply(lxcpath, doc("true"), "--prune")
    assert by_name(pruned)["extra"]["status"] == "changed"
    assert sorted(lxcpath.names()) == ["dh", "st", "theirs"]
    status = json.loads(lxcpath.cli("net", "status", "--bridge", net.bridge, "--json").stdout)
    assert not [o for o in status["static_addresses"] if o.startswith("extra@")]


def test_files_go_through_the_jail_whatever_the_container_planted(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    """A container's files are hostile: a symlink to a host path is followed inside the
    rootfs (rootfs-relative), never on the host; a FIFO is refused, never opened."""
    host_file = Path("/var/tmp") / f"lxcprov-apply-hostfile-{tmp_path.name}"
    host_file.write_text("the host's own\n")
    try:
        doc = write_doc(tmp_path / "jail.toml", f"""\
[containers.j]
template = "busybox"
bridge = "none"
root_password_file = "{password_file[0]}"

[[containers.j.files]]
path = "/etc/motd"
content = "from the document\\n"
""")  # fmt: skip
        apply(lxcpath, doc)
        # The container's root replaces the file with a symlink to the host file's path.
        lxcpath.attach("j", "sh", "-c", f"mkdir -p /var/tmp && ln -sf {host_file} /etc/motd")
        again = apply(lxcpath, doc)
        assert changed_kinds(again, "j") == ["file"]
        assert host_file.read_text() == "the host's own\n", "the host's file is untouched"
        inside = lxcpath.attach("j", "cat", str(host_file)).stdout
        assert inside == "from the document\n", "written inside the rootfs, where it points"
        # A FIFO where the file should be: refused with one line, nothing hangs.
        lxcpath.attach("j", "sh", "-c", f"rm -f {host_file} /etc/motd && mkfifo /etc/motd")
        refused = apply(lxcpath, doc, ok=False)
        assert refused["_rc"] == 2
        assert "/etc/motd in the container is not a regular file" in refused["_stderr"]
        assert lxcpath.attach("j", "test", "-p", "/etc/motd").returncode == 0
    finally:
        host_file.unlink(missing_ok=True)


def test_a_file_owner_outside_the_containers_map_is_refused_and_nothing_is_written(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    """The measured exploit (issue 22, row 3): the container's root adds a passwd line
    with a negative uid; a document gives a setuid file to that user. On main that file
    was written as host uid base-100000, outside the map; now one line, nothing written."""
    base = f"""\
[containers.o]
template = "busybox"
bridge = "none"
root_password_file = "{password_file[0]}"
"""
    apply(lxcpath, write_doc(tmp_path / "o.toml", base))
    added = lxcpath.attach("o", "sh", "-c", "echo 'acc:x:-100000:0::/:/bin/sh' >> /etc/passwd")
    assert added.returncode == 0, added.stderr
    lxcpath.cli("stop", "o")
    hostile = write_doc(tmp_path / "o2.toml", base + """\
state = "stopped"

[[containers.o.files]]
path = "/usr/local/bin/acc"
content = "#!/bin/sh\\nid\\n"
owner = "acc"
mode = "4755"
""")  # fmt: skip
    refused = apply(lxcpath, hostile, ok=False)
    assert refused["_rc"] == 2, refused["_stderr"]
    assert "/usr/local/bin/acc: owner 'acc': uid '-100000'" in refused["_stderr"]
    assert "0..65535" in refused["_stderr"]
    with lxcpath.mounted("o") as root:
        assert not (root / "usr/local/bin/acc").exists()
        assert "acc:x:-100000" in (root / "etc/passwd").read_text(), "the container's file"
    # Nowhere under the container's directory (rootfs, overlay delta) is there such a file,
    # nor any setuid or setgid file of an id outside the container's map.
    owner = containerfs.map_root(lxc.Container("o", lxcpath.path))
    assert owner is not None, "apply makes unprivileged containers"
    for dirpath, _dirs, files in os.walk(lxcpath.path / "o"):
        for name in files:
            p = Path(dirpath) / name
            assert name != "acc", p
            st = p.lstat()
            if st.st_mode & 0o6000 and p.is_file():
                assert owner[0] <= st.st_uid < owner[0] + 65536, (p, st.st_uid)
