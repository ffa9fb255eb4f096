"""`fix` on random hostile rootfs trees (issue 22): nothing outside the rootfs changes, no
hang, no traceback.

Each case is a seeded tree from tests/fuzztrees.py (symlinks out and in loops, FIFOs,
devices, sockets, hard links to the sentinel "host" beside the rootfs, long names, odd
content, at the paths the recipes read and write), then what `fix` does below the CLI:
facts, plan (with a root password and a key, so /etc/shadow and /root/.ssh are written),
apply, and a second plan. What may happen: changes made inside the rootfs, or an
lxcprov error (one line). What may not: any other exception, a blocked call (a SIGALRM
safety net turns it into a failure), or any change to the sentinel directory, to the
directory holding the rootfs, or to the real host's /etc/passwd, /etc/shadow and the
like. The same cases run with the kernel's openat2 lookups and with the walk older
kernels get. tests/real/test_fix_fuzz.py runs some of them through the real CLI.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from types import FrameType

import pytest

from lxcprov.engine.facts import gather
from lxcprov.engine.recipes import Recipe, Secrets, apply, load_all, plan
from lxcprov.errors import LxcprovError
from lxcprov.system.rootfs import Rootfs
from tests.fuzztrees import RACED, build, digest, make_host, racer, real_host_digest

SEED = 22_000
CASES = 400  # per lookup mode: about half a minute for both here
OWNER = (1_100_000_000, 1_100_000_000)  # half the cases: an unprivileged container's root
SECRETS = Secrets(
    root_password="fuzz horse",
    ssh_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxjeHByb3YgdGVzdCBrZXk= fuzz@lxcprov"],
)


def _hung(signum: int, frame: FrameType | None) -> None:
    raise AssertionError("fix blocked on the rootfs")


def _fix(root: Path, config: dict[str, str], net: object, owner: tuple[int, int],
         recipes: list[Recipe]) -> str:  # fmt: skip
    """What fix does, below the CLI: "changed", "refused: <message>" or "nothing"."""
    try:
        with Rootfs(root, owner=owner) as rootfs:
            facts = gather("fuzz1", rootfs, config, net)  # type: ignore[arg-type]
            planned = plan(rootfs, facts, recipes, SECRETS)
            applied = apply(rootfs, planned)
            plan(rootfs, gather("fuzz1", rootfs, config, net), recipes, SECRETS)  # type: ignore[arg-type]
    except LxcprovError as exc:
        assert "\n" not in exc.message, f"more than one line: {exc.message!r}"
        return f"refused: {exc.message}"
    return "changed" if applied else "nothing"


@pytest.mark.usefixtures("lookups")
def test_fix_on_hostile_trees_changes_nothing_outside(disk: Path) -> None:
    host = disk / "host"
    make_host(host)
    sentinel, real = digest(host), real_host_digest()
    recipes = load_all()
    outcomes: dict[str, int] = {}
    old = signal.signal(signal.SIGALRM, _hung)
    try:
        for seed in range(SEED, SEED + CASES):
            root = disk / "rootfs"
            config, net, done = build(seed, root, host)
            signal.alarm(30)
            try:
                outcome = _fix(root, config, net, OWNER if seed % 2 else (0, 0), recipes)
            except BaseException as exc:
                raise AssertionError(f"seed {seed} ({'; '.join(done)}): {exc!r}") from exc
            finally:
                signal.alarm(0)
            outcomes[outcome.split(":")[0]] = outcomes.get(outcome.split(":")[0], 0) + 1
            assert digest(host) == sentinel, f"seed {seed} changed the host: {'; '.join(done)}"
            assert sorted(os.listdir(disk)) == ["host", "rootfs"], f"seed {seed}: {done}"
            shutil.rmtree(root)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert real_host_digest() == real
    # The cases did something: many trees were fixed, many hostile ones refused.
    assert outcomes.get("changed", 0) >= CASES // 4, outcomes
    assert outcomes.get("refused", 0) >= CASES // 10, outcomes


RACES = 12  # trees with a path to race, each fixed RUNS times while it is swapped
RUNS = 15


@pytest.mark.usefixtures("lookups")
def test_fix_while_the_tree_changes_under_it_changes_nothing_outside(disk: Path) -> None:
    """The container's root can change its tree while lxcprov works: a child swaps a
    directory on the way (or a file written) with a symlink to the sentinel, atomically
    and without end, while fix runs again and again."""
    host = disk / "host"
    make_host(host)
    sentinel = digest(host)
    recipes = load_all()
    raced = 0
    old = signal.signal(signal.SIGALRM, _hung)
    try:
        for seed in range(SEED, SEED + 10 * RACES):
            if raced == RACES:
                break
            root = disk / "rootfs"
            config, net, done = build(seed, root, host)
            rel = RACED[seed % len(RACED)]
            pid = racer(root, host, rel, seed)
            if pid is None:
                shutil.rmtree(root)
                continue
            raced += 1
            try:
                for _ in range(RUNS):
                    signal.alarm(30)
                    try:
                        _fix(root, config, net, OWNER if seed % 2 else (0, 0), recipes)
                    except BaseException as exc:
                        raise AssertionError(f"seed {seed}, {rel} raced: {exc!r}") from exc
                    finally:
                        signal.alarm(0)
            finally:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            assert digest(host) == sentinel, f"seed {seed}, {rel} raced: {'; '.join(done)}"
            assert sorted(os.listdir(disk)) == ["host", "rootfs"]
            shutil.rmtree(root)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert raced == RACES, f"only {raced} trees had a path to race"
