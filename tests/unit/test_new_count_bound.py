"""`new --count` is bounded before any name is made (outside review: ten million names and
requests filled the memory before the host's limits were asked)."""

from __future__ import annotations

import subprocess
import sys

from lxcprov.cli.new import MAX_COUNT


def test_a_count_past_the_bound_is_one_usage_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lxcprov", "new", "x", "-t", "busybox", "--count",
         str(MAX_COUNT + 1)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"1<=x<={MAX_COUNT}" in proc.stderr
    assert "Traceback" not in proc.stderr
