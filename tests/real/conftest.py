"""Real containers in a private lxcpath, removed afterwards whether the test passed or not."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.harness import Lxc, destroy_all


@pytest.fixture
def lxcpath() -> Iterator[Lxc]:
    # Under /var/tmp, not a tmpfs, and never the host's /var/lib/lxc.
    path = Path(tempfile.mkdtemp(prefix="lxcprov-test-", dir="/var/tmp"))
    try:
        yield Lxc(path)
    finally:
        destroy_all(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def password_file(tmp_path: Path) -> tuple[Path, str]:
    password = "Test-pw-" + os.urandom(4).hex()
    p = tmp_path / "root-password"
    p.write_text(password + "\n")
    p.chmod(0o600)
    return p, password
