"""metricshttp.serve: an interrupt that lands while the ready words are said still ends
the server cleanly (the CI once sent Ctrl-C right after reading them, exit 130)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import weakref

from lxcprov.system import metricshttp


def test_an_interrupt_while_saying_ready_ends_serving_and_closes_the_socket() -> None:
    server = metricshttp.bind("127.0.0.1", 0, lambda: b"", "text/plain")
    port = server.server_address[1]

    def ready() -> None:
        raise KeyboardInterrupt  # Ctrl-C as the words are printed

    metricshttp.serve(server, ready)  # returns: no KeyboardInterrupt escapes
    with socket.socket() as probe:  # the port is free again: the socket was closed
        probe.bind(("127.0.0.1", port))


def test_an_interrupt_that_lands_in_a_weakref_callback_still_ends_serving() -> None:
    """Python swallows an exception raised inside a weakref callback: a Ctrl-C that
    became KeyboardInterrupt there was lost, and the server went on answering."""
    server = metricshttp.bind("127.0.0.1", 0, lambda: b"", "text/plain")
    watchdog_fired = threading.Event()

    def watchdog() -> None:
        if not served.wait(20):
            watchdog_fired.set()
            server.shutdown()

    served = threading.Event()
    threading.Thread(target=watchdog, daemon=True).start()

    class Thing:
        pass

    def callback(_ref: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100000):  # the handler runs here, inside the callback
            pass

    def ready() -> None:
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing  # the callback runs now, and the interrupt lands in it
        assert ref() is None

    metricshttp.serve(server, ready)
    served.set()
    assert not watchdog_fired.is_set(), "the interrupt was lost: the server went on"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back
