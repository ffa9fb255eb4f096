"""Container access through python3-lxc, and the few LXC commands that have no binding.

Templates run through the `lxc-create` command (via lxcprov.system.run) so their output can be
streamed; it gets an explicit `-f` config so the host's /etc/lxc/default.conf never
decides a container's network by accident.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import os
import re
import resource
import select
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxcprov.errors import (
    ContainerConfigError,
    ContainerExistsError,
    DestroyFailedError,
    InvalidNameError,
    LxcprovError,
    MissingDependencyError,
    NoSuchContainerError,
    NotReadyError,
    NotRootError,
    RunningElsewhereError,
    StartFailedError,
    TemplateFailedError,
    UnknownTemplateError,
    did_you_mean,
)
from lxcprov.system import (
    entrypoint,
    liblxcnoise,
    lxcconf,
    lxcfs,
    monitors,
    mountns,
    rootfsspec,
    run,
    templatecache,
)

TEMPLATE_DIR = Path("/usr/share/lxc/templates")
# A container name is also its hostname: one DNS label.
# Matched whole (fullmatch): `$` would also accept a trailing newline ("web1\n").
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def module() -> Any:
    try:
        import lxc as pylxc  # a Debian package: imported on use so errors are ours
    except ImportError:
        raise MissingDependencyError(
            "python3-lxc is not importable by this Python",
            hint="apt-get install python3-lxc, and use a venv made with --system-site-packages",
        ) from None
    return pylxc


_TOOLS = ("lxc-create", "lxc-start", "lxc-attach", "lxc-console")


def require_root() -> None:
    """Root and a working LXC: every command that manages containers checks this first."""
    if os.geteuid() != 0:
        raise NotRootError("lxcprov needs root to manage containers")
    require_tools()


def require_tools() -> None:
    """LXC's commands and python3-lxc are both there, or a clear error says which is not."""
    for tool in _TOOLS:
        if shutil.which(tool) is None:
            raise MissingDependencyError(
                f"lxc is not installed ({tool} not found)",
                hint="apt-get install lxc lxc-templates (or run ./scripts/install)",
            )
    module()


def default_lxcpath() -> Path:
    env = os.environ.get("LXCPROV_LXCPATH")
    if env:
        return Path(env)
    return Path(module().default_config_path)


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidNameError(
            f"invalid container name {name!r}",
            hint="use letters, digits and dashes (it becomes the hostname), at most 63",
        )


def available_templates() -> list[str]:
    if not TEMPLATE_DIR.is_dir():
        return []
    return sorted(p.name.removeprefix("lxc-") for p in TEMPLATE_DIR.glob("lxc-*"))


def check_template(template: str) -> None:
    if not (TEMPLATE_DIR / f"lxc-{template}").is_file():
        raise UnknownTemplateError(
            f"unknown template {template!r}{did_you_mean(template, available_templates())}",
            hint="available here: " + ", ".join(available_templates()),
        )


# How often a container's config that keeps changing under liblxc is read again.
_OPEN_TRIES = 5


