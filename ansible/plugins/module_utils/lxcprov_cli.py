# Shared by the modules of lxcprov.lxcprov: run `lxcprov apply - --json` on the target
# host and turn its report into what Ansible expects (changed, diff, a failure message).
# Shipped with the modules (AnsiballZ); it uses the standard library only and never
# imports lxcprov: the target's `lxcprov` command does the work.

from __future__ import annotations

import json
from typing import Any

# Options every module of the collection has.
COMMON_OPTIONS: dict[str, dict[str, Any]] = {
    "lxcpath": {"type": "str", "required": False},
    "executable": {"type": "str", "default": "lxcprov"},
    "prune": {"type": "bool", "default": False},
    "replace": {"type": "bool", "default": False},
    "jobs": {"type": "int", "required": False},
}


def _argv(module: Any, source: str) -> list[str]:
    params = module.params
    exe = module.get_bin_path(params["executable"], required=True)
    argv = [exe]
    if params.get("lxcpath"):
        argv += ["--lxcpath", params["lxcpath"]]
    argv += ["apply", source, "--json"]
    if module.check_mode:
        argv.append("--check")
    if module._diff:
        argv.append("--diff")
    for flag in ("prune", "replace"):
        if params.get(flag):
            argv.append(f"--{flag}")
    if params.get("jobs"):
        argv += ["--jobs", str(params["jobs"])]
    return argv


def error_of(stderr: str) -> tuple[str, str]:
    """lxcprov's `error:` line (with the lines before it) and its `hint:`."""
    lines = [ln.rstrip() for ln in stderr.splitlines()]
    message, hint, details = "", "", []
    for line in lines:
        if line.startswith("error: "):
            message = line[len("error: ") :]
        elif line.startswith("hint: "):
            hint = line[len("hint: ") :]
        elif line.startswith("  ") and not message:
            details.append(line.strip())
    if not message:
        message = (lines[-1] if lines else "") or "lxcprov apply failed with no message"
    if details:
        message = "; ".join([*details, message])
    return message, hint


def ansible_diff(report: dict[str, Any]) -> list[dict[str, str]]:
    """Ansible's diff list: per container, its keys before and after; per file, the
    unified diff lxcprov made."""
    out: list[dict[str, str]] = []
    for entry in report.get("containers", []):
        diff = entry.get("diff") or {}
        name = entry.get("name", "")
        if diff.get("before") or diff.get("after"):
            out.append({
                "before_header": f"{name} (before)",
                "after_header": f"{name} (after)",
                "before": diff.get("before", ""),
                "after": diff.get("after", ""),
            })  # fmt: skip
        for f in diff.get("files", []):
            out.append({"prepared": f.get("diff", "")})
    return out


def run_apply(module: Any, *, document: dict[str, Any] | None, src: str | None) -> None:
    """Apply a document (or a file on the target) and exit the module with the result."""
    if document is not None:
        argv = _argv(module, "-")
        rc, out, err = module.run_command(argv, data=json.dumps(document))
    else:
        argv = _argv(module, str(src))
        rc, out, err = module.run_command(argv)
    try:
        report = json.loads(out) if out.strip() else None
    except ValueError:
        report = None
    if report is None:
        message, hint = error_of(err)
        module.fail_json(msg=message, hint=hint, rc=rc, cmd=argv, stderr=err)
        return
    result: dict[str, Any] = {
        "changed": bool(report.get("changed")),
        "containers": report.get("containers", []),
        "changes": report.get("changes", 0),
        "blocked": report.get("blocked", 0),
        "cmd": argv,
    }
    if module._diff:
        result["diff"] = ansible_diff(report)
    if rc != 0 or report.get("failed"):
        message, hint = error_of(err)
        failures = [
            f"{c['name']}: {c.get('error', 'failed')}"
            for c in report.get("containers", [])
            if c.get("status") == "failed"
        ]
        module.fail_json(msg="; ".join(failures) or message, hint=hint, rc=rc, **result)
        return
    module.exit_json(**result)
