"""What `new` and `fix` report back: what was planned, done, started and measured."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxcprov.engine.facts import Facts
from lxcprov.engine.recipes import Plan
from lxcprov.ops.doctor.model import Finding
from lxcprov.system import lxc
from lxcprov.system.netintent import NetIntent


@dataclass
class Outcome:
    container: lxc.Container
    facts: Facts | None = None
    plan: Plan | None = None
    applied: int = 0
    started: bool = False
    login_tty: int | None = None
    generated_password: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    network: NetIntent = field(default_factory=NetIntent)
    ipv4: list[str] = field(default_factory=list)
    base: str | None = None
    clone_method: str | None = None
    # "system" (an init, a login prompt) or "application" (an image's entrypoint as PID 1).
    kind: str = "system"
    remaining: list[Finding] = field(default_factory=list)  # doctor's errors and warnings left
    privileged: bool = False
