"""Every error a user can meet: one line, a hint, a non-zero exit, nothing half-made."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.real.harness import Lxc

pytestmark = pytest.mark.real


def _error_lines(stderr: str) -> tuple[str, str]:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    hints = [ln for ln in lines if ln.startswith("hint: ")]
    assert len(errors) == 1, stderr
    assert len(hints) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0], hints[0]


# In tests/workers.py's HOST_GROUP: test_package.py removes the package a while.
def test_not_root(lxcpath: Lxc, tmp_path: Path) -> None:
    """A user who is not root gets lxcprov's own error (77), never a traceback or a
    "Permission denied". Run as that user through the installed /usr/bin/lxcprov (the
    package scripts/install built from this tree): uid 65534 cannot enter a clone in a
    0700 directory, so the clone's venv is out of its reach; the package is what such a
    user meets anyway. Its cwd is a directory it may not enter, as a clone's would be."""
    installed = Path("/usr/bin/lxcprov")
    assert installed.exists(), "the lxcprov package is not installed: run ./scripts/install"
    tmp_path.chmod(0o700)
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(installed),
         "new", "x1", "-t", "busybox"],
        capture_output=True, text=True, env=lxcpath.env(), cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 77, proc.stderr
    error, hint = _error_lines(proc.stderr)
    assert "needs root" in error and "sudo" in hint
    assert lxcpath.names() == []


def test_unknown_template_and_invalid_name(lxcpath: Lxc) -> None:
    proc = lxcpath.cli("new", "x1", "-t", "no-such-template", check=False)
    assert proc.returncode == 2
    error, hint = _error_lines(proc.stderr)
    assert "unknown template 'no-such-template'" in error and "busybox" in hint
    proc = lxcpath.cli("new", "bad_name!", "-t", "busybox", check=False)
    assert proc.returncode == 2
    assert "invalid container name" in _error_lines(proc.stderr)[0]
    assert lxcpath.names() == []


def test_existing_container(lxcpath: Lxc) -> None:
    lxcpath.cli("new", "dup1", "-t", "busybox", "--network", "none", "--no-start")
    proc = lxcpath.cli("new", "dup1", "-t", "busybox", "--network", "none", check=False)
    assert proc.returncode == 1
    assert "already exists" in _error_lines(proc.stderr)[0]
    assert lxcpath.names() == ["dup1"]


def test_unknown_recipe(lxcpath: Lxc) -> None:
    for flag in ("--recipe", "--skip-recipe"):
        proc = lxcpath.cli("new", "r1", "-t", "busybox", flag, "no-such-recipe", check=False)
        assert proc.returncode == 2
        error, hint = _error_lines(proc.stderr)
        assert "unknown recipe 'no-such-recipe'" in error and "getty-inittab" in hint
    assert lxcpath.names() == []


def test_failing_template_leaves_nothing(lxcpath: Lxc) -> None:
    proc = lxcpath.cli(
        "new", "tf1", "-t", "busybox", "--network", "none", "--", "--no-such-option", check=False
    )
    assert proc.returncode == 1
    error, _ = _error_lines(proc.stderr)
    assert "template 'busybox' failed" in error
    assert lxcpath.names() == []
    assert not (lxcpath.path / "tf1").exists()


