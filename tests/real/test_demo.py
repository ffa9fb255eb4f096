"""The README's first command, as a newcomer runs it: `./scripts/demo` from a clean clone in
a 0700 directory, unchanged, in a private lxcpath, bridge and subnet chosen through the
environment variables the demo documents; everything it made is removed afterwards."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lxc as pylxc
import pytest

from tests.real.harness import destroy_all, unmount_under
from tests.real.hostnet.hostnet_lab import (
    REPO,
    free_subnet,
    gateway,
    link_exists,
    nft_tables,
    processes_mentioning,
    unique,
)

# Installs and removes the packages (host-wide: /usr/bin/lxcprov, apt's lock): under
# parallel workers, one worker runs these tests one after another (tests/workers.py).
pytestmark = pytest.mark.real

DEMO_TIMEOUT = 1500  # a fresh base is a debootstrap; apt may run in scripts/install


def readme_commands() -> list[str]:
    """The commands of the README's first code block, comments dropped."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "README.md starts with a sh code block"
    lines = [ln.split("#", 1)[0].strip() for ln in block.group(1).splitlines()]
    return [ln for ln in lines if ln]


def clean_clone(into: Path) -> Path:
    """A clone of this repository as it would be committed now: HEAD plus the changes to
    tracked files (untracked files are left behind, as a clone would leave them)."""
    clone = into / "lxcprov"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    diff = subprocess.run(
        ["git", "-C", str(REPO), "diff", "HEAD", "--binary"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    if diff:
        subprocess.run(
            ["git", "-C", str(clone), "apply", "--whitespace=nowarn"],
            input=diff,
            check=True,
            timeout=60,
        )
    return clone


@dataclass
class DemoPlace:
    clone: Path
    env: dict[str, str]
    lxcpath: Path
    bridge: str
    subnet: str
    other_bridge: str  # the settings' default bridge before the demo ran


def _suite_lxcprov(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The suite's own lxcprov (this tree), for setting up and cleaning up."""
    return subprocess.run(
        [sys.executable, "-m", "lxcprov", *args],
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def demo_place() -> Iterator[DemoPlace]:
    private = Path(tempfile.mkdtemp(prefix="lxcprov-demo-", dir="/root"))
    private.chmod(0o700)  # as any clone under /root is: no other user gets in
    # The lxcpath and lxcprov's dirs are not inside it: the containers' mapped root must
    # traverse the lxcpath, and dnsmasq reads its files as an unprivileged user.
    outside = Path(tempfile.mkdtemp(prefix="lxcprov-demo-", dir="/var/tmp"))
    outside.chmod(0o755)
    lxcpath = outside / "lxc"
    bridge, other = unique("lxdm"), unique("lxdo")
    subnet = free_subnet()
    env = dict(os.environ)
    for key in [k for k in env if k.startswith(("VIRTUAL_ENV", "PYTHON"))]:
        del env[key]  # a newcomer's shell has none of the suite's venv
    env["PATH"] = ":".join(
        p for p in env.get("PATH", "").split(":") if p and not p.startswith(str(REPO))
    )
    env.update(
        LXCPROV_LXCPATH=str(lxcpath),
        LXCPROV_CONFIG_DIR=str(outside / "etc"),
        LXCPROV_STATE_DIR=str(outside / "state"),
        DEMO_BRIDGE=bridge,
        # No NAT: test traffic never leaves this machine.
        DEMO_NET_ARGS=f"--address {gateway(subnet)} --no-nat",
    )
    try:
        # An admin's own bridge already there, the default of lxcprov's settings: the demo
        # must neither put its container there nor tell anyone to tear it down.
        made = _suite_lxcprov(env, "net", "setup", "--bridge", other, "--address",
                              gateway(free_subnet()), "--no-nat")  # fmt: skip
        assert made.returncode == 0, made.stderr
        yield DemoPlace(clean_clone(private), env, lxcpath, bridge, str(subnet), other)
    finally:
        # The suite's own lxcprov, so cleaning up works whatever the demo got to.
        if lxcpath.exists():
            destroy_all(lxcpath)
            unmount_under(lxcpath)
        for name in (bridge, other):
            _suite_lxcprov(env, "net", "teardown", "--bridge", name)
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


def test_readme_starts_with_the_two_commands() -> None:
    assert readme_commands() == ["./scripts/demo", "./scripts/test"]
    assert (REPO / ".ci/run").read_text().strip().endswith("exec ./scripts/test")


def test_the_demo_passes_from_a_clean_clone_in_a_private_directory(
    demo_place: DemoPlace,
) -> None:
    first = readme_commands()[0]
    proc = subprocess.run(
        shlex.split(first),
        cwd=demo_place.clone,
        env=demo_place.env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{first} exited {proc.returncode}:\n{out[-4000:]}"
    # The console step: Enter gave `login:`, root logged in, the command ran inside.
    assert "lxcprov-demo login: " in proc.stdout
    assert "Debian GNU/Linux" in proc.stdout
    prefix = demo_place.subnet.rsplit(".", 1)[0] + "."
    assert re.search(rf"eth0(@\S+)?\s+UP\s+{re.escape(prefix)}\d+/24", proc.stdout), proc.stdout[
        -2000:
    ]
    assert "The demo container lxcprov-demo is running." in proc.stdout
    # It worked where it was told to, and nowhere else.
    assert (demo_place.lxcpath / "lxcprov-demo" / "config").is_file()
    assert link_exists(demo_place.bridge)

    # What the demo says to run when done, run as it is printed, removes all it made.
    said = proc.stdout.split("When done, remove what the demo made:\n", 1)[1].splitlines()
    commands = [ln.split("  (", 1)[0].strip() for ln in said if ln.startswith("  ")]
    assert len(commands) == 3 and all("lxcprov " in c for c in commands), said
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            env={"PATH": demo_place.env["PATH"]},  # its settings are in the command line
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{command}: {done.stderr}"
    assert pylxc.list_containers(config_path=str(demo_place.lxcpath)) == ()
    assert not link_exists(demo_place.bridge)
    assert ("inet", f"lxcprov_{demo_place.bridge}") not in nft_tables()
    assert processes_mentioning(demo_place.bridge) == []  # its dnsmasq went too
    # The admin's bridge is as it was: still there, still served.
    assert link_exists(demo_place.other_bridge)
    status = _suite_lxcprov(
        demo_place.env, "net", "status", "--bridge", demo_place.other_bridge, "--json"
    )
    assert json.loads(status.stdout)["dnsmasq"]["alive"], status.stdout
