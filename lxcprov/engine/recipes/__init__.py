"""The recipe engine: load TOML recipes, plan steps into changes, apply, report."""

from lxcprov.engine.recipes.actions import Secrets
from lxcprov.engine.recipes.engine import apply, plan, select
from lxcprov.engine.recipes.loader import load_all, load_file
from lxcprov.engine.recipes.model import Change, Plan, Recipe, StepPlan

__all__ = [
    "Change",
    "Plan",
    "Recipe",
    "Secrets",
    "StepPlan",
    "apply",
    "load_all",
    "load_file",
    "plan",
    "select",
]
