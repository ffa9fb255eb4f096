"""Fault points for the crash tests: LXCPROV_FAULT_AT=NAME stops a command at NAME.

A journaled command stops at the start of a phase (journal.Journal.phase); a command
without a journal (forward add and rm, mount add) calls stop_if() between its writes.
The test waits for the line on stderr, then kills the process with SIGKILL. Unset
(always, outside the tests), stop_if() is one dictionary lookup.
"""

from __future__ import annotations

import os
import sys
import time

FAULT_ENV = "LXCPROV_FAULT_AT"


def stop_if(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        sys.stderr.write(f"lxcprov: stopped at phase {point} ({FAULT_ENV})\n")
        sys.stderr.flush()
        while True:  # the test kills us here
            time.sleep(3600)
