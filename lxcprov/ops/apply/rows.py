"""What apply's report holds of each container, typed for whoever renders it.

A worker's actions come back as JSON (its report on stdout); the plan's are `Action`s.
Both become an `ActionRow` here, once, so that the CLI renders fields, not dict keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lxcprov.engine.apply.plan import Action


@dataclass(frozen=True)
class ActionRow:
    kind: str
    change: bool  # a change that is made (not blocked)
    reason: str
    key: str = ""
    after: str = ""
    diff: str = ""
    blocked: str = ""  # why a change is not made
    status: str = ""  # what a worker did with it ("" when only planned)
    detail: str = ""

    @classmethod
    def of_plan(cls, a: Action) -> ActionRow:
        return cls(a.kind, a.pending, a.reason, a.key, a.after, a.diff, a.blocked)

    @classmethod
    def of_worker(cls, d: Mapping[str, object]) -> ActionRow:
        """From a worker's JSON (`Done.as_dict`: absent keys are empty)."""

        def text(key: str) -> str:
            return str(d.get(key) or "")

        return cls(str(d["kind"]), bool(d.get("change")), text("reason"), text("key"),
                   text("after"), text("diff"), text("blocked"), text("status"),
                   text("detail"))  # fmt: skip

    @property
    def outcome(self) -> str:
        """What became of it: a worker's word, else planned or no change; blocked first."""
        if self.blocked:
            return "blocked"
        return self.status or ("planned" if self.change else "no change")


@dataclass(frozen=True)
class ContainerRow:
    name: str
    status: str  # Report.status_of
    actions: tuple[ActionRow, ...]
    error: str = ""
    hint: str = ""
    root_password: str = ""

    @property
    def changing(self) -> tuple[ActionRow, ...]:
        """The actions that change something or would but are blocked."""
        return tuple(a for a in self.actions if a.change or a.blocked)
