"""Defaults the CLI shows in its help: here, so that showing them imports nothing else."""

from __future__ import annotations

# Seconds `new` waits for a login prompt (and an address) after starting a container.
DEFAULT_BOOT_TIMEOUT = 90.0

# Containers `apply` converges at a time.
DEFAULT_APPLY_JOBS = 8

# Seconds `start`, `restart` and `restore --stop` wait for the login prompt of a container
# lxcprov made (a note, not a failure, when it does not come).
START_LOGIN_TIMEOUT = 30.0
