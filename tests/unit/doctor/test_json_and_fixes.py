"""--json validates against docs/doctor.schema.json; --fix goes through recipes and net setup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest

from lxcprov.ops.access import Access
from lxcprov.ops.doctor import checks, findings_json, fixes
from lxcprov.ops.doctor.model import Finding, FindingId, FixKind, FixReport
from lxcprov.ops.workspace import Workspace
from lxcprov.system import lxc
from tests.trees import opened
from tests.unit.doctor.fixtures import BRIDGE, Box, host, only
from tests.unit.doctor.minischema import validate

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "docs" / "doctor.schema.json"
DOC_FILE = SCHEMA_FILE.with_name("doctor.md")
FINDING_IDS = get_args(FindingId)


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return data


def test_schema_lists_every_finding_id_and_the_doc_explains_each() -> None:
    assert schema()["$defs"]["finding"]["properties"]["id"]["enum"] == list(FINDING_IDS)
    doc = DOC_FILE.read_text()
    missing = [i for i in FINDING_IDS if f"`{i}`" not in doc]
    assert not missing, f"docs/doctor.md does not explain {missing}"


def test_container_findings_validate(tmp_path: Path) -> None:
    box = Box(tmp_path)  # the raw template tree: several findings
    found = box.findings(host(bridges=()))
    assert len(found) >= 5
    c = lxc.Container("c1", tmp_path)
    data = findings_json(found, host=host(), container=c)
    assert validate(data, schema()) == []
    assert data["ok"] is False and data["summary"]["error"] >= 3  # type: ignore[index]
    json.dumps(data)


def test_host_and_fix_documents_validate() -> None:
    found = checks.check_host(host(root=False))
    report = FixReport(applied=["net setup --bridge br0: create bridge"],
                       skipped=[("root-locked", fixes.NEEDS_ACCESS)], notes=["n"])  # fmt: skip
    data = findings_json(found, host=host(), report=report, before=found)
    assert validate(data, schema()) == []
    assert data["target"] == "host" and data["container"] is None


def test_validator_rejects_what_the_schema_forbids() -> None:
    data = findings_json([], host=host())
    assert validate(data, schema()) == []
    assert validate({**data, "extra": 1}, schema())
    bad = dict(data, findings=[{"id": "made-up"}])
    assert validate(bad, schema())


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []

    def setup(bridge: str, **kw: Any) -> Any:
        calls.append(("net setup", (bridge, kw)))
        return type("R", (), {"actions": ("create bridge",), "notes": ()})()

    monkeypatch.setattr("lxcprov.system.hostnet.setup", setup)
    return calls


def _ws(box: Box, tmp_path: Path) -> Workspace:
    """The fixture container opened as doctor --fix opens it (its rootfs is a plain dir)."""
    return Workspace(lxc.Container("c1", tmp_path), opened(box.rootfs))


def _recipes(report: FixReport) -> set[str]:
    return {line.split(":")[0] for line in report.applied if not line.startswith("net setup")}


def test_fix_goes_through_net_setup_and_the_recipes(
    tmp_path: Path, recorded: list[tuple[str, Any]]
) -> None:
    box = Box(tmp_path)
    found = box.findings(host(bridges=()))
    opts = fixes.NetOptions(address="10.77.0.1/24", nat=False)
    report = fixes.apply_fixes(found, _ws(box, tmp_path), Access(), opts)
    assert recorded == [
        (
            "net setup",
            (BRIDGE, {"address": "10.77.0.1/24", "uplink": None, "nat": False, "dhcp": True}),
        )
    ]
    assert "root-access" not in _recipes(report)  # no secret given
    assert {"getty-systemd", "hostname", "network-ifupdown"} <= _recipes(report)
    assert ("root-locked", fixes.NEEDS_ACCESS) in report.skipped
    assert report.applied[0] == f"net setup --bridge {BRIDGE}: create bridge"
    left = {f.id for f in box.findings()}
    assert not left & {"console-empty", "hostname-mismatch", "network-config-pending"}


def test_fix_with_a_password_runs_root_access(
    tmp_path: Path, recorded: list[tuple[str, Any]]
) -> None:
    box = Box(tmp_path)
    root_locked = [f for f in box.findings() if f.id == "root-locked"]
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    report = fixes.apply_fixes(root_locked, _ws(box, tmp_path), Access(pw))
    assert recorded == [] and report.skipped == []
    assert _recipes(report) == {"root-access"}
    assert "root-locked" not in {f.id for f in box.findings()}


def test_manual_findings_are_reported_not_done(
    tmp_path: Path, recorded: list[tuple[str, Any]]
) -> None:
    f = only(checks.check_host(host(lxc_version=None)))
    report = fixes.apply_fixes([f], None, Access())
    assert recorded == []
    assert report.skipped == [("lxc-missing", f"not done automatically; run: {f.fix}")]


def _finding(id_: FindingId, kind: FixKind, **kw: Any) -> Finding:
    return Finding(id_, "error", "container", "c1", "m", "w", "fix it", kind, **kw)


def test_fixes_are_chosen_before_anything_is_done() -> None:
    found = [
        _finding("bridge-missing", "net-setup", bridge="br0"),
        _finding("no-dhcp-server", "net-setup", bridge="br0", dhcp=True),
        _finding("console-empty", "recipe", recipes=("console", "tty-devices")),
        _finding("root-locked", "recipe", recipes=("root-access",), needs_secret=True),
        _finding("getty-config-pending", "recipe", recipes=("console",)),
    ]
    assert fixes.bridges_to_set_up(found) == {"br0": True}
    assert fixes.recipes_to_run(found, has_container=True, access_given=False) == (
        ["console", "tty-devices"], [("root-locked", fixes.NEEDS_ACCESS)])  # fmt: skip
    assert fixes.recipes_to_run(found, has_container=True, access_given=True)[0] == [
        "console", "tty-devices", "root-access"]  # fmt: skip
    wanted, skipped = fixes.recipes_to_run(found, has_container=False, access_given=True)
    assert wanted == [] and [i for i, _ in skipped] == ["console-empty", "root-locked",
                                                        "getty-config-pending"]  # fmt: skip


def test_a_gone_containers_ports_leave_the_table_before_net_setup(
    recorded: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A destroy killed after the rules went and before the table did: its port is still
    listed. The release (hostnet.forget: address, MAC and ports) runs before `net setup`,
    which would otherwise write the listed port's rule again."""

    def forget(bridge: str, owner: str) -> bool:
        recorded.append(("forget", (bridge, owner)))
        return True

    monkeypatch.setattr("lxcprov.system.hostnet.forget", forget)
    found = [
        Finding("forwards-out-of-step", "warning", "host", "br0", "m", "w", "f", "net-setup",
                bridge="br0"),
        Finding("address-stale", "warning", "host", "br0", "m", "w", "f", "release",
                bridge="br0", owner="gone@/l"),
    ]  # fmt: skip
    report = fixes.apply_fixes(found, None, Access())
    assert [what for what, _ in recorded] == ["forget", "net setup"]
    assert recorded[0] == ("forget", ("br0", "gone@/l"))
    assert report.applied[0] == "address-stale: released gone@/l's address on br0"