def _identity(path: Path) -> tuple[int, int, int] | None:
    """The file's inode, change time and size; None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_ctime_ns, st.st_size


@dataclass(frozen=True)
class Container:
    """A named container in an lxcpath, wrapping python3-lxc's object."""

    name: str
    lxcpath: Path

    @property
    def handle(self) -> Any:
        # A config that changed while liblxc read it (a destroy, or a destroy and a new of
        # the same name) is read again; one that went is a container that is gone; only
        # one that stayed the same is refused as LXC's.
        for _ in range(_OPEN_TRIES):
            before = _identity(self.config_path)
            try:
                with liblxcnoise.sifted(liblxcnoise.dropped_line(self.name)):
                    return module().Container(self.name, str(self.lxcpath))
            except RuntimeError:
                after = _identity(self.config_path)
                if after is None:
                    raise NoSuchContainerError(
                        f"no container {self.name!r} in {self.lxcpath}"
                    ) from None
                if after == before:
                    break
        short = _descriptors_short()
        if short:
            # liblxc opens several files to load a config; without them it fails as it
            # does for a bad key. Once more without the sifting's two descriptors, else
            # said as what it is, not as a broken container.
            with contextlib.suppress(RuntimeError):
                return module().Container(self.name, str(self.lxcpath))
            raise LxcprovError(
                f"LXC could not open {self.name}'s config: lxcprov is short of file "
                f"descriptors ({short})",
                hint="raise the limit (ulimit -n, or LimitNOFILE= in a unit) and run it again",
            )
        # liblxc refuses a config with a key it does not know or a value it cannot use.
        raise ContainerConfigError(
            f"{self.name}: LXC cannot load its config {self.config_path}",
            hint=f"a key LXC does not know or a bad value: fix the file "
            f"(lxc-start -P {self.lxcpath} -n {self.name} -F says which), or remove "
            f"the container with: lxcprov destroy --force {self.name}",
        )

    @property
    def config_path(self) -> Path:
        return self.lxcpath / self.name / "config"

    def exists(self) -> bool:
        try:
            return bool(self.handle.defined)
        except NoSuchContainerError:
            return False  # its config went while liblxc read it

    def require(self) -> Container:
        if not self.exists():
            raise NoSuchContainerError(f"no container {self.name!r} in {self.lxcpath}")
        self.refuse_running_elsewhere(unless_running_here=True)
        return self

    def refuse_running_elsewhere(self, *, unless_running_here: bool = False) -> None:
        """Refuse a container that runs under another spelling of its lxcpath: to this
        spelling LXC says it is stopped, so a start would boot a second init on its
        files and a destroy would remove them from under it. unless_running_here: one
        already running under this spelling too (started twice before lxcprov knew) is
        not refused, so that it can at least be stopped here."""
        other = monitors.running_elsewhere(self.lxcpath, self.name, self._its_files())
        if other is None or (unless_running_here and self.running()):
            return
        if not _same_dir(other, self.lxcpath):  # gone, or another directory now
            raise RunningElsewhereError(
                f"{self.name} runs as {other}/{self.name} on these very files ({other} no "
                f"longer leads to {self.lxcpath}): a start here would boot it twice",
                hint=f"stop it where it runs: kill its init, or make {other} lead to "
                f"{self.lxcpath} again and run lxcprov --lxcpath {other} stop {self.name}",
            )
        raise RunningElsewhereError(
            f"{self.name} runs as {other}/{self.name}, {other} being another path to "
            f"{self.lxcpath}: LXC tells the two apart, so lxcprov leaves it alone here",
            hint=f"stop it there (lxcprov --lxcpath {other} stop {self.name}), or use "
            f"--lxcpath {other} for it",
        )

    def _its_files(self) -> monitors.Ours | None:
        """Whether a running container's root is this one's files: a dir rootfs by its
        device and inode, an overlay by its upper directory's inode (an overlay's root
        shows that, on the overlay's own device); None for other storage."""
        try:
            spec = lxcconf.get(lxcconf.parse(self.config_path.read_text(errors="replace")),
                               "lxc.rootfs.path")  # fmt: skip
        except OSError:
            return None
        found = rootfsspec.layout({"lxc.rootfs.path": spec or ""})
        try:
            if found.storage == "dir":
                mine = os.stat(found.path)
                return lambda st: (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
            if found.storage == "overlay":
                upper = os.stat(found.upper)
                return lambda st: st.st_ino == upper.st_ino
        except OSError:
            return None
        return None

    def state(self) -> str:
        return str(self.handle.state)

    def running(self) -> bool:
        return bool(self.handle.running)

    def config(self) -> dict[str, str]:
        """The keys lxcprov reads, with includes resolved by liblxc."""
        h = self.handle
        out: dict[str, str] = {}
        keys = ("lxc.tty.max", "lxc.autodev", "lxc.rootfs.path", "lxc.rootfs.options",
                "lxc.uts.name", "lxc.execute.cmd")  # fmt: skip
        net = ("type", "link", "name", "hwaddr", "ipv4.address", "ipv4.gateway")
        for key in keys + tuple(f"lxc.net.0.{k}" for k in net):
            with contextlib.suppress(KeyError, ValueError):
                value = h.get_config_item(key)
                out[key] = value if isinstance(value, str) else " ".join(value)
        return out

    def config_item(self, key: str) -> str | None:
        """One key as liblxc reads it (includes resolved); None when it is not set."""
        with contextlib.suppress(KeyError, ValueError):
            value = self.handle.get_config_item(key)
            text = value if isinstance(value, str) else " ".join(value)
            return text or None
        return None

    def config_values(self, key: str) -> list[str]:
        """A multi-valued key's values, in order, as liblxc reads them (includes resolved);
        [] when it is not set."""
        with contextlib.suppress(KeyError, ValueError):
            value = self.handle.get_config_item(key)
            values = [value] if isinstance(value, str) else list(value)
            # python3-lxc gives a multi-valued key as a list, or as one string of lines.
            return [line.strip() for v in values for line in v.split("\n") if line.strip()]
        return []

    def mount_hooks(self) -> list[str]:
        """The container's lxc.hook.mount values, in order."""
        return self.config_values("lxc.hook.mount")

    def idmap(self) -> list[str]:
        """The container's lxc.idmap values ([] for a privileged container)."""
        return self.config_values("lxc.idmap")

    def ipv4(self) -> list[str]:
        return self.summary()[1]

    def summary(self) -> tuple[str, list[str], list[str]]:
        """State, IPv4 and global IPv6 addresses through one liblxc handle (ls asks this
        of many)."""
        h = self.handle
        state = str(h.state)
        if state != "RUNNING":
            return state, [], []
        seen = netns_addresses(int(h.init_pid))
        if seen is not None:
            return state, *seen
        v6 = [str(a) for a in h.get_ips(family="inet6")]
        return (
            state,
            [str(a) for a in h.get_ips(family="inet")],
            [a for a in v6 if not a.lower().startswith("fe80:")],
        )

    def start(self, defines: Sequence[tuple[str, str]] = ()) -> None:
        """Start it; defines: config items set for this start only (`lxc-start -s`, in
        order, after the config is read: an empty value clears a list)."""
        h = self.handle
        if h.running:
            return
        # Every start passes here (start, start --all, restore, apply, new): none boots a
        # second init on files another spelling of the lxcpath runs.
        self.refuse_running_elsewhere()
        log = self.lxcpath / self.name / "lxcprov-start.log"
        try:
            begun = log.stat().st_size  # LXC appends: this start's lines are after
        except OSError:
            begun = 0
        # After the caller's: those may clear lxc.mount.entry and give it again.
        defines = [*defines, *lxcfs.start_items(self.mount_hooks())]
        extra = [arg for key, value in defines for arg in ("-s", f"{key}={value}")]
        # An application image's command, word for word (LXC 5 splits lxc.init.cmd at blanks).
        argv = entrypoint.load(self.lxcpath / self.name)
        ok = run.run(
            ["lxc-start", "-P", str(self.lxcpath), "-n", self.name, "-o", str(log), "-l", "ERROR",
             *extra, *(["--", *argv] if argv else [])],
            check=False,
        )  # fmt: skip
        if not ok.ok or not h.wait("RUNNING", 10):
            short = _descriptors_short()
            if short:  # liblxc's first line is then a symptom (a key it could not parse)
                raise StartFailedError(
                    f"{self.name} did not start: lxcprov is short of file descriptors ({short})",
                    hint="raise the limit (ulimit -n, or LimitNOFILE= in a unit) and start "
                    f"it again; full log: {log}",
                )
            raise StartFailedError(
                f"{self.name} did not start: {_first_error(log, begun) or ok.stderr.strip()}",
                hint=f"full log: {log}",
            )

    def stop(self, timeout: int = 30) -> None:
        """A clean shutdown, then a kill after timeout s. By `lxc-stop`, a process of its
        own: python3-lxc's shutdown() holds the interpreter's lock for its whole wait, so
        `stop a b c` in threads took as long as three stops in a row."""
        h = self.handle
        if not h.running:
            return
        argv = ["lxc-stop", "-P", str(self.lxcpath), "-n", self.name, "-t", str(timeout)]
        run.run(argv, check=False)
        if not h.wait("STOPPED", 10):
            h.stop()
            h.wait("STOPPED", 10)

    def destroy(self) -> None:
        h = self.handle
        if h.running:
            h.stop()
            h.wait("STOPPED", 10)
        if h.defined and not h.destroy():
            raise DestroyFailedError(f"could not destroy {self.name}")


def netns_addresses(pid: int) -> tuple[list[str], list[str]] | None:
    """The IPv4 and global IPv6 addresses in pid's network namespace (loopback left out),
    from the kernel's own tables under /proc/PID/net: what liblxc's get_ips finds by forking
    into the namespace, for about a hundredth of its cost (ls of 50: 0.11 s of 0.2).
    None when they cannot be read (no such process)."""
    if pid <= 0:
        return None
    try:
        trie = Path(f"/proc/{pid}/net/fib_trie").read_text(encoding="ascii", errors="replace")
        inet6 = Path(f"/proc/{pid}/net/if_inet6").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return _local_ipv4(trie), _global_ipv6(inet6)


def _local_ipv4(fib_trie: str) -> list[str]:
    # A local address is a leaf "|-- A.B.C.D" followed by its "/32 host LOCAL" line.
    found: list[str] = []
    leaf = ""
    for line in fib_trie.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "|--":
            leaf = words[1]
        elif words[:3] == ["/32", "host", "LOCAL"] and leaf and leaf not in found:
            with contextlib.suppress(ValueError):
                if not ipaddress.IPv4Address(leaf).is_loopback:
                    found.append(leaf)
    return found


def _global_ipv6(if_inet6: str) -> list[str]:
    # Each line: address (32 hex digits), ifindex, prefix length, scope, flags, name.
    found: list[str] = []
    for line in if_inet6.splitlines():
        words = line.split()
        if len(words) != 6 or words[5] == "lo":
            continue
        with contextlib.suppress(ValueError):
            address = ipaddress.IPv6Address(int(words[0], 16))
            if not address.is_link_local and str(address) not in found:
                found.append(str(address))
    return found


def _first_error(log: Path, begun: int = 0) -> str:
    """The first ERROR line this start wrote (from byte begun of the log), as a message."""
    try:
        with log.open("rb") as f:
            f.seek(begun)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if "ERROR" in ln]
    if not lines:
        return ""
    # "lxc-start c1 2026... ERROR network - network.c:...: Failed to ..." -> the message
    return lines[0].split(" - ", 1)[-1].split(": ", 1)[-1]


