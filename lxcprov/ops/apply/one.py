"""One container converged: what each `apply` worker process does.

The worker takes the container's lock first, then observes and plans again: the plan
the parent showed may be stale (another command, another apply), and a decision made
under the lock on what is there now is the one that holds. Then each action is carried
out in the plan's order by the module that owns it: `new` (create, replace), `set`
(settings, network), `mount` (mounts), `forward` (published ports), `device` (devices),
the root-access recipe, firstboot (files, commands), start and stop. The first failure
stops the rest; what was done stays done, and the next `apply` plans only what is left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from lxcprov.engine import devices as devices_table
from lxcprov.engine import recipes
from lxcprov.engine.apply import document
from lxcprov.engine.apply.document import ContainerSpec, Env
from lxcprov.engine.apply.locate import Where
from lxcprov.engine.apply.plan import Action, Observed, Options, plan_container
from lxcprov.engine.recipes import Secrets
from lxcprov.errors import ApplyError, LxcprovError
from lxcprov.ops import devices as devices_op
from lxcprov.ops import forwards, lifecycle, recovery, workspace
from lxcprov.ops import mounts as mounts_op
from lxcprov.ops import new as new_op
from lxcprov.ops import settings as settings_op
from lxcprov.ops.apply import firstboot, load, observe
from lxcprov.ops.attach import login_tty
from lxcprov.ops.defaults import DEFAULT_BOOT_TIMEOUT
from lxcprov.ops.progress import Progress
from lxcprov.ops.request import NewRequest
from lxcprov.system import cgroups, faults, journal, locks, lxc, netintent

Status = Literal["ok", "changed", "failed"]
# What became of one planned action.
Outcome = Literal["done", "no change", "needs restart", "failed", "not done", "blocked"]


@dataclass(frozen=True)
class Job:
    """What the parent sends a worker (on its stdin): one container's document."""

    name: str
    document: dict[str, object]
    declared: str
    from_count: bool
    where: dict[str, str]
    replace: bool = False
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT

    @classmethod
    def of(cls, spec: ContainerSpec, *, replace: bool, boot_timeout: float) -> Job:
        return cls(spec.name, document.one(spec), spec.declared, spec.from_count,
                   dict(spec.where), replace, boot_timeout)  # fmt: skip

    @classmethod
    def removal(cls, name: str) -> Job:
        doc: dict[str, object] = {"version": 1, "containers": {name: {"state": "absent"}}}
        return cls(name, doc, f"not in the document: {name}", False, {})

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        return cls(**data)

    def spec(self) -> ContainerSpec:
        raw, where = document.load_text(json.dumps(self.document), "<job>", "json")
        env = Env(Path("/"), cgroups.detect(), load.read_host_file)
        (spec,) = document.parse(raw, where, env).containers
        return replace(spec, declared=self.declared, from_count=self.from_count,
                       where=self.where)  # fmt: skip


@dataclass
class Done:
    action: Action
    outcome: Outcome
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        out = self.action.as_dict()
        out["status"] = self.outcome
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class Result:
    name: str
    status: Status
    actions: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    hint: str = ""
    root_password: str | None = None  # generated for a new container without root access
    ipv4: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(**data)


def converge(job: Job, lxcpath: Path, progress: Progress) -> Result:
    """Converge job's container; every failure is in the Result, never raised."""
    try:
        lxc.require_root()
        spec = job.spec()
        secrets = load.check_host(document.Document("<job>", (spec,)), Where("<job>"))
        secret = secrets.get(spec.name)
        container = lxc.Container(spec.name, lxcpath)
        with locks.container(lxcpath, spec.name, "apply", on_wait=progress.phase):
            view = observe.host(cgroups.detect())
            obs = observe.container(container, spec, secret, view)
            plan = plan_container(spec, obs, view, Options(replace=job.replace))
            if plan.error:
                return Result(spec.name, "failed", [], plan.error)
            return _Converger(container, spec, obs, secret, job, progress).run(plan.actions)
    except LxcprovError as exc:
        return Result(job.name, "failed", [], exc.message, exc.hint or "")


