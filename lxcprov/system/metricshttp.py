"""The HTTP endpoint of `metrics --listen`: GET /metrics answers 200 and what `render`
returns now; any other path 404. Python's own http.server, a thread per connection (a
slow or idle client holds only its thread, and is dropped after `TIMEOUT` seconds), no
request logged (a scrape every 15 s would fill a terminal or a journal with nothing).
The port is bound before `on_ready` is told, so a port in use is one error at once.
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from lxcprov.errors import LxcprovError

PATH = "/metrics"
# Seconds a connection may stay silent before it is closed.
TIMEOUT = 30.0


class Unavailable(Exception):
    """render could not sample now: answered 500 with this one line."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a connection in flight never holds the process at exit

    def __init__(self, host: str, port: int, render: Callable[[], bytes], kind: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.render, self.content_type = render, kind
        super().__init__((host, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = TIMEOUT
    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its connection

    def do_GET(self) -> None:
        if urlsplit(self.path).path != PATH:
            self._answer(404, b"not found: the metrics are at /metrics\n", "text/plain")
            return
        try:
            body = self.server.render()
        except Unavailable as exc:
            self._answer(500, f"{exc}\n".encode(), "text/plain")
            return
        self._answer(200, body, self.server.content_type)

    def _answer(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def version_string(self) -> str:
        """The Server header: no Python version in it."""
        return "lxcprov"

    def log_message(self, format: str, *args: object) -> None:
        """Nothing: see the module docstring."""


def bind(host: str, port: int, render: Callable[[], bytes], kind: str) -> ThreadingHTTPServer:
    """A server listening on host:port (not yet serving) that answers with render() and
    Content-Type kind; one-line errors for a port in use, an address this host does not
    have, or any other refusal."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        return _Server(host, port, render, kind)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise LxcprovError(
                f"cannot listen on {where}: the port is in use",
                hint=f"another program listens there (ss -ltnp 'sport = :{port}'); "
                "choose another port with --listen",
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise LxcprovError(
                f"cannot listen on {where}: not an address of this host",
                hint="ip -brief address lists this host's addresses",
            ) from None
        raise LxcprovError(f"cannot listen on {where}: {exc.strerror}") from None


def serve(server: ThreadingHTTPServer, ready: Callable[[], None]) -> None:
    """Call ready(), then answer scrapes until Ctrl-C or SIGTERM; the socket is closed on
    the way out. While it serves, those signals ask the loop to end instead of raising
    KeyboardInterrupt: Python swallows an exception raised inside a weakref or GC
    callback (printing "Exception ignored"), so an interrupt that landed there was lost
    and the server went on. ready() runs inside the same guard: whoever reads its words
    and interrupts at once ends the server cleanly, not with an interrupted command's exit
    code."""

    def stop(_signum: int, _frame: object) -> None:
        # shutdown() waits for the loop to end: not in the loop's own thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ready()
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass  # raised by ready() itself, or before the handlers were in place
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