def test_failed_new_is_removed_unless_keep_on_failure(lxcpath: Lxc) -> None:
    proc = lxcpath.cli(
        "new", "nr1", "-t", "busybox", "--network", "none", "--boot-timeout", "0", check=False
    )
    assert proc.returncode == 1
    assert "no login prompt" in _error_lines(proc.stderr)[0]
    assert lxcpath.names() == []
    proc = lxcpath.cli(
        "new", "nr2", "-t", "busybox", "--network", "none", "--boot-timeout", "0",
        "--keep-on-failure", check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert lxcpath.names() == ["nr2"]


def test_recipe_file_that_does_not_parse(lxcpath: Lxc, tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "mine.toml").write_text('name = "mine"\n[[steps]]\naction = "file"\npath = "/x\n')
    proc = lxcpath.cli("recipes", env=lxcpath.env(LXCPROV_RECIPES_DIR=str(recipes)), check=False)
    assert proc.returncode == 1
    error, _ = _error_lines(proc.stderr)
    assert f"{recipes / 'mine.toml'}" in error and "line 4" in error


def test_missing_bridge_is_named_before_anything_is_made(lxcpath: Lxc) -> None:
    proc = lxcpath.cli("new", "nb1", "-t", "busybox", "--bridge", "lxpnone0", check=False)
    assert proc.returncode == 1
    error, hint = _error_lines(proc.stderr)
    assert "bridge 'lxpnone0' does not exist" in error and "lxcprov net setup" in hint
    assert lxcpath.names() == []


def test_python3_lxc_missing(lxcpath: Lxc, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "lxc.py").write_text("raise ImportError('simulated: python3-lxc not installed')\n")
    proc = lxcpath.cli(
        "new", "m1", "-t", "busybox", env=lxcpath.env(PYTHONPATH=str(shadow)), check=False
    )
    assert proc.returncode == 69
    error, hint = _error_lines(proc.stderr)
    assert "python3-lxc" in error and "apt-get install python3-lxc" in hint


def test_lxc_tools_missing(lxcpath: Lxc, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("openssl", "setpriv"):  # a PATH with no lxc-* commands
        path = shutil.which(tool)
        assert path
        (bindir / tool).symlink_to(path)
    proc = lxcpath.cli("new", "m2", "-t", "busybox", env=lxcpath.env(PATH=str(bindir)), check=False)
    assert proc.returncode == 69
    error, hint = _error_lines(proc.stderr)
    assert "lxc is not installed" in error and "apt-get install lxc" in hint


@pytest.mark.parametrize("kind", ["fifo", "deep", "when", "device"])
def test_an_admin_recipe_that_cannot_be_a_recipe_fails_each_of_new_count_at_once(
    lxcpath: Lxc, tmp_path: Path, kind: str
) -> None:
    """A FIFO named *.toml among the admin's recipes hung `new --count` before it forked
    (its parent reads the recipes once for the children), and `new`, `recipes`, `doctor
    NAME`; arrays nested 5000 deep ended it in a traceback. Now each is one line naming the
    file, per container, and nothing is made."""
    config = tmp_path / "etc"
    (config / "recipes").mkdir(parents=True)
    mine = config / "recipes" / "mine.toml"
    if kind == "fifo":
        os.mkfifo(mine)
    elif kind == "device":  # opening one can act by itself: refused from its stat
        mine.symlink_to("/dev/null")
    elif kind == "deep":
        mine.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    else:  # a condition 3000 `not`s deep overflowed Python's parser
        mine.write_text(
            'when = "' + "not " * 3000 + 'autodev"\n[[steps]]\naction = "root-password"\n'
        )
    env = lxcpath.env(LXCPROV_CONFIG_DIR=str(config))
    says = {"fifo": "not a regular file", "device": "not a regular file",
            "deep": "nested too deeply", "when": "at most 500"}[kind]  # fmt: skip
    proc = lxcpath.cli("new", "rq", "--count", "2", "-t", "busybox", "--network", "none",
                       env=env, check=False, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    # Per container, or once before any is begun (a check the batch makes first): one
    # line naming the file either way.
    out = proc.stderr.splitlines()
    lines = [ln for ln in out if ln.startswith(("rq1 failed: ", "rq2 failed: "))]
    assert len(lines) == 2 or out[-2:-1] == [ln for ln in out if ln.startswith("error: ")]
    lines = lines or [ln for ln in out if ln.startswith("error: ")]
    assert lines and all(str(mine) in ln and says in ln for ln in lines), proc.stderr
    assert lxcpath.names() == []
    for args in (["new", "rq3", "-t", "busybox", "--network", "none"], ["recipes"]):
        proc = lxcpath.cli(*args, env=env, check=False, timeout=60)
        error, _ = _error_lines(proc.stderr)
        assert proc.returncode == 1 and str(mine) in error and says in error, proc.stderr
    assert lxcpath.names() == []
