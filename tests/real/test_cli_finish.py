"""The CLI on real containers: bash completes their names through the installed script's
protocol, `ls` filters and formats them, `stop --all` stops them, and doctor says when
autostart containers would not come back at boot."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real.harness import Lxc

pytestmark = pytest.mark.real

BIN = Path(sys.executable).parent  # the venv's bin, where the `lxcprov` script is


def _complete(lxc: Lxc, words: list[str]) -> list[str]:
    """What bash offers for the last word, through `lxcprov completion bash` itself."""
    script = subprocess.run([BIN / "lxcprov", "completion", "bash"], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    quoted = " ".join(f"'{w}'" for w in words)
    # As bash sets them for a Tab at the end of the line (the function reads COMP_LINE).
    line = " ".join(words)
    drive = (f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
             f"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n"
             "_lxcprov_completion lxcprov\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")  # fmt: skip
    env = {**lxc.env(), "PATH": f"{BIN}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", drive], capture_output=True, text=True, env=env,
                         check=True, timeout=30)  # fmt: skip
    return [w for w in out.stdout.splitlines() if w]


def test_completion_ls_formats_stop_all_and_the_boot_finding(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw = str(password_file[0])
    lxcpath.cli("new", "web1", "-t", "busybox", "--network", "none", "--root-password-file", pw,
                "--memory", "256M", "--autostart", "yes")  # fmt: skip
    lxcpath.cli("new", "db1", "-t", "busybox", "--network", "none", "--root-password-file", pw,
                "--no-start")  # fmt: skip

    # Completion: a container name after `console `, commands, setting keys, templates.
    assert _complete(lxcpath, ["lxcprov", "console", ""]) == ["db1", "web1"]
    assert _complete(lxcpath, ["lxcprov", "console", "w"]) == ["web1"]
    assert "convert" in _complete(lxcpath, ["lxcprov", "con"])
    assert _complete(lxcpath, ["lxcprov", "set", "web1", "mem"]) == ["memory="]
    assert "busybox" in _complete(lxcpath, ["lxcprov", "new", "x", "-t", "bu"])

    # ls: pattern, state, columns, formats; memory from the config.
    table = lxcpath.cli("ls").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "STATE", "IPV4"]
    assert [ln.split()[0] for ln in table[1:]] == ["db1", "web1"]
    rows = list(csv.DictReader(io.StringIO(lxcpath.cli("ls", "--format", "csv").stdout)))
    by_name = {r["name"]: r for r in rows}
    # One spelling of a state in every format: LXC's own.
    assert by_name["web1"]["state"] == "RUNNING" and by_name["web1"]["memory"] == "256M"
    assert by_name["db1"]["state"] == "STOPPED" and by_name["web1"]["type"] == "unprivileged"
    only = lxcpath.cli("ls", "w*", "--columns", "name,state").stdout.splitlines()
    assert only == ["NAME  STATE", "web1  RUNNING"]
    assert lxcpath.cli("ls", "--state", "stopped", "-c", "name").stdout.split() == ["NAME", "db1"]
    yaml = lxcpath.cli("ls", "db*", "--format", "yaml", "-c", "name,state").stdout
    assert yaml == '- name: "db1"\n  state: "STOPPED"\n'
    data = json.loads(lxcpath.cli("ls", "--json").stdout)
    assert [r["memory"] for r in data] == [None, "256M"]
    bad = lxcpath.cli("ls", "--columns", "name,colour", check=False)
    assert bad.returncode != 0 and "unknown column 'colour'" in bad.stderr

    # Doctor: an autostart container on a host that boots without systemd (this one) or
    # without lxcprov.service enabled is said, with the way to bring it back at boot.
    host = json.loads(lxcpath.cli("doctor", "--json", check=False).stdout)
    (boot,) = [f for f in host["findings"] if f["id"] == "autostart-not-at-boot"]
    assert "web1" in boot["message"] and "db1" not in boot["message"]
    if Path("/run/systemd/system").is_dir():
        assert "systemctl enable lxcprov.service" in boot["fix"]
    else:
        assert "start --all" in boot["fix"]

    # stop --all stops what runs, and says so per container.
    lxcpath.cli("start", "db1")
    out = lxcpath.cli("stop", "--all")
    assert "web1 is STOPPED" in out.stderr and "db1 is STOPPED" in out.stderr
    states = {r["name"]: r["state"] for r in json.loads(lxcpath.cli("ls", "--json").stdout)}
    assert states == {"db1": "STOPPED", "web1": "STOPPED"}
