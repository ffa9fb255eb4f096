"""The Ansible collection with real `ansible-playbook` on this machine: two "hosts" (local
connection, each with its own private lxcpath and its own test bridge), one document
applied to both, check and diff modes, the inventory plugin, and a play inside the
containers through it (the collection's connection plugin).

The collection is built and installed from the tree into the test's own directory, so
the test runs what is in the repository; Ansible's own files stay there too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.real.applyharness import cgroup
from tests.real.harness import Lxc, private_lxcpath
from tests.real.hostnet.hostnet_lab import REPO, NetLab
from tests.real.netharness import bridge

pytestmark = pytest.mark.real

BIN = Path(sys.executable).parent
SITE = """\
- hosts: all
  gather_facts: false
  vars:
    web_memory: 96M
  tasks:
    - name: the web tier
      lxcprov.lxcprov.apply:
        lxcpath: "{{ lxcprov_lxcpath }}"
        executable: "{{ lxcprov_executable }}"
        document:
          defaults:
            template: busybox
            bridge: "{{ lxcprov_bridge }}"
            root_password_file: "PASSWORD_FILE"
          containers:
            web:
              count: 2
              memory: "{{ web_memory }}"
              address: auto
              groups: [web]
              first_boot: ["echo hello from {{ inventory_hostname }} > /root/hello"]
      register: applied
    - name: keep the module's result for the test
      ansible.builtin.copy:
        content: "{{ applied | to_nice_json }}"
        dest: "OUT/{{ inventory_hostname }}.json"
      check_mode: false
      diff: false
      changed_when: false
"""
INSIDE = """\
- hosts: web
  gather_facts: false
  tasks:
    - name: a command inside each container
      ansible.builtin.raw: cat /root/hello; hostname
      register: inside
      changed_when: false
    - ansible.builtin.debug:
        msg: "INSIDE {{ inventory_hostname }} {{ inside.stdout_lines | join(' ') }}"
"""
SRC = """\
- hosts: host-b
  gather_facts: false
  tasks:
    - lxcprov.lxcprov.apply:
        src: DOC
        lxcpath: "{{ lxcprov_lxcpath }}"
        executable: "{{ lxcprov_executable }}"
"""
ONE = """\
- hosts: host-a
  gather_facts: false
  tasks:
    - lxcprov.lxcprov.container:
        name: solo
        lxcpath: "{{ lxcprov_lxcpath }}"
        executable: "{{ lxcprov_executable }}"
        template: busybox
        bridge: none
        root_password_file: "PASSWORD_FILE"
        memory: 64M
        state: "{{ solo_state }}"
