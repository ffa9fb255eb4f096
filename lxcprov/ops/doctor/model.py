"""What doctor reports: findings, how each is fixed, and what a fix run did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lxcprov.engine.hostlimits import LimitId

Severity = Literal["error", "warning", "info"]
Scope = Literal["host", "container"]
# How `doctor --fix` applies a fix: through the recipes, through `net setup`, by
# undoing what a killed command left (lxcprov.ops.recovery), by giving a stale static
# address back, by starting a host service (lxcfs), by freeing a loop device of a
# container's disk image that nothing mounts, by raising a kernel limit (a sysctl, kept in
# lxcprov's file in /etc/sysctl.d), or not at all (a person has to decide).
FixKind = Literal["recipe", "net-setup", "undo", "release", "service", "disk", "sysctl", "manual"]

# Every finding doctor can report, by its stable id: mypy refuses any other. docs/doctor.md
# explains each and docs/doctor.schema.json lists them in this order (a unit test compares).
FindingId = Literal[
    "not-root",
    "lxc-missing",
    "lxc-too-old",
    "python3-lxc-missing",
    "namespace-missing",
    "cgroup-missing",
    "cgroup-controller-unavailable",
    "apparmor-parser-missing",
    LimitId,  # the host limits many containers meet (lxcprov.engine.hostlimits)
    "bridge-missing",
    "not-a-bridge",
    "bridge-down",
    "no-dhcp-server",
    "nat-missing",
    "ip-forward-off",
    "forward-blocked",
    "rootfs-missing",
    "console-empty",
    "getty-config-pending",
    "tty-nodes-missing",
    "securetty-missing",
    "hostname-mismatch",
    "network-config-pending",
    "root-locked",
    "recipe-pending",
    "cgroup-controller-missing",
    "cgroup-legacy-key",
    "apparmor-profile-missing",
    "apparmor-not-enforced",
    "doctor-failed",
    "incomplete-container",
    "container-busy",
    "address-stale",
    "subuid-missing",
    "privileged-container",
    "idmap-too-small",
    "rootfs-owner-mismatch",
    "forward-mismatch",
    "forward-waiting",
    "forwards-out-of-step",
    "autostart-not-at-boot",
    "lxcfs-missing",
    "lxcfs-not-running",
    "lxcfs-dead",
    "device-missing",
    "share-not-mounted",
    "nesting-off",
    "disk-loop-stale",
    "disk-overcommit",
]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One problem: what is wrong, why it matters, and the exact command that fixes it."""

    id: FindingId  # stable kebab-case, e.g. bridge-missing
    severity: Severity
    scope: Scope
    subject: str  # the host's "host", a bridge name, or the container's name
    message: str
    why: str
    fix: str  # a command line a user can paste
    fix_kind: FixKind = "manual"
    recipes: tuple[str, ...] = ()  # for fix_kind "recipe"
    bridge: str = ""  # for fix_kind "net-setup" and "release"
    owner: str = ""  # for fix_kind "release": the address book's entry
    dhcp: bool = False  # net setup must turn DHCP on
    needs_secret: bool = False  # the fix needs --root-password-file or --ssh-key
    blocks_start: bool = False  # lxc-start fails (not merely a poor result) while present
    # console-empty: the terminals ("console", "tty1", ...) no getty answers on (the
    # message names them; `start` does not wait for a prompt on one of them).
    terminals: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "severity": self.severity,
            "scope": self.scope,
            "subject": self.subject,
            "message": self.message,
            "why": self.why,
            "fix": self.fix,
            "fix_kind": self.fix_kind,
            "recipes": list(self.recipes),
            "bridge": self.bridge or None,
            "needs_secret": self.needs_secret,
            "blocks_start": self.blocks_start,
        }


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def ordered(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then info; host before container; stable otherwise."""
    return sorted(
        findings, key=lambda f: (SEVERITIES.index(f.severity), f.scope != "host", f.subject)
    )


@dataclass
class FixReport:
    """What `doctor --fix` did, what it could not do, and what remains afterwards."""

    applied: list[str] = field(default_factory=list)  # one line per action taken
    skipped: list[tuple[FindingId, str]] = field(default_factory=list)  # (finding id, reason)
    notes: list[str] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "applied": list(self.applied),
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "notes": list(self.notes),
        }