class _Converger:
    def __init__(
        self,
        container: lxc.Container,
        spec: ContainerSpec,
        obs: Observed,
        secrets: Secrets | None,
        job: Job,
        progress: Progress,
    ) -> None:
        self.c = container
        self.spec = spec
        self.obs = obs
        self.secrets = secrets
        self.job = job
        self.progress = progress
        self.done: dict[int, Done] = {}
        self.result = Result(spec.name, "ok")
        self.started_for_commands = False

    def say(self, message: str) -> None:
        self.progress.phase(f"{self.spec.name}: {message}")

    def run(self, actions: tuple[Action, ...]) -> Result:
        failed: LxcprovError | None = None
        for i, action in enumerate(actions):
            if i in self.done:
                continue
            if not action.change:
                self.done[i] = Done(action, "no change")
                continue
            if action.blocked:
                self.done[i] = Done(action, "blocked", action.blocked)
                continue
            try:
                self.carry_out(i, action, actions)
            except LxcprovError as exc:
                self.done[i] = Done(action, "failed", exc.message)
                failed = exc
                break
        self._stop_if_started_for_commands()
        for i, action in enumerate(actions):
            self.done.setdefault(i, Done(action, "not done", "an earlier action failed"))
        result = self.result
        result.actions = [self.done[i].as_dict() for i in range(len(actions))]
        if failed is not None:
            result.status = "failed"
            result.error = failed.message
            result.hint = failed.hint or ""
        elif any(d.outcome in ("done", "needs restart") for d in self.done.values()):
            result.status = "changed"
        if self.c.exists() and self.c.running():
            result.ipv4 = self.c.ipv4()
        return result

    # ---- the actions ------------------------------------------------------------

    def carry_out(self, i: int, action: Action, actions: tuple[Action, ...]) -> None:
        kind = action.kind
        if kind in ("create", "replace"):
            self.create(action)
            self.done[i] = Done(action, "done")
        elif kind in ("setting", "network"):
            self.settings(actions)
        elif kind == "mounts":
            self.mounts(actions)
        elif kind == "publish":
            self.publish(i, action)
        elif kind == "devices":
            self.device(i, action)
        elif kind == "access":
            self.access(i, action)
        elif kind == "file":
            self.files(actions)
        elif kind == "run":
            self.command(i, action, actions)
        elif kind == "start":
            self.say("starting")
            lifecycle.start(self.c)
            self.done[i] = Done(action, "done")
        elif kind == "stop":
            self.say("stopping")
            lifecycle.stop(self.c)
            self.started_for_commands = False
            self.done[i] = Done(action, "done")
        elif kind == "groups":
            firstboot.record_groups(self.c, tuple(self.spec.groups or ()))
            self.done[i] = Done(action, "done")
        elif kind == "remove":
            self.say("removing it")
            removed = lifecycle.destroy(self.c, force=True)
            self.done[i] = Done(action, "done", "; ".join(removed.done))
        else:
            raise ApplyError(f"{self.spec.name}: {kind}: not something apply can do here")

    def create(self, action: Action) -> None:
        spec = self.spec
        mac = None
        ip = _ip(spec.address)
        bridge = spec.bridge
        if action.kind == "replace":
            now = self.obs.intent
            # Keep what the document does not change: the bridge, a static address and
            # the MAC (a DHCP lease and a reservation follow the MAC).
            bridge = bridge or (now.bridge or None)
            if spec.address is None and now.mode == "static":
                ip = now.address
            if spec.bridge is None and spec.address is None and now.mode == "none":
                bridge = "none"
            mac = _mac(self.c)
            # Before its journal: a refusal leaves the container as it was.
            self.c.refuse_running_elsewhere()
            self.say(f"replacing it ({action.reason})")
            jr = journal.Journal.begin(self.c.lxcpath, spec.name, "apply", creating=True,
                                       phase="replace")  # fmt: skip
            recovery.remove(self.c, stop=True, entry=jr.entry, keep_network=True)
            faults.stop_if("apply-replaced")  # removed, not made again yet
        else:
            self.say(f"creating it ({action.reason})")
        net_none = bridge == "none" or (spec.address or "").lower() == "none"
        idmapped = [m for m in spec.mounts or () if m.idmap]
        req = NewRequest(
            name=spec.name,
            template=spec.template or "",
            image=spec.image,
            lxcpath=self.c.lxcpath,
            release=spec.release,
            template_args=list(spec.template_args or ()),
            network="none" if net_none else "bridge",
            bridge=None if net_none else bridge,
            ip=None if net_none else ip,
            access=load.access_of(spec),
            start=spec.state != "stopped" or bool(spec.first_boot),
            boot_timeout=self.job.boot_timeout,
            privileged=bool(spec.privileged),
            isolated=bool(spec.isolated),
            settings=dict(spec.settings),
            mounts=[m.spec() for m in idmapped],
            publish=[p.spec() for p in spec.publish or ()],
            devices=list(spec.devices or ()),  # a replaced container keeps the named ones
            mac=mac,
            user_data=spec.user_data,
        )
        outcome = new_op.new(req, Progress(phase=self.say))
        self.result.root_password = outcome.generated_password
        for m in spec.mounts or ():
            if not m.idmap:  # `new --mount` has no way to say it; added once it exists
                mounts_op.add(self.c, m)
        self.started_for_commands = False
        faults.stop_if("apply-created")

    def _indices(self, actions: tuple[Action, ...], *kinds: str) -> list[int]:
        return [i for i, a in enumerate(actions) if a.kind in kinds and a.pending]

    def settings(self, actions: tuple[Action, ...]) -> None:
        """Every setting and the network in one `set` (it checks them all first)."""
        spec = self.spec
        todo: dict[str, str] = {}
        for i in self._indices(actions, "setting"):
            todo[actions[i].key] = spec.settings[actions[i].key]
        if self._indices(actions, "network"):
            if spec.bridge is not None:
                todo["bridge"] = spec.bridge
            if spec.address is not None:
                todo["address"] = spec.address
        self.say("set " + " ".join(f"{k}={v}" for k, v in todo.items()))
        results = {r.setting: r for r in settings_op.set_settings(self.c, todo)}
        for i in self._indices(actions, "setting", "network"):
            a = actions[i]
            key = a.key if a.kind == "setting" else ("address" if "address" in results
                                                       else "bridge")  # fmt: skip
            r = results.get(key)
            if r is None:
                self.done[i] = Done(a, "done")
                continue
            outcome: Outcome = "needs restart" if r.status == "needs restart" else (
                "done" if r.status == "changed" else "no change")  # fmt: skip
            self.done[i] = Done(a, outcome, r.detail)

    def mounts(self, actions: tuple[Action, ...]) -> None:
        self.say("mounts")
        done = mounts_op.replace_all(self.c, list(self.spec.mounts or ()))
        results = {r.mount.target: r for r in done}
        for i in self._indices(actions, "mounts"):
            r = results.get(actions[i].key)
            if r is None:
                self.done[i] = Done(actions[i], "done")
                continue
            outcome: Outcome = "needs restart" if r.status == "needs restart" else "done"
            self.done[i] = Done(actions[i], outcome, r.detail)

    def publish(self, i: int, action: Action) -> None:
        if action.after:
            self.say(f"publish {action.after}")
            p = forwards.parse_publish(action.after)
            r = forwards.add(self.c, p)
            outcome: Outcome = "needs restart" if r.status == "needs restart" else "done"
            self.done[i] = Done(action, outcome, r.detail)
            return
        p = forwards.parse_publish(action.before)
        host = f"{p.host_addr}:{p.host_port}" if p.host_addr else str(p.host_port)
        self.say(f"unpublish {action.before}")
        forwards.remove(self.c, host, p.proto)
        self.done[i] = Done(action, "done")

    def device(self, i: int, action: Action) -> None:
        """One device added or taken away, as `device add`/`rm` do (at once if it runs)."""
        if action.after:
            self.say(f"device add {action.after}")
            # A recorded one (not bound yet) keeps the mode and owner it was given.
            had = {d.path: d for d in self.obs.devices}
            wanted = [(had[action.after], "")] if action.after in had else devices_op.resolve(
                action.after, mode=devices_table.DEFAULT_MODE, uid=0, gid=0)  # fmt: skip
            results = devices_op.add(self.c, wanted)
        else:
            self.say(f"device rm {action.before}")
            results = devices_op.remove(self.c, action.before)
        restart = [r.detail for r in results if r.status == "needs restart"]
        if restart:
            self.done[i] = Done(action, "needs restart", "; ".join(restart))
        else:
            self.done[i] = Done(action, "done", "; ".join(r.detail for r in results if r.detail))

    def access(self, i: int, action: Action) -> None:
        self.say("root access")
        chosen = recipes.providing(recipes.load_all(), "root-access")
        with workspace.opened(self.c) as ws:
            _facts, _plan, applied = ws.run(chosen, self.secrets)
        self.done[i] = Done(action, "done" if applied else "no change")

    def files(self, actions: tuple[Action, ...]) -> None:
        self.say("files")
        written = {w.path: w for w in firstboot.write_files(self.c, self.spec.files or ())}
        for i in self._indices(actions, "file"):
            w = written.get(actions[i].key)
            changed = w is not None and w.changed
            self.done[i] = Done(actions[i], "done" if changed else "no change")

    def command(self, i: int, action: Action, actions: tuple[Action, ...]) -> None:
        commands = {c.id: (n, c) for n, c in enumerate(self.spec.first_boot or (), 1)}
        number, command = commands[action.key]
        self._ready_for_commands()
        self.say(f"first boot: {command.run}")
        ran = firstboot.run_command(self.c, command, number)
        if not ran.ok:
            log = self.c.lxcpath / self.c.name / "lxcprov-first-boot.log"
            why = f"exit {ran.exit_code}" if ran.exit_code >= 0 else "timed out"
            raise ApplyError(
                f"{self.spec.name}: first-boot command {number} failed ({why})"
                + (f": {ran.last_line}" if ran.last_line else ""),
                hint=f"its output is in {log}; the container is kept, and the next apply "
                "runs this command again",
            )
        self.done[i] = Done(action, "done", ran.last_line)

    def _ready_for_commands(self) -> None:
        """Commands need it running and booted (a login prompt, its address)."""
        if self.c.running():
            return
        self.say("starting it for its first-boot commands")
        lifecycle.start(self.c)
        if self.spec.state != "started":
            self.started_for_commands = True
        ttys = self.c.config().get("lxc.tty.max", "0")
        lxc.wait_for_login(self.c, login_tty(int(ttys) if ttys.isdigit() else 0),
                           self.job.boot_timeout)  # fmt: skip
        intent = netintent.load(self.c.lxcpath / self.c.name, self.c.config())
        if intent.mode != "none":
            expected = intent.address.split("/")[0] if intent.mode == "static" else None
            lxc.wait_for_ipv4(self.c, expected, self.job.boot_timeout)

    def _stop_if_started_for_commands(self) -> None:
        """A container the commands started goes back to stopped (state stopped/present)."""
        if self.started_for_commands:
            self.started_for_commands = False
            lifecycle.stop(self.c)


def _ip(address: str | None) -> str | None:
    if address is None or address.strip().lower() in ("dhcp", "none"):
        return None
    return address.strip()


def _mac(container: lxc.Container) -> str | None:
    try:
        return container.config().get("lxc.net.0.hwaddr") or None
    except LxcprovError:
        return None
