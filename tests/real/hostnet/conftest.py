"""Fixtures of the real host-network tests; the helpers live in hostnet_lab.py. (The
forwarding sysctls are put back once, at the end of the run: tests/conftest.py.)"""

from .hostnet_lab import lab

__all__ = ["lab"]
