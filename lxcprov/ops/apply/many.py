"""`lxcprov apply`: a whole document, planned, then converged in parallel.

1. read and check the document (lxcprov.ops.apply.load): a problem stops everything;
2. observe every container it names (and, for --prune, the others) and plan (pure:
   lxcprov.engine.apply.plan); a container that cannot be converged as the document
   says (an address another container holds, a count over a container lxcprov did not
   make, no template to make it from) stops everything too, with one line each;
3. --check stops here: the plan is the answer, nothing is changed;
4. one worker process per container that has changes (`lxcprov apply-worker`, the job
   on its stdin), at most -j at a time, through lxcprov.ops.batch: one failure spoils
   nothing else, and each worker plans again under its container's lock;
5. one report: what each container did, or why nothing was left to do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine.apply.plan import ContainerPlan, Options, Plan, plan_document
from lxcprov.errors import InvalidArgumentError, plural
from lxcprov.ops import batch
from lxcprov.ops.apply import load, observe
from lxcprov.ops.apply.one import Job, Result
from lxcprov.ops.apply.rows import ActionRow, ContainerRow
from lxcprov.ops.defaults import DEFAULT_APPLY_JOBS, DEFAULT_BOOT_TIMEOUT
from lxcprov.system import cgroups, faults, lxc

DEFAULT_JOBS = DEFAULT_APPLY_JOBS


@dataclass(frozen=True)
class Request:
    source: str  # a file, or "-" for JSON on stdin
    lxcpath: Path
    stdin_text: str | None = None
    check: bool = False
    prune: bool = False
    replace: bool = False
    jobs: int = DEFAULT_JOBS
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT


@dataclass
class Report:
    source: str
    check: bool
    plan: Plan
    results: dict[str, Result] = field(default_factory=dict)  # from the workers
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        if self.check:
            return self.plan.changed
        return any(r.status == "changed" for r in self.results.values())

    @property
    def failed(self) -> list[str]:
        return [n for n, r in self.results.items() if r.status == "failed"]

    def status_of(self, cp: ContainerPlan) -> str:
        """ok, changed, failed; would change (--check); blocked: only what needs --replace."""
        if cp.name in self.results:
            status = self.results[cp.name].status
            return "blocked" if status == "ok" and cp.blocked else status
        if cp.changes:
            return "would change" if self.check else "changed"
        return "blocked" if cp.blocked else "ok"

    @property
    def changes(self) -> int:
        """The changes the plan makes, over all containers."""
        return sum(len(cp.changes) for cp in self.plan.containers)

    def rows(self) -> list[ContainerRow]:
        """Each container of the plan as shown: the worker's account where one ran."""
        rows = []
        for cp in self.plan.containers:
            result = self.results.get(cp.name)
            if result is None:
                planned = tuple(ActionRow.of_plan(a) for a in cp.actions)
                rows.append(ContainerRow(cp.name, self.status_of(cp), planned))
                continue
            actions = tuple(ActionRow.of_worker(a) for a in result.actions)
            rows.append(ContainerRow(cp.name, self.status_of(cp), actions, result.error,
                                     result.hint, result.root_password or ""))  # fmt: skip
        return rows

    def as_dict(self, *, diff: bool) -> dict[str, object]:
        containers = []
        for cp in self.plan.containers:
            result = self.results.get(cp.name)
            actions = result.actions if result else [a.as_dict() for a in cp.actions]
            if not diff:  # file contents only when asked for (--diff)
                actions = [{k: v for k, v in a.items() if k != "diff"} for a in actions]
            entry: dict[str, object] = {
                "name": cp.name,
                "status": self.status_of(cp),
                "pruned": cp.prune,
                "actions": actions,
            }
            if result is not None:
                for key in ("error", "hint", "root_password"):
                    if getattr(result, key):
                        entry[key] = getattr(result, key)
                entry["ipv4"] = result.ipv4
            if diff:
                entry["diff"] = container_diff(cp)
            containers.append(entry)
        return {
            "source": self.source,
            "check": self.check,
            "changed": self.changed,
            "failed": self.failed,
            "changes": self.changes,
            "blocked": sum(len(cp.blocked) for cp in self.plan.containers),
            "containers": containers,
            "seconds": round(self.seconds, 3),
        }


