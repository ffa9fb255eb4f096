"""push and pull on real containers: a file, a tree and stdin/stdout on a running clone, a
stopped clone and a stopped dir container, owners as the container sees them; a hostile
container's symlinks, FIFOs and swaps never reach the host; a killed push leaves the old
file; a push and a destroy of one container take turns."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.harness import Lxc, var_tmp

pytestmark = pytest.mark.real

PW = ["--root-password-file"]


def _run(
    lxc: Lxc, *args: str, data: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "lxcprov", *args]
    env = lxc.env()
    return subprocess.run(argv, input=data, capture_output=True, env=env, timeout=timeout,
                          check=False)  # fmt: skip


def _background(lxc: Lxc, *args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "lxcprov", *args]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=lxc.env())


def _ok(lxc: Lxc, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    proc = _run(lxc, *args, data=data)
    assert proc.returncode == 0, (args, proc.stderr.decode())
    return proc


def _one_line_error(proc: subprocess.CompletedProcess[bytes], needle: str) -> None:
    err = proc.stderr.decode()
    lines = err.strip().splitlines()
    assert proc.returncode != 0, err
    assert lines[0].startswith("error: ") and needle in lines[0], err
    assert all(ln.startswith(("error: ", "hint: ")) for ln in lines), err


def _sh(lxc: Lxc, name: str, script: str) -> str:
    proc = lxc.attach(name, "/bin/sh", "-c", script)
    assert proc.returncode == 0, (script, proc.stderr)
    return proc.stdout


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def host_dir() -> Iterator[Path]:
    with var_tmp("push-host-") as base:
        base.chmod(0o755)
        yield base


def _make(lxc: Lxc, name: str, pw: Path, kind: str) -> None:
    """A busybox container with a user alice (1234) and a group staff2 (2345) made inside,
    left in the state kind names."""
    extra = ["--no-base"] if kind.startswith("dir") else []
    extra += ["--privileged"] if kind.startswith("privileged") else []
    lxc.cli("new", name, "-t", "busybox", "--network", "none", *PW, str(pw), *extra)
    # Debian's busybox has no adduser: the lines a user's adduser would write.
    _sh(lxc, name, "echo 'alice:x:1234:1234::/home/alice:/bin/sh' >> /etc/passwd && "
        "printf 'alice:x:1234:\\nstaff2:x:2345:alice\\n' >> /etc/group && "
        "mkdir -p /home/alice /srv && chown 1234:1234 /home/alice")  # fmt: skip
    if kind.endswith("stopped"):
        lxc.cli("stop", name)


def _tree(top: Path) -> None:
    (top / "sub/deeper").mkdir(parents=True)
    (top / "a.txt").write_bytes(b"alpha\n")
    (top / "a.txt").chmod(0o600)
    (top / "sub/run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (top / "sub/run.sh").chmod(0o755)
    (top / "sub/deeper/blob").write_bytes(os.urandom(300_000))
    (top / "sub").chmod(0o750)
    (top / "link").symlink_to("sub/run.sh")


@pytest.mark.parametrize(
    "kind", ["clone-running", "clone-stopped", "dir-stopped", "privileged-clone-running"]
)
def test_push_and_pull_a_file_a_tree_and_streams(
    lxcpath: Lxc, password_file: tuple[Path, str], host_dir: Path, kind: str
) -> None:
    pw, _ = password_file
    _make(lxcpath, "pp", pw, kind)
    src = host_dir / "src"
    src.mkdir()
    _tree(src)
    conf = host_dir / "app.conf"
    conf.write_bytes(b"key = value\n")
    conf.chmod(0o640)
    # A file into a directory (cp's rule), the source's mode, the container's root.
    out = json.loads(_ok(lxcpath, "push", "pp", str(conf), "/etc", "--json").stdout)
    assert out["target"] == "/etc/app.conf" and out["bytes"] == 12 and out["files"] == 1
    # By name of a user made inside, --mode over the source's.
    _ok(lxcpath, "push", "pp", str(conf), "/home/alice/own.conf", "--owner", "alice:staff2",
        "--mode", "0604")  # fmt: skip
    # stdin, by numbers; a whole tree, by a user alone (its primary group).
    _ok(lxcpath, "push", "pp", "-", "/root/from-stdin", "--owner", "1234:2345", data=b"streamed\n")
    tree = json.loads(_ok(lxcpath, "push", "pp", str(src), "/srv", "--owner", "alice",
                          "--json").stdout)  # fmt: skip
    assert (tree["files"], tree["directories"], tree["symlinks"]) == (3, 3, 1), tree
    # Pull them back while the container is in the same state: the same bytes and modes.
    assert _ok(lxcpath, "pull", "pp", "/root/from-stdin", "-").stdout == b"streamed\n"
    back = host_dir / "back"
    _ok(lxcpath, "pull", "pp", "/srv/src", str(back))
    for rel in ("a.txt", "sub/run.sh", "sub/deeper/blob"):
        assert (back / rel).read_bytes() == (src / rel).read_bytes(), rel
        assert (back / rel).stat().st_mode & 0o777 == (src / rel).stat().st_mode & 0o777, rel
        assert (back / rel).stat().st_uid == 0, rel  # the caller's, never a mapped id
    assert os.readlink(back / "link") == "sub/run.sh"
    assert (back / "sub").stat().st_mode & 0o777 == 0o750
    into = host_dir / "into"
    into.mkdir()
    _ok(lxcpath, "pull", "pp", "/etc/app.conf", str(into))  # an existing dir: into it
    assert (into / "app.conf").read_bytes() == b"key = value\n"
    # What the container sees: its own ids, the modes asked for.
    if kind.endswith("stopped"):
        lxcpath.cli("start", "pp")
    seen = _sh(lxcpath, "pp", "stat -c '%n %u %g %a' /etc/app.conf /home/alice/own.conf "
               "/root/from-stdin /srv/src /srv/src/a.txt /srv/src/sub /srv/src/sub/run.sh; "
               "busybox readlink /srv/src/link; cat /srv/src/sub/run.sh")  # fmt: skip
    assert seen.splitlines() == [
        "/etc/app.conf 0 0 640",
        "/home/alice/own.conf 1234 2345 604",
        "/root/from-stdin 1234 2345 644",
        "/srv/src 1234 1234 755",
        "/srv/src/a.txt 1234 1234 600",
        "/srv/src/sub 1234 1234 750",
        "/srv/src/sub/run.sh 1234 1234 755",
        "sub/run.sh",
        "#!/bin/sh",
        "echo hi",
    ], seen
    # A replaced file is replaced whole (a new inode), owner and mode as asked again.
    _ok(lxcpath, "push", "pp", "-", "/etc/app.conf", data=b"second\n")
    assert _sh(lxcpath, "pp", "cat /etc/app.conf; stat -c '%u %a' /etc/app.conf") \
        == "second\n0 644\n"  # fmt: skip


def test_bad_words_are_one_line_errors(
    lxcpath: Lxc, password_file: tuple[Path, str], host_dir: Path
) -> None:
    pw, _ = password_file
    _make(lxcpath, "pb", pw, "clone-running")
    f = host_dir / "f"
    f.write_text("x\n")
    # A user in passwd whose uid is outside the map: refused, nothing written.
    _sh(lxcpath, "pb", "echo 'evil:x:70000:0::/:/bin/sh' >> /etc/passwd")
    cases = [
        (["push", "pb", str(f), "/root/x", "--mode", "9"], "not an octal mode"),
        (["push", "pb", str(f), "/root/x", "--owner", "nobody-here"], "no user"),
        (["push", "pb", str(f), "/root/x", "--owner", "evil"], "not an id the container has"),
        (["push", "pb", str(f), "/root/x", "--owner", "70000"], "not USER[:GROUP]"),
        (["push", "pb", str(f), "/root/x", "--owner", ":x"], "not USER[:GROUP]"),
        (["push", "pb", str(f), "relative"], "not an absolute path"),
        (["push", "pb", str(host_dir / "missing"), "/root/x"], "cannot read"),
        (["push", "pb", str(f), "/no/such/dir/x"], "no such directory /no/such/dir"),
        (["push", "pb", "-", "/root"], "stdin needs a file name"),
        (["pull", "pb", "/no/such", str(host_dir / "y")], "no /no/such"),
        (["pull", "pb", "/etc", "-"], "cannot go to stdout"),
        (["pull", "pb", "/etc", str(host_dir)], "exists on the host"),  # host_dir/etc
    ]
    (host_dir / "etc").mkdir()  # the last case: an existing directory is never merged into
    for args, needle in cases:
        _one_line_error(_run(lxcpath, *args, data=b""), needle)
    assert _sh(lxcpath, "pb", "ls /root/x 2>/dev/null; echo done") == "done\n"
    _one_line_error(_run(lxcpath, "push", "nope", str(f), "/root/x"), "nope")
    # A container's raw bytes never go to a terminal (escape sequences): refused.
    master, slave = pty.openpty()
    try:
        tty = subprocess.run([sys.executable, "-m", "lxcprov", "pull", "pb", "/etc/passwd", "-"],
                             stdout=slave, stderr=subprocess.PIPE, env=lxcpath.env(), timeout=60,
                             check=False)  # fmt: skip
    finally:
        os.close(slave)
        os.close(master)
    _one_line_error(tty, "to a terminal")


def _hashes(paths: list[Path]) -> dict[str, str]:
    return {str(p): _sha(p) for p in paths}


@pytest.mark.parametrize("kind", ["clone-running", "dir-stopped"])
def test_symlinks_inside_never_lead_to_the_host(
    lxcpath: Lxc, password_file: tuple[Path, str], host_dir: Path, kind: str
) -> None:
    pw, _ = password_file
    victim = host_dir / "victim"
    victim.mkdir()
    (victim / "secret").write_text("HOST SECRET\n")
    watched = [Path("/etc/passwd"), Path("/etc/shadow"), victim / "secret"]
    before = _hashes(watched)
    _make(lxcpath, "ps", pw, "clone-running" if kind == "clone-running" else "dir-running")
    _sh(lxcpath, "ps", f"echo inside-passwd-marker >> /etc/passwd; mkdir -p /root/d; "
        f"ln -s /etc/passwd /root/evil; ln -s ../../../../../../../etc /root/up; "
        f"ln -s {victim} /root/hostabs; ln -s {victim}/secret /root/hostfile; "
        f"ln -s /root/d /root/dlink; mkdir -p {victim}")  # fmt: skip
    if kind == "dir-stopped":  # the same links in a stopped dir container
        lxcpath.cli("stop", "ps")
    payload = host_dir / "payload"
    payload.write_text("PAYLOAD\n")
    # Writes through them land inside: the container's /etc, its own copy of the host path.
    _ok(lxcpath, "push", "ps", str(payload), "/root/up/pwned")
    _ok(lxcpath, "push", "ps", str(payload), "/root/hostabs/secret")
    _ok(lxcpath, "push", "ps", str(payload), "/root/dlink/")
    assert not Path("/etc/pwned").exists()
    # A symlink at the target is followed inside (like cp inside): /root/evil is the
    # container's /etc/passwd, never the host's.
    _ok(lxcpath, "push", "ps", "-", "/root/evil", data=b"root:x:0:0:root:/root:/bin/sh\n")
    # Reads through them read the container's files.
    got = _ok(lxcpath, "pull", "ps", "/root/hostfile", "-").stdout
    assert got == b"PAYLOAD\n", got
    assert _ok(lxcpath, "pull", "ps", "/root/up/pwned", "-").stdout == b"PAYLOAD\n"
    # A pulled tree keeps the links as links, never what they name on the host.
    out = host_dir / "out"
    _ok(lxcpath, "pull", "ps", "/root", str(out))
    assert os.readlink(out / "hostfile") == f"{victim}/secret"
    assert os.readlink(out / "evil") == "/etc/passwd"
    # A directory named through a symlink is the directory it leads to, inside.
    _ok(lxcpath, "pull", "ps", "/root/dlink", str(host_dir / "dl"))
    assert [p.name for p in (host_dir / "dl").iterdir()] == ["payload"]
    assert before == _hashes(watched), "a host file changed"
    assert sorted(p.name for p in victim.iterdir()) == ["secret"]
    if kind == "dir-stopped":
        lxcpath.cli("start", "ps")
    assert _sh(lxcpath, "ps", f"cat /etc/pwned {victim}/secret /root/d/payload /etc/passwd") \
        == "PAYLOAD\nPAYLOAD\nPAYLOAD\nroot:x:0:0:root:/root:/bin/sh\n"  # fmt: skip


def test_a_fifo_device_or_socket_is_never_read(
    lxcpath: Lxc, password_file: tuple[Path, str], host_dir: Path
) -> None:
    pw, _ = password_file
    _make(lxcpath, "pf", pw, "clone-running")
    _sh(lxcpath, "pf", "mkdir /root/t && busybox mkfifo /root/t/fifo && echo ok > /root/t/file && "
        "ln -s /root/t/fifo /root/t/tofifo")  # fmt: skip
    t0 = time.monotonic()
    _one_line_error(_run(lxcpath, "pull", "pf", "/root/t/fifo", "-", timeout=60), "a FIFO")
    _one_line_error(_run(lxcpath, "pull", "pf", "/root/t/tofifo", str(host_dir / "x"),
                         timeout=60), "a FIFO")  # fmt: skip
    _one_line_error(_run(lxcpath, "pull", "pf", "/dev/null", "-", timeout=60), "character device")
    # A directory with one: the rest copied, it skipped and listed.
    out = json.loads(_ok(lxcpath, "pull", "pf", "/root/t", str(host_dir / "t"), "--json").stdout)
    assert out["skipped"] == ["/root/t/fifo: a FIFO"] and out["files"] == 1, out
    assert (host_dir / "t/file").read_text() == "ok\n"
    assert time.monotonic() - t0 < 60  # nothing waited on the FIFO
    # A push onto a FIFO is refused (never opened for writing).
    _one_line_error(_run(lxcpath, "push", "pf", "-", "/root/t/fifo", data=b"x"),
                    "not a regular file")  # fmt: skip


@pytest.mark.parametrize("kind", ["dir-running", "clone-running"])
def test_a_swapped_directory_never_sends_a_write_or_read_out(
    lxcpath: Lxc, password_file: tuple[Path, str], host_dir: Path, kind: str
) -> None:
    """A process inside swaps a directory for symlinks to the host's paths while pushes
    and pulls go through it: each lands inside or fails, the host's files stay as they were."""
    pw, _ = password_file
    victim = host_dir / "victim"
    victim.mkdir()
    (victim / "f").write_text("HOST SECRET\n")
    before = _hashes([victim / "f", Path("/etc/passwd")])
    extra = ["--no-base"] if kind.startswith("dir") else []
    lxcpath.cli("new", "pr", "-t", "busybox", "--network", "none", *PW, str(pw), *extra)
    swapper = subprocess.Popen(
        ["lxc-attach", "-P", str(lxcpath.path), "-n", "pr", "--", "/bin/sh", "-c",
         f"while :; do rm -rf /root/sw; mkdir /root/sw; echo inside > /root/sw/f; "
         f"rm -rf /root/sw; ln -s {victim} /root/sw; rm -f /root/sw; "
         f"ln -s ../../../../../../../../{victim} /root/sw; rm -f /root/sw; "
         f"ln -s /etc /root/sw; rm -f /root/sw; done"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    payload = host_dir / "payload"
    payload.write_text("PAYLOAD\n")
    outcomes: set[str] = set()
    try:
        # At least 15 rounds, and on until one push went through the real directory (a
        # loaded machine may give it seldom: at most 60 rounds).
        for i in range(60):
            if i >= 15 and "push ok" in outcomes:
                break
            push = _run(lxcpath, "push", "pr", str(payload), "/root/sw/f")
            outcomes.add("push ok" if push.returncode == 0 else "push refused")
            if push.returncode != 0:
                _one_line_error(push, "")
            pulled = _run(lxcpath, "pull", "pr", "/root/sw/f", "-")
            assert b"HOST SECRET" not in pulled.stdout, i
            outcomes.add("pull ok" if pulled.returncode == 0 else "pull refused")
    finally:
        swapper.kill()
        swapper.wait()
    assert before == _hashes([victim / "f", Path("/etc/passwd")])
    assert sorted(p.name for p in victim.iterdir()) == ["f"]
    assert not Path("/etc/f").exists()
    assert "push ok" in outcomes, outcomes  # the race was really run through the dir


def _temporaries(lxc: Lxc, name: str, directory: str) -> list[str]:
    listing = _sh(lxc, name, f"ls -a {directory}")
    return [n for n in listing.split() if n.startswith(".big.lxcprov-")]


@pytest.mark.parametrize("kind", ["clone-running", "dir-stopped"])
def test_a_killed_push_leaves_the_old_file_and_the_next_one_cleans(
    lxcpath: Lxc, password_file: tuple[Path, str], kind: str
) -> None:
    pw, _ = password_file
    _make(lxcpath, "pk", pw, kind)
    _ok(lxcpath, "push", "pk", "-", "/root/big", data=b"old content\n")
    proc = _background(lxcpath, "push", "pk", "-", "/root/big")
    assert proc.stdin is not None
    chunk = os.urandom(1 << 20)
    for _ in range(24):  # 24 MiB on the way: the copy is well under way, far from done
        proc.stdin.write(chunk)
    proc.stdin.flush()
    time.sleep(1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    proc.stderr.close()  # type: ignore[union-attr]
    if kind.endswith("stopped"):
        lxcpath.cli("start", "pk")
    time.sleep(0.5)  # the writer child (running clone) got its parent's death signal
    assert _sh(lxcpath, "pk", "cat /root/big") == "old content\n"
    left = _temporaries(lxcpath, "pk", "/root")
    assert len(left) == 1, left  # what a kill leaves: one temporary file, not the target
    # The next push of that file removes it; the lock was not left held.
    _ok(lxcpath, "push", "pk", "-", "/root/big", data=b"new content\n")
    assert _sh(lxcpath, "pk", "cat /root/big") == "new content\n"
    assert _temporaries(lxcpath, "pk", "/root") == []


def _mounted_under(path: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [ln.split()[4] for ln in text.splitlines() if ln.split()[4].startswith(f"{path}/")]


def test_a_push_and_a_destroy_take_turns(lxcpath: Lxc, password_file: tuple[Path, str]) -> None:
    """A stopped clone's push holds its lock (and its overlay mounted) while it streams: a
    destroy started meanwhile waits, then removes everything; a push after it fails clean."""
    pw, _ = password_file
    _make(lxcpath, "pd", pw, "clone-stopped")
    push = _background(lxcpath, "push", "pd", "-", "/root/f")
    assert push.stdin is not None and push.stderr is not None
    push.stdin.write(b"first half ")
    push.stdin.flush()
    deadline = time.monotonic() + 30
    while not _mounted_under(lxcpath.path / "pd") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _mounted_under(lxcpath.path / "pd"), "the push never opened the clone's files"
    destroy = subprocess.Popen([sys.executable, "-m", "lxcprov", "destroy", "--force", "pd"],
                               stderr=subprocess.PIPE, env=lxcpath.env(), text=True)  # fmt: skip
    time.sleep(2)
    assert destroy.poll() is None, "destroy did not wait for the push"
    push.stdin.write(b"second half\n")
    push.stdin.close()
    assert push.wait(60) == 0, push.stderr.read()
    push.stderr.close()
    _, err = destroy.communicate(timeout=120)
    assert destroy.returncode == 0, err
    assert "pd" not in lxcpath.names()
    assert _mounted_under(lxcpath.path) == []
    assert not (lxcpath.path / "pd").exists()
    _one_line_error(_run(lxcpath, "push", "pd", "-", "/root/f", data=b"x"), "pd")


def test_a_running_dir_container_is_reached_under_its_own_mounts(
    lxcpath: Lxc, password_file: tuple[Path, str], host_dir: Path
) -> None:
    """A running dir container's shares, as it sees them: a push into a share lands in the
    host's share directory, one into a --ro share is refused, never written below it. Its
    /proc is never read as host root (kernel addresses), even through a symlink; a name
    with a newline is shown on one line; a dangling symlink is named."""
    pw, _ = password_file
    _make(lxcpath, "pd", pw, "dir-running")
    share, ro = host_dir / "share", host_dir / "ro"
    share.mkdir()
    ro.mkdir()
    root = (lxcpath.path / "pd/rootfs").stat()  # the container's root on the host
    for d in (share, ro):
        os.chown(d, root.st_uid, root.st_gid)
        # Plain binds: its root, whose files they hold, has an id there (not so in an
        # idmapped share, where root has none).
        lxcpath.cli("mount", "add", "pd", str(d), f"/mnt/{d.name}", "--no-idmap",
                    *(["--ro"] if d is ro else []))  # fmt: skip
    _ok(lxcpath, "push", "pd", "-", "/mnt/share/f", data=b"shared\n")
    assert (share / "f").read_bytes() == b"shared\n"
    assert _sh(lxcpath, "pd", "cat /mnt/share/f") == "shared\n"
    _one_line_error(_run(lxcpath, "push", "pd", "-", "/mnt/ro/f", data=b"x"), "read-only")
    below = lxcpath.path / "pd/rootfs/mnt/ro"
    assert list(ro.iterdir()) == [] and not list(below.glob("*")), list(below.glob("*"))
    # /proc inside: refused whole, never a real kernel address on the host.
    _sh(lxcpath, "pd", "ln -s /proc/kallsyms /root/k")
    for path in ("/proc/kallsyms", "/root/k"):
        proc = _run(lxcpath, "pull", "pd", path, "-")
        _one_line_error(proc, "proc filesystem")
        assert proc.stdout == b""
    # lxcfs's /proc/uptime (FUSE, answering by who reads): never the host's uptime.
    uptime = _run(lxcpath, "pull", "pd", "/proc/uptime", "-")
    _one_line_error(uptime, "fuse filesystem")
    assert uptime.stdout == b""
    # A dangling symlink: named, with the container's path, not /proc/PID/root.
    _sh(lxcpath, "pd", "ln -s /nowhere/x /root/dangle && mkdir /root/t && "
        "busybox mkfifo \"$(printf '/root/t/evil\\nline2')\"")  # fmt: skip
    proc = _run(lxcpath, "push", "pd", "-", "/root/dangle", data=b"x")
    _one_line_error(proc, "/root/dangle in pd: it is a dangling symlink")
    assert "/proc/" not in proc.stderr.decode()
    # A FIFO named with a newline: skipped, listed on one line.
    err = _ok(lxcpath, "pull", "pd", "/root/t", str(host_dir / "t")).stderr.decode()
    assert "/root/t/evil\\x0aline2: a FIFO" in err, err
    assert not any(ln.startswith("line2") for ln in err.splitlines()), err
    # Its /proc as a directory: refused in one line, nothing made on the host.
    _one_line_error(_run(lxcpath, "pull", "pd", "/proc", str(host_dir / "p")), "proc filesystem")
    assert not (host_dir / "p").exists()
    # Stopped, its shares are not mounted: a copy there would be the rootfs beneath them.
    lxcpath.cli("stop", "pd")
    for args in (("push", "pd", "-", "/mnt/share/g"), ("pull", "pd", "/mnt/share", "-")):
        _one_line_error(_run(lxcpath, *args, data=b"x"), f"pd's share of {share}")
    assert not (lxcpath.path / "pd/rootfs/mnt/share/g").exists()


def test_holes_and_hard_links_are_kept_and_a_full_disk_is_one_line(
    lxcpath: Lxc, password_file: tuple[Path, str], host_dir: Path
) -> None:
    """A 3G sparse file in a clone with a 64M disk limit pulls as ~0 blocks, hard links
    come out linked, a sparse host file pushes sparse; a push into the full clone is
    refused in one line with a hint."""
    pw, _ = password_file
    lxcpath.cli("new", "ps", "-t", "busybox", "--network", "none", *PW, str(pw), "--disk", "64M")
    _sh(lxcpath, "ps", "mkdir /root/t && dd if=/dev/zero of=/root/t/sparse bs=1M count=0 "
        "seek=3072 2>/dev/null && dd if=/dev/urandom of=/root/t/ten bs=1M count=10 2>/dev/null "
        "&& for i in 1 2 3 4 5; do ln /root/t/ten /root/t/l$i; done")  # fmt: skip
    back = host_dir / "back"
    _ok(lxcpath, "pull", "ps", "/root/t", str(back))
    st = (back / "sparse").stat()
    assert st.st_size == 3 << 30 and st.st_blocks * 512 < 1 << 20, st
    ten = (back / "ten").stat()
    assert ten.st_nlink == 6 and ten.st_size == 10 << 20, ten
    assert {(back / f"l{i}").stat().st_ino for i in range(1, 6)} == {ten.st_ino}
    # Pushed back: sparse inside too (du counts KiB allocated).
    _ok(lxcpath, "push", "ps", str(back / "sparse"), "/root/again")
    used = _sh(lxcpath, "ps", "du -k /root/again").split()[0]
    assert int(used) < 1024, used
    # Full: one line and a hint, as a stopped clone's.
    big = host_dir / "big"
    big.write_bytes(os.urandom(80 << 20))
    proc = _run(lxcpath, "push", "ps", str(big), "/root/big")
    _one_line_error(proc, "no space left on device for /root/big in ps")
    assert "hint: free some space" in proc.stderr.decode()
