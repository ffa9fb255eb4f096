"""A journal's temp file that a killed writer left (between statefile's write and its
rename) goes with the next journal of that container and with its end; another
container's is never touched. bench/chaos.py (seed 2026) found one that outlived its
container's every later command."""

from __future__ import annotations

from pathlib import Path

from lxcprov.system import journal, locks


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
