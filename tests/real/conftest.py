"""Real containers in a private lxcpath, removed afterwards whether the test passed or not."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import workers
from tests.real import seeds
from tests.real.harness import Lxc, destroy_all, private_lxcpath, var_tmp
from tests.real.hostnet.hostnet_lab import NetLab


@pytest.fixture(autouse=True)
def _host(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under parallel workers, a test marked host_alone (it changes host-wide state other
    tests rely on: forwarding off, lxcfs stopped), or one that rewrites root's subordinate
    ids (subid_files: every unprivileged `new` reads them), runs while no other test does."""
    alone = request.node.get_closest_marker("host_alone") is not None
    with workers.host(alone=alone or "subid_files" in request.fixturenames):
        yield


@pytest.fixture
def lxcpath(request: pytest.FixtureRequest) -> Iterator[Lxc]:
    with private_lxcpath() as lxc:
        # @pytest.mark.bases("debian", ...): the run's bases of those kinds, already there
        # (tests/real/seeds.py), as `new` would have built them.
        marker = request.node.get_closest_marker("bases")
        for kind in marker.args if marker else ():
            seeds.give(kind, lxc.path)
        yield lxc


@pytest.fixture
def password_file(tmp_path: Path) -> tuple[Path, str]:
    password = "Test-pw-" + os.urandom(4).hex()
    p = tmp_path / "root-password"
    p.write_text(password + "\n")
    p.chmod(0o600)
    return p, password


@pytest.fixture
def netlab(lxcpath: Lxc, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetLab]:
    # The same config and state dirs for `lxcprov net` and `lxcprov new`, under /var/tmp:
    # dnsmasq reads its hosts file there as an unprivileged user, which pytest's 0700
    # tmp_path would refuse.
    with var_tmp("lxcprov-netlab-") as base:
        base.chmod(0o755)
        monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(base / "etc"))
        monkeypatch.setenv("LXCPROV_STATE_DIR", str(base / "var"))
        # The forwarding sysctls `net setup` turns on are put back once, at the end of the
        # run (tests/conftest.py): here, it would cut the forwarding of another worker's test.
        lab = NetLab(tmp=base)
        try:
            yield lab
        finally:
            destroy_all(lxcpath.path)  # containers first: their veths sit on the bridge
            lab.cleanup()
