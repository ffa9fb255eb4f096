"""liblxc's "Failed to load config" line is dropped while python3-lxc opens a container;
everything else written to fd 2 meanwhile still reaches stderr, and fd 2 is back after."""

from __future__ import annotations

import os
import threading

import pytest

from lxcprov.system import liblxcnoise


def test_the_one_line_is_dropped_and_the_rest_passes(capfd: pytest.CaptureFixture[str]) -> None:
    before = os.fstat(2)
    with liblxcnoise.sifted(liblxcnoise.dropped_line("web")):
        os.write(2, b"lxc 1: ERROR something else\n")
        os.write(2, liblxcnoise.dropped_line("web"))
        os.write(2, liblxcnoise.dropped_line("web"))  # only the first one is liblxc's
    os.write(2, b"after\n")
    assert capfd.readouterr().err == (
        "lxc 1: ERROR something else\nFailed to load config for web\nafter\n"
    )
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_another_names_line_is_not_dropped(capfd: pytest.CaptureFixture[str]) -> None:
    with liblxcnoise.sifted(liblxcnoise.dropped_line("web")):
        os.write(2, liblxcnoise.dropped_line("web2"))
    assert capfd.readouterr().err == "Failed to load config for web2\n"


def test_an_error_inside_restores_fd_2(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), liblxcnoise.sifted(b"x\n"):
        os.write(2, b"kept\n")
        raise RuntimeError("boom")
    os.write(2, b"then\n")
    assert capfd.readouterr().err == "kept\nthen\n"


def test_with_other_threads_fd_2_is_left_alone(capfd: pytest.CaptureFixture[str]) -> None:
    """A child another thread spawned while fd 2 was swapped would keep the capture as its
    stderr for good: with several threads nothing is swapped, and nothing is lost."""
    before = os.fstat(2)
    inside: list[os.stat_result] = []
    started, done = threading.Event(), threading.Event()

    def other() -> None:
        started.set()
        done.wait(10)

    helper = threading.Thread(target=other)
    helper.start()
    started.wait(10)
    try:
        with liblxcnoise.sifted(liblxcnoise.dropped_line("web")):
            inside.append(os.fstat(2))
            os.write(2, liblxcnoise.dropped_line("web"))
    finally:
        done.set()
        helper.join()
    assert (inside[0].st_dev, inside[0].st_ino) == (before.st_dev, before.st_ino)
    assert capfd.readouterr().err == "Failed to load config for web\n"


@pytest.mark.parametrize("failing", ["memfd_create", "dup"])
def test_without_a_memory_file_or_a_descriptor_the_open_goes_on_unsifted(
    failing: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors, or memfd forbidden by a seccomp filter: the command goes on and
    liblxc's line shows; no descriptor is left open."""

    def refuse(*_args: object) -> int:
        raise OSError(24, "Too many open files")

    open_before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, failing, refuse)
    with liblxcnoise.sifted(liblxcnoise.dropped_line("web")):
        os.write(2, liblxcnoise.dropped_line("web"))
    monkeypatch.undo()
    assert capfd.readouterr().err == "Failed to load config for web\n"
    assert set(os.listdir("/proc/self/fd")) == open_before
