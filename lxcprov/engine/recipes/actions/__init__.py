"""The step actions recipes are made of, grouped by what they touch.

An action looks at the (staged) rootfs and the facts and returns the changes that would
make its step true, or the reason there are none. It never writes: the engine applies.
Every action is idempotent by construction: it compares wanted with present.

Adding an action: a frozen dataclass of its parameters and a planner function decorated
with `@action(name, Params, group)` in the module of its group (files, init, access,
network); the loader checks every step against the dataclass when a recipe loads.
"""

from lxcprov.engine.recipes.actions import access, files, init, network
from lxcprov.engine.recipes.actions.access import parse_public_keys, root_home
from lxcprov.engine.recipes.actions.init import getty_terminals, parse_inittab
from lxcprov.engine.recipes.actions.registry import (
    ACTIONS,
    Action,
    Context,
    ParamError,
    Skip,
    parse_params,
)

__all__ = [
    "ACTIONS",
    "Action",
    "Context",
    "ParamError",
    "Skip",
    "access",
    "files",
    "getty_terminals",
    "init",
    "network",
    "parse_inittab",
    "parse_params",
    "parse_public_keys",
    "root_home",
]
