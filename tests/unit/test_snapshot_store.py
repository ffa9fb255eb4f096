"""Snapshot records and staged tree swaps: strict reads, and a kill at any step of a
swap leaves a state settle() ends (lxcprov.system.snapstore, lxcprov.system.staged)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from lxcprov.errors import InvalidNameError, StateFileError
from lxcprov.system import snapstore, staged


def test_a_record_reads_back_and_a_wrong_one_is_one_line(tmp_path: Path) -> None:
    where = tmp_path / "snapshots" / "s1"
    where.mkdir(parents=True)
    meta = snapstore.Meta("s1", "2026-01-01T00:00:00+00:00", "upper", "privileged", 4096,
                          base="lxcprov-base-x", lower="/l/lxcprov-base-x/rootfs")  # fmt: skip
    snapstore.write_meta(where, meta)
    assert snapstore.read_meta(where) == meta
    assert snapstore.listing(tmp_path) == [meta] and snapstore.count(tmp_path) == 1
    (where / snapstore.META).write_text('name = "s1"\nkind = "sideways"\n')
    with pytest.raises(StateFileError, match="missing"):
        snapstore.read_meta(where)
    (where / snapstore.META).write_text(snapstore.render(meta).replace('"upper"', '"layer"'))
    with pytest.raises(StateFileError, match="kind"):
        snapstore.read_meta(where)
    (where / snapstore.META).write_text(snapstore.render(meta) + "evil = 1\n")
    with pytest.raises(StateFileError, match="unknown key"):
        snapstore.read_meta(where)
    (where / snapstore.META).write_text(snapstore.render(meta).replace("2026-01-01T", "then"))
    with pytest.raises(StateFileError, match="created must be a time"):
        snapstore.read_meta(where)


def test_hidden_leftovers_are_never_snapshots(tmp_path: Path) -> None:
    d = snapstore.ensure_directory(tmp_path)
    for name in ("ok", ".ok.lxcprov-new", ".gone.lxcprov-old", ".other"):
        (d / name).mkdir()
    assert snapstore.names(tmp_path) == ["ok"]
    assert [p.name for p in snapstore.leftovers(tmp_path)] == [".gone.lxcprov-old",
                                                              ".ok.lxcprov-new"]  # fmt: skip


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "..", "a..b", "x" * 64, "s\n"])
def test_bad_snapshot_names(name: str) -> None:
    with pytest.raises(InvalidNameError):
        snapstore.check_name(name)


def test_default_names_sort_by_time() -> None:
    at = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    assert snapstore.default_name(at) == "snap-20260304-050607"
    snapstore.check_name(snapstore.default_name(at))


def _tree(path: Path, content: str) -> None:
    path.mkdir()
    (path / "f").write_text(content)


@pytest.mark.parametrize(
    ("state", "after", "done"),
    [
        # killed while copying: the target is untouched, the partial copy goes
        ({"target": "old", ".target.lxcprov-new": "half"}, "old", "partial"),
        # killed once the copy was complete: the swap is finished
        ({"target": "old", ".target.lxcprov-ready": "new"}, "new", "complete copy"),
        # killed between the two renames
        ({".target.lxcprov-old": "old", ".target.lxcprov-ready": "new"}, "new", "complete"),
        # killed while removing the old tree
        ({".target.lxcprov-old": "old", "target": "new"}, "new", "replaced tree"),
        ({"target": "old"}, "old", ""),
    ],
)
def test_a_killed_swap_is_ended_from_the_files_alone(
    tmp_path: Path, state: dict[str, str], after: str, done: str
) -> None:
    for name, content in state.items():
        _tree(tmp_path / name, content)
    target = tmp_path / "target"
    lines = staged.settle(target)
    assert (target / "f").read_text() == after
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]
    assert done in " ".join(lines) and bool(lines) == bool(done)
    assert not staged.pending(target)


def test_a_swap_is_build_ready_swap(tmp_path: Path) -> None:
    target = tmp_path / "target"
    _tree(target, "old")
    new = staged.building(target)
    _tree(new, "new")
    assert staged.pending(target)
    staged.ready(target)
    staged.swap(target)
    assert (target / "f").read_text() == "new" and not staged.pending(target)
