"""cockpit-ws serving a private plugin directory on a free loopback port, for browser tests.

The root session is served without a login (`--local-session=cockpit-bridge`, as
cockpit-desktop does). The listening socket is bound here and handed over as fd 3
(systemd socket activation), so there is no race for the port. Everything started here,
and everything it starts (the bridge, its dbus-daemon and ssh-agent, the page's spawns,
chromium), carries a marker in its environment; stop() ends the process group and then
kills whatever still carries the marker, and says what that was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType

COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"  # not on PATH
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium tries to reach Google's hosts.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
MARK = "LXCPROV_COCKPIT_RIG"


def marked(token: str) -> list[int]:
    """Processes whose environment holds MARK=token (zombies have an empty environ)."""
    needle = f"{MARK}={token}".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{d}/environ").read_bytes().split(b"\0"):
                found.append(int(d))
    return found


def comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return "?"


class CockpitWS:
    def __init__(self, plugin_dir: Path, env: dict[str, str]) -> None:
        self.plugin_dir = plugin_dir
        self.extra_env = env
        self.token = uuid.uuid4().hex
        self.proc: subprocess.Popen[bytes] | None = None
        self.leftovers: list[str] = []
        self.url = ""
        self.startup = 0.0

    def __enter__(self) -> CockpitWS:
        self.tmp = Path(tempfile.mkdtemp(prefix="lxcprov-cockpit-"))
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)  # a failed start leaves nothing either
            raise
        return self

    def _start(self) -> None:
        packages = self.tmp / "data" / "cockpit"
        packages.mkdir(parents=True)
        (packages / "lxcprov").symlink_to(self.plugin_dir)
        (self.tmp / "home").mkdir()  # empty XDG_DATA_HOME: not ~/.local/share/cockpit
        (self.tmp / "config").mkdir()  # empty XDG_CONFIG_DIRS: not /etc/cockpit
        env = dict(os.environ)
        env.update(
            {
                # /usr/share still: the shell, base1 and static live there. An installed
                # /usr/share/cockpit/lxcprov is hidden by this one (an earlier entry wins).
                "XDG_DATA_DIRS": f"{self.tmp / 'data'}:/usr/share",
                "XDG_DATA_HOME": str(self.tmp / "home"),
                "XDG_CONFIG_DIRS": str(self.tmp / "config"),
                MARK: self.token,
            }
        )
        env.update(self.extra_env)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        # bash, not sh: dash refuses fd numbers above 9, and under pytest this one often is.
        cmd = ["bash", "-c", f'exec 3<&{sock.fileno()}; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"',
               "bash", COCKPIT_WS, "--no-tls", "--local-session=cockpit-bridge"]  # fmt: skip
        t0 = time.monotonic()
        with open(self.tmp / "ws.log", "wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, pass_fds=[sock.fileno()], start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        sock.close()
        self.url = f"http://127.0.0.1:{port}"
        # The kernel queues this until ws accepts: the shell's HTML means ws and bridge are up.
        with urllib.request.urlopen(self.url + "/", timeout=15) as answer:
            answer.read()
        self.startup = time.monotonic() - t0

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.tmp / "ws.log").read_text(errors="replace")
        return ""

    def stop(self) -> list[str]:
        """End ws and its process group (bridge, dbus-daemon, ssh-agent, spawns), then
        anything else that still carries the marker; returns what had to be killed so."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        deadline = time.monotonic() + 5
        while (left := self._ours()) and time.monotonic() < deadline:
            time.sleep(0.05)
        described = [f"{pid} {comm(pid)}" for pid in left]
        for pid in left:  # only ever our own processes: they carry our marker
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return described

    def _ours(self) -> list[int]:
        # What the page started on purpose and that outlives it inherits ws's environment
        # too: a container's monitor (`lxc-start`) and a bridge's `dnsmasq` (net setup).
        # They belong to the container and the bridge, which the test's fixtures remove.
        return [pid for pid in marked(self.token) if comm(pid) not in ("lxc-start", "dnsmasq")]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.leftovers = self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
