"""The Debian packages, as an admin meets them: built from this tree by scripts/package,
installed with apt, used (a busybox container, `man lxcprov`, bash completion, a user who
is not root), then removed and purged, which leaves every container, the lxcpath and
lxcprov's state where they were. At the end the packages are installed again when they
were before, so the rest of the suite finds the machine as scripts/test left it."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import lxc as pylxc
import pytest

from lxcprov.cli import reference
from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab, free_subnet, gateway

# Installs and removes the packages (host-wide: /usr/bin/lxcprov, apt's lock): under
# parallel workers, one worker runs these tests one after another (tests/workers.py).
pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # no venv, no clone: what root's shell has
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
UNIT_LINK = Path("/etc/systemd/system/multi-user.target.wants/lxcprov.service")
TIMER_LINK = Path("/etc/systemd/system/timers.target.wants/lxcprov-metrics.timer")
# lxcprov's state and the admin's settings: no package file, never touched by apt.
STATE = (Path("/var/lib/lxcprov"), Path("/etc/lxcprov"))


@dataclass(frozen=True)
class Debs:
    lxcprov: Path
    cockpit: Path

    def apt(self, *words: str) -> None:
        apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "--reinstall"]
        run([*apt, "--allow-downgrades", *words, str(self.lxcprov), str(self.cockpit)], check=True)


def run(
    argv: list[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """argv with root's plain environment (no venv, no clone on PATH) and env added."""
    full = {"PATH": PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", **(env or {})}
    proc = subprocess.run(argv, capture_output=True, text=True, env=full, cwd=cwd,
                          check=False, timeout=600)  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def installed_version(package: str) -> str | None:
    proc = run(["dpkg-query", "-W", "-f=${Status} ${Version}", package])
    words = proc.stdout.split()
    return (
        words[-1] if proc.returncode == 0 and words[:3] == ["install", "ok", "installed"] else None
    )


@pytest.fixture(scope="module")
def debs() -> Iterator[Debs]:
    """The packages of this tree, built into a directory of their own; installed again at
    the end if lxcprov was installed before."""
    before = installed_version("lxcprov")
    with tempfile.TemporaryDirectory(prefix="lxcprov-debs-") as out:
        run(["./scripts/package", "--out", out], cwd=REPO, check=True)
        found = sorted(Path(out).glob("*.deb"))
        assert [p.name.split("_")[0] for p in found] == ["cockpit-lxcprov", "lxcprov"], found
        built = Debs(lxcprov=found[1], cockpit=found[0])
        version = built.lxcprov.name.split("_")[1]
        assert version.startswith(VERSION) and built.lxcprov.name.endswith("_all.deb")
        assert built.cockpit.name == f"cockpit-lxcprov_{version}_all.deb"
        try:
            yield built
        finally:
            if before is not None:
                built.apt()


def _package_files(package: str) -> list[Path]:
    out = run(["dpkg-query", "-L", package], check=True).stdout.split("\n")
    return [Path(p) for p in out if p.startswith("/")]


def _top_entries(path: Path) -> list[str] | None:
    return sorted(os.listdir(path)) if path.is_dir() else None


def _tree(path: Path) -> list[str]:
    """What an lxcpath holds: containers, bases, lxcprov's records (two levels deep; what
    a running container changes in its own files is below)."""
    return sorted(str(p.relative_to(path)) for p in [*path.glob("*"), *path.glob("*/*")])


def test_install_use_remove_purge(debs: Debs, lxcpath: Lxc, tmp_path: Path) -> None:
    # The maintainer scripts never start, stop or restart lxcprov.service: its ExecStop is
    # `lxcprov stop --all`, which an upgrade or a removal must not run. They start and stop
    # lxcprov-metrics.timer only (Debian's way with a timer: it only reads).
    control = tmp_path / "control"
    run(["dpkg-deb", "--control", str(debs.lxcprov), str(control)], check=True)
    for script in ("preinst", "postinst", "prerm", "postrm"):
        text = (control / script).read_text() if (control / script).exists() else ""
        invoked = [ln for ln in text.splitlines() if "deb-systemd-invoke" in ln]
        assert all("'lxcprov-metrics.timer'" in ln for ln in invoked), (script, invoked)
        assert "systemctl stop" not in text, script

    debs.apt()
    assert installed_version("lxcprov") == debs.lxcprov.name.split("_")[1]
    files = _package_files("lxcprov") + _package_files("cockpit-lxcprov")
    for name in ("/usr/bin/lxcprov", "/usr/share/man/man1/lxcprov.1.gz",
                 "/usr/share/bash-completion/completions/lxcprov",
                 "/usr/share/zsh/vendor-completions/_lxcprov",
                 "/usr/share/fish/vendor_completions.d/lxcprov.fish",
                 "/lib/systemd/system/lxcprov.service", "/usr/share/doc/lxcprov/README.md",
                 "/lib/systemd/system/lxcprov-metrics.service",
                 "/lib/systemd/system/lxcprov-metrics.timer",
                 "/usr/share/doc/lxcprov/docs/metrics.md",
                 "/usr/share/cockpit/lxcprov/manifest.json"):  # fmt: skip
        assert Path(name) in files, name
    unit = Path("/lib/systemd/system/lxcprov.service").read_text()
    assert "ExecStart=/usr/bin/lxcprov start --all" in unit
    assert "file:///usr/share/doc/lxcprov/README.md" in unit
    assert UNIT_LINK.resolve() == Path("/lib/systemd/system/lxcprov.service").resolve()  # enabled
    timer = Path("/lib/systemd/system/lxcprov-metrics.timer")
    assert TIMER_LINK.resolve() == timer.resolve()  # enabled: runs where node_exporter is
    assert "ConditionPathIsDirectory=/var/lib/prometheus/node-exporter" in timer.read_text()

    # Nothing installed points into the clone or the build: links and contents alike
    # (the .pyc files py3compile made at install included).
    clone = str(REPO).encode()
    for path in files + list(Path("/usr/lib/lxcprov").rglob("*")):
        if path.is_symlink():
            assert not str(path.resolve()).startswith(str(REPO)), path
        elif path.is_file():
            assert clone not in path.read_bytes(), path
    # lxcprov and the vendored libraries from the private virtualenv, the rest from Debian.
    mods = "lxcprov, typer, rich, pyroute2, lxc, nftables, shellingham"
    code = f"import {mods}\nfor m in ({mods}): print(m.__file__)"
    where = run(["/usr/lib/lxcprov/bin/python3", "-I", "-c", code], check=True).stdout.split()
    site = "/usr/lib/lxcprov/lib/python3.11/site-packages/"
    assert [w.startswith(site) for w in where] == [True] * 4 + [False] * 3, where
    assert all(w.startswith("/usr/lib/python3/dist-packages/") for w in where[4:]), where

    # Root, from / and from a directory only root may enter: a container, listed.
    env = {"LXCPROV_LXCPATH": str(lxcpath.path)}
    made = run(["lxcprov", "new", "pk1", "-t", "busybox", "--network", "none", "--json"],
               cwd="/", env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert run(["lxcprov", "--version"], cwd=private).stdout == f"lxcprov {VERSION}\n"
    listed = run(["lxcprov", "ls", "--json"], cwd=private, env=env)
    assert [(c["name"], c["state"]) for c in json.loads(listed.stdout)] == [("pk1", "RUNNING")]

    # man lxcprov: every command, as the reference lists them.
    page = run(["man", "lxcprov"], env={"MANPAGER": "cat", "MANWIDTH": "200"}, check=True).stdout
    for words, _ in reference.commands()[1:]:
        assert f"\n   {' '.join(words)}\n" in page, words

    # bash completion as bash-completion loads it: the commands, then a container's name.
    def complete(*words: str) -> list[str]:
        script = "\n".join(
            [
                ". /usr/share/bash-completion/bash_completion",
                "_completion_loader lxcprov",
                f"COMP_WORDS=(lxcprov {' '.join(words)} ''); COMP_CWORD={len(words) + 1}",
                # As bash sets them for a Tab at the end (the function reads COMP_LINE).
                f"COMP_LINE='lxcprov {''.join(w + ' ' for w in words)}'",
                "COMP_POINT=${#COMP_LINE}",
                '_lxcprov_completion lxcprov "" ""',
                'printf "%s\\n" "${COMPREPLY[@]}"',
            ]
        )
        return run(["bash", "-c", script], cwd="/", env=env, check=True).stdout.split()

    assert {"new", "ls", "console", "net", "completion"} <= set(complete())
    assert complete("show") == ["pk1"]

    # Anyone else: lxcprov's own "needs root" (77), from a directory they cannot enter
    # too; help and version answer.
    for cwd in ("/", str(private)):
        for words in (["ls"], ["new", "x1", "-t", "busybox"], ["doctor"], ["recipes"]):
            proc = run([*NOBODY, "/usr/bin/lxcprov", *words], cwd=cwd, env=env)
            assert proc.returncode == 77, (cwd, words, proc.stderr)
            assert proc.stderr.splitlines() == [
                "error: lxcprov needs root to manage containers",
                "hint: run it as root, for example with sudo",
            ], proc.stderr
        version = run([*NOBODY, "/usr/bin/lxcprov", "--version"], cwd=cwd)
        assert (version.returncode, version.stdout) == (0, f"lxcprov {VERSION}\n")
        assert run([*NOBODY, "/usr/bin/lxcprov", "new", "--help"], cwd=cwd).returncode == 0

    # Removed, then purged: every file of the packages goes (and the .pyc files), the
    # container keeps running, the lxcpath (base, lxcprov's records) and the state stay.
    kept = {p: _top_entries(p) for p in (*STATE, lxcpath.path)}
    in_lxcpath = _tree(lxcpath.path)
    for verb in ("remove", "purge"):
        run(["apt-get", verb, "-y", "-q", "lxcprov", "cockpit-lxcprov"], check=True)
        assert installed_version("lxcprov") is None and installed_version("cockpit-lxcprov") is None
        assert not [p for p in files if p.exists() and not p.is_dir()], verb
        assert not Path("/usr/lib/lxcprov").exists() and not Path("/usr/bin/lxcprov").exists()
        assert not Path("/usr/share/cockpit/lxcprov").exists()
        assert pylxc.Container("pk1", str(lxcpath.path)).state == "RUNNING", verb
        assert {p: _top_entries(p) for p in kept} == kept, verb
        assert _tree(lxcpath.path) == in_lxcpath, verb
    assert not UNIT_LINK.is_symlink()  # purge: the enablement goes with the package
    assert not TIMER_LINK.is_symlink()


def test_the_installed_command_makes_a_bridge_and_a_container_that_gets_a_lease(
    debs: Debs, netlab: NetLab, lxcpath: Lxc
) -> None:
    """The package's own netlink (pyroute2 from the virtualenv), nftables (Debian's) and
    dnsmasq at work: a bridge, and a busybox container that takes a DHCP lease on it."""
    debs.apt()
    bridge, subnet = netlab.bridge(), free_subnet()
    env = {
        "LXCPROV_LXCPATH": str(lxcpath.path),
        "LXCPROV_CONFIG_DIR": os.environ["LXCPROV_CONFIG_DIR"],  # netlab's, private
        "LXCPROV_STATE_DIR": os.environ["LXCPROV_STATE_DIR"],
    }
    run(["lxcprov", "net", "setup", "--bridge", bridge, "--address", gateway(subnet),
         "--no-nat"], cwd="/", env=env, check=True)  # fmt: skip
    status = json.loads(
        run(["lxcprov", "net", "status", "--bridge", bridge, "--json"], env=env, check=True).stdout
    )
    assert status["exists"] and status["up"] and status["dnsmasq"]["alive"], status
    made = run(["lxcprov", "new", "pk2", "-t", "busybox", "--bridge", bridge, "--json"],
               cwd="/", env=env, check=True)  # fmt: skip
    (ip,) = json.loads(made.stdout)["ipv4"]
    assert IPv4Address(ip) in subnet and IPv4Address(ip) >= subnet.network_address + 128


def test_the_callers_environment_reaches_no_root_child(
    debs: Debs, lxcpath: Lxc, tmp_path: Path
) -> None:
    """`apply` and `new --count` start fresh interpreters as root: PYTHONPATH, the user's
    site directory under HOME and the current directory must not choose their code."""
    debs.apt()
    marker = tmp_path / "imported"
    evil = tmp_path / "evil"
    (evil / "lxcprov").mkdir(parents=True)
    plant = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    (evil / "sitecustomize.py").write_text(plant)
    (evil / "lxcprov" / "__init__.py").write_text(plant + "raise SystemExit(99)\n")
    home = tmp_path / "home"
    user_site = home / ".local/lib/python3.11/site-packages"
    user_site.mkdir(parents=True)
    (user_site / "usercustomize.py").write_text(plant)
    doc = tmp_path / "doc.toml"
    doc.write_text(
        'version = 1\n\n[containers.env1]\ntemplate = "busybox"\nbridge = "none"\n'
        'state = "stopped"\n'
    )
    env = {"LXCPROV_LXCPATH": str(lxcpath.path), "PYTHONPATH": str(evil), "HOME": str(home)}
    applied = run(["lxcprov", "apply", str(doc)], cwd=evil, env=env)
    assert applied.returncode == 0, applied.stderr
    made = run(["lxcprov", "new", "cnt", "--count", "2", "-t", "busybox", "--network", "none",
                "--no-start"], cwd=evil, env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert lxcpath.names() == ["cnt1", "cnt2", "env1"]
    assert not marker.exists(), marker.read_text()
