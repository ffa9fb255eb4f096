"""Bases built once per run and given to the tests that ask for them (`@pytest.mark.bases`).

A Debian base costs a template run (dpkg-reconfigure, host keys), the base recipes and the
shift of every owner into the unprivileged map: tens of seconds of both cores, the same
result in every fresh lxcpath. So the first test of the run that asks for one builds it
with `lxcprov new` in a seed lxcpath of the run (one builder at a time, under a lock; the
others wait for it), and every test that asks gets a copy of it in its own lxcpath before
it starts: the base `lxcprov new` would have built there, under the same name, so `new`
clones it as it would have cloned its own. The copy's files are hard links to the seed's:
a base is read-only (its clones are overlays on it; `copy`, `convert` and export read it),
and what a test does to its copy (destroy, `bases rm`) unlinks only its own names.

Only tests that assert nothing about building a base ask (tests/real/test_bases.py's
busybox tests build their own, as every test that does not ask).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests import workers

# What each kind of base is made from: `lxcprov new` arguments (the base's key depends on
# the template, its release and its arguments only, never on the network or password).
KINDS: dict[str, tuple[str, ...]] = {
    "debian": ("-t", "debian"),
    "sysvinit": ("-t", "debian", "--", "--packages=sysvinit-core,orphan-sysvinit-scripts"),
    # Debian's own Docker and Podman, installed by the template (tests/real/test_nesting.py).
    "docker": ("-t", "debian", "--", "--packages=docker.io,podman"),
    # Debian's cloud-init, installed by the template (tests/real/test_cloud_config.py).
    "cloud-init": ("-t", "debian", "--", "--packages=cloud-init"),
}
_PREFIX = "lxcprov-base-"


def root(run: str | None = None) -> Path:
    """The run's seed directory (one lxcpath per kind under it)."""
    return Path("/var/tmp") / f"lxcprov-test-seeds-{run or workers.run_id()}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _build(kind: str, lxcpath: Path) -> Path:
    """The base of kind in lxcpath, built through `lxcprov new` (its container removed)."""
    bases = sorted(lxcpath.glob(f"{_PREFIX}*/lxcprov-base.toml"))
    if bases:
        return bases[0].parent
    lxcpath.mkdir(mode=0o755, parents=True, exist_ok=True)
    env = dict(os.environ, LXCPROV_LXCPATH=str(lxcpath),
               LXCPROV_CONFIG_DIR=str(lxcpath.parent / f"{kind}-etc"),
               LXCPROV_STATE_DIR=str(lxcpath.parent / f"{kind}-state"))  # fmt: skip
    args = KINDS[kind]
    lead, tail = (args, ()) if "--" not in args else (args[: args.index("--")],
                                                      args[args.index("--"):])  # fmt: skip
    for argv in (["new", "seed", *lead, "--network", "none", "--no-start", *tail],
                 ["destroy", "--force", "seed"]):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "lxcprov", *argv],
            env=env, capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(f"seed base {kind}: lxcprov {' '.join(argv)}:\n{proc.stderr}")
    (found,) = lxcpath.glob(f"{_PREFIX}*/lxcprov-base.toml")
    return found.parent


def give(kind: str, lxcpath: Path) -> str:
    """A copy of the run's base of kind in lxcpath (built first if no test has yet);
    returns its name."""
    seeds = root()
    seeds.mkdir(mode=0o755, exist_ok=True)
    key = hashlib.sha256(" ".join(KINDS[kind]).encode()).hexdigest()[:8]
    with _locked(seeds / f"{kind}.lock"):
        base = _build(kind, seeds / f"{kind}-{key}")
    target = lxcpath / base.name
    # Hard links (directories are made anew, with their modes, owners and ACLs): the base
    # is never written in place. Its config is written anew (its paths are the seed's).
    subprocess.run(["cp", "-a", "--link", str(base), str(target)], check=True)
    config = target / "config"
    text = config.read_text().replace(str(base.parent), str(lxcpath))
    config.unlink()  # a name of its own, not the seed's file
    config.write_text(text)
    shutil.copystat(base / "config", config)
    with contextlib.suppress(FileNotFoundError):
        (target / "lxc_snapshots").unlink()  # the seed's own clone is gone
    return base.name


def remove_all(run: str) -> None:
    """The run's seeds, removed by the process that outlives every worker."""
    from tests.real.harness import destroy_all, unmount_under

    seeds = root(run)
    if not seeds.is_dir():
        return
    for lxcpath in seeds.iterdir():
        if lxcpath.is_dir() and not lxcpath.name.endswith(("-etc", "-state")):
            destroy_all(lxcpath)
    unmount_under(seeds)
    shutil.rmtree(seeds, ignore_errors=True)
