"""One function run in a thread while the caller waits for something else.

For reading work that may overlap a wait on I/O: `new` observes the host for its closing
advice while the container boots (the main thread sits in select() then, so the GIL is
free). A daemon thread: a command that fails or is interrupted does not wait for it.

Start one only after the last fork of Python code in the process (run.fork_call): a
thread holding a lock at a fork would hold it forever in the child.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    def __init__(self, fn: Callable[[], T], name: str) -> None:
        self._fn = fn
        self._value: list[T] = []  # fn's return value, once there
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value.append(self._fn())
        except BaseException as exc:  # handed to result(), raised in the caller's thread
            self._error = exc

    def result(self) -> T:
        """fn's return value, once it is done; what it raised is raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value[0]
