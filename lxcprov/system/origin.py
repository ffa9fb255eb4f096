"""What a container was made from, recorded by `lxcprov new` next to its LXC config.

`<lxcpath>/<name>/lxcprov-origin.toml` holds the template, its release and extra
arguments (or, for `new --image`, the image's reference and digest), and the id mode
(privileged, isolated) `new` was asked for. `apply` compares a
document with it (a different template needs a new rootfs), `export-spec` writes it back
out, and its presence is how `apply --prune` knows lxcprov made a container: a command
never removes what it did not create. A container made by plain lxc-create has no such
file; what LXC's own config comments say is read instead (lxcprov.ops.apply.observe).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

from lxcprov.errors import StateFileError
from lxcprov.system import statefile

ORIGIN_FILE = "lxcprov-origin.toml"


@dataclass(frozen=True)
class Origin:
    template: str
    release: str = ""  # "" when the template has no releases
    template_args: tuple[str, ...] = ()  # beyond the release option
    privileged: bool = False
    isolated: bool = False
    made_by: str = "new"
    image: str = ""  # `new --image`: the reference (then template is "")
    image_digest: str = ""  # sha256:HEX of what the reference named when it was made


def path_for(container_dir: Path) -> Path:
    return container_dir / ORIGIN_FILE


def save(container_dir: Path, origin: Origin) -> None:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [
        "# Written by lxcprov new: what this container was made from.",
        f"template = {json.dumps(origin.template)}",
        f"release = {json.dumps(origin.release)}",
        f"template_args = {json.dumps(list(origin.template_args))}",
        f"privileged = {'true' if origin.privileged else 'false'}",
        f"isolated = {'true' if origin.isolated else 'false'}",
        f"made_by = {json.dumps(origin.made_by)}",
        f"image = {json.dumps(origin.image)}",
        f"image_digest = {json.dumps(origin.image_digest)}",
        f"made = {json.dumps(now)}",
    ]
    statefile.write_text(path_for(container_dir), "\n".join(lines) + "\n")


_KEYS = {"template", "release", "template_args", "privileged", "isolated", "made_by", "made",
         "image", "image_digest"}  # fmt: skip


def load(container_dir: Path) -> Origin | None:
    """The record, None when there is none; a file of the wrong shape is a one-line error."""
    path = path_for(container_dir)
    data = statefile.read_toml(path)
    if data is None:
        return None
    statefile.check_keys(data, _KEYS, path)
    if "template" not in data:
        raise StateFileError(f"{path}: `template` is missing")
    # Both empty: `new --image` before images were recorded (the reader asks its base).
    template = statefile.field(data, "template", str, path) or ""
    image = statefile.field(data, "image", str, path) or ""
    args = statefile.field(data, "template_args", list, path) or []
    if not all(isinstance(a, str) for a in args):
        raise StateFileError(f"{path}: `template_args` must be a list of strings")
    return Origin(
        template=template,
        release=statefile.field(data, "release", str, path) or "",
        template_args=tuple(args),
        privileged=bool(statefile.field(data, "privileged", bool, path)),
        isolated=bool(statefile.field(data, "isolated", bool, path)),
        made_by=statefile.field(data, "made_by", str, path) or "new",
        image=image,
        image_digest=statefile.field(data, "image_digest", str, path) or "",
    )
