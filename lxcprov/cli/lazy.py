"""Modules the CLI imports only when a command runs them.

Building the command tree needs only the commands' signatures; the layers below (ops,
engine, hostnet) cost tens of milliseconds to import, which `ls`, `--help` and every
shell completion would pay for nothing. Each CLI module says, for the type checker::

    if TYPE_CHECKING:
        from lxcprov.ops import bases
    else:
        bases = lazy.module("lxcprov.ops.bases")

and the real module is imported at the first attribute access.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _Lazy(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)  # later lookups skip __getattr__
        return getattr(real, attr)


def module(name: str) -> types.ModuleType:
    return _Lazy(name)
