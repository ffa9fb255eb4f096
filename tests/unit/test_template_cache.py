"""A template run's half-made cache is removed; a complete one, or another run's, never."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from lxcprov.system import templatecache


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    (root / "debian" / "rootfs-bookworm-amd64" / "etc").mkdir(parents=True)
    monkeypatch.setenv(templatecache.CACHE_ENV, str(root))
    monkeypatch.setattr(templatecache, "LOCK_DIR", tmp_path / "locks")
    (tmp_path / "locks").mkdir()
    return root


def test_only_the_partial_directories_that_appeared_are_removed(cache: Path) -> None:
    (cache / "debian" / "partial-trixie-amd64").mkdir()  # someone's, from before
    before = templatecache.partials()
    assert before == ("debian/partial-trixie-amd64",)
    (cache / "debian" / "partial-bookworm-amd64" / "usr").mkdir(parents=True)
    (cache / "jammy" / "partial-amd64").mkdir(parents=True)  # lxc-ubuntu's shape
    (cache / "debian" / "rootfs-trixie-amd64").mkdir()  # completed meanwhile: a cache
    removed = templatecache.remove_new("debian", before)
    assert sorted(removed) == [
        str(cache / "debian" / "partial-bookworm-amd64"),
        str(cache / "jammy" / "partial-amd64"),
    ]
    assert templatecache.partials() == before
    for kept in ("rootfs-bookworm-amd64/etc", "rootfs-trixie-amd64", "partial-trixie-amd64"):
        assert (cache / "debian" / kept).is_dir()


def test_nothing_is_removed_while_a_run_of_the_template_holds_its_lock(
    cache: Path, tmp_path: Path
) -> None:
    before = templatecache.partials()
    (cache / "debian" / "partial-bookworm-amd64").mkdir()
    lock = tmp_path / "locks" / "lxc-debian"
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what `flock -x 9` in lxc-debian holds
        assert templatecache.remove_new("debian", before) == []
        assert (cache / "debian" / "partial-bookworm-amd64").is_dir()
    finally:
        os.close(fd)
    assert templatecache.remove_new("debian", before) != []
    assert not (cache / "debian" / "partial-bookworm-amd64").exists()


def test_a_symlink_named_partial_is_not_followed(cache: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "file").write_text("keep")
    os.symlink(precious, cache / "debian" / "partial-x")
    assert templatecache.remove_new("debian", ()) == []
    assert (precious / "file").read_text() == "keep"


def test_an_interrupted_run_has_let_go_of_its_lock_when_stream_returns(tmp_path: Path) -> None:
    """CI saw a Ctrl-C'd template run leave its partial cache: the cleanup ran while the
    killed run was still exiting, its lock still held, so the cleanup took it for a run at
    work. stream returns from an interruption only once its process group is gone."""
    from lxcprov.system import run

    lock = tmp_path / "lxc-debian"
    lock.touch()
    pids: list[int] = []

    def interrupt(line: str) -> None:
        if line == "locked":
            raise KeyboardInterrupt

    # the lock's holder is a grandchild, as the template's is under lxc-create
    script = f"flock {lock} sh -c 'echo locked; sleep 30' & wait"
    with pytest.raises(KeyboardInterrupt):
        run.stream(["sh", "-c", script], interrupt, on_start=pids.append)
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if a member still holds it
    finally:
        os.close(fd)
    with pytest.raises(ProcessLookupError):
        os.killpg(pids[0], 0)


def test_a_lock_let_go_within_the_wait_is_taken_and_the_partial_removed(
    cache: Path, tmp_path: Path
) -> None:
    """A killed run's last process lets go of the lock as it exits (a CI run saw one in
    uninterruptible sleep for seconds): the cleanup of a run just killed waits for it."""
    import threading

    before = templatecache.partials()
    (cache / "debian" / "partial-bookworm-amd64").mkdir()
    lock = tmp_path / "locks" / "lxc-debian"
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    threading.Timer(0.5, os.close, (fd,)).start()  # the dying holder, half a second on
    assert templatecache.remove_new("debian", before, wait=10.0) != []
    assert not (cache / "debian" / "partial-bookworm-amd64").exists()