def container_diff(cp: ContainerPlan) -> dict[str, object]:
    """Before and after of the keys that change (`key = value` lines), and file diffs."""
    before: list[str] = []
    after: list[str] = []
    files = []
    for a in cp.changes:
        if a.kind == "file":
            files.append({"path": a.key, "diff": a.diff})
            continue
        label = a.kind if not a.key or a.kind in ("run",) else f"{a.kind} {a.key}"
        if a.kind == "run":
            label = "first_boot"
        if a.before:
            before.append(f"{label} = {a.before}")
        if a.after:
            after.append(f"{label} = {a.after}")
        if not a.before and not a.after:
            after.append(f"{label}: {a.reason}")
    return {"before": "".join(f"{x}\n" for x in before),
            "after": "".join(f"{x}\n" for x in after), "files": files}  # fmt: skip


def plan(req: Request, loaded: load.Loaded) -> Plan:
    """Observe and plan (read-only); raises when a container cannot be converged."""
    view = observe.host(cgroups.detect())
    doc = loaded.doc
    observed = {
        spec.name: observe.container(
            lxc.Container(spec.name, req.lxcpath), spec, loaded.secrets.get(spec.name), view
        )
        for spec in doc.containers
    }
    others = observe.others(req.lxcpath, set(doc.names()), view) if req.prune else []
    result = plan_document(doc, observed, others, view, Options(req.replace, req.prune))
    if result.errors:
        lines = [cp.error for cp in result.errors]
        raise InvalidArgumentError(
            lines[0]
            if len(lines) == 1
            else f"{plural(len(lines), 'container')} cannot be converged (above); "
            "nothing was changed",
            hint="fix the document (or the containers it names), then apply again",
            details=lines if len(lines) > 1 else [],
        )
    return result


def apply(req: Request, on_progress: Callable[[str], None] = lambda _m: None) -> Report:
    t0 = time.monotonic()
    lxc.require_root()
    if req.source == "-" and req.stdin_text is None:
        raise InvalidArgumentError("apply - reads the document as JSON on stdin; none came")
    text, name, fmt, base = load.source_of(req.source, req.stdin_text)
    loaded = load.parse_text(text, name, fmt, base)
    result = plan(req, loaded)
    report = Report(name, req.check, result)
    if req.check:
        report.seconds = time.monotonic() - t0
        return report
    faults.stop_if("apply-dispatch")
    specs = {s.name: s for s in loaded.doc.containers}
    jobs = []
    for cp in result.containers:
        if not cp.changes:
            continue
        job = Job.removal(cp.name) if cp.prune else Job.of(
            specs[cp.name], replace=req.replace, boot_timeout=req.boot_timeout)  # fmt: skip
        jobs.append(batch.Job(cp.name, worker_argv(req.lxcpath), job.to_json()))
    if jobs:
        on_progress(f"converging {plural(len(jobs), 'container')}, {req.jobs} at a time")
        batch.warn_inotify(sum(1 for cp in result.containers if "create" in cp.kinds()),
                           on_progress)  # fmt: skip
        items = batch.run_many(jobs, lambda _items: None, jobs=req.jobs, share_stderr=True)
        for item in items:
            report.results[item.name] = _result(item)
    report.seconds = time.monotonic() - t0
    return report


def worker_argv(lxcpath: Path) -> list[str]:
    return [*batch.PYTHON_M, "--lxcpath", str(lxcpath), "apply-worker"]


def _result(item: batch.Item) -> Result:
    try:
        data = json.loads(item.stdout)
        return Result.from_dict(data)
    except (ValueError, TypeError):
        return Result(item.name, "failed", [],
                      f"{item.name}: its apply worker ended with exit code {item.returncode} "
                      "and no report", "run the same apply again")  # fmt: skip
