"""What every command shares: the lxcpath, the two output streams, JSON printing."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from lxcprov.system import lxc

# Human output goes to stderr so that stdout carries only --json data.
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class Options:
    lxcpath: Path | None = None

    def path(self) -> Path:
        # Absolute: containers are known by name@lxcpath (address books, locks, journals).
        return Path(os.path.abspath(self.lxcpath or lxc.default_lxcpath()))

    def container(self, name: str) -> lxc.Container:
        lxc.check_name(name)
        return lxc.Container(name, self.path())


options = Options()


def emit_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
