"""The recipe engine: load TOML recipes, plan steps into changes, apply, report.

The names below are loaded on first use: a command that only needs a recipe role (`show`,
`ls`) must not pay for the engine, its actions and the distro registry (about 35 ms).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxcprov.engine.recipes.engine import apply, plan, providing, select
    from lxcprov.engine.recipes.loader import load_all, load_file
    from lxcprov.engine.recipes.model import Change, Plan, Planned, Recipe, StepPlan
    from lxcprov.engine.recipes.roles import ROLES, TERMINAL_ROLES, Role
    from lxcprov.engine.recipes.secrets import Secrets

_WHERE = {
    "apply": "engine", "plan": "engine", "providing": "engine", "select": "engine",
    "load_all": "loader", "load_file": "loader",
    "Change": "model", "Plan": "model", "Planned": "model", "Recipe": "model",
    "StepPlan": "model",
    "ROLES": "roles", "TERMINAL_ROLES": "roles", "Role": "roles",
    "Secrets": "secrets",
}  # fmt: skip

__all__ = [
    "ROLES",
    "TERMINAL_ROLES",
    "Change",
    "Plan",
    "Planned",
    "Recipe",
    "Role",
    "Secrets",
    "StepPlan",
    "apply",
    "load_all",
    "load_file",
    "plan",
    "providing",
    "select",
]


def __getattr__(name: str) -> Any:
    # An unknown name raises AttributeError, so `from lxcprov.engine.recipes import
    # managed` still imports that submodule the usual way.
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
