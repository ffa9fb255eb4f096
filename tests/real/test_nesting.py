"""nesting=yes on real containers: Debian's docker.io and podman run a container inside
an unprivileged one, offline, from an image built here from the host's busybox; without
nesting doctor names it; `set nesting=` is killed half-way and raced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from lxcprov.engine import nesting
from lxcprov.system import lxcconf
from tests.real.harness import Lxc, plain_busybox, wait_for_fault

pytestmark = pytest.mark.real

DOCKER_ARGS = ("-t", "debian", "--network", "none")
DOCKER_TAIL = ("--", "--packages=docker.io,podman")  # the run's "docker" base (seeds.py)
# Docker's daemon stays in the container's own network namespace and off it: no bridge,
# no iptables rules (the container itself has no network either).
DAEMON_JSON = '{"bridge": "none", "iptables": false, "ip6tables": false}'
# Podman on an overlay clone (new's default) needs vfs: overlay over overlayfs is refused,
# and podman-restart.service already tried overlay at first boot (its empty database
# says overlay), hence the store removed. Docker picks vfs by itself there (README,
# "Docker and Podman inside").
PODMAN_VFS = (
    'mkdir -p /etc/containers && printf \'[storage]\\ndriver = "vfs"\\n'
    'runroot = "/run/containers/storage"\\ngraphroot = "/var/lib/containers/storage"\\n\' '
    "> /etc/containers/storage.conf && rm -rf /var/lib/containers/storage"
)
# --cpus needs the cpu hierarchy nesting's cgroup:rw:force mounts (measured: without it
# "NanoCPUs can not be set").
RUN = "run --rm --network none --cpus 0.5 bb:local /bin/busybox echo"
PODMAN = "podman"


def _busybox_image(tmp_path: Path) -> Path:
    """A one-layer rootfs tarball: the host's static busybox as /bin/busybox and /bin/sh."""
    tar = tmp_path / "bb.tar"
    with tarfile.open(tar, "w") as out:
        out.add("/usr/bin/busybox", "bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        out.addfile(link)
    return tar


def _exec(lxc: Lxc, name: str, script: str, stdin: Path | None = None) -> str:
    with open(stdin or os.devnull, "rb") as given:
        proc = subprocess.run(
            [sys.executable, "-m", "lxcprov", "exec", name, "--", "sh", "-c", script],
            stdin=given, capture_output=True, env=lxc.env(), timeout=300, check=False,
        )  # fmt: skip
    out = proc.stdout.decode() + proc.stderr.decode()
    return f"rc={proc.returncode}\n{out}"


def _json(lxc: Lxc, *args: str) -> object:
    return json.loads(lxc.cli(*args, "--json").stdout)


def _config_keys(lxc: Lxc, name: str) -> list[lxcconf.Line]:
    return lxcconf.parse((lxc.path / name / "config").read_text())


def _findings(lxc: Lxc, name: str) -> list[dict[str, str]]:
    data = json.loads(lxc.cli("doctor", name, "--json", check=False).stdout)
    return [f for f in data["findings"] if f["subject"] == name]


@pytest.mark.bases("docker")
def test_docker_and_podman_run_inside_an_unprivileged_container(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    pw, _ = password_file
    image = _busybox_image(tmp_path)
    token = "nested-" + os.urandom(4).hex()
    made = lxcpath.cli("new", "dk1", *DOCKER_ARGS, "--nesting", "--root-password-file",
                       str(pw), *DOCKER_TAIL)  # fmt: skip
    assert "unprivileged" in made.stderr
    assert nesting.enabled(_config_keys(lxcpath, "dk1"))
    shown = _json(lxcpath, "show", "dk1")
    assert isinstance(shown, dict)
    assert shown["settings"]["nesting"] == "yes"
    assert shown["settings"]["privileged"].startswith("no (host ids ")
    rows = _json(lxcpath, "ls", "-c", "name,nesting")
    assert isinstance(rows, list) and [r["nesting"] for r in rows] == [True], rows
    assert "nesting-off" not in {f["id"] for f in _findings(lxcpath, "dk1")}
    # Unprivileged: root inside is a high host uid, not 0.
    uid_map = _exec(lxcpath, "dk1", "cat /proc/self/uid_map").split()  # rc=0 0 HOST N
    assert uid_map[1] == "0" and int(uid_map[2]) >= 65536, uid_map

    setup = _exec(lxcpath, "dk1", f"mkdir -p /etc/docker && echo '{DAEMON_JSON}' > "
                  "/etc/docker/daemon.json && cat > /root/bb.tar && systemctl restart docker && "
                  + PODMAN_VFS,
                  stdin=image)  # fmt: skip
    assert setup.startswith("rc=0"), setup
    driver = _exec(lxcpath, "dk1", "docker info --format '{{.Driver}}'")
    assert driver.split() == ["rc=0", "vfs"], driver  # overlay2 cannot stack on overlayfs
    docker = _exec(lxcpath, "dk1", f"docker import /root/bb.tar bb:local >/dev/null && "
                   f"docker {RUN} {token}-docker")  # fmt: skip
    assert f"{token}-docker" in docker and docker.startswith("rc=0"), docker
    podman = _exec(lxcpath, "dk1", f"{PODMAN} import /root/bb.tar bb:local >/dev/null && "
                   f"{PODMAN} {RUN} {token}-podman")  # fmt: skip
    assert f"{token}-podman" in podman and podman.startswith("rc=0"), podman
    # Docker's daemon added nothing to the (empty) network of the container.
    links = _exec(lxcpath, "dk1", "ls /sys/class/net")
    assert links.split()[1:] == ["lo"], links

    lxcpath.cli("restart", "dk1")
    # cgroup:rw:force leaves a systemd container booting clean: no failed unit, once podman
    # has its vfs (before, podman-restart and podman-auto-update fail at boot on an overlay
    # clone, nesting or not).
    booted = _exec(lxcpath, "dk1", "systemctl is-system-running --wait")
    assert booted.split()[:2] == ["rc=0", "running"], booted
    again = _exec(lxcpath, "dk1", f"docker {RUN} {token}-again && {PODMAN} {RUN} {token}-pod2")
    assert f"{token}-again" in again and f"{token}-pod2" in again, again
    spec = lxcpath.cli("export-spec", "dk1").stdout
    assert "nesting = true" in spec, spec

    # Without nesting the same run fails, and doctor says what is missing.
    out = lxcpath.cli("set", "dk1", "nesting=no")
    assert "nesting = no: needs restart" in out.stderr, out.stderr
    assert not any(ln.value in nesting.KEYS.values() and ln.key in nesting.KEYS
                   for ln in _config_keys(lxcpath, "dk1"))  # fmt: skip
    lxcpath.cli("restart", "dk1")
    failed = _exec(lxcpath, "dk1", f"docker {RUN} {token}-none")
    assert not failed.startswith("rc=0") and f"{token}-none" not in failed, failed
    assert "NanoCPUs can not be set" in failed, failed
    (found,) = [f for f in _findings(lxcpath, "dk1") if f["id"] == "nesting-off"]
    assert "docker and podman inside dk1 need nesting" in found["message"], found
    assert found["fix"].startswith("lxcprov set dk1 nesting=yes"), found


def test_set_nesting_killed_after_writing_then_raced(lxcpath: Lxc) -> None:
    """A `set nesting=yes` killed once the config is written leaves a whole config and no
    lock; two `set`s at once each land (the container's lock orders them)."""
    config = plain_busybox(lxcpath, "nk1")
    before = set(os.listdir(config.parent))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lxcprov", "set", "nk1", "nesting=yes"],
        env=lxcpath.env(LXCPROV_FAULT_AT="set-written"),
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        wait_for_fault(proc, "set-written", "set nesting=yes", timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert set(os.listdir(config.parent)) == before  # no temp file, nothing half-written
    assert nesting.enabled(_config_keys(lxcpath, "nk1"))
    shown = _json(lxcpath, "show", "nk1")
    assert isinstance(shown, dict) and shown["settings"]["nesting"] == "yes"
    # busybox's template writes its own lxc.mount.auto: nesting's line adds to it, so the
    # container still gets proc and sys, and its cgroups now writable.
    lxcpath.cli("start", "nk1")
    mounts = lxcpath.attach("nk1", "cat", "/proc/self/mounts").stdout
    assert " /proc proc " in mounts and " /sys sysfs " in mounts, mounts
    assert any(" /sys/fs/cgroup/cpu" in ln and " rw," in ln for ln in mounts.splitlines()), mounts
    lxcpath.cli("stop", "nk1")

    racers = [
        subprocess.Popen([sys.executable, "-m", "lxcprov", "set", "nk1", words],
                         env=lxcpath.env(), stderr=subprocess.PIPE, text=True)
        for words in ("nesting=no", "memory=128M")
    ]  # fmt: skip
    deadline = time.monotonic() + 120
    for racer in racers:
        _, err = racer.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert racer.returncode == 0, err
    lines = _config_keys(lxcpath, "nk1")
    assert not nesting.enabled(lines)
    assert lxcconf.get(lines, "lxc.apparmor.allow_nesting") is None
    assert any(ln.key.endswith(("memory.limit_in_bytes", "memory.max")) for ln in lines)
    lxcpath.cli("start", "nk1")  # still a container LXC starts


def test_on_a_dir_rootfs_docker_and_podman_use_overlay_as_they_are(
    lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path
) -> None:
    """--no-base: the rootfs is a directory on the host's ext4, so Docker's overlay2 and
    Podman's native overlay work in the user namespace (userxattr), with no configuration."""
    pw, _ = password_file
    image = _busybox_image(tmp_path)
    token = "dir-" + os.urandom(4).hex()
    lxcpath.cli("new", "dk2", *DOCKER_ARGS, "--no-base", "--nesting", "--root-password-file",
                str(pw), *DOCKER_TAIL)  # fmt: skip
    assert (lxcpath.path / "dk2/rootfs").is_dir()
    setup = _exec(lxcpath, "dk2", f"mkdir -p /etc/docker && echo '{DAEMON_JSON}' > "
                  "/etc/docker/daemon.json && cat > /root/bb.tar && systemctl restart docker",
                  stdin=image)  # fmt: skip
    assert setup.startswith("rc=0"), setup
    drivers = _exec(lxcpath, "dk2", "docker info --format '{{.Driver}}' && "
                    "podman info --format '{{.Store.GraphDriverName}}'")  # fmt: skip
    assert drivers.split() == ["rc=0", "overlay2", "overlay"], drivers
    both = _exec(lxcpath, "dk2", "docker import /root/bb.tar bb:local >/dev/null && "
                 f"podman import /root/bb.tar bb:local >/dev/null 2>&1 && docker {RUN} {token}-d "
                 f"&& podman {RUN} {token}-p")  # fmt: skip
    assert f"{token}-d" in both and f"{token}-p" in both and both.startswith("rc=0"), both
