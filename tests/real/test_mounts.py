"""Host directories inside real containers: `mount add | rm | ls`, `new --mount`, `set mounts=`.

A file owned by a host user (uid 1234, no such account needed) must show inside with the
same numeric owner, privileged and unprivileged (idmapped); --ro must refuse writes; bad
input is one line and changes nothing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcprov.errors import InvalidArgumentError
from lxcprov.system import containerfs, hostdir, livemount, lxc
from tests.real.harness import Lxc, wait_for_fault

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
    assert listed == [{"source": str(shared), "target": "/srv/data", "ro": False, "idmap": True,
                       "mounted": True}]  # fmt: skip
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
    # Never shared (issue 22, row 4): the host's system, the lxcpath and lxcprov's own
    # directories, a directory holding one of them, and a symlink that leads to one.
    state, config = shared.parent / "state", shared.parent / "config"
    state.mkdir()
    config.mkdir()
    os.symlink("/etc", shared.parent / "to-etc")
    own = lxcpath.env(LXCPROV_STATE_DIR=str(state), LXCPROV_CONFIG_DIR=str(config))
    cases += [
        (("/", "/srv/x"), "/ holds /etc (a host system directory)"),
        (("/etc", "/srv/x"), "/etc is a host system directory"),
        (("/etc/ssh", "/srv/x"), "/etc/ssh is inside /etc"),
        (("/run", "/srv/x"), "/run is a host system directory"),
        ((str(lxcpath.path), "/srv/x"), "is the lxcpath, where every container's files are"),
        ((str(lxcpath.path / "m3"), "/srv/x"), "is inside " + str(lxcpath.path)),
        ((str(lxcpath.path.parent), "/srv/x"), f"holds {lxcpath.path} (the lxcpath"),
        ((str(state), "/srv/x"), "is lxcprov's state directory"),
        ((str(config), "/srv/x"), "is lxcprov's configuration directory"),
        ((str(shared.parent / "to-etc"), "/srv/x"), "to-etc is a symlink (to /etc)"),
    ]
    # A target through a symlink inside (second outside review: mounted where the link
    # points, listed as not mounted, and every later start refused by LXC).
    assert _sh(lxcpath, "m3", "ln -s /tmp /lnk").returncode == 0
    cases.append(((str(shared), "/lnk/data"), "/lnk/data in m3 goes through a symlink "
                  "(it is /tmp/data there)"))  # fmt: skip
    for (source, target), needle in cases:
        proc = lxcpath.cli("mount", "add", "m3", source, target, check=False, env=own)
        _one_line(proc, needle)
    assert _sh(lxcpath, "m3", "test -e /tmp/data").returncode != 0  # nothing made there
    lxcpath.cli("stop", "m3")  # stopped, the same refusal (through its files)
    _one_line(lxcpath.cli("mount", "add", "m3", str(shared), "/lnk/data", check=False),
              "goes through a symlink")  # fmt: skip
    lxcpath.cli("start", "m3")
    _one_line(lxcpath.cli("mount", "rm", "m3", "/srv/none", check=False), "nothing of lxcprov")
    _one_line(lxcpath.cli("set", "m3", "mounts=nocolon", check=False), "HOST_DIR:CONTAINER_DIR")
    _one_line(
        lxcpath.cli("new", "m4", "-t", "busybox", "--network", "none", "--root-password-file",
                    str(pw), "--mount", f"{shared}:/sys/x", check=False),
        "which the container needs",
    )  # fmt: skip
    _one_line(
        lxcpath.cli("new", "m4", "-t", "busybox", "--network", "none", "--root-password-file",
                    str(pw), "--mount", "/etc:/srv/etc:ro", check=False),
        "/etc is a host system directory",
    )  # fmt: skip
    assert _config(lxcpath, "m3") == before
    assert lxcpath.names() == ["m3"]
    assert _sh(lxcpath, "m3", "ls /srv 2>/dev/null").stdout == ""


def _system_id(value: int) -> bool:
    """A host system id: root, 1-999, and 60000-65535 (Debian's and systemd's reserved
    ids, nobody); what lxcprov passes through a share is 1000-59999."""
    return value < 1000 or 60000 <= value <= 65535


def test_a_share_never_leaves_a_host_system_id_setuid_or_setgid(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The measured attack (issue 22, row 4): in a directory a host user shares, the
    container's root makes a process of that user's uid with gid 6 (disk) and gives a
    file group 42 (shadow), both setgid. On main both stayed on the host, runnable by
    any host user who reaches the directory. Now the container's ids outside the host's
    user ids land in its own range, and the mount is nosuid,nodev inside."""
    pw, _ = password_file
    lxcpath.cli("new", "m5", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    sgdir = shared / "sgd"  # the host's own setgid directory of group disk
    sgdir.mkdir()
    os.chown(sgdir, USER, 6)
    sgdir.chmod(0o2775)
    lxcpath.cli("mount", "add", "m5", str(shared), "/srv/s")
    owner = containerfs.map_root(lxc.Container("m5", lxcpath.path))
    assert owner is not None

    def options() -> list[str]:
        line = _sh(lxcpath, "m5", "grep ' /srv/s ' /proc/self/mountinfo").stdout.split()
        return line[5].split(",")

    live = options()
    users = f"u:x:{USER}:6::/:/bin/sh\nsys:x:33:33::/:/bin/sh"
    assert _sh(lxcpath, "m5", f"printf '{users}\\n' >> /etc/passwd").returncode == 0
    attack = [
        # a process of the share's user with gid 6 (disk): a setgid copy of busybox
        "su u -s /bin/sh -c 'cp /bin/busybox /srv/s/g6 && chmod 2755 /srv/s/g6'",
        # root gives a file of that user to group 42 (shadow), setgid
        "su u -s /bin/sh -c 'cp /bin/busybox /srv/s/g42'",
        "chown {u}:42 /srv/s/g42; chmod 2755 /srv/s/g42",
        # root gives files to uid 33 (www-data), to nobody and to 60001, setuid and setgid
        "su u -s /bin/sh -c 'cp /bin/busybox /srv/s/u33; cp /bin/busybox /srv/s/u65534'",
        "su u -s /bin/sh -c 'cp /bin/busybox /srv/s/u60001'",
        "chown 33:33 /srv/s/u33; chmod 6755 /srv/s/u33",
        "chown 65534:65534 /srv/s/u65534; chmod 6755 /srv/s/u65534",
        "chown 60001:60001 /srv/s/u60001; chmod 6755 /srv/s/u60001",
        # uid 33 itself, in the host's setgid directory of group disk
        "su sys -s /bin/sh -c 'cp /bin/busybox /srv/s/sgd/s && chmod 6755 /srv/s/sgd/s'",
        "su u -s /bin/sh -c 'cp /bin/busybox /srv/s/sgd/g && chmod 2755 /srv/s/sgd/g'",
        "mknod /srv/s/null c 1 3",
    ]
    for step in attack:
        _sh(lxcpath, "m5", step.format(u=USER))
    # Again after a restart, where LXC makes the mount from the config entry.
    lxcpath.cli("stop", "m5")
    lxcpath.cli("start", "m5")
    at_start = options()
    _sh(lxcpath, "m5", "su u -s /bin/sh -c 'cp /bin/busybox /srv/s/again && chmod 2755 "
                       "/srv/s/again && chgrp 42 /srv/s/again'")  # fmt: skip

    made = {p.name: p.lstat() for p in shared.rglob("*")}
    for name, st in made.items():
        assert not stat.S_ISCHR(st.st_mode) and not stat.S_ISBLK(st.st_mode), name
        if st.st_mode & stat.S_ISUID:
            assert not _system_id(st.st_uid), (name, st.st_uid)
        if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_ISGID:
            assert not _system_id(st.st_gid), (name, st.st_gid)
    # The attack ran: the files are there, with the container's own ids, not the host's.
    assert {"g6", "g42", "u33", "u65534", "again"} <= set(made), sorted(made)
    assert made["g6"].st_gid == owner[1] + 6
    assert made["g42"].st_gid == owner[1] + 42
    assert made["u33"].st_uid == owner[0] + 33
    # Inside, the share is nosuid,nodev: live (mount add) and made by LXC at start.
    assert {"nosuid", "nodev"} <= set(live), live
    assert {"nosuid", "nodev"} <= set(at_start), at_start
    assert "nosuid,nodev" in _config(lxcpath, "m5")
    # What stays the same: the share's user is the same user inside and out.
    assert made["g6"].st_uid == USER
    assert _sh(lxcpath, "m5", "stat -c '%u' /srv/s/hello.txt").stdout.strip() == str(USER)


def test_start_judges_the_sources_again(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """A directory on the way that becomes a symlink to /etc after `mount add` is
    refused by the next lxcprov start, with one line (and the container stays down)."""
    pw, _ = password_file
    lxcpath.cli("new", "m6", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    moved = shared.parent / "moved"
    moved.mkdir()
    lxcpath.cli("mount", "add", "m6", str(moved), "/srv/m")
    lxcpath.cli("stop", "m6")
    moved.rmdir()
    os.symlink("/etc", moved)
    _one_line(lxcpath.cli("start", "m6", check=False), "moved is a symlink (to /etc)")
    assert lxcpath.attach("m6", "true").returncode != 0, "it did not start"


def _host_mounted(path: Path) -> bool:
    points = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
    return str(path) in points


def _peer_group(mountinfo: str, point: Path) -> str:
    """The shared:N peer group of the mount at point ("" if it is not shared)."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if fields[4] == str(point):
            found = [f for f in fields[6 : fields.index("-")] if f.startswith("shared:")]
            return found[0] if found else ""
    return ""


def test_a_mount_inside_never_reaches_the_host(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The measured attack (issue 22 review, row 2): the shared directory is on a shared
    mount (as / is on a systemd host); a live `mount add` cloned it into the host's peer
    group, and a tmpfs the container's root mounted under the share showed on the host
    with the file it planted. Now the share is a slave of the host's mount, live and as
    LXC makes it at a start: host mounts below still show inside, nothing goes back."""
    pw, _ = password_file
    lxcpath.cli("new", "m7", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    top = shared.parent
    (shared / "sub").mkdir()
    (shared / "down").mkdir()
    subprocess.run(["mount", "--bind", str(top), str(top)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(top)], check=True)
        group = _peer_group(Path("/proc/self/mountinfo").read_text(), top)
        assert group, "the host's mount is shared"
        lxcpath.cli("mount", "add", "m7", str(shared), "/srv/p")
        for how in ("live", "at start"):
            inside = _sh(lxcpath, "m7", "cat /proc/self/mountinfo").stdout
            assert _peer_group(inside, Path("/srv/p")) != group, (how, inside)
            plant = _sh(lxcpath, "m7", "mount -t tmpfs none /srv/p/sub && "
                                       "echo planted > /srv/p/sub/planted")  # fmt: skip
            assert plant.returncode == 0, (how, plant.stderr)  # the attack ran inside
            assert not (shared / "sub" / "planted").exists(), how
            assert not _host_mounted(shared / "sub"), how
            # The other way stays open: a host mount below the share shows inside.
            subprocess.run(["mount", "-t", "tmpfs", "none", str(shared / "down")], check=True)
            (shared / "down" / "from-host").write_text("host\n")
            seen = _sh(lxcpath, "m7", "cat /srv/p/down/from-host").stdout
            subprocess.run(["umount", str(shared / "down")], check=True)
            assert seen == "host\n", how
            assert _sh(lxcpath, "m7", "umount /srv/p/sub").returncode == 0
            if how == "live":
                lxcpath.cli("stop", "m7")
                lxcpath.cli("start", "m7")
    finally:
        subprocess.run(["umount", "-R", "-l", str(top)], check=False)


def test_a_share_passes_only_its_owner_through(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The measured attack (issue 22 review, row 3): in a directory host user 1000 shared,
    container uid 1001 left a setuid and setgid copy of `id` owned by host user 1001;
    host user 1000 ran it and got euid 1001 (a setgid file of gid 4000 too). Now only
    the directory's owner and group pass through; every other id is the container's own."""
    pw, _ = password_file
    lxcpath.cli("new", "m8", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    shared.chmod(0o777)
    other = shared / "of-1001"
    other.write_text("another host user's\n")
    os.chown(other, 1001, 1001)
    lxcpath.cli("mount", "add", "m8", str(shared), "/srv/s")
    root = containerfs.map_root(lxc.Container("m8", lxcpath.path))
    assert root is not None
    as_1001 = ["lxc-attach", "-P", str(lxcpath.path), "-n", "m8", "-u", "1001", "-g", "4000",
               "--clear-env", "--", "/bin/sh", "-c"]  # fmt: skip

    def attack(name: str) -> None:
        script = f"cp /bin/busybox /srv/s/{name} && chmod 6755 /srv/s/{name}"
        made = subprocess.run([*as_1001, script], capture_output=True, text=True, check=False)
        assert made.returncode == 0, made.stderr  # the attack ran

    attack("live")
    seen = _sh(lxcpath, "m8", "stat -c '%u:%g' /srv/s/of-1001 /srv/s/hello.txt").stdout.split()
    lxcpath.cli("stop", "m8")
    lxcpath.cli("start", "m8")
    attack("at-start")
    for name in ("live", "at-start"):
        st = (shared / name).stat()
        assert (st.st_uid, st.st_gid) == (root[0] + 1001, root[1] + 4000), name
        assert st.st_mode & (stat.S_ISUID | stat.S_ISGID)  # setuid to the container's own
    # Another host user's file is nobody's inside; the sharing owner stays the same uid.
    assert seen == ["65534:65534", f"{USER}:{USER}"], seen


def test_a_share_cannot_be_pointed_at_another_directory(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The measured attack (issue 22 review, row 4): host user 1000 owned
    /var/tmp/alice, shared /var/tmp/alice/proj, replaced proj by a symlink to bob's
    0700 directory and waited for a restart: the container read and wrote bob's secret.
    Now the source is opened once through no symlink, every parent must be root's or the
    share's owner's alone (or sticky with an entry of theirs), and each start judges it
    again, its owner too: the owner can swap in only a directory of their own."""
    pw, _ = password_file
    lxcpath.cli("new", "m9", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    top = shared.parent
    alice = top / "alice"
    (alice / "proj").mkdir(parents=True)
    (alice / "of-bob").mkdir()
    os.chown(alice, 1000, 1000)
    os.chown(alice / "proj", 1000, 1000)
    os.chown(alice / "of-bob", 1001, 1001)
    bob = top / "bob"
    bob.mkdir(mode=0o700)
    (bob / "secret").write_text("bob's\n")
    os.chown(bob, 1001, 1001)
    sticky = top / "sticky"
    (sticky / "theirs" / "mine").mkdir(parents=True)
    sticky.chmod(0o1777)
    os.chown(sticky / "theirs", 1001, 1001)
    os.chown(sticky / "theirs" / "mine", 1000, 1000)
    grouped = top / "grouped"
    (grouped / "d").mkdir(parents=True)
    grouped.chmod(0o775)
    refused = [
        (alice / "of-bob", f"{alice} is owned by uid 1000, who can replace what is in it"),
        (sticky / "theirs" / "mine",
         f"{sticky} is writable by everyone (sticky, but the entry is someone else"),
        (grouped / "d", f"{grouped} is writable by its group"),
    ]  # fmt: skip
    before = _config(lxcpath, "m9")
    for source, needle in refused:
        _one_line(lxcpath.cli("mount", "add", "m9", str(source), "/srv/p", check=False), needle)
    assert _config(lxcpath, "m9") == before
    # A root-owned directory in a sticky one is root's alone.
    (sticky / "roots").mkdir()
    lxcpath.cli("mount", "add", "m9", str(sticky / "roots"), "/srv/r")
    # A user's project in their own home-like directory is shared; what its owner can do
    # to the path before a start (a symlink to bob's, bob's directory moved in) stops
    # that start with one line, and bob's file is never seen.
    lxcpath.cli("mount", "add", "m9", str(alice / "proj"), "/srv/a")
    lxcpath.cli("stop", "m9")
    (alice / "proj").rename(alice / "was-proj")
    os.symlink(bob, alice / "proj")
    _one_line(lxcpath.cli("start", "m9", check=False), f"{alice / 'proj'} is a symlink")
    (alice / "proj").unlink()
    bob.rename(alice / "proj")
    # bob's directory under alice's: she could swap it again, so the way to it is refused
    _one_line(lxcpath.cli("start", "m9", check=False), f"{alice} is owned by uid 1000, who can")
    assert lxcpath.attach("m9", "true").returncode != 0, "it did not start"
    (alice / "proj").rename(bob)
    (alice / "was-proj").rename(alice / "proj")
    lxcpath.cli("mount", "rm", "m9", "/srv/a")
    # The owner is judged again at a start: given to another host user since (who would
    # then pass through), the start stops with one line.
    lxcpath.cli("mount", "add", "m9", str(shared), "/srv/p")
    lxcpath.cli("stop", "m9")
    os.chown(shared, 1001, 1001)
    _one_line(lxcpath.cli("start", "m9", check=False), f"the owner of {shared} changed")
    assert lxcpath.attach("m9", "true").returncode != 0, "it did not start"
    # As it is now, by adding it again: then it starts.
    lxcpath.cli("mount", "add", "m9", str(shared), "/srv/p")
    lxcpath.cli("start", "m9")
    assert _sh(lxcpath, "m9", "stat -c %u /srv/p").stdout.strip() == "1001"


def test_a_live_mount_is_the_directory_opened_not_the_path(shared: Path) -> None:
    """The live race (issue 22 review, row 4): flipping the source between a directory
    and a symlink to /etc during `mount add` mounted /etc in 3 of 25 tries, as the path
    was looked up again to mount it. Now the mount is cloned from the descriptor judged:
    swapped after the walk, the clone is still the directory walked."""
    walked = hostdir.walk(str(shared))
    try:
        shared.rename(shared.parent / "away")
        os.symlink("/etc", shared)
        tree = livemount.detached(walked.fd, ro=True, userns_fd=None)
        try:
            seen = sorted(os.listdir(f"/proc/self/fd/{tree}"))
        finally:
            os.close(tree)
    finally:
        os.close(walked.fd)
        shared.unlink()
        (shared.parent / "away").rename(shared)
    assert seen == ["hello.txt", "root-owned"], seen
    with pytest.raises(InvalidArgumentError, match="is a symlink"):
        os.symlink("/etc", shared.parent / "to-etc")
        hostdir.walk(str(shared.parent / "to-etc"))


def test_a_bind_mount_of_a_refused_directory_is_refused(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The measured gap (issue 22 review, row 12): after mount --bind of the lxcpath (or
    of lxcprov's state directory) elsewhere, `mount add` took the bind. Now a source is
    judged by place (its filesystem and path in it): a bind is what it shows."""
    pw, _ = password_file
    lxcpath.cli("new", "m10", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    top = shared.parent
    state = top / "state"
    (state / "inner").mkdir(parents=True)
    own = lxcpath.env(LXCPROV_STATE_DIR=str(state))
    binds = {name: top / name for name in ("bindlxc", "bindstate", "bindparent")}
    for where in binds.values():
        where.mkdir()
    pairs = [(lxcpath.path, binds["bindlxc"]), (state, binds["bindstate"]),
             (lxcpath.path.parent, binds["bindparent"])]  # fmt: skip
    try:
        for source, where in pairs:
            subprocess.run(["mount", "--bind", str(source), str(where)], check=True)
        cases = [
            (binds["bindlxc"], f"is {lxcpath.path} (the lxcpath"),
            (binds["bindlxc"] / "m10", f"is inside {lxcpath.path} (the lxcpath"),
            (binds["bindstate"] / "inner", f"is inside {state} (lxcprov's state directory"),
            (binds["bindparent"], f"holds {lxcpath.path} (the lxcpath"),
        ]
        before = _config(lxcpath, "m10")
        for source, needle in cases:
            proc = lxcpath.cli("mount", "add", "m10", str(source), "/srv/x", check=False, env=own)
            _one_line(proc, needle)
        assert _config(lxcpath, "m10") == before
    finally:
        for _source, where in pairs:
            subprocess.run(["umount", "-l", str(where)], check=False)


def test_an_older_entry_gets_its_owner_recorded_and_stays_idmapped(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """An entry an older lxcprov wrote (idmap through `<uid>-<gid>-users`, which passed
    every host user id) records no owner: a `mount add` of another share keeps it
    idmapped (through its directory's owner now), and a start records that owner."""
    pw, _ = password_file
    lxcpath.cli("new", "m11", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    lxcpath.cli("mount", "add", "m11", str(shared), "/srv/s")
    config = lxcpath.path / "m11" / "config"
    new_form = f"-owner-{USER}-{USER}"
    assert new_form in config.read_text()

    def make_old() -> None:
        config.write_text(config.read_text().replace(new_form, "-users"))

    make_old()
    other = shared.parent / "other"
    other.mkdir()
    lxcpath.cli("mount", "add", "m11", str(other), "/srv/o")
    entries = [ln for ln in config.read_text().splitlines() if "/srv/" in ln or " srv/" in ln]
    assert len(entries) == 2 and all("idmap=" in ln for ln in entries), entries
    assert any(new_form in ln and " srv/s " in ln for ln in entries), entries
    make_old()
    lxcpath.cli("stop", "m11")
    lxcpath.cli("start", "m11")
    assert "-users" not in config.read_text() and new_form in config.read_text()
    assert _sh(lxcpath, "m11", "stat -c %u /srv/s/hello.txt").stdout.strip() == str(USER)


@contextlib.contextmanager
def _stopped_at(lxc: Lxc, point: str, *argv: str) -> Iterator[None]:
    """`lxcprov ARGV` stopped at the fault point for the block, then SIGKILLed there."""
    proc = subprocess.Popen([sys.executable, "-m", "lxcprov", *argv], text=True,
                            env=lxc.env(LXCPROV_FAULT_AT=point),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for_fault(proc, point, argv[0], 300)
        yield
    finally:
        proc.kill()
        proc.wait()


def _staged_mounts(lxc: Lxc) -> list[str]:
    """What is staged for the containers of lxc's lxcpath (named by a digest of the
    lxcpath: another worker's test may have its own staged at the same moment)."""
    token = hashlib.sha256(str(lxc.path).encode()).hexdigest()[:12]
    points = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p.startswith(("/run/lxcprov/shares/" + token,
                                               "/run/lxcprov/shares/live/" + token))]  # fmt: skip


def test_root_inside_cannot_remount_a_share_rw_suid_or_dev(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The measured gap (issue 22 review, row 11): root inside ran `mount -o
    remount,bind,rw,suid,dev` on a share, and on a --ro share the share's owner then
    wrote the host's files. Now the share's flags are locked inside, live (the mount
    passes through a copy of a mount namespace into the container's user namespace) and
    at a start (LXC binds a staged mount, through the copy of the host's namespace)."""
    pw, _ = password_file
    lxcpath.cli("new", "m12", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    lxcpath.cli("mount", "add", "m12", str(shared), "/srv/p", "--ro")
    as_user = ["lxc-attach", "-P", str(lxcpath.path), "-n", "m12", "-u", str(USER), "-g",
               str(USER), "--clear-env", "--", "/bin/sh", "-c",
               "echo x >> /srv/p/hello.txt"]  # fmt: skip
    lxcpath.cli("set", "m12", "autostart=yes")
    for how in ("live", "at start", "start --all"):
        line = _sh(lxcpath, "m12", "grep ' /srv/p ' /proc/self/mountinfo").stdout.split()
        assert {"ro", "nosuid", "nodev", "idmapped"} <= set(line[5].split(",")), (how, line)
        for attempt in ("mount -o remount,bind,rw /srv/p",
                        "mount -o remount,bind,ro,suid /srv/p",
                        "mount -o remount,bind,ro,nosuid,dev /srv/p",
                        "mkdir -p /mnt/b && mount --bind /srv/p /mnt/b && "
                        "mount -o remount,bind,rw /mnt/b"):  # fmt: skip
            assert _sh(lxcpath, "m12", attempt).returncode != 0, (how, attempt)
        assert subprocess.run(as_user, capture_output=True, check=False).returncode != 0, how
        assert (shared / "hello.txt").read_text() == "from the host\n", how
        # The share still works: the owner's file is the owner's inside.
        owner = _sh(lxcpath, "m12", "stat -c %u /srv/p/hello.txt").stdout.strip()
        assert owner == str(USER), how
        if how != "start --all":
            lxcpath.cli("stop", "m12")
            lxcpath.cli(*(["start", "--all"] if how == "at start" else ["start", "m12"]))
            assert _staged_mounts(lxcpath) == [], "the staged mounts went once the container ran"


def test_another_lxcpath_or_container_is_never_shared(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """Review of the share fixes: a second lxcpath (another LXCPROV_LXCPATH) was accepted
    as a source, and with --no-idmap the container's root rewrote another container's
    config, whose pre-start hook then ran as host root. Lxcpaths and container
    directories are now recognised by shape: on the way, at the source, or in it."""
    pw, _ = password_file
    lxcpath.cli("new", "m11", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    top = shared.parent
    other = top / "lx2"
    (other / ".lxcprov").mkdir(parents=True)
    raw = top / "lx3"
    (raw / "c1" / "rootfs" / "srv").mkdir(parents=True)
    (raw / "c1" / "config").write_text("lxc.uts.name = c1\n")
    before = _config(lxcpath, "m11")
    for source, needle in [
        (other, f"{other} is an lxcpath"),
        (raw, f"{raw} holds {raw / 'c1'}, a container's directory"),
        (raw / "c1" / "rootfs" / "srv", f"is inside {raw / 'c1'}, a container's directory"),
    ]:
        for extra in ([], ["--no-idmap"]):
            _one_line(lxcpath.cli("mount", "add", "m11", str(source), "/srv/o", *extra,
                                  check=False), needle)  # fmt: skip
    assert _config(lxcpath, "m11") == before
    # The test's own lxcpath is refused by its shape as well as by being the lxcpath.
    _one_line(lxcpath.cli("mount", "add", "m11", str(lxcpath.path.parent), "/srv/o",
                          check=False), "holds")  # fmt: skip


def test_a_privileged_containers_share_has_only_roots_parents(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """Review of the share fixes: a privileged container's start has LXC mount the path
    again (nothing is staged), and the owner of the parent flipped the share to a
    symlink to a root-only directory between lxcprov's check and LXC's mount: the
    container read it. There every parent must be root's."""
    pw, _ = password_file
    lxcpath.cli("new", "m12", "-t", "busybox", "--network", "none", "--privileged",
                "--root-password-file", str(pw))  # fmt: skip
    alice = shared.parent / "alice"
    (alice / "proj").mkdir(parents=True)
    os.chown(alice, 1000, 1000)
    os.chown(alice / "proj", 1000, 1000)
    _one_line(lxcpath.cli("mount", "add", "m12", str(alice / "proj"), "/srv/p", check=False),
              f"{alice} is owned by uid 1000, who can replace what is in it")  # fmt: skip
    lxcpath.cli("mount", "add", "m12", str(shared), "/srv/p")  # its parent is root's


def test_a_killed_start_leaves_its_staged_share_only_to_the_next_start_or_destroy(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """Review of the share fixes: a start killed once it had staged its shares left a
    read-write idmapped mount under /run/lxcprov/shares that destroy did not remove; and
    the staged directories were 0711, so any host user who read the path (mountinfo,
    ps) walked in and kept a descriptor of the share. Now the container's stage
    directory is 0710 of its root's group, and destroy removes what a killed start
    left."""
    pw, _ = password_file
    lxcpath.cli("new", "m13", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw))  # fmt: skip
    lxcpath.cli("mount", "add", "m13", str(shared), "/srv/s")
    lxcpath.cli("stop", "m13")
    c = lxc.Container("m13", lxcpath.path)
    root = containerfs.map_root(c)
    assert root is not None
    with _stopped_at(lxcpath, "start-staged", "start", "m13"):
        staged = [
            ln.split()[4]
            for ln in Path("/proc/self/mountinfo").read_text().splitlines()
            if "/run/lxcprov/shares/" in ln.split()[4] and "/m13/" in ln.split()[4]
        ]
        assert len(staged) == 1, staged
        where = Path(staged[0])
        mine = where.parent.parent
        st = mine.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o710, 0, root[1])
        # Another host user cannot walk in (the test's own lxcpath is not in the way).
        peek = subprocess.run(["setpriv", "--reuid", "1001", "--regid", "1001",
                               "--clear-groups", "ls", str(where)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
    assert any(str(where) in ln for ln in Path("/proc/self/mountinfo").read_text().splitlines())
    lxcpath.cli("destroy", "m13", "--force")
    left = [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(mine) in ln]  # fmt: skip
    assert left == [], left
    assert not mine.exists()


def test_a_start_with_no_share_left_clears_what_a_killed_start_staged(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The chaos bench (seed 2026, CI): a start killed once it had staged left its stage
    directory; the share was then removed, and every later start of the container (no
    share to stage) returned before looking at what was left, so it stayed for good. A
    start with nothing to stage clears it all the same."""
    pw, _ = password_file
    lxcpath.cli("new", "m14", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw), "--mount", f"{shared}:/srv/s")  # fmt: skip
    lxcpath.cli("stop", "m14")
    with _stopped_at(lxcpath, "start-staged", "start", "m14"):
        staged = [p for p in _staged_mounts(lxcpath) if "/m14/" in p]
        assert len(staged) == 1, staged
        mine = Path(staged[0]).parent.parent
    lxcpath.cli("mount", "rm", "m14", "/srv/s")
    lxcpath.cli("start", "m14")
    assert _staged_mounts(lxcpath) == []
    assert not mine.exists(), sorted(mine.rglob("*"))
    assert lxc.Container("m14", lxcpath.path).state() == "RUNNING"


def test_doctor_fix_of_a_new_killed_at_its_start_leaves_nothing_staged(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The chaos bench (seed 2026, run again): a `new --mount` killed once its start had
    staged the share, removed by `doctor --fix`, left the share staged for good: only
    destroy unstaged what a killed start left, and doctor --fix (like apply, or a base's
    dependents) removes through recovery. Every removal unstages now."""
    pw, _ = password_file
    argv = ["new", "m16", "-t", "busybox", "--network", "none", "--root-password-file",
            str(pw), "--mount", f"{shared}:/srv/s"]  # fmt: skip
    with _stopped_at(lxcpath, "start-staged", *argv):
        assert [p for p in _staged_mounts(lxcpath) if "/m16/" in p], _staged_mounts(lxcpath)
    fixed = lxcpath.cli("doctor", "m16", "--fix")
    assert "unstaged the shares a killed start left" in fixed.stdout + fixed.stderr, fixed
    assert not (lxcpath.path / "m16").exists()
    assert _staged_mounts(lxcpath) == []
    token = hashlib.sha256(str(lxcpath.path).encode()).hexdigest()[:12]
    assert not (Path("/run/lxcprov/shares") / token).exists()


def test_a_start_killed_once_started_leaves_its_staged_share_to_start_or_stop(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """Outside review: a start killed once LXC had started the container left its staged
    share while the container ran, and `start` (already running) kept it. Both a start
    of the running container and its stop take it away."""
    pw, _ = password_file
    lxcpath.cli("new", "m17", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw), "--mount", f"{shared}:/srv/s")  # fmt: skip
    for then in ("start", "stop"):
        lxcpath.cli("stop", "m17")
        with _stopped_at(lxcpath, "start-started", "start", "m17"):
            pass  # killed there
        assert lxc.Container("m17", lxcpath.path).state() == "RUNNING"
        assert [p for p in _staged_mounts(lxcpath) if "/m17/" in p], then
        lxcpath.cli(then, "m17")
        assert _staged_mounts(lxcpath) == [], then
        if then == "start":  # the container kept its own copy
            seen = _sh(lxcpath, "m17", "cat /srv/s/hello.txt").stdout
            assert seen == "from the host\n"


def test_a_share_goes_with_its_container_through_convert_both_ways(
    lxcpath: Lxc, password_file: tuple[Path, str], shared: Path
) -> None:
    """The chaos bench (seed 2026): after `convert --privileged` a container with a share
    did not start ("the owner ... changed since it was shared"): the owner recorded
    while it was unprivileged was compared with a privileged one's, which passes none."""
    pw, _ = password_file
    lxcpath.cli("new", "m15", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw), "--mount", f"{shared}:/srv/s")  # fmt: skip
    for way, owner in (("--privileged", USER), ("--unprivileged", USER)):
        lxcpath.cli("stop", "m15")
        said = lxcpath.cli("convert", "m15", way)
        # To privileged, plain binds at once (a plain lxc-start reads no user namespace);
        # to unprivileged, idmapped again, the owner passed through said.
        assert ("idmap=" in _config(lxcpath, "m15")) == (way == "--unprivileged")
        if way == "--unprivileged":
            assert f"{shared} is shared idmapped (uid:gid passed through: {USER}:{USER})" \
                in said.stdout + said.stderr, said  # fmt: skip
        lxcpath.cli("start", "m15")
        seen = _sh(lxcpath, "m15", "cat /srv/s/hello.txt; stat -c %u /srv/s/hello.txt")
        assert seen.stdout.splitlines() == ["from the host", str(owner)], (way, seen)
        # nosuid,nodev inside either way (LXC's own bind of a privileged container's
        # read-write share dropped them: it binds the staged clone now).
        flags = _sh(lxcpath, "m15", "grep ' /srv/s ' /proc/mounts").stdout.split()[3]
        assert {"rw", "nosuid", "nodev"} <= set(flags.split(",")), (way, flags)


def _mounted_under(path: Path) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [ln.split()[4] for ln in lines if ln.split()[4].startswith(f"{path}/")]


def test_the_last_user_of_a_pinned_namespace_releases_it(lxcpath: Lxc, shared: Path) -> None:
    """Two containers share through one pinned user namespace: mount rm of one, destroy
    of the other (the last user) leaves nothing mounted under the lxcpath, which can then
    be removed; a container made afterwards pins it again and sees its share."""
    for name in ("p1", "p2"):
        lxcpath.cli("new", name, "-t", "busybox", "--network", "none",
                    "--mount", f"{shared}:/srv/data")  # fmt: skip
    pins = _mounted_under(lxcpath.path)
    assert len(pins) == 1 and "/.lxcprov/userns/" in pins[0], pins
    lxcpath.cli("mount", "rm", "p1", "/srv/data")
    assert _mounted_under(lxcpath.path) == pins, "p2 still names it: kept"
    lxcpath.cli("destroy", "--force", "p2")
    assert _mounted_under(lxcpath.path) == [], "its last user is gone: released"
    assert not (lxcpath.path / ".lxcprov" / "userns").exists()
    lxcpath.cli("destroy", "--force", "p1")
    # Nothing mounted: the lxcpath goes whole (rmdir of every directory, no EBUSY).
    subprocess.run(["rm", "-r", "--one-file-system", str(lxcpath.path / ".lxcprov")], check=True)
    lxcpath.cli("new", "p3", "-t", "busybox", "--network", "none",
                "--mount", f"{shared}:/srv/data")  # fmt: skip
    seen = _sh(lxcpath, "p3", "stat -c '%u' /srv/data/hello.txt")
    assert seen.stdout.strip() == str(USER), seen


def test_a_release_waits_for_a_user_between_its_pin_and_its_open(
    lxcpath: Lxc, shared: Path
) -> None:
    """The race: a start (or mount add) that found the pin holds the pins lock shared
    until it has opened it. A destroy of the pin's last other user, meanwhile, removes
    the container and then waits; the pin stays until the user lets go, then goes. And
    `new` racing `destroy` of the last other user, again and again, always gets its share."""
    from lxcprov.system import usernspins

    lxcpath.cli("new", "q1", "-t", "busybox", "--network", "none",
                "--mount", f"{shared}:/srv/data")  # fmt: skip
    pins = _mounted_under(lxcpath.path)
    assert len(pins) == 1, pins
    with usernspins.using(lxcpath.path):  # this process: a user between pin and open
        destroy = subprocess.Popen([sys.executable, "-m", "lxcprov", "destroy", "--force", "q1"],
                                   env=lxcpath.env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)  # fmt: skip
        while (lxcpath.path / "q1").exists() and destroy.poll() is None:
            time.sleep(0.05)
        assert destroy.poll() is None, "the destroy waits for the user: " + str(
            destroy.communicate()
        )
        assert _mounted_under(lxcpath.path) == pins, "not released under a user"
    _, err = destroy.communicate(timeout=120)
    assert destroy.returncode == 0, err
    assert "released the pinned user namespace" in err, err
    assert _mounted_under(lxcpath.path) == []

    for round_ in range(4):
        old, new = f"r{round_}", f"r{round_ + 1}"
        if round_ == 0:
            lxcpath.cli("new", old, "-t", "busybox", "--network", "none",
                        "--mount", f"{shared}:/srv/data")  # fmt: skip
        racing = [
            subprocess.Popen([sys.executable, "-m", "lxcprov", *args], env=lxcpath.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for args in (["new", new, "-t", "busybox", "--network", "none", "--mount",
                          f"{shared}:/srv/data"], ["destroy", "--force", old])
        ]  # fmt: skip
        for proc in racing:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        seen = _sh(lxcpath, new, "stat -c '%u' /srv/data/hello.txt")
        assert seen.stdout.strip() == str(USER), seen
    lxcpath.cli("destroy", "--force", "r4")
    assert _mounted_under(lxcpath.path) == []
