"""apply's report as typed rows: a worker's JSON and the plan's actions read the same way,
and the CLI renders them as it always did."""

from __future__ import annotations

import json
from dataclasses import replace

from lxcprov.cli import apply as cli_apply
from lxcprov.engine.apply.plan import Action, ContainerPlan, Plan
from lxcprov.ops.apply import many
from lxcprov.ops.apply.one import Done, Result
from lxcprov.ops.apply.rows import ActionRow

SETTING = Action("setting", True, "512M wanted", key="memory", before="256M", after="512M")
FILE = Action("file", True, "differs", key="/etc/motd", diff="+new\n-old\n")
BLOCKED = Action("replace", True, "template differs", after="debian", blocked="needs --replace")
SAME = Action("start", False, "already running")


def test_a_workers_json_reads_as_the_plan_does() -> None:
    for action in (SETTING, FILE, BLOCKED, SAME):
        sent = json.loads(json.dumps(Done(action, "done").as_dict()))
        assert ActionRow.of_worker(sent) == replace(ActionRow.of_plan(action), status="done")


def test_outcome_says_blocked_first_then_the_workers_word() -> None:
    assert ActionRow.of_plan(BLOCKED).outcome == "blocked"
    assert ActionRow.of_plan(SETTING).outcome == "planned"
    assert ActionRow.of_plan(SAME).outcome == "no change"
    assert ActionRow.of_worker(Done(SETTING, "needs restart").as_dict()).outcome == "needs restart"


def test_rows_take_the_workers_account_where_one_ran() -> None:
    plan = Plan((ContainerPlan("a", (SETTING, SAME)), ContainerPlan("b", (FILE,))))
    done = [Done(SETTING, "done", "live").as_dict(), Done(SAME, "no change").as_dict()]
    report = many.Report("f.toml", False, plan,
                         {"a": Result("a", "changed", done, root_password="pw")})  # fmt: skip
    a, b = report.rows()
    assert (a.status, a.root_password, [x.status for x in a.actions]) == (
        "changed", "pw", ["done", "no change"])  # fmt: skip
    assert (b.status, b.actions[0].status, b.changing) == ("changed", "", b.actions)
    assert report.changes == 2


def test_the_cli_lines_of_a_container() -> None:
    (row,) = many.Report(
        "f.toml", True, Plan((ContainerPlan("web", (FILE, BLOCKED, SAME)),))
    ).rows()
    assert cli_apply._container_lines(row, diff=True, verbose=False) == [
        "[bold yellow]web[/]: would change",
        "  file /etc/motd (differs): planned",
        "    [green]+new[/]",
        "    [red]-old[/]",
        "  replace: template differs (debian): [yellow]blocked[/]",
        "    [yellow]needs --replace[/]",
    ]
    ok = many.Report("f.toml", True, Plan((ContainerPlan("db", (SAME,)),))).rows()[0]
    assert cli_apply._container_lines(ok, diff=False, verbose=True) == [
        "[green]db[/]: ok, nothing to change (1 checked): start: already running"
    ]
