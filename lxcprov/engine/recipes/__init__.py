"""The recipe engine: load TOML recipes, plan steps into changes, apply, report."""

from lxcprov.engine.recipes.engine import apply, plan, providing, select
from lxcprov.engine.recipes.loader import load_all, load_file
from lxcprov.engine.recipes.model import Change, Plan, Planned, Recipe, StepPlan
from lxcprov.engine.recipes.roles import ROLES, TERMINAL_ROLES, Role
from lxcprov.engine.recipes.secrets import Secrets

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
