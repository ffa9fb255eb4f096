"""`lxcprov export-spec`: the document of containers that exist.

Each container is described by what lxcprov can read back: what it was made from (its
origin record, its base's, or lxc-create's comments), its ids, network, settings,
mounts, published ports, devices, groups and the first-boot commands that ran. Root access (only
a hash is stored) and files cannot be read back, so they are left out: an `apply` of the
output leaves them as they are.

The promise is that `apply` of the output plans nothing on the same host. It is kept by
construction: each container's exported keys are planned against the container itself,
and a key whose value `apply` would still change (a hand-written cpu.shares no weight
gives back, both a CPU count and a pinning) is left out and said so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import settings_table
from lxcprov.engine.apply import document
from lxcprov.engine.apply.document import ContainerSpec, Env
from lxcprov.engine.apply.fields import RECREATE_FIELDS
from lxcprov.engine.apply.plan import HostView, Observed, Options, forward_spec, plan_container
from lxcprov.engine.sizes import format_size
from lxcprov.errors import LxcprovError, NoSuchContainerError
from lxcprov.ops.apply import load, observe
from lxcprov.system import applystate, cgroups, lxc, origin

# What an action of the plan is about, as document keys (dropped when it would change).
_KEYS_OF_KIND = {
    "network": ("bridge", "address"),
    "mounts": ("mounts",),
    "publish": ("publish",),
    "devices": ("devices",),
    "groups": ("groups",),
    "run": ("first_boot",),
    "start": ("state",),
    "stop": ("state",),
    "replace": RECREATE_FIELDS,
}


@dataclass
class Exported:
    document: dict[str, object]
    notes: list[str] = field(default_factory=list)  # what is not in it, and why


def _made_from(made: origin.Origin) -> dict[str, object]:
    """The image a container was made from, or its template, release and arguments."""
    if made.image:
        return {"image": made.image}
    out: dict[str, object] = {"template": made.template}
    if made.release:
        out["release"] = made.release
    if made.template_args:
        out["template_args"] = list(made.template_args)
    return out


def _fields(obs: Observed, cgroup: cgroups.CgroupHost) -> tuple[dict[str, object], list[str]]:
    out: dict[str, object] = {}
    notes: list[str] = []
    if obs.origin is not None:
        out.update(_made_from(obs.origin))
    else:
        notes.append(f"{obs.name}: cannot tell what template made it: template not exported")
    if obs.privileged is not None:
        out["privileged"] = obs.privileged
    if obs.isolated:
        out["isolated"] = True
    out["state"] = "started" if obs.state == "RUNNING" else "stopped"
    intent = obs.intent
    if intent.mode == "none":
        out["bridge"] = "none"
    else:
        out["bridge"] = intent.bridge
        out["address"] = intent.address if intent.mode == "static" else "dhcp"
    ctx = settings_table.Ctx(cgroup, list(obs.config), {}, lambda k: obs.effective.get(k))
    shown = settings_table.shown(ctx, obs.name)
    for key in ("memory", "swap"):
        if shown[key] != "-":
            out[key] = shown[key]
    cpus = shown["cpus"]
    if cpus.startswith("pinned to "):
        out["cpus"] = cpus.removeprefix("pinned to ")
    elif cpus != "-" and "," not in cpus:
        out["cpus"] = cpus
    elif cpus != "-":
        notes.append(f"{obs.name}: cpus is both a count and a pinning ({cpus}): not exported")
    if shown["cpu-weight"] != "-":
        out["cpu_weight"] = int(shown["cpu-weight"])
    if ctx.get("lxc.start.auto") is not None:
        out["autostart"] = shown["autostart"] == "yes"
    if shown["nesting"] == "yes":
        out["nesting"] = True
    if obs.disk is not None:
        out["disk"] = format_size(obs.disk)
    out["ttys"] = int(shown["ttys"]) if shown["ttys"].isdigit() else 0
    out["hostname"] = shown["hostname"]
    out["mounts"] = [document.mount_fields(m) for m in obs.mounts]
    out["publish"] = [forward_spec(f) for f in obs.forwards]
    out["devices"] = [d.path for d in obs.devices if d.path in obs.device_paths]
    for d in obs.devices:
        if d.path not in obs.device_paths:
            notes.append(f"{obs.name}: device {d.path} is not on this host: not exported")
    if obs.groups:
        out["groups"] = list(obs.groups)
    state = applystate.load(Path(obs.lxcpath) / obs.name)
    if state.ran:
        out["first_boot"] = [r.command for r in state.ran]
    return out, notes


def _spec(name: str, fields: dict[str, object], cgroup: cgroups.CgroupHost) -> ContainerSpec:
    text = json.dumps({"version": 1, "containers": {name: fields}})
    raw, where = document.load_text(text, "<export>", "json")
    env = Env(Path("/"), cgroup, load.read_host_file)
    (spec,) = document.parse(raw, where, env).containers
    return spec


def describe(obs: Observed, view: HostView) -> tuple[dict[str, object], list[str]]:
    """The document keys of one container; keys apply would still change are left out."""
    out, notes = _fields(obs, view.cgroup)
    for _ in range(3):  # dropping a key can only make the plan smaller
        try:
            cp = plan_container(_spec(obs.name, out, view.cgroup), obs, view, Options())
        except LxcprovError as exc:
            notes.append(f"{obs.name}: {exc.message}: not exported")
            return {}, notes
        if cp.error:
            notes.append(f"{obs.name}: {cp.error}: not exported")
            return {}, notes
        if not cp.changes:
            return out, notes
        for a in cp.changes:
            keys = _KEYS_OF_KIND.get(a.kind, (a.key.replace("-", "_"),))
            for key in keys:
                if key in out:
                    del out[key]
                    notes.append(f"{obs.name}: {key} not exported (apply would change it: "
                                 f"{a.reason})")  # fmt: skip
    return out, notes


def export_spec(lxcpath: Path, names: list[str]) -> Exported:
    lxc.require_root()
    view = observe.host(cgroups.detect())
    if names:
        for n in names:
            lxc.check_name(n)
            if not lxc.Container(n, lxcpath).exists():
                raise NoSuchContainerError(f"no container {n!r} in {lxcpath}")
        chosen = names
    else:
        chosen = [c.name for c in lxc.list_containers(lxcpath)]
    containers: dict[str, object] = {}
    notes: list[str] = []
    for name in chosen:
        obs = observe.container(lxc.Container(name, lxcpath), view=view)
        if obs.state not in ("RUNNING", "STOPPED"):
            notes.append(f"{name} is {obs.state} ({obs.problem}): not exported")
            continue
        fields, why = describe(obs, view)
        notes += why
        if fields:
            containers[name] = fields
    return Exported({"version": 1, "containers": containers}, notes)
