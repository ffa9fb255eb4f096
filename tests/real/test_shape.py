"""What issue 9's shape promises, on real containers: doctor sees inside clones, and Python
finds recipes by the role they provide, never by their file name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.real.console import login_and_run
from tests.real.harness import Lxc

pytestmark = pytest.mark.real

BUILTIN = Path(__file__).resolve().parents[2] / "recipes"


def _doctor(lxc: Lxc, name: str, *args: str) -> dict[str, object]:
    out = lxc.cli("doctor", name, "--json", *args, check=False)
    data = json.loads(out.stdout)
    assert isinstance(data, dict)
    return data


def _ids(data: dict[str, object]) -> set[str]:
    findings = data["findings"]
    assert isinstance(findings, list)
    return {f["id"] for f in findings}


def test_doctor_sees_inside_a_clone_and_fixes_it(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    pw, password = password_file
    lxcpath.cli("new", "cl1", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    config = (lxcpath.path / "cl1" / "config").read_text()
    assert "overlay" in config, "the default `new` is an overlay clone of a cached base"
    assert "no problems found" in lxcpath.cli("doctor", "cl1").stderr
    lxcpath.cli("stop", "cl1")
    with lxcpath.mounted("cl1") as root:
        # Break the console (no getty anywhere) and lock root, inside the clone's overlay.
        inittab = root / "etc/inittab"
        kept = [ln for ln in inittab.read_text().splitlines() if "getty" not in ln]
        inittab.write_text("\n".join(kept) + "\n")
        shadow = root / "etc/shadow"
        shadow.write_text(re.sub(r"^root:[^:]*:", "root:*:", shadow.read_text(), flags=re.M))
    found = _doctor(lxcpath, "cl1")
    assert {"console-empty", "root-locked"} <= _ids(found), found["findings"]
    assert not list((lxcpath.path / "cl1").glob(".lxcprov-rootfs")), "the mount is gone"
    fixed = _doctor(lxcpath, "cl1", "--fix", "--root-password-file", str(pw))
    assert not {"console-empty", "root-locked"} & _ids(fixed), fixed["findings"]
    assert fixed["ok"] is True
    lxcpath.cli("start", "cl1")
    assert "OK-cl1" in login_and_run(lxcpath, "cl1", password, "echo OK-$(hostname)")


def test_recipes_are_found_by_role_not_by_file_name(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    """Every recipe file renamed (and its name with it): set, doctor and fix work unchanged."""
    renamed = tmp_path / "site-recipes"
    renamed.mkdir()
    for source in BUILTIN.glob("*.toml"):
        text = re.sub(r'^name = "([^"]+)"', r'name = "site-\1"', source.read_text(), flags=re.M)
        (renamed / f"site-{source.stem}.toml").write_text(text)
    env = lxcpath.env(LXCPROV_RECIPES_DIR=str(renamed))
    recipes = json.loads(lxcpath.cli("recipes", "--json", env=env).stdout)
    assert all(r["name"].startswith("site-") for r in recipes)
    pw, password = password_file
    lxcpath.cli("new", "ro1", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw), env=env)  # fmt: skip
    lxcpath.cli("stop", "ro1", env=env)
    out = lxcpath.cli("set", "ro1", "ttys=2", "hostname=renamed1", env=env)
    assert re.search(r"ttys = 2: changed \(\d+ rootfs changes?\)", out.stderr), out.stderr
    assert re.search(r"hostname = renamed1: changed \(\d+ rootfs changes?\)", out.stderr)
    with lxcpath.mounted("ro1") as root:
        assert (root / "etc/hostname").read_text() == "renamed1\n"
        inittab = (root / "etc/inittab").read_text()
        assert "tty2" in inittab and "tty3" not in inittab.split("BEGIN lxcprov")[1]
        (root / "etc/hostname").write_text("drifted\n")
    out = lxcpath.cli("doctor", "ro1", env=env, check=False)
    assert "hostname-mismatch" in out.stderr
    assert "--recipe site-hostname" in out.stderr, "the fix names the renamed recipe"
    out = lxcpath.cli("fix", "ro1", env=env)
    assert "site-hostname" in out.stderr
    assert "nothing to change" in lxcpath.cli("fix", "ro1", env=env).stderr
    lxcpath.cli("start", "ro1", env=env)
    assert "OK-renamed1" in login_and_run(lxcpath, "ro1", password, "echo OK-$(hostname)", tty=2)
