"""The chaos bench, bounded: 60 kills of random commands running three at a time, with
every invariant of tests/real/invariants.py checked after each kill and at the end.

The seed is fixed (and printed), so a failure is the same run again:
  flock /tmp/lxcprov-real.lock .venv/bin/python bench/chaos.py --seed 2026 --workers 3 --kills 60
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real import invariants

pytestmark = [pytest.mark.real, pytest.mark.host_alone]  # many containers, both cores

SEED = 2026
BENCH = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


def test_sixty_kills_leave_no_violation(tmp_path: Path) -> None:
    print(f"chaos seed {SEED}")
    out = tmp_path / "chaos.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--seed", str(SEED), "--workers", "3", "--kills", "60",
         "--bridge", "chabr9", "--max-seconds", "900", "--json-out", str(out)],
        capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    assert out.exists(), proc.stderr[-3000:]
    report = json.loads(out.read_text())
    print(proc.stdout)
    assert report["seed"] == SEED
    # A round's kills may pass the mark. The bound is against a hang, not a speed test:
    # 60 kills take 315-390 s here, and a CI run on a busier machine once stopped at 59 by
    # the 480 s it had then.
    assert report["kills"] >= 60, report
    # Invariants were really checked: every one of them after each round (a round kills
    # one or more commands), and each killed command's containers besides.
    assert report["checks"] >= report["rounds"] * (1 + len(invariants.CHECKS)), report
    assert report["violations"] == [], "\n".join(
        f"seed={v['seed']} {v['step']}: {v['violation']}" for v in report["violations"]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
