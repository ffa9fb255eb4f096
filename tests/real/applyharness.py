"""Running `lxcprov apply` in the real tests: documents, JSON reports, kills and races."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.real.harness import Lxc, wait_for_fault


def write_doc(path: Path, text: str) -> Path:
    """An apply document (or any text file) at path, for `lxcprov apply`."""
    path.write_text(text)
    return path


def apply(lxc: Lxc, doc: Path | str, *args: str, ok: bool = True) -> dict[str, Any]:
    """`lxcprov apply DOC --json ARGS`: its report (exit 0 expected unless ok=False)."""
    proc = lxc.cli("apply", str(doc), "--json", *args, check=False)
    if ok and proc.returncode != 0:
        raise AssertionError(f"apply exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    data = json.loads(proc.stdout) if proc.stdout.strip() else {"stderr": proc.stderr}
    data["_rc"] = proc.returncode
    data["_stderr"] = proc.stderr
    assert isinstance(data, dict)
    return data


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["containers"]}


def changed_kinds(report: dict[str, Any], name: str) -> list[str]:
    return [a["kind"] for a in by_name(report)[name]["actions"] if a["change"]]


def cgroup(lxc: Lxc, name: str, item: str) -> str:
    """A cgroup value of a running container, as the kernel has it (lxc-cgroup)."""
    out = subprocess.run(["lxc-cgroup", "-P", str(lxc.path), "-n", name, item],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.strip()


def config_key(lxc: Lxc, name: str, key: str) -> str | None:
    for line in (lxc.path / name / "config").read_text().splitlines():
        k, sep, v = line.partition("=")
        if sep and k.strip() == key:
            return v.strip()
    return None


def spawn(lxc: Lxc, *args: str, fault: str = "", stdin: str | None = None) -> subprocess.Popen[str]:
    """lxcprov in a session of its own (so its workers can be killed with it)."""
    env = lxc.env(LXCPROV_FAULT_AT=fault) if fault else lxc.env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lxcprov", *args],
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    return proc


def kill_at(lxc: Lxc, point: str, *args: str) -> str:
    """Run lxcprov ARGS until one of its processes stops at point, then SIGKILL all of
    them (the parent and its workers); returns what they printed."""
    proc = spawn(lxc, *args, fault=point)
    seen = wait_for_fault(proc, point, str(args), 300)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    return seen


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err
