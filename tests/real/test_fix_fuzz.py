"""`lxcprov fix` (the real CLI) on containers whose rootfs is a hostile fuzz tree.

The trees are tests/fuzztrees.py's, seeded; each becomes the `dir` rootfs of a container
defined in a private lxcpath (never started: fix works on its files), beside a sentinel
"host" directory on the same filesystem (hard links into it are possible). For each:
lxcprov exits 0, or with one `error:` line (LXCPROV_DEBUG=1: an unexpected OSError would
be a traceback, not the CLI's last-resort line), within the timeout, and nothing outside
the rootfs changed. tests/unit/test_fix_fuzz.py runs many more below the CLI.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzztrees import build, digest, make_host, real_host_digest
from tests.real.harness import Lxc, var_tmp

pytestmark = pytest.mark.real

SEEDS = range(22_000, 22_016)
HOST_BASE = 1_100_000_000
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxjeHByb3YgdGVzdCBrZXk= fuzz@lxcprov\n"


@pytest.fixture
def host() -> Iterator[Path]:
    with var_tmp("lxcprov-fuzz-host-") as path:
        make_host(path / "host")
        yield path / "host"


def _define(lxcpath: Lxc, name: str, config: dict[str, str], unprivileged: bool) -> None:
    lines = [
        f"lxc.uts.name = {name}",
        f"lxc.rootfs.path = dir:{lxcpath.path / name / 'rootfs'}",
        "lxc.net.0.type = empty",
        *(f"{k} = {v}" for k, v in config.items()),
    ]
    if unprivileged:
        lines += [f"lxc.idmap = u 0 {HOST_BASE} 65536", f"lxc.idmap = g 0 {HOST_BASE} 65536"]
    (lxcpath.path / name / "config").write_text("\n".join(lines) + "\n")


def test_the_cli_fixes_or_refuses_hostile_trees_and_touches_nothing_outside(
    lxcpath: Lxc, host: Path, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    key = tmp_path / "key.pub"
    key.write_text(KEY)
    sentinel, real = digest(host), real_host_digest()
    outcomes = []
    for seed in SEEDS:
        name = f"fuzz{seed}"
        (lxcpath.path / name).mkdir()
        root = lxcpath.path / name / "rootfs"
        config, _net, done = build(seed, root, host)
        _define(lxcpath, name, config, unprivileged=bool(seed % 2))
        proc = lxcpath.cli("fix", name, "--root-password-file", str(password_file[0]),
                           "--ssh-key", str(key), check=False, timeout=120,
                           env=lxcpath.env(LXCPROV_DEBUG="1"))  # fmt: skip
        what = f"seed {seed} ({'; '.join(done)})"
        assert "Traceback" not in proc.stderr, f"{what}:\n{proc.stderr[-3000:]}"
        if proc.returncode != 0:
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1, f"{what}:\n{proc.stderr[-3000:]}"
        outcomes.append(proc.returncode)
        assert digest(host) == sentinel, f"{what} changed the host"
        # Removed here, never followed (shutil does not follow symlinks), before the
        # lxcpath fixture destroys the definitions.
        shutil.rmtree(root)
        shutil.rmtree(lxcpath.path / name)
    assert real_host_digest() == real
    assert 0 in outcomes and any(outcomes), outcomes  # some fixed, some refused
