"""metricshttp.serve: an interrupt that lands while the ready words are said still ends
the server cleanly (the CI once sent Ctrl-C right after reading them, exit 130)."""

from __future__ import annotations

import socket

from lxcprov.system import metricshttp


def test_an_interrupt_while_saying_ready_ends_serving_and_closes_the_socket() -> None:
    server = metricshttp.bind("127.0.0.1", 0, lambda: b"", "text/plain")
    port = server.server_address[1]

    def ready() -> None:
        raise KeyboardInterrupt  # Ctrl-C as the words are printed

    metricshttp.serve(server, ready)  # returns: no KeyboardInterrupt escapes
    with socket.socket() as probe:  # the port is free again: the socket was closed
        probe.bind(("127.0.0.1", port))
