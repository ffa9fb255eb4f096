"""The README's first command, as a newcomer runs it: `./scripts/demo` from a clean clone in
a 0700 directory, unchanged, in a private lxcpath, bridge and subnet chosen through the
environment variables the demo documents; everything it made is removed afterwards."""

from __future__ import annotations

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
    forwarding_sysctls,
    free_subnet,
    gateway,
    link_exists,
    nft_tables,
    processes_mentioning,
    restore_sysctls,
    unique,
)

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


@pytest.fixture
def demo_place() -> Iterator[DemoPlace]:
    private = Path(tempfile.mkdtemp(prefix="lxcprov-demo-", dir="/root"))
    private.chmod(0o700)  # as any clone under /root is: no other user gets in
    # The lxcpath and lxcprov's dirs are not inside it: the containers' mapped root must
    # traverse the lxcpath, and dnsmasq reads its files as an unprivileged user.
    outside = Path(tempfile.mkdtemp(prefix="lxcprov-demo-", dir="/var/tmp"))
    outside.chmod(0o755)
    lxcpath = outside / "lxc"
    bridge = unique("lxdm")
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
        # No NAT: test traffic never leaves this machine.
        DEMO_NET_ARGS=f"--bridge {bridge} --address {gateway(subnet)} --no-nat",
    )
    sysctls = forwarding_sysctls()
    place = DemoPlace(clean_clone(private), env, lxcpath, bridge, str(subnet))
    try:
        yield place
    finally:
        # The suite's own lxcprov, so cleaning up works whatever the demo got to.
        if lxcpath.exists():
            destroy_all(lxcpath)
            unmount_under(lxcpath)
        subprocess.run(
            [sys.executable, "-m", "lxcprov", "net", "teardown", "--bridge", bridge],
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            check=False,
            timeout=120,
        )
        restore_sysctls(sysctls)
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

    # What the demo says to run when done removes all it made.
    lxcprov = shutil.which("lxcprov", path=demo_place.env["PATH"])
    assert lxcprov, "the demo installed lxcprov on the PATH"
    for args in (
        ["destroy", "--force", "lxcprov-demo"],
        ["bases", "rm", "--unused"],
        ["net", "teardown", "--bridge", demo_place.bridge],
    ):
        assert f"lxcprov {args[0]}" in proc.stdout, "the demo names the command"
        done = subprocess.run(
            [lxcprov, *args], env=demo_place.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"lxcprov {' '.join(args)}: {done.stderr}"
    assert pylxc.list_containers(config_path=str(demo_place.lxcpath)) == ()
    assert not link_exists(demo_place.bridge)
    assert ("inet", f"lxcprov_{demo_place.bridge}") not in nft_tables()
    assert processes_mentioning(demo_place.env["LXCPROV_STATE_DIR"]) == []
