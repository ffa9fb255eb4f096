"""A journal's temp file that a killed writer left (between statefile's write and its
rename) goes with the next journal of that container and with its end; another
container's is never touched. bench/chaos.py (seed 2026) found one that outlived its
container's every later command."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from lxcprov.system import journal, locks, statefile


def test_a_killed_writers_temp_file_goes_with_the_next_journal(tmp_path: Path) -> None:
    directory = journal.journal_dir(tmp_path)
    directory.mkdir(parents=True)
    left = directory / ".c1.toml.deadbeef.tmp"
    other = directory / ".c2.toml.cafebabe.tmp"
    left.write_text("half")
    other.write_text("c2's writer, alive")
    with locks.container(tmp_path, "c1", "test"):
        jr = journal.Journal.begin(tmp_path, "c1", "set", creating=False)
        assert not left.exists(), "swept before the new journal is written"
        left.write_text("half again")  # killed once more, then the command ends
        jr.end()
    assert sorted(p.name for p in directory.iterdir()) == [other.name]


def test_a_creating_journal_sweeps_the_temps_of_names_no_command_holds(tmp_path: Path) -> None:
    """bench/chaos.py (seed 2026, CI): a `new` killed inside its first journal write left
    the temp of a name that then never existed, so no later command named it. A creating
    command's journal sweeps every temp whose name's lock is free; a held one is a live
    writer's and stays."""
    directory = journal.journal_dir(tmp_path)
    directory.mkdir(parents=True)
    ghost = directory / ".x29.toml.b06fbb12.tmp"
    ghost.write_text("half")
    busy = directory / ".c2.toml.cafebabe.tmp"
    busy.write_text("c2's writer, alive")
    stranger = directory / "notes.tmp"  # not a journal temp: not ours to judge
    stranger.write_text("")
    locks.lock_path(tmp_path, "c2").parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
         str(locks.lock_path(tmp_path, "c2"))],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with locks.container(tmp_path, "c1", "test"):
            journal.Journal.begin(tmp_path, "c1", "set", creating=False).end()
            assert ghost.exists(), "only a creating command sweeps other names"
            journal.Journal.begin(tmp_path, "c1", "new", creating=True).end()
    finally:
        holder.kill()
        holder.wait()
    assert not ghost.exists()
    assert busy.exists() and stranger.exists()


def test_create_text_names_a_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    """The first journal write: an unnamed file named once whole (a kill before leaves
    nothing in the directory); a path that exists is replaced as write_text does."""
    path = tmp_path / "state" / "c1.toml"
    statefile.create_text(path, 'command = "new"\n', mode=0o600)
    assert path.read_text() == 'command = "new"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    statefile.create_text(path, 'command = "copy"\n', mode=0o600)
    assert path.read_text() == 'command = "copy"\n'
    assert sorted(p.name for p in path.parent.iterdir()) == ["c1.toml"]
    with locks.container(tmp_path, "c2", "test"):
        journal.Journal.begin(tmp_path, "c2", "new", creating=True)
    assert [p.name for p in journal.journal_dir(tmp_path).iterdir()] == ["c2.toml"]
