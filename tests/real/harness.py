"""Running lxcprov and LXC against a private lxcpath, for the real tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lxc as pylxc

from lxcprov.system import containerfs, lxc


@dataclass
class Lxc:
    """A private lxcpath and a way to run lxcprov against it."""

    path: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["LXCPROV_LXCPATH"] = str(self.path)
        env.update(extra)
        return env

    def cli(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "lxcprov", *args],
            capture_output=True,
            text=True,
            env=env or self.env(),
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"lxcprov {' '.join(args)} exited {proc.returncode}\n{proc.stderr[-3000:]}"
            )
        return proc

    def attach(self, name: str, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["lxc-attach", "-P", str(self.path), "-n", name, "--clear-env", "--", *cmd],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def names(self) -> list[str]:
        names = pylxc.list_containers(config_path=str(self.path))
        return sorted(n for n in names if not n.startswith("lxcprov-base-"))

    @contextlib.contextmanager
    def mounted(self, name: str) -> Iterator[Path]:
        """The container's root filesystem as a directory (mounts a snapshot clone's overlay).

        The path goes through lxcprov's own descriptor of the root, valid in the block."""
        with containerfs.opened(lxc.Container(name, self.path)) as rootfs:
            yield Path(f"/proc/self/fd/{rootfs.fd}")

    def rootfs(self, name: str) -> Path:
        return self.path / name / "rootfs"


def unmount_under(path: Path) -> None:
    """Unmount whatever is mounted at or below path (deepest first); never at a sibling
    whose name starts the same (another worker's lxcpath)."""
    text = Path("/proc/self/mountinfo").read_text()
    points = [ln.split()[4] for ln in text.splitlines()]
    points = [p for p in points if p == str(path) or p.startswith(f"{path}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


@contextlib.contextmanager
def var_tmp(prefix: str) -> Iterator[Path]:
    """A fresh directory under /var/tmp (a disk, not a tmpfs, on the lxcpaths' filesystem;
    a container's mapped root can reach it once it is 0755), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def private_lxcpath(prefix: str = "lxcprov-test-") -> Iterator[Lxc]:
    """A private lxcpath under /var/tmp (never the host's /var/lib/lxc); its containers
    destroyed and whatever is mounted under it unmounted afterwards, pass or fail."""
    with var_tmp(prefix) as path:
        try:
            yield Lxc(path)
        finally:
            destroy_all(path)
            unmount_under(path)  # user namespaces pinned for idmapped mounts, leftovers


def plain_busybox(lxc: Lxc, name: str) -> Path:
    """A container made by plain lxc-create (no network), as a user would have one; its
    config file."""
    conf = lxc.path / "empty-net.conf"
    conf.write_text("lxc.net.0.type = empty\n")
    lxc_create(lxc, name, conf, "busybox")
    return lxc.path / name / "config"


REPO = Path(__file__).resolve().parents[2]


def slow_template(tmp_path: Path, seconds: int) -> tuple[dict[str, str], Path]:
    """PATH for a busybox template run that sits seconds in its one early grep, and the
    file it touches as it begins to (a template run that lasts, as a debian one does)."""
    slow, began = tmp_path / "bin", tmp_path / "template-began"
    slow.mkdir()
    (slow / "egrep").write_text(f'#!/bin/sh\ntouch {began}\nsleep {seconds}\nexec grep -E "$@"\n')
    (slow / "egrep").chmod(0o755)
    return {"PATH": f"{slow}:{os.environ.get('PATH', os.defpath)}"}, began


def lxc_create(lxc: Lxc, name: str, conf: Path, template: str, *args: str) -> None:
    """Plain lxc-create, as a user runs it, in a mount namespace of its own where other
    containers' disk images are let go first (tests/real/apart.py): its template runs in
    a copy of the namespace, which would hold other tests' images for its whole run."""
    argv = ["lxc-create", "-P", str(lxc.path), "-n", name, "-f", str(conf), "-t", template]
    argv += ["--", *args] if args else []
    apart = [sys.executable, "-m", "tests.real.apart", str(lxc.path / name)]
    subprocess.run([*apart, *argv], check=True, capture_output=True, timeout=900, cwd=REPO)


def destroy_all(path: Path) -> None:
    names = pylxc.list_containers(config_path=str(path))
    # Clones before the bases they are snapshots of (LXC refuses the other order).
    for name in sorted(names, key=lambda n: n.startswith("lxcprov-base-")):
        c = pylxc.Container(name, str(path))
        if c.running:
            c.stop()
            c.wait("STOPPED", 15)
        c.destroy()


def wait_for_fault(proc: subprocess.Popen[str], phase: str, what: str, timeout: float) -> str:
    """Read proc's stderr until lxcprov says it stopped at phase (LXCPROV_FAULT_AT), so the
    caller can kill it right there; returns what it printed. AssertionError when it ends
    first or never gets there."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if f"stopped at phase {phase}" in line:
            return seen
        if not line and proc.poll() is not None:
            raise AssertionError(f"{what} ended before phase {phase}:\n{seen}")
    raise AssertionError(f"{what} never reached phase {phase}:\n{seen}")
