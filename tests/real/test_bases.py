"""Prepared bases: clones boot as themselves, a recipe change rebuilds, many at once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lxcprov.engine.recipes.loader import builtin_dir
from tests.real.harness import Lxc, slow_template, wait_for_fault
from tests.real.hostnet.hostnet_lab import NetLab
from tests.real.netharness import Net
from tests.real.netharness import bridge as _bridge

pytestmark = pytest.mark.real


def _mac(lxc: Lxc, name: str) -> str:
    return lxc.attach(name, "cat", "/sys/class/net/eth0/address").stdout.strip()


def test_clones_boot_with_their_own_hostname_mac_and_address(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net: Net = _bridge(netlab, lxcpath, "--no-nat")
    first = net.new("clone1", password_file[0], "-t", "busybox", "--ip", "auto")
    second = net.new("clone2", password_file[0], "-t", "busybox", "--ip", "auto")
    assert first["base"] and first["base"] == second["base"]
    assert "build_base" in first["timings"] and "build_base" not in second["timings"]
    assert second["clone_method"] == "overlayfs snapshot"
    assert "overlay" in (lxcpath.path / "clone2" / "config").read_text()
    hostnames = [lxcpath.attach(n, "hostname").stdout.strip() for n in ("clone1", "clone2")]
    assert hostnames == ["clone1", "clone2"]
    assert _mac(lxcpath, "clone1") != _mac(lxcpath, "clone2")
    assert first["ipv4"] != second["ipv4"] and first["ipv4"] and second["ipv4"]
    # The base itself is untouched by the clones' per-container recipes.
    base_rootfs = lxcpath.path / first["base"] / "rootfs"
    base_hostname = base_rootfs / "etc/hostname"
    assert not base_hostname.exists() or "clone" not in base_hostname.read_text()
    assert "clone" not in (base_rootfs / "etc/init.d/rcS").read_text()
    bases = json.loads(lxcpath.cli("bases", "--json").stdout)
    assert [(b["name"], b["clones"]) for b in bases] == [(first["base"], ["clone1", "clone2"])]
    assert [c["name"] for c in json.loads(lxcpath.cli("ls", "--json").stdout)] == [
        "clone1",
        "clone2",
    ]
    refused = lxcpath.cli("bases", "rm", first["base"], check=False)
    assert refused.returncode != 0 and "used by clone1, clone2" in refused.stderr


def test_changing_a_recipe_rebuilds_the_base(
    lxcpath: Lxc, tmp_path: Path, password_file: tuple[Path, str]
) -> None:
    recipes = tmp_path / "recipes"
    shutil.copytree(builtin_dir(), recipes)
    env = lxcpath.env(LXCPROV_RECIPES_DIR=str(recipes))
    args = ("-t", "busybox", "--network", "none", "--root-password-file", str(password_file[0]))
    one = json.loads(lxcpath.cli("new", "r1", *args, "--json", env=env).stdout)
    same = json.loads(lxcpath.cli("new", "r2", *args, "--json", env=env).stdout)
    assert one["base"] == same["base"]
    getty = recipes / "getty-inittab.toml"
    getty.write_text(getty.read_text() + "\n# a local change\n")
    changed = json.loads(lxcpath.cli("new", "r3", *args, "--json", env=env).stdout)
    assert changed["base"] != one["base"] and "build_base" in changed["timings"]
    bases = {b["name"]: b for b in json.loads(lxcpath.cli("bases", "--json", env=env).stdout)}
    assert not bases[one["base"]]["current"] and bases[changed["base"]]["current"]
    # The outdated base is kept while r1 and r2 are cloned from it.
    assert bases[one["base"]]["clones"] == ["r1", "r2"]


def test_several_at_once_are_all_usable_with_distinct_addresses(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    net = _bridge(netlab, lxcpath, "--no-nat")
    out = lxcpath.cli(
        "new", "many1", "many2", "many3", "many4", "many5", "-t", "busybox", "--bridge",
        net.bridge, "--root-password-file", str(password_file[0]), "--json",
    )  # fmt: skip
    items = json.loads(out.stdout)
    assert [i["name"] for i in items] == [f"many{n}" for n in range(1, 6)]
    assert all(i["ok"] and i["state"] == "RUNNING" and i["login_tty"] == 1 for i in items)
    addresses = [i["ipv4"][0] for i in items]
    assert len(set(addresses)) == 5
    for item in items:
        assert lxcpath.attach(item["name"], "hostname").stdout.strip() == item["name"]


def test_one_failure_does_not_spoil_the_others(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    lxcpath.cli("new", "taken", "-t", "busybox", "--network", "none", "--no-start")
    proc = lxcpath.cli(
        "new", "ok1", "taken", "ok2", "-t", "busybox", "--network", "none",
        "--root-password-file", str(password_file[0]), check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "taken failed" in proc.stderr and "already exists" in proc.stderr
    assert "1 of 3 containers failed: taken" in proc.stderr
    states = {c["name"]: c["state"] for c in json.loads(lxcpath.cli("ls", "--json").stdout)}
    assert states == {"ok1": "RUNNING", "ok2": "RUNNING", "taken": "STOPPED"}


@pytest.mark.bases("debian")  # the run's Debian base (tests/real/seeds.py)
def test_debian_clones_do_not_share_host_keys_or_machine_id(
    lxcpath: Lxc, password_file: tuple[Path, str]
) -> None:
    for name in ("deb-a", "deb-b"):
        lxcpath.cli(
            "new", name, "-t", "debian", "--network", "none",
            "--root-password-file", str(password_file[0]),
        )  # fmt: skip

    def read(name: str, path: str) -> str:
        out = lxcpath.attach(name, "cat", path)
        assert out.returncode == 0, out.stderr
        return out.stdout

    key = "/etc/ssh/ssh_host_ed25519_key.pub"
    assert read("deb-a", key) != read("deb-b", key)
    assert read("deb-a", key).split()[2] == "root@deb-a"
    ids = [read(n, "/etc/machine-id").strip() for n in ("deb-a", "deb-b")]
    assert all(len(i) == 32 for i in ids) and ids[0] != ids[1]


def test_fix_on_a_running_clone_writes_through_its_own_view(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    lxcpath.cli(
        "new", "live1", "-t", "busybox", "--network", "none",
        "--root-password-file", str(password_file[0]),
    )  # fmt: skip
    before = lxcpath.attach("live1", "cat", "/etc/shadow").stdout
    other = tmp_path / "other-pw"
    other.write_text("another-password\n")
    out = lxcpath.cli("fix", "live1", "--root-password-file", str(other))
    assert "1 change made" in out.stderr and "restart it" in out.stderr
    # Seen at once inside the running container: written through its own mount of the
    # overlay (/proc/PID/root), not through a second mount of the same upper directory.
    after = lxcpath.attach("live1", "cat", "/etc/shadow").stdout
    assert after != before and after.startswith("root:$6$")
    assert not list((lxcpath.path / "live1").glob(".lxcprov-rootfs"))


def test_no_command_starts_or_changes_a_cached_base(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    """A base is the lower layer of its clones (review 24b: `convert` of a base returned 0
    and left its clone's files outside the clone's map). Every command that would start it
    or change its config or files refuses by name, and nothing of it changes."""
    lxcpath.cli("new", "bc1", "-t", "busybox", "--network", "none",
                "--root-password-file", str(password_file[0]))  # fmt: skip
    (base,) = [p.parent.name for p in lxcpath.path.glob("lxcprov-base-*/lxcprov-base.toml")]
    config = (lxcpath.path / base / "config").read_bytes()
    owners = {str(p): (p.lstat().st_uid, p.lstat().st_mode)
              for p in (lxcpath.path / base / "rootfs").rglob("*")}  # fmt: skip
    share = tmp_path / "share"
    share.mkdir()
    for argv in (["start", base], ["restart", base], ["set", base, "memory=64M"],
                 ["fix", base], ["convert", base, "--privileged"],
                 ["mount", "add", base, str(share), "/mnt"],
                 ["forward", "add", base, "18080", "80"]):  # fmt: skip
        proc = lxcpath.cli(*argv, check=False)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert f"error: {base} is a cached base: " in proc.stderr, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert (lxcpath.path / base / "config").read_bytes() == config
    assert owners == {str(p): (p.lstat().st_uid, p.lstat().st_mode)
                      for p in (lxcpath.path / base / "rootfs").rglob("*")}  # fmt: skip
    assert "bc1 is RUNNING" in lxcpath.cli("restart", "bc1").stderr


def test_a_base_build_killed_midway_is_listed_as_half_built_and_built_again(
    lxcpath: Lxc,
) -> None:
    """A `new` killed while it builds a base leaves a half-built base. `bases` says so in
    words, and what removes it; the next `new` builds it again. Seen by an outside
    review: "None None built None, outdated (recipes changed)"."""
    args = ("-t", "busybox", "--network", "none", "--no-start")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lxcprov", "new", "hb1", *args],
        env=lxcpath.env(LXCPROV_FAULT_AT="base-recipes"), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_fault(proc, "base-recipes", "new hb1", timeout=120)
    finally:
        proc.kill()
        proc.wait()
    listed = lxcpath.cli("bases")
    assert "half-built (its build was stopped)" in listed.stderr, listed.stderr
    assert "None" not in listed.stderr and "bases rm lxcprov-base-busybox" in listed.stderr
    [row] = json.loads(lxcpath.cli("bases", "--json").stdout)
    assert row["incomplete"] is True
    lxcpath.cli("new", "hb2", *args)
    [row] = json.loads(lxcpath.cli("bases", "--json").stdout)
    assert "incomplete" not in row and row["clones"] == ["hb2"], row
    assert "half-built" not in lxcpath.cli("bases").stderr


def test_a_base_being_built_is_listed_so_and_refresh_leaves_it_to_its_build(
    lxcpath: Lxc, tmp_path: Path
) -> None:
    """While a `new` builds a base (minutes for debian), `bases` says it is being built,
    not half-built, and `bases refresh` leaves it to its build. Seen by an outside
    review: "half-built (its build was stopped)", and refresh removing it, then failing."""
    path, began = slow_template(tmp_path, 6)
    argv = [sys.executable, "-m", "lxcprov", "new", "bb1", "-t", "busybox", "--network",
            "none", "--no-start"]  # fmt: skip
    proc = subprocess.Popen(argv, env=lxcpath.env(**path), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not began.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no template run"
            time.sleep(0.1)
        listed = lxcpath.cli("bases").stderr
        assert "being built now" in listed and "half-built" not in listed, listed
        [row] = json.loads(lxcpath.cli("bases", "--json").stdout)
        assert row["building"] is True
        refreshed = lxcpath.cli("bases", "refresh")
        assert "left to its build" in refreshed.stderr, refreshed.stderr
        assert proc.poll() is None  # refresh did not wait for it
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        proc.kill()
        proc.wait()
    [row] = json.loads(lxcpath.cli("bases", "--json").stdout)
    assert "building" not in row and row["clones"] == ["bb1"], row
