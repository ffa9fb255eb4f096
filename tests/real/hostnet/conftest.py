"""Fixtures of the real host-network tests; the helpers live in hostnet_lab.py."""

from .hostnet_lab import _restore_ip_forward, lab

__all__ = ["_restore_ip_forward", "lab"]
