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


def test_threads_swapping_at_once_leave_fd_2_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    def many(n: int) -> None:
        for i in range(300):
            with liblxcnoise.sifted(liblxcnoise.dropped_line(f"t{n}")):
                os.write(2, liblxcnoise.dropped_line(f"t{n}"))
                os.write(2, f"{n}.{i}\n".encode())

    workers = [threading.Thread(target=many, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    os.write(2, b"end\n")
    err = capfd.readouterr().err.splitlines()
    assert "Failed to load config" not in "\n".join(err)
    assert sorted(err) == sorted([f"{n}.{i}" for n in range(4) for i in range(300)] + ["end"])
