"""Every example in README.md and docs/ runs (issue 23: one ran `adduser`, which Debian 12's
busybox lacks).

An example is a fenced block marked `sh` or `toml`; plain fences are synopses, file
layouts and output, and docs/cli.md is generated from the CLI (its examples are the
commands' --help). A block that cannot run here says so on the line before it:

    <!-- example: not run: WHY -->

and the reason is required. `<!-- example: given: COMMAND -->` lines before a block run
first (the container an example works on). Each example runs in a world of its own: a
private lxcpath, config and state directory, a private bridge that is the default one (no
NAT), HOME and the working directory a fresh directory holding the files examples name
(pw.txt, ~/.ssh/id_ed25519.pub, ~/www, /srv/www and /srv/data there, secrets/, keys/,
files/). Examples are written for
LXC's usual bridge: `lxcbr0` and `10.0.3.` become the test bridge's name and subnet.

- `sh`: run by bash with -e and pipefail; every command must succeed.
- `toml` with `[[steps]]`: a recipe, put among the admin's recipes; `lxcprov recipes` loads
  and checks it.
- other `toml`: an apply document, applied (and a second apply changes nothing).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import REPO, NetLab, free_subnet, gateway

pytestmark = pytest.mark.real

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
GENERATED = {REPO / "docs" / "cli.md"}
_FENCE = re.compile(r"^```(\S*)\s*$")
_MARK = re.compile(r"^<!-- example: (not run|given): ?(.*?) ?-->$")


@dataclass(frozen=True)
class Example:
    doc: Path
    line: int  # of the opening fence
    kind: str  # sh or toml
    text: str
    not_run: str | None  # the reason, when it cannot run here
    given: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.line}"


def examples() -> list[Example]:
    found: list[Example] = []
    for doc in DOCS:
        if doc in GENERATED:
            continue
        lines = doc.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = _FENCE.match(lines[i])
            if not m:
                i += 1
                continue
            start, kind = i, m.group(1)
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            marks = []
            k = start - 1
            while k >= 0 and (mark := _MARK.match(lines[k])):
                marks.append(mark.groups())
                k -= 1
            if kind in ("sh", "toml"):
                not_run = next((why for what, why in marks if what == "not run"), None)
                given = tuple(cmd for what, cmd in reversed(marks) if what == "given")
                found.append(Example(doc, start + 1, kind, "\n".join(lines[start + 1 : end]),
                                     not_run, given))  # fmt: skip
            i = end + 1
    return found


ALL = examples()
RUNNABLE = [e for e in ALL if e.not_run is None]


def test_examples_that_cannot_run_here_say_why_and_are_few() -> None:
    skipped = [e for e in ALL if e.not_run is not None]
    for e in skipped:
        assert len(e.not_run or "") >= 10, f"{e.id}: `not run` needs its reason"
    assert len(skipped) <= 4, [e.id for e in skipped]
    assert len(RUNNABLE) >= 10


@dataclass
class World:
    lxc: Lxc
    env: dict[str, str]
    home: Path
    bridge: str
    subnet: ipaddress.IPv4Network

    def text(self, example: str) -> str:
        prefix = ".".join(str(self.subnet.network_address).split(".")[:3]) + "."
        # A host directory under /srv (where an admin keeps a service's data; root's home
        # is never shared) is the world's own.
        return (example.replace("lxcbr0", self.bridge).replace("10.0.3.", prefix)
                .replace(" /srv/", f" {self.home}/srv/"))  # fmt: skip

    def run(self, script: str, what: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.home,
                              env=self.env, capture_output=True, text=True, timeout=1800,
                              check=False)  # fmt: skip
        assert proc.returncode == 0, (
            f"{what} exited {proc.returncode}\n--- script\n{script}\n--- stdout\n"
            f"{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )
        return proc


KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIDocsExampleKeyDocsExampleKeyDocsEx"


@pytest.fixture
def world(netlab: NetLab, lxcpath: Lxc) -> Iterator[World]:
    # Under /var/tmp, 0755: a container's root must reach the directories examples mount.
    home = Path(tempfile.mkdtemp(prefix="lxcprov-docs-", dir="/var/tmp"))
    home.chmod(0o755)
    tools = home / ".bin"
    tools.mkdir()
    lxcprov = tools / "lxcprov"
    lxcprov.write_text(f'#!/bin/sh\nexec {sys.executable} -m lxcprov "$@"\n')
    lxcprov.chmod(0o755)
    for path, text in {
        "pw.txt": "Docs-example-pw\n",
        "secrets/root-pw": "Docs-example-pw\n",
        ".ssh/id_ed25519.pub": f"ssh-ed25519 {KEY} docs\n",
        "keys/admin.pub": f"ssh-ed25519 {KEY} admin\n",
        "files/site.conf": "server { listen 80; }\n",
        "www/index.html": "hello\n",
        "data/readme": "data\n",
        "srv/www/index.html": "hello\n",
        "srv/data/readme": "data\n",
    }.items():
        (home / path).parent.mkdir(parents=True, exist_ok=True)
        (home / path).write_text(text)
    env = {**netlab.env(), **lxcpath.env()}
    env["LXCPROV_CONFIG_DIR"] = netlab.env()["LXCPROV_CONFIG_DIR"]
    env["LXCPROV_STATE_DIR"] = netlab.env()["LXCPROV_STATE_DIR"]
    env.update(HOME=str(home), PATH=f"{tools}:{env['PATH']}")
    bridge, subnet = netlab.bridge(), free_subnet()
    w = World(lxcpath, env, home, bridge, subnet)
    try:
        w.run(f"lxcprov net setup --bridge {bridge} --address {gateway(subnet)} --no-nat "
              "--default", "the world's bridge")  # fmt: skip
        yield w
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _param(example: Example) -> object:
    """An example that makes Debian containers gets the run's Debian base (tests/real/
    seeds.py): the one its first `new` would build."""
    debian = any(w in example.text for w in ("-t debian", "--template debian"))
    marks = [pytest.mark.bases("debian")] if debian else []
    return pytest.param(example, id=example.id, marks=marks)


@pytest.mark.parametrize("example", [_param(e) for e in RUNNABLE])
def test_example_runs(world: World, example: Example) -> None:
    for command in example.given:
        world.run(world.text(command), f"{example.id}: given {command!r}")
    text = world.text(example.text)
    if example.kind == "sh":
        world.run(text, example.id)
        return
    if "[[steps]]" in text:  # a recipe: loaded and checked as the admin's own
        name = re.search(r'^name = "([^"]+)"', text, re.M)
        assert name is not None, f"{example.id}: a recipe has a name"
        recipes = Path(world.env["LXCPROV_CONFIG_DIR"]) / "recipes"
        recipes.mkdir(parents=True, exist_ok=True)
        (recipes / f"{name.group(1)}.toml").write_text(text + "\n")
        listed = world.run("lxcprov recipes", example.id)
        assert name.group(1) in listed.stdout + listed.stderr
        return
    (world.home / "example.toml").write_text(text + "\n")
    world.run("lxcprov apply example.toml", example.id)
    again = world.run("lxcprov apply example.toml", f"{example.id} again")
    assert "nothing to change" in again.stderr, again.stderr