"""


@pytest.fixture
def second_lxcpath() -> Iterator[Lxc]:
    with private_lxcpath() as lxc:
        yield lxc


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LC_ALL="C.UTF-8",  # ansible-core insists on a UTF-8 locale
        ANSIBLE_COLLECTIONS_PATH=str(tmp / "collections"),
        ANSIBLE_HOME=str(tmp / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
        ANSIBLE_REMOTE_TEMP=str(tmp / "ansible-remote-tmp"),  # the "hosts" are this machine
        ANSIBLE_INVENTORY_UNPARSED_FAILED="true",  # a plugin that fails fails the run
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_DEPRECATION_WARNINGS="false",
    )
    return env


def _install_collection(tmp: Path, env: dict[str, str]) -> None:
    build = tmp / "build"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(REPO / "ansible"),
                    "--output-path", str(build), "--force"], env=env, check=True,
                   capture_output=True, cwd=tmp)  # fmt: skip
    (tarball,) = build.glob("lxcprov-lxcprov-*.tar.gz")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball),
                    "-p", str(tmp / "collections"), "--force"], env=env, check=True,
                   capture_output=True, cwd=tmp)  # fmt: skip


def _playbook(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ansible-playbook"), *args], env=env, cwd=tmp,
                          capture_output=True, text=True, timeout=900, check=False)  # fmt: skip


def _recap(out: str) -> dict[str, dict[str, int]]:
    found = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", out, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return found


def _plain(value: Any) -> Any:
    """A value as `ansible-inventory --list` shows it, without its marks: what came from
    the hosts (the containers' own names and addresses) is tagged unsafe, as it should."""
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        return value["__ansible_unsafe"]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _changed(out: str) -> dict[str, int]:
    return {host: counts["changed"] for host, counts in _recap(out).items()}


def _result(tmp: Path, host: str) -> dict[str, Any]:
    data = json.loads((tmp / "out" / f"{host}.json").read_text())
    assert isinstance(data, dict)
    return data


def test_a_playbook_applies_one_document_to_two_hosts(
    netlab: NetLab,
    lxcpath: Lxc,
    second_lxcpath: Lxc,
    password_file: tuple[Path, str],
    tmp_path: Path,
) -> None:
    hosts = {"host-a": lxcpath, "host-b": second_lxcpath}
    nets = {h: bridge(netlab, lxc, "--no-nat") for h, lxc in hosts.items()}
    env = _env(tmp_path)
    _install_collection(tmp_path, env)
    (tmp_path / "out").mkdir()
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "lxcprov_executable": str(BIN / "lxcprov")},
        "hosts": {h: {"lxcprov_lxcpath": str(lxc.path), "lxcprov_bridge": nets[h].bridge}
                  for h, lxc in hosts.items()},
    }}  # fmt: skip
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))  # JSON is YAML
    pw = str(password_file[0])
    site = SITE.replace("PASSWORD_FILE", pw).replace("OUT", str(tmp_path / "out"))
    (tmp_path / "site.yml").write_text(site)

    # First run: both hosts change; each has its two containers on its own bridge.
    first = _playbook(tmp_path, env, "-i", "hosts.yml", "site.yml")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert _changed(first.stdout) == {"host-a": 1, "host-b": 1}
    for host, lxc in hosts.items():
        result = _result(tmp_path, host)
        assert result["changed"] is True
        assert [c["status"] for c in result["containers"]] == ["changed", "changed"]
        assert lxc.names() == ["web1", "web2"]
        rows = json.loads(lxc.cli("ls", "--json").stdout)
        assert all(r["ipv4"][0].startswith(str(nets[host].subnet)[:-5]) for r in rows), rows
        assert lxc.attach("web1", "cat", "/root/hello").stdout == f"hello from {host}\n"

    # Second run: ok, zero changes.
    second = _playbook(tmp_path, env, "-i", "hosts.yml", "site.yml")
    assert second.returncode == 0, second.stdout[-3000:]
    assert _changed(second.stdout) == {"host-a": 0, "host-b": 0}
    assert all(_result(tmp_path, h)["changes"] == 0 for h in hosts)

    # --check --diff shows the memory change without making it ...
    checked = _playbook(tmp_path, env, "-i", "hosts.yml", "site.yml", "--check", "--diff",
                        "-e", "web_memory=128M")  # fmt: skip
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert _changed(checked.stdout) == {"host-a": 1, "host-b": 1}
    assert checked.stdout.count("-setting memory = 96M") == 4
    assert checked.stdout.count("+setting memory = 128M") == 4
    diff = _result(tmp_path, "host-a")["diff"]
    web1 = {"before_header": "web1 (before)", "after_header": "web1 (after)",
            "before": "setting memory = 96M\n", "after": "setting memory = 128M\n"}  # fmt: skip
    assert web1 in diff
    for lxc in hosts.values():
        assert cgroup(lxc, "web1", "memory.limit_in_bytes") == str(96 << 20)
    # ... then the run makes it, live.
    live = _playbook(tmp_path, env, "-i", "hosts.yml", "site.yml", "-e", "web_memory=128M")
    assert live.returncode == 0, live.stdout[-3000:]
    assert _changed(live.stdout) == {"host-a": 1, "host-b": 1}
    for lxc in hosts.values():
        for name in ("web1", "web2"):
            assert cgroup(lxc, name, "memory.limit_in_bytes") == str(128 << 20)

    # A bad value fails the task with lxcprov's error line and hint; nothing changes.
    bad = _playbook(tmp_path, env, "-i", "hosts.yml", "site.yml", "-e", "web_memory=lots")
    assert bad.returncode != 0
    assert "containers.web.memory: memory=lots: not a size" in bad.stdout
    assert "the document's keys: docs/apply.md" in bad.stdout

    # A container's root adds an address of its choosing to its eth0: what the container
    # reports now starts with it (issue 22, row 10: on main it became ansible_host).
    claimed = "10.199.0.9"
    added = lxcpath.attach("web1", "ip", "addr", "add", f"{claimed}/32", "dev", "eth0")
    assert added.returncode == 0, added.stderr
    web1 = {r["name"]: r for r in json.loads(lxcpath.cli("ls", "--json").stdout)}["web1"]
    assert web1["ipv4"][0] == claimed, web1

    # The inventory plugin lists the containers of both hosts, addresses and groups.
    (tmp_path / "containers.lxcprov.yml").write_text("plugin: lxcprov.lxcprov.containers\n")
    listed = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", "hosts.yml", "-i", "containers.lxcprov.yml",
         "--list"], env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr[-3000:]
    data = json.loads(listed.stdout)
    expected = sorted(f"{c}.{h}" for h in hosts for c in ("web1", "web2"))
    assert "web" in data, listed.stderr[-3000:]
    assert sorted(data["web"]["hosts"]) == expected
    assert sorted(data["lxcprov_containers"]["hosts"]) == expected
    hostvars = _plain(data["_meta"]["hostvars"])
    for host, lxc in hosts.items():
        for name in ("web1", "web2"):
            v = hostvars[f"{name}.{host}"]
            # lxcprov's record (the static address `address: auto` gave), never the claim.
            shown = json.loads(lxc.cli("show", name, "--json").stdout)["settings"]
            recorded = shown["address"].split("/")[0]
            assert recorded.startswith(str(nets[host].subnet)[:-5]), shown
            assert v["ansible_host"] == recorded
            assert v["ansible_host"] != claimed
            assert (v["lxcprov_host"], v["lxcprov_name"], v["lxcprov_groups"]) == (
                host, name, ["web"])  # fmt: skip
            assert v["ansible_connection"] == "lxcprov.lxcprov.lxcprov"

    # Hosts can also be named in the plugin's own file (here without an inventory).
    explicit = {"plugin": "lxcprov.lxcprov.containers", "from_inventory": False,
                "name_format": "{host}-{container}",
                "hosts": {"lab": {"lxcpath": str(second_lxcpath.path),
                                  "executable": str(BIN / "lxcprov")}}}  # fmt: skip
    (tmp_path / "lab.lxcprov.yml").write_text(json.dumps(explicit))
    lab = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", "lab.lxcprov.yml", "--list"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert lab.returncode == 0, lab.stderr[-3000:]
    assert sorted(json.loads(lab.stdout)["web"]["hosts"]) == ["lab-web1", "lab-web2"]

    # A play against them through the inventory runs a command inside each.
    (tmp_path / "inside.yml").write_text(INSIDE)
    inside = _playbook(tmp_path, env, "-i", "hosts.yml", "-i", "containers.lxcprov.yml",
                       "inside.yml")  # fmt: skip
    assert inside.returncode == 0, inside.stdout[-3000:] + inside.stderr[-2000:]
    said = sorted(re.findall(r'"INSIDE (\S+) (.*)"', inside.stdout))
    assert said == sorted(
        (f"{c}.{h}", f"hello from {h} {c}") for h in hosts for c in ("web1", "web2")
    )

    # The apply module with a document file on the target: export-spec's, in check mode.
    exported = tmp_path / "host-b.toml"
    exported.write_text(second_lxcpath.cli("export-spec").stdout)
    (tmp_path / "src.yml").write_text(SRC.replace("DOC", str(exported)))
    from_file = _playbook(tmp_path, env, "-i", "hosts.yml", "src.yml", "--check")
    assert from_file.returncode == 0, from_file.stdout[-3000:]
    assert _changed(from_file.stdout) == {"host-b": 0}

    # The container module: one container per task; present, again, then absent.
    (tmp_path / "one.yml").write_text(ONE.replace("PASSWORD_FILE", pw))
    for state, changed in (("started", 1), ("started", 0), ("absent", 1)):
        run = _playbook(tmp_path, env, "-i", "hosts.yml", "one.yml", "-e", f"solo_state={state}")
        assert run.returncode == 0, run.stdout[-3000:]
        assert _recap(run.stdout)["host-a"]["changed"] == changed, (state, run.stdout[-2000:])
        assert ("solo" in lxcpath.names()) == (state != "absent")
    assert lxcpath.names() == ["web1", "web2"], "the module never touched the others"