# Prepared bases (see lxcprov.ops.bases) live among the containers but are not shown as such.
BASE_PREFIX = "lxcprov-base-"


@dataclass(frozen=True)
class Read(Container):
    """A container looked at once, as a listing does: python3-lxc's object is made at the
    first use and kept, its config as it was then. Each new object parses the config
    again, and a row of `ls` asked for five: 0.13 s of 0.45 for 200 containers."""

    @functools.cached_property
    def handle(self) -> Any:
        return Container.handle.fget(self)  # type: ignore[attr-defined]


def _same_dir(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


# Descriptors liblxc may want free to load a config (the file, its includes, a memfd copy).
_DESCRIPTORS_FREE = 16


def _descriptors_short() -> str:
    """'only N free of M' when fewer than _DESCRIPTORS_FREE are left; else ''."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:  # not even one left to read the list with
        return f"none left of {soft}"
    if soft != resource.RLIM_INFINITY and soft - used < _DESCRIPTORS_FREE:
        return f"only {soft - used} free of {soft}"
    return ""


def list_containers(lxcpath: Path, *, include_bases: bool = False) -> list[Container]:
    if not lxcpath.is_dir():
        return []
    names = module().list_containers(config_path=str(lxcpath))
    return [
        Container(n, lxcpath)
        for n in sorted(names)
        if include_bases or not n.startswith(BASE_PREFIX)
    ]


def create_config_path(container: Container) -> Path:
    """The config lxc-create gets with -f (lxcprov's network keys), while it runs."""
    return container.lxcpath / ".lxcprov" / "create" / f"{container.name}.conf"


def create(
    container: Container,
    template: str,
    config_text: str,
    template_args: list[str],
    on_line: Callable[[str], None],
    on_start: Callable[[int], None] | None = None,
    on_cache: Callable[[tuple[str, ...]], None] | None = None,
) -> None:
    """Run the template through lxc-create with our config; on failure nothing is left,
    in the template cache neither (on_cache records, before the run, the partial caches
    there were, for a later command to tell this run's from others if this one is
    killed)."""
    check_name(container.name)
    check_template(template)
    if container.exists():
        raise ContainerExistsError(
            f"container {container.name!r} already exists in {container.lxcpath}"
        )
    container.lxcpath.mkdir(parents=True, exist_ok=True)
    conf = create_config_path(container)
    conf.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf.write_text(config_text)
    before = templatecache.partials()
    if on_cache is not None:
        on_cache(before)
    try:
        argv = ["lxc-create", "-P", str(container.lxcpath), "-n", container.name]
        argv += ["-t", template, "-f", str(conf)]
        if template_args:
            argv += ["--", *template_args]
        # Its own mount namespace, other containers' images let go there: the template
        # runs for minutes in a copy of it, which would hold them all that time.
        let_go = functools.partial(mountns.let_go_in_child, container.lxcpath / container.name)
        code, tail = run.stream(argv, on_line, on_start=on_start, before_exec=let_go)
    except BaseException:
        templatecache.remove_new(template, before)  # interrupted: its group is killed
        raise
    finally:
        conf.unlink(missing_ok=True)
    if code != 0:
        templatecache.remove_new(template, before)
        with contextlib.suppress(LxcprovError):
            container.destroy()
        last = next((ln for ln in reversed(tail) if ln.strip()), "(no output)")
        raise TemplateFailedError(
            f"template {template!r} failed (exit {code}): {last.strip()}",
            hint="its output is above (-v shows it as it runs); nothing was left behind",
        )
    _include_lxcfs(container)


def _include_lxcfs(container: Container) -> None:
    """LXC's lxcfs hooks for a template whose config lacks them (busybox's does not include
    common.conf): the container then sees its own memory and CPUs in /proc too."""
    include = Path(lxcfs.INCLUDE)
    if not include.exists() or lxcfs.hooked(container.config_item("lxc.hook.mount")):
        return
    with container.config_path.open("a") as config:
        config.write(
            "# Added by lxcprov: lxcfs's hooks, so /proc shows this container's own limits\n"
            f"lxc.include = {include}\n"
        )


def _open_fds() -> dict[int, str]:
    fds: dict[int, str] = {}
    for entry in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            fds[int(entry)] = os.readlink(f"/proc/self/fd/{entry}")
    return fds


def _connected_elsewhere(fd: int) -> bool:
    """Whether fd is a unix socket whose other end another process made: liblxc's
    connection to a container's command socket, not a socketpair of this process."""
    import socket
    import struct

    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    with sock:
        if sock.family != socket.AF_UNIX:
            return False
        try:
            cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except OSError:
            return False
    pid: int = struct.unpack("3i", cred)[0]
    return pid > 0 and pid != os.getpid()


@contextlib.contextmanager
def console_fd(container: Container, tty: int) -> Iterator[int]:
    """The host end of one of the container's terminals (0 is the console).

    liblxc keeps the terminal allocated to the command socket it opened for us, and
    python3-lxc never closes that socket: the terminal would stay busy ("Unable to
    allocate tty") until this process exits. We close it ourselves when done: the new
    unix socket (a new inode, whatever its fd number) connected to another process.
    Another thread's new sockets of the same moment (`new` reads the host in one while
    it waits here: netlink, asyncio's socketpair) are not it, and closing them would
    pull fds from under that thread.
    """
    before = _open_fds()
    fd = container.handle.console_getfd(tty)
    extra = [
        n
        for n, target in _open_fds().items()
        if before.get(n) != target and target.startswith("socket:") and _connected_elsewhere(n)
    ]
    if isinstance(fd, tuple):
        fd = fd[0]
    try:
        if not isinstance(fd, int) or fd < 0:
            raise NotReadyError(f"{container.name}: terminal {tty} is not available")
        yield fd
    finally:
        for n in [fd, *extra] if isinstance(fd, int) and fd >= 0 else extra:
            with contextlib.suppress(OSError):
                os.close(n)


# ioctl(2) numbers of the tty driver (asm-generic/ioctls.h; not in Python's termios).
_TIOCGPGRP = 0x540F


def foreground_program(container: Container, tty: int) -> str | None:
    """The name (/proc/PID/comm) of the foreground process group's leader on one of the
    container's terminals, or None when no session has it as its terminal (no getty).
    Asked through the terminal's host end: nothing is read from it or written to it."""
    with console_fd(container, tty) as fd:
        raw = fcntl.ioctl(fd, _TIOCGPGRP, b"\0\0\0\0")
    pgrp = int.from_bytes(raw, sys.byteorder, signed=True)
    if pgrp <= 0:
        return None
    try:
        return Path(f"/proc/{pgrp}/comm").read_text(errors="replace").strip() or "?"
    except OSError:
        return "?"  # its leader ended; others of the group still hold the terminal


def read_until(fd: int, markers: tuple[bytes, ...], timeout: float, seen: bytes = b"") -> bytes:
    """Read from fd until one of markers is seen (in seen + what came) or timeout passes;
    returns seen and what came."""
    buf = seen
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if any(m in buf for m in markers):
                break
    return buf


def boot_hint() -> str:
    # Many systemd containers at once use up root's inotify instances first (the next one
    # stops at boot): doctor counts them (lxcprov.engine.hostlimits).
    return (
        "see why with: lxc-start -F -n NAME (in the foreground); lxcprov doctor says when a"
        " host limit (inotify instances, pids) is used up"
    )


def wait_for_login(container: Container, tty: int, timeout: float) -> None:
    """Return once the terminal shows a login prompt; NotReadyError after timeout.

    Read-only and event-driven: the host end of an LXC tty keeps what the container wrote
    until someone reads it (the monitor never drains ttys), so attaching after the getty
    printed its prompt still finds it; select() wakes us as output arrives. Nothing is
    typed: the prompt is waited for, not asked for (an Enter would only print it again).
    """
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        if not container.running():
            raise StartFailedError(f"{container.name} stopped while booting", hint=boot_hint())
        try:
            with console_fd(container, tty) as fd:
                while time.monotonic() < deadline:
                    # Long reads; the container's state is checked between them (a boot
                    # that stops shows no prompt, and the fd never says so).
                    left = min(1.0, deadline - time.monotonic())
                    seen = read_until(fd, (b"login:",), left, seen)[-4096:]
                    if b"login:" in seen:
                        return
                    if not container.running():
                        break
        except (NotReadyError, OSError, ValueError):
            # ValueError is python3-lxc's "Unable to allocate tty": not there yet, or busy.
            time.sleep(0.02)
    shown = seen.decode(errors="replace").strip()[-80:]
    raise NotReadyError(
        f"{container.name}: no login prompt on tty{tty} after {timeout:.0f} s"
        + (f" (it shows: {shown!r})" if shown else ""),
        hint=f"look at its boot with: lxcprov console {container.name} --tty 0",
    )


def wait_for_ipv4(container: Container, expected: str | None, timeout: float) -> list[str]:
    """The container's IPv4 addresses once it has one (the expected one, if given)."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        seen = container.ipv4()
        if seen and (expected is None or expected in seen):
            return seen
        time.sleep(0.05)
    got = ", ".join(seen) or "none"
    raise NotReadyError(
        f"{container.name}: no IPv4 address{' ' + expected if expected else ''} "
        f"after {timeout:.0f} s (has: {got})",
        hint=f"see the DHCP server with: lxcprov net status; the boot with: "
        f"lxcprov console {container.name} --tty 0",
    )
