"""What the user handed over for root access, kept in memory only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Secrets:
    """Root's password and SSH keys; never written anywhere in plain text."""

    root_password: str | None = None
    ssh_keys: list[str] = field(default_factory=list)
