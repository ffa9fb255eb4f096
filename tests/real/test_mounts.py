"""Host directories inside real containers: `mount add | rm | ls`, `new --mount`, `set mounts=`.

A file owned by a host user (uid 1234, no such account needed) must show inside with the
same numeric owner, privileged and unprivileged (idmapped); --ro must refuse writes; bad
input is one line and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.harness import Lxc

pytestmark = pytest.mark.real

USER = 1234


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A host directory (under a traversable parent) with a file a host user owns."""
    top = Path("/var/tmp") / f"lxcprov-share-{os.getpid()}-{tmp_path.name}"
    top.mkdir(mode=0o755)
    data = top / "data"
    data.mkdir(mode=0o755)
    os.chown(data, USER, USER)
    (data / "hello.txt").write_text("from the host\n")
    os.chown(data / "hello.txt", USER, USER)
    (data / "root-owned").write_text("host root\n")
    try:
        yield data
    finally:
        subprocess.run(["rm", "-rf", str(top)], check=False)


def _one_line(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")], proc.stderr
    assert needle in proc.stderr, proc.stderr


def _sh(lxc: Lxc, name: str, script: str) -> subprocess.CompletedProcess[str]:
    return lxc.attach(name, "/bin/sh", "-c", script)


def _config(lxc: Lxc, name: str) -> str:
    return (lxc.path / name / "config").read_text()


@pytest.mark.parametrize("privileged", [False, True], ids=["unprivileged", "privileged"])
def test_live_mount_keeps_numeric_owners_ro_refuses_rm_removes(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path, privileged: bool
) -> None:
    pw, _ = password_file
    extra = ["--privileged"] if privileged else []
    lxcpath.cli("new", "m1", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw), *extra)  # fmt: skip
    out = lxcpath.cli("mount", "add", "m1", str(shared), "/srv/data", "--json")
    assert json.loads(out.stdout)["status"] == "changed"
    # Live: the running container sees it without a restart, same content, same owner.
    ls = _sh(lxcpath, "m1", "cat /srv/data/hello.txt; stat -c '%u %g' /srv/data/hello.txt")
    assert ls.stdout.splitlines() == ["from the host", f"{USER} {USER}"], ls
    # Root inside may write where the host user may (privileged root is host root; an
    # unprivileged one is not host root, and the host's root-owned file is not its own).
    wrote = _sh(lxcpath, "m1", "echo inside > /srv/data/root-owned")
    if privileged:
        assert wrote.returncode == 0
        assert (shared / "root-owned").read_text() == "inside\n"
    else:
        assert wrote.returncode != 0
        assert (shared / "root-owned").read_text() == "host root\n"
    listed = json.loads(lxcpath.cli("mount", "ls", "m1", "--json").stdout)
    assert listed == [{"source": str(shared), "target": "/srv/data", "ro": False, "idmap": True}]
    # Again: no change. Read-only on another path: writes refused inside.
    again = lxcpath.cli("mount", "add", "m1", str(shared), "/srv/data", "--json")
    assert json.loads(again.stdout)["status"] == "no change"
    lxcpath.cli("mount", "add", "m1", str(shared), "/mnt/ro", "--ro")
    refused = _sh(lxcpath, "m1", "touch /mnt/ro/new-file")
    assert refused.returncode != 0 and not (shared / "new-file").exists()
    assert "Read-only" in refused.stderr, refused.stderr
    # Survives a restart (the config is the record; the namespace is pinned again).
    lxcpath.cli("stop", "m1")
    lxcpath.cli("start", "m1")
    again_ls = _sh(lxcpath, "m1", "stat -c '%u' /srv/data/hello.txt; cat /mnt/ro/hello.txt")
    assert again_ls.stdout.splitlines() == [str(USER), "from the host"], again_ls
    # rm takes it out of the running container and out of the config.
    lxcpath.cli("mount", "rm", "m1", "/srv/data")
    assert _sh(lxcpath, "m1", "test -e /srv/data/hello.txt").returncode != 0
    assert str(shared) + " srv/data" not in _config(lxcpath, "m1")
    assert [m["target"] for m in json.loads(lxcpath.cli("mount", "ls", "m1", "--json").stdout)] \
        == ["/mnt/ro"]  # fmt: skip
    assert (shared / "hello.txt").read_text() == "from the host\n"  # the host's data stays


def test_new_mount_and_set_mounts_on_a_stopped_container(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    pw, _ = password_file
    lxcpath.cli("new", "m2", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw), "--mount", f"{shared}:/srv/a:ro")  # fmt: skip
    assert _sh(lxcpath, "m2", "stat -c '%u' /srv/a/hello.txt").stdout.strip() == str(USER)
    assert _sh(lxcpath, "m2", "touch /srv/a/x").returncode != 0
    shown = json.loads(lxcpath.cli("show", "m2", "--json").stdout)
    assert shown["settings"]["mounts"] == f"{shared}:/srv/a:ro"
    lxcpath.cli("stop", "m2")
    lxcpath.cli("set", "m2", f"mounts={shared}:/srv/b")
    listed = json.loads(lxcpath.cli("mount", "ls", "m2", "--json").stdout)
    assert [(m["target"], m["ro"]) for m in listed] == [("/srv/b", False)]
    lxcpath.cli("start", "m2")
    assert _sh(lxcpath, "m2", "cat /srv/b/hello.txt").stdout == "from the host\n"
    assert _sh(lxcpath, "m2", "test -e /srv/a/hello.txt").returncode != 0
    lxcpath.cli("set", "m2", "mounts=none")
    assert json.loads(lxcpath.cli("mount", "ls", "m2", "--json").stdout) == []


def test_bad_sources_and_targets_are_one_line_and_change_nothing(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    pw, _ = password_file
    lxcpath.cli("new", "m3", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    before = _config(lxcpath, "m3")
    hidden = shared.parent / "hidden"
    hidden.mkdir(mode=0o700)
    (hidden / "inner").mkdir()
    afile = shared / "hello.txt"
    cases = [
        ((str(shared / "missing"), "/srv/x"), "does not exist"),
        ((str(afile), "/srv/x"), "is not a directory"),
        ((str(shared), "srv/x"), "must be absolute"),
        ((str(shared), "/srv/../etc"), "'..'"),
        ((str(shared), "/"), "which the container needs"),
        ((str(shared), "/proc/x"), "which the container needs"),
        ((str(shared), "/dev"), "which the container needs"),
        ((str(hidden / "inner"), "/srv/x"), f"{hidden} is not traversable"),
    ]
    for (source, target), needle in cases:
        _one_line(lxcpath.cli("mount", "add", "m3", source, target, check=False), needle)
    _one_line(lxcpath.cli("mount", "rm", "m3", "/srv/none", check=False), "nothing of lxcprov")
    _one_line(lxcpath.cli("set", "m3", "mounts=nocolon", check=False), "HOST_DIR:CONTAINER_DIR")
    _one_line(
        lxcpath.cli("new", "m4", "-t", "busybox", "--network", "none", "--root-password-file",
                    str(pw), "--mount", f"{shared}:/sys/x", check=False),
        "which the container needs",
    )  # fmt: skip
    assert _config(lxcpath, "m3") == before
    assert lxcpath.names() == ["m3"]
    assert _sh(lxcpath, "m3", "ls /srv 2>/dev/null").stdout == ""
